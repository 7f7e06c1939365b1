"""Variants: ``extends: base.yaml`` plus overrides, and ``--set`` from the command line.

Merge rules: mappings merge key by key (recursively); any other value, lists included,
replaces the base's. ``patch: {row_name: {column: value}}`` edits rows of the base found by
name anywhere in its layers (``patch: {layer3: {n: 23}}`` makes ResNet-101 from ResNet-50).
Diagnostics keep pointing at the file and line each value came from."""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import SpecError
from ..loader import Budget, Document, PathT, load_file, load_text

MAX_CHAIN = 16


def resolve(doc: Document, budget: Budget | None = None, _chain: tuple = ()) -> Document:
    """The document with its ``extends`` chain merged in (or unchanged without one)."""
    data = doc.data
    if not isinstance(data, dict) or "extends" not in data:
        if isinstance(data, dict) and "patch" in data:
            raise SpecError([doc.diag(("patch",), "'patch' edits the rows of a base spec: it "
                                      "needs 'extends'", "E604", key=True)])
        return doc
    ref = data["extends"]
    if not isinstance(ref, str) or not ref:
        raise SpecError([doc.diag(("extends",), "'extends' takes a path to a base spec", "E601")])
    here = Path(doc.path).resolve()
    try:
        base_path = (here.parent / ref).resolve()
        exists = base_path.is_file()
    except (OSError, ValueError) as exc:  # too long, NUL bytes, ...
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SpecError([doc.diag(("extends",), f"'extends' names no usable file: {reason}",
                                  "E603")]) from None
    chain = (*_chain, here)
    if base_path in chain:
        cycle = " -> ".join(p.name for p in (*chain, base_path))
        raise SpecError([doc.diag(("extends",), f"'extends' forms a cycle: {cycle}", "E602")])
    if len(chain) > MAX_CHAIN:
        raise SpecError([doc.diag(("extends",), "'extends' chain is too long", "E602")])
    if not exists:
        folder = Path(doc.path).parent.as_posix()
        raise SpecError([doc.diag(("extends",), f"base spec not found: {ref}", "E603",
                                  hint=f"paths are relative to the spec's folder ({folder})")])
    base_doc = load_file(_display(base_path, doc.path, ref), budget)
    if not isinstance(base_doc.data, dict):
        raise SpecError([doc.diag(("extends",), f"base spec {ref} is not a mapping of keys",
                                  "E603")])
    base = resolve(base_doc, budget, chain)
    merged = Document(doc.path, doc.text, None)
    merged.values = {k: v for k, v in base.values.items()}
    merged.keys = dict(base.keys)
    merged.origins = {k: base.origins.get(k, base.path) for k in
                      (*base.values, *base.keys)}
    merged.data = _merge(base.data, {k: v for k, v in data.items() if k not in (
        "extends", "patch")}, (), doc, merged)
    if "patch" in data:
        _patch(merged, doc, data["patch"])
    merged.data.pop("extends", None)
    return merged


def _display(path: Path, child: str, ref: str) -> str:
    """The base's path as the user would write it: next to the child's path as given."""
    return str(Path(child).parent / ref)


def _take(merged: Document, doc: Document, src: PathT, dst: PathT) -> None:
    """Positions of ``doc``'s subtree at ``src`` become those of ``merged`` at ``dst``."""
    for table, out in ((doc.values, merged.values), (doc.keys, merged.keys)):
        for path, loc in table.items():
            if path[:len(src)] == src:
                new = (*dst, *path[len(src):])
                out[new] = loc
                merged.origins[new] = doc.origins.get(path, doc.path)


def _drop(merged: Document, prefix: PathT) -> None:
    for table in (merged.values, merged.keys):
        for path in [p for p in table if p[:len(prefix)] == prefix and p != prefix]:
            del table[path]


def _merge(base, over, path: PathT, doc: Document, merged: Document):
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value, (*path, key), doc, merged)
        if path:
            _take_node(merged, doc, path)
        return out
    _drop(merged, path)
    _take(merged, doc, path, path)
    return over


def _take_node(merged: Document, doc: Document, path: PathT) -> None:
    for table, out in ((doc.values, merged.values), (doc.keys, merged.keys)):
        if path in table:
            out[path] = table[path]
            merged.origins[path] = doc.origins.get(path, doc.path)


def _find_rows(rows, path: PathT):
    if not isinstance(rows, list):
        return
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            yield row, (*path, i)
            yield from _find_rows(row.get("seq"), (*path, i, "seq"))


def _patch(merged: Document, doc: Document, patch) -> None:
    if not isinstance(patch, dict):
        raise SpecError([doc.diag(("patch",), "'patch' maps row names to the columns to change",
                                  "E604")])
    errors = []
    rows = {row["name"]: (row, path) for row, path in
            _find_rows(merged.data.get("layers"), ("layers",))
            if isinstance(row.get("name"), str)}
    for name, change in patch.items():
        if name not in rows:
            from ..expr import did_you_mean

            errors.append(doc.diag(("patch", name), f"patch names no row: {name!r}", "E604",
                                   key=True, hint=did_you_mean(name, rows)))
            continue
        if not isinstance(change, dict):
            errors.append(doc.diag(("patch", name), "a patch is a mapping of columns", "E604"))
            continue
        row, rpath = rows[name]
        for key, value in change.items():
            row[key] = value
            _drop(merged, (*rpath, key))
            _take(merged, doc, ("patch", name, key), (*rpath, key))
    if errors:
        raise SpecError(errors)


def apply_overrides(doc: Document, overrides: list[str]) -> Document:
    """``--set key=value``: a dotted key into the spec (bare names mean ``params.NAME``);
    the value is read as YAML."""
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
        node = doc.data
        if not isinstance(node, dict):
            return doc
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return doc
