"""Variants: ``extends: base.yaml`` plus overrides, and ``--set`` from the command line.

Merge rules: mappings merge key by key (recursively); any other value, lists included,
replaces the base's. ``patch: {row: {column: value}}`` edits rows of the base found by name
anywhere in its layers (``patch: {layer3: {n: 23}}`` makes ResNet-101 from ResNet-50), by module
path (``features.17``) or by spec path (``layers.0.seq.7``): see :mod:`.patch`. ``--set`` keys
reach into lists by index. Diagnostics keep pointing at the file and line each value came
from."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..diagnostics import SpecError
from .loader import Budget, Document, PathT, load_file, load_text, spec_root
from .patch import AddressError, Modules, apply_patch, step

MAX_CHAIN = 16


def resolve(doc: Document, budget: Budget | None = None, _chain: tuple = (),
            root: str | Path | None = None, modules: Modules | None = None) -> Document:
    """The document with its ``extends`` chain merged in (or unchanged without one). Bases
    must lie inside ``root`` (default: :func:`~archc.frontend.loader.spec_root` of ``doc``).
    ``modules``: lists a document's modules, for patch keys that are module paths (a later
    stage expands the model: :func:`archc.api.load_spec` passes it)."""
    data = doc.data
    if not isinstance(data, dict) or "extends" not in data:
        if isinstance(data, dict) and "patch" in data:
            raise SpecError([doc.diag(("patch",), "'patch' edits the rows of a base spec: it "
                                      "needs 'extends'", "E604", key=True)])
        return doc
    root = Path(os.path.realpath(root if root is not None else spec_root(doc.path)))
    here = Path(os.path.realpath(doc.path))
    base_path = _base_path(doc, here, root)
    chain = (*_chain, here)
    if base_path in chain:
        cycle = " -> ".join(p.name for p in (*chain, base_path))
        raise SpecError([doc.diag(("extends",), f"'extends' forms a cycle: {cycle}", "E602")])
    if len(chain) > MAX_CHAIN:
        raise SpecError([doc.diag(("extends",), "'extends' chain is too long", "E602")])
    base_doc = _load_base(doc, base_path, budget)
    base = resolve(base_doc, budget, chain, root, modules)
    merged = Document(doc.path, doc.text, None)
    over = {k: v for k, v in data.items() if k not in ("extends", "patch")}
    merged.data = _Merge(base, doc, merged).merge(base.data, over, ())
    if "patch" in data:
        apply_patch(merged, doc, data["patch"], _Tree, modules)
    merged.data.pop("extends", None)
    return merged


def _base_path(doc: Document, here: Path, root: Path) -> Path:
    """The base file ``extends`` names, resolved; refused unless it lies inside ``root``
    (checked first, with one message whatever is there, so nothing outside can be probed)."""
    ref = doc.data["extends"]
    if not isinstance(ref, str) or not ref:
        raise SpecError([doc.diag(("extends",), "'extends' takes a path to a base spec", "E601")])
    if "\0" in ref:
        raise SpecError([doc.diag(("extends",), "'extends' names no usable file: a NUL byte",
                                  "E603")])
    base_path = Path(os.path.realpath(here.parent / ref))
    if not base_path.is_relative_to(root):
        raise SpecError([doc.diag(("extends",), "'extends' must name a file inside the spec "
                                  "root", "E603", hint=f"the spec root is {root} (the nearest "
                                  "folder with pyproject.toml or .git); --spec-root DIR widens "
                                  "it")])
    if base_path.suffix not in (".yaml", ".yml"):
        raise SpecError([doc.diag(("extends",), "'extends' must name a .yaml or .yml file",
                                  "E603")])
    return base_path


_NOT_A_SPEC = {"E001": "is not valid YAML", "E002": "is empty", "E004": "is not plain YAML",
               "E003": "has a duplicate key", "E005": "exceeds a limit"}


def _load_base(doc: Document, base_path: Path, budget: Budget | None) -> Document:
    """The base document. Problems that make it no spec at all are reported at the child's
    ``extends`` and never quote the base: it may be any file of the project."""
    ref = doc.data["extends"]
    display = str(Path(doc.path).parent / ref)  # the base's path as the user would write it
    try:
        base = load_file(base_path, budget, display=display)
    except SpecError as exc:
        d = exc.diagnostics[0]
        if d.code == "E006":  # missing, unreadable or not a regular file
            message = d.message.replace("spec", f"base spec {ref!r}", 1)
            if "No such file" in message:
                message = f"base spec not found: {ref}"
            raise SpecError([doc.diag(("extends",), message, "E603", hint=(
                f"paths are relative to the spec's folder ({Path(doc.path).parent.as_posix()})"
            ))]) from None
        what = _NOT_A_SPEC.get(d.code, "is not an archc spec")
        hint = d.hint if d.code == "E005" else f"'archc check {display}' shows where"
        raise SpecError([doc.diag(("extends",), f"base spec {ref!r} {what} (line {d.line}, "
                                  f"column {d.column})", "E603", hint=hint)]) from None
    if not isinstance(base.data, dict) or not set(base.data) <= _spec_keys():
        raise SpecError([doc.diag(("extends",), f"base spec {ref!r} is not an archc spec: "
                                  "not a mapping of spec keys (name, input, layers, ...)",
                                  "E603", hint=f"'archc check {display}' shows why")])
    return base


def _spec_keys() -> set[str]:
    from .models import Spec

    return {*Spec.model_fields, *(f.alias for f in Spec.model_fields.values() if f.alias),
            "extends", "patch"}


class _Merge:
    """Merges an overriding document into its resolved base, giving every node of the result
    the position of the value it came from. Each document's positions are grouped by parent
    once, so the whole merge is linear in the two documents' sizes (scanning every position
    per merged key was quadratic: two 110 KB files took minutes)."""

    def __init__(self, base: Document, over: Document, merged: Document) -> None:
        self.base, self.over, self.merged = _Tree(base), _Tree(over), merged
        merged.values[()] = base.values.get((), (1, 1, 1, 2))
        merged.origins[()] = base.origins.get((), base.path)

    def merge(self, base, over, path: PathT):
        if isinstance(base, dict) and isinstance(over, dict):
            out = dict(base)
            for key, value in over.items():
                out[key] = self.merge(base.get(key), value, (*path, key))
            for key in base:
                if key not in over:
                    self.base.copy((*path, key), (*path, key), self.merged)
            if path:
                self.over.copy_node(path, self.merged)
            return out
        self.over.copy(path, path, self.merged)
        return over


class _Tree:
    """A document's positions grouped by parent path: a subtree's in time linear in its size."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.children: dict[PathT, list[PathT]] = {}
        seen: set[PathT] = set()
        for table in (doc.values, doc.keys):
            for path in table:
                while path and path not in seen:
                    seen.add(path)
                    self.children.setdefault(path[:-1], []).append(path)
                    path = path[:-1]

    def subtree(self, path: PathT):
        stack = [path]
        while stack:
            p = stack.pop()
            yield p
            stack.extend(self.children.get(p, ()))

    def copy_node(self, path: PathT, out: Document, dst: PathT | None = None) -> None:
        """The position of the node (and of its key) at ``path`` becomes ``out``'s at ``dst``."""
        dst = path if dst is None else dst
        for table, out_table in ((self.doc.values, out.values), (self.doc.keys, out.keys)):
            if path in table:
                out_table[dst] = table[path]
                out.origins[dst] = self.doc.origins.get(path, self.doc.path)

    def copy(self, src: PathT, dst: PathT, out: Document) -> None:
        """Positions of the subtree at ``src`` become ``out``'s subtree at ``dst``."""
        n = len(src)
        for path in self.subtree(src):
            self.copy_node(path, out, (*dst, *path[n:]))

    def drop(self, path: PathT, out: Document) -> None:
        """Forget ``out``'s positions in the subtree at ``path`` (as indexed here)."""
        for p in self.subtree(path):
            out.values.pop(p, None)
            out.keys.pop(p, None)


def apply_overrides(doc: Document, overrides: list[str]) -> Document:
    """``--set key=value``: a dotted key into the spec (bare names mean ``params.NAME``); list
    indices reach rows (``layers.0.seq.7.t=4``); missing mapping keys are made. The value is
    read as YAML. A key that reaches nothing is an error naming the override."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not sep or not parts:
            raise SpecError([doc.diag((), f"--set expects KEY=VALUE, got {item!r}", "E605")])
        if len(parts) == 1 and parts[0] not in ("name", "input", "init", "description"):
            params = doc.data.get("params") if isinstance(doc.data, dict) else None
            if not isinstance(params, dict) or parts[0] not in params:
                from ..expr import did_you_mean

                known = list(params) if isinstance(params, dict) else []
                raise SpecError([doc.diag(("params",), f"--set {parts[0]}: the spec has no "
                                          f"param {parts[0]!r}", "E605",
                                          hint=did_you_mean(parts[0], known) or (
                                              "params: " + ", ".join(known) if known else
                                              "use a dotted key, e.g. scaling.width=0.5"))])
            parts = ["params", parts[0]]
        value = load_text(f"v: {raw}" if raw.strip() else "v: null").data["v"]
        if parts == ["input"]:
            value = _input_value(doc, value, item)
        if not isinstance(doc.data, dict):
            return doc
        _set(doc, parts, value, item)
    return doc


def _input_value(doc: Document, value, item: str) -> list[int]:
    """``--set input=3x224x224`` (the form ``--input`` takes) or ``[3, 224, 224]``; anything
    else is an error naming the override, not the base file's ``input:`` line."""
    if isinstance(value, str) and re.fullmatch(r"\d+(x\d+){0,2}", value.strip()):
        value = [int(v) for v in value.strip().split("x")]
    if not (isinstance(value, list) and 1 <= len(value) <= 3 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10**6 for v in value)):
        raise SpecError([doc.diag(("input",), f"--set {item.strip()}: expected [C, H, W] or "
                                  "CxHxW with positive integers (e.g. input=3x224x224)", "E605")])
    return value


def _set(doc: Document, parts: list[str], value, item: str) -> None:
    node, path = doc.data, ()
    try:
        for i, part in enumerate(parts[:-1]):
            here = ".".join(parts[:i]) or "the spec"
            if isinstance(node, dict) and node.get(part) is None:
                node[part] = {}  # a missing (or null) mapping is made
            node, seg = step(node, part, here)
            path = (*path, seg)
        last, here = parts[-1], ".".join(parts[:-1]) or "the spec"
        if isinstance(node, list):
            _, last = step(node, last, here)
        elif not isinstance(node, dict):
            step(node, last, here)  # raises: not a mapping or a list
        node[last] = value
    except AddressError as exc:
        raise SpecError([doc.diag(path, f"--set {item.strip()}: {exc.message}", "E605",
                                  hint=exc.hint)]) from None
