"""Keep checking a spec that failed structural (pydantic) validation, so that all of a file's
errors are reported at once: a misspelt key in one block must not hide an unknown op in
``layers:`` until it is fixed.

The failing parts are cut out of a copy of the document: an unknown key is dropped, a broken
row becomes a placeholder row (same list position, so every other path still locates, and
its name kept so ``from:`` references to it stay known), a broken block is left out and rows
that use it are not checked, an optional top-level setting falls back to its default. The
copy is validated again; the row checks then run on it. Its errors are only reported, never
built: a file with any error yields no model. When the cut cannot be made soundly, ``None``
says to report the structural errors alone, as before.
"""

from __future__ import annotations

import copy

# The op of a placeholder row: not an identifier, so no spec row can spell it.
BROKEN = "<broken row>"
# In the broken row names: a name not even a string was broken, so no reference is checked.
ANY_ROW = "*"
_REQUIRED_TOP = {"name": "Model", "input": [3, 224, 224]}


class _Cut(Exception):
    """The document cannot be salvaged soundly."""


def salvage(data: dict, errors: list[dict]) -> tuple[dict, set[str], set[str]] | None:
    """``data`` with the parts ``errors`` (pydantic's ``errors()``) point at cut out, the names
    of the blocks left out, and the names of broken rows; ``None`` when that is unsound."""
    out = copy.deepcopy(data)
    blocks: set[str] = set()
    rows: set[str] = set()
    try:
        for err in errors:
            _cut(out, tuple(err["loc"]), err["type"], blocks, rows)
    except (_Cut, KeyError, IndexError, TypeError):
        return None
    for name in blocks:
        out["blocks"].pop(name, None)
    return out, blocks, rows


def _cut(out: dict, loc: tuple, kind: str, blocks: set[str], rows: set[str]) -> None:
    if not loc:
        raise _Cut
    key = loc[0]
    if key == "blocks":
        _cut_block(out, loc, kind, blocks, rows)
    elif key == "layers":
        if len(loc) < 2 or not isinstance(loc[1], int) or not isinstance(out.get("layers"), list):
            out["layers"] = [{"op": BROKEN}]
        else:
            _cut_row(out["layers"], loc[1:], rows)
    elif key == "params":
        if len(loc) < 2 or not isinstance(out.get("params"), dict):
            raise _Cut  # every expression reading a param would be an unknown name
        out["params"][loc[1]] = 0
    elif key in _REQUIRED_TOP:
        out[key] = _REQUIRED_TOP[key]
    else:  # an optional setting (or an unknown key): its default checks like any other
        out.pop(key, None)


def _cut_block(out: dict, loc: tuple, kind: str, blocks: set[str], rows: set[str]) -> None:
    if len(loc) < 2 or not isinstance(out.get("blocks"), dict):
        raise _Cut  # every row using a block would be an unknown op
    name = loc[1]
    if name in blocks:
        return
    block = out["blocks"][name]
    if len(loc) >= 4 and loc[2] == "body" and isinstance(loc[3], int) \
            and isinstance(block.get("body"), list):
        _cut_row(block["body"], loc[3:], rows)
    elif len(loc) == 3 and kind == "extra_forbidden":
        block.pop(loc[2], None)
    else:
        blocks.add(name)


def _cut_row(table: list, loc: tuple, rows: set[str]) -> None:
    """Replace the innermost row ``loc`` points into (through ``seq`` groups)."""
    row = table[loc[0]]
    if isinstance(row, dict) and len(loc) >= 3 and loc[1] == "seq" and isinstance(loc[2], int) \
            and isinstance(row.get("seq"), list):
        _cut_row(row["seq"], loc[2:], rows)
        return
    if isinstance(row, dict) and row.get("op") == BROKEN:
        return
    name = row.get("name") if isinstance(row, dict) else None
    table[loc[0]] = {"op": BROKEN}
    if name is None:
        return
    if isinstance(name, str) and not (len(loc) > 1 and loc[1] == "name"):
        table[loc[0]]["name"] = name
    else:  # a name that is not a valid one: no reference to it can be checked
        rows.add(name if isinstance(name, str) else ANY_ROW)
