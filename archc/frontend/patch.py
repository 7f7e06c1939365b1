"""``patch:`` (edit rows of a base spec) and ``--set`` (one value from the command line).

A patch key names a row three ways, all read against the base before any patch applies:

- a row name, found anywhere in the layers: ``layer3: {n: 23}``;
- a spec path, indices into the YAML lists: ``layers.0.seq.7: {t: 4}``;
- a module path, as the model's state_dict spells it: ``features.17: {t: 4}``. Indices count
  modules, so a row with ``n: 3`` takes three; one repeat of it cannot be patched alone.

Module paths need the expanded model, which is a later stage: the caller passes ``modules``,
a function giving the :class:`Module` list of a document (:func:`archc.api.load_spec` does)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..diagnostics import SpecError
from ..expr import did_you_mean
from .loader import Document, PathT


@dataclass(frozen=True)
class Module:
    """One module of the expanded base model: what a module-path patch key can reach."""

    path: str  # dotted module path, e.g. features.17
    op: str  # the row's op, "seq" for a group
    kind: str  # "op", "block" (an instance of a block) or "seq"
    row: PathT | None  # the spec row it is an instance of; None: not a row of 'layers'
    repeat: int = 0  # which of the row's repeats
    repeats: int = 1
    block: tuple[str, str, PathT | None] | None = None  # outermost enclosing block instance:
    # its op, module path and row
    inline: str | None = None  # the inline block that spliced it into its group


Modules = Callable[[Document], Iterable[Module]]


class AddressError(Exception):
    """A patch key or --set key that reaches nothing: the message says where it stopped."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def dots(path: PathT) -> str:
    """``('layers', 0, 'seq', 7)`` -> ``layers.0.seq.7`` (the form patch keys use)."""
    return ".".join(str(p) for p in path)


def _kind(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", int: "a number", float: "a number", list: "a list",
            dict: "a mapping"}.get(type(value), "null" if value is None else "a value")


def step(node, seg: str, here: str, *, create: bool = False):
    """The child ``seg`` of ``node`` (reached by ``here``) and its path segment: an index into
    a list, a key of a mapping (made empty when missing and ``create``)."""
    if isinstance(node, list):
        if not (seg.isascii() and seg.isdigit()):
            raise AddressError(f"{seg!r} is not an index: {here} is a list of {len(node)} rows")
        if int(seg) >= len(node):
            raise AddressError(f"index {int(seg)} out of range ({len(node)} rows)",
                        hint=f"{here} has rows 0 to {len(node) - 1}" if node else None)
        return node[int(seg)], int(seg)
    if isinstance(node, dict):
        if seg not in node:
            if not create:
                op = node.get("op")
                what = f": it is a {op} row, not a group" if seg == "seq" and op else ""
                raise AddressError(f"{here} has no {seg!r}{what}")
            node[seg] = {}
        return node[seg], seg
    raise AddressError(f"{here} is {_kind(node)}, not a mapping or a list")


def _by_spec_path(data, key: str) -> PathT:
    node, path, parts = data, (), key.split(".")
    for i, seg in enumerate(parts):
        node, seg = step(node, seg, ".".join(parts[:i]) or "the spec")
        path = (*path, seg)
    shape_ok = len(path) % 2 == 0 and all(
        isinstance(p, int) if i % 2 else p == ("layers" if i == 0 else "seq")
        for i, p in enumerate(path))
    if not shape_ok or not isinstance(node, dict):
        raise AddressError(f"{key} is no row", hint="a spec path names a row: layers.I or "
                    "layers.I.seq.J (indices into the YAML lists)")
    return path


class _ModuleTable:
    """The base's modules by path, made once per patch (expanding the base costs milliseconds)."""

    def __init__(self, merged: Document, modules: Modules | None) -> None:
        self.merged, self.modules, self.table = merged, modules, None
        self.errors: list = []

    def find(self, key: str) -> PathT:
        if self.modules is None:
            raise AddressError(f"patch {key}: module paths are resolved by archc.load_spec",
                        hint="use the row's spec path (layers.I.seq.J)")
        if self.table is None:
            try:
                self.table = {m.path: m for m in self.modules(self.merged)}
            except SpecError as exc:
                self.table, self.errors = {}, exc.diagnostics
        if self.errors:
            raise AddressError(f"patch {key}: module paths are those of the base model, which has "
                        "errors (reported below)", hint="or patch by spec path "
                        "(layers.I.seq.J), which needs no valid base")
        module = self.table.get(key)
        if module is None:
            raise self._missing(key)
        return _row_of(module)

    def _missing(self, key: str) -> AddressError:
        parts = key.split(".")
        for i in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in self.table:
                break
        else:
            top = [p for p in self.table if "." not in p]
            return AddressError(f"patch {key}: the model has no module {parts[0]!r}",
                         hint=did_you_mean(parts[0], top) or "top-level modules: "
                         + ", ".join(top[:12]))
        parent, seg = self.table[prefix], parts[i]
        if parent.block is not None:
            return AddressError(*_inside_block(key, parent.block))
        if parent.kind == "block":
            return AddressError(*_inside_block(key, (parent.op, parent.path, parent.row)))
        children = [p[len(prefix) + 1:] for p in self.table
                    if p.startswith(prefix + ".") and "." not in p[len(prefix) + 1:]]
        if not children:
            return AddressError(f"patch {key}: {prefix} is a {parent.op} module, with no modules "
                                "inside")
        if seg.isascii() and seg.isdigit():
            count = sum(c.isdigit() for c in children)
            return AddressError(f"patch {key}: index {int(seg)} out of range ({count} modules)",
                         hint=f"{prefix} has modules 0 to {count - 1}" if count else None)
        return AddressError(f"patch {key}: {prefix} has no module {seg!r}",
                     hint=did_you_mean(seg, children))


def _inside_block(key: str, block: tuple[str, str, PathT | None]):
    op, where, row = block
    return (f"patch {key}: {key} is inside the {op} block at {where} (the row at "
            f"{dots(row) if row else where}): a patch edits rows, not a block's modules",
            "patch that row's columns, or the block's definition")


def _row_of(module: Module) -> PathT:
    key = module.path
    if module.block is not None:
        raise AddressError(*_inside_block(key, module.block))
    if module.row is None:
        raise AddressError(f"patch {key}: {key} is made by archc, not by a row of 'layers'")
    row = dots(module.row)
    if module.inline is not None:
        raise AddressError(f"patch {key}: {key} is one of the modules the {module.inline} block "
                    f"splices in for the row at {row}", hint=f"patch that row: '{row}'")
    if module.repeats > 1:
        raise AddressError(f"patch {key}: {key} is repeat {module.repeat + 1} of the row at {row} "
                    f"(n: {module.repeats}); one repeat cannot be patched alone",
                    hint=f"patch the whole row by its spec path '{row}' (every repeat changes), "
                    "or split the row in two in the base")
    return module.row


def _find_rows(rows, path: PathT):
    if not isinstance(rows, list):
        return
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            yield row, (*path, i)
            yield from _find_rows(row.get("seq"), (*path, i, "seq"))


def apply_patch(merged: Document, doc: Document, patch, tree,
                modules: Modules | None = None) -> None:
    """Apply ``doc``'s ``patch:`` to ``merged`` (its base with ``doc``'s overrides merged in),
    giving every patched value its position in ``doc`` (``tree``: makes the per-document
    position index the linear merge uses). Every key is resolved against the base
    first, so all of them address the same rows; every error is reported at once."""
    if not isinstance(patch, dict):
        raise SpecError([doc.diag(("patch",), "'patch' maps rows (by name, module path or "
                                  "spec path) to the columns to change", "E604")])
    names = {row["name"]: path for row, path in
             _find_rows(merged.data.get("layers"), ("layers",))
             if isinstance(row.get("name"), str)}
    table, errors, targets = _ModuleTable(merged, modules), [], []
    for key, change in patch.items():
        try:
            rpath = _row_path(key, names, merged.data, table)
        except AddressError as exc:
            errors.append(doc.diag(("patch", key), exc.message, "E604", key=True, hint=exc.hint))
            continue
        if not isinstance(change, dict):
            errors.append(doc.diag(("patch", key), "a patch is a mapping of columns", "E604"))
            continue
        targets.append((key, change, rpath))
    if errors:
        raise SpecError(errors + table.errors)
    merged_tree, over = tree(merged), tree(doc)
    for key, change, rpath in targets:
        row = _at(merged.data, rpath)
        for column, value in change.items():
            row[column] = value
            merged_tree.drop((*rpath, column), merged)
            over.copy(("patch", key, column), (*rpath, column), merged)


def _row_path(key: str, names: dict, data, table: _ModuleTable) -> PathT:
    """The spec path of the row a patch key names: by name, by spec path or by module path."""
    if "." not in key:
        if key not in names:
            raise AddressError(f"patch names no row: {key!r}", hint=did_you_mean(key, names))
        return names[key]
    if key.split(".")[0] != "layers":
        return table.find(key)
    try:
        return _by_spec_path(data, key)
    except AddressError as exc:
        raise AddressError(f"patch {key}: {exc.message}", exc.hint) from None


def _at(data, path: PathT):
    for seg in path:
        data = data[seg]
    return data
