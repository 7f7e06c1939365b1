"""Python source building blocks: safe literals, comments and docstrings, and a line renderer
that wraps calls exactly as ``ruff format`` does (88 columns), so generated files are already
formatted without running a formatter at build time."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import expr
from ..ops.base import Call

LINE = 88


def pyexpr(text: str, rename: dict[str, str]) -> str:
    """An archc expression as Python source with identifiers renamed (see
    :meth:`archc.expr.Expr.to_python`: printed from the tree, never edited as text). The
    text was checked by ``archc check`` or composed by archc from checked pieces."""
    return expr.parse_trusted(text).to_python(rename)


def comment(text: str) -> str:
    """One comment line's text: control characters and newlines cannot end the comment."""
    clean = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return " ".join(clean.split())


def docstring_text(text: str) -> str:
    """Free text made safe inside a triple-quoted docstring."""
    lines = []
    for line in str(text).splitlines() or [""]:
        clean = "".join(ch if ch.isprintable() else " " for ch in line).rstrip()
        clean = clean.replace("\\", "\\\\")
        # Only quotes that could join into a closing triple quote need escaping.
        clean = re.sub(r'"(?=")|(?<=")"|"$', r'\\"', clean)
        lines.append(clean)
    return "\n".join(lines).strip("\n")


@dataclass
class List:
    """``[item, ...]``."""

    items: list

    def flat(self) -> str:
        return f"[{', '.join(flat(a) for a in self.items)}]"


@dataclass
class Tuple:
    """``(item, ...)``: split, ruff puts each item on its own line (a call may keep its
    arguments together on one)."""

    items: list

    def flat(self) -> str:
        return f"({', '.join(flat(a) for a in self.items)})"


@dataclass
class Noted:
    """An argument with a comment line above it (a row's ``step:`` inside an
    ``nn.Sequential``): the call it is in is always written one argument a line."""

    note: str
    code: object

    def flat(self) -> str:
        return flat(self.code)


def flat(code) -> str:
    return code if isinstance(code, str) else code.flat()


def _noted(code) -> bool:
    """Whether a comment must be written somewhere inside ``code``."""
    if isinstance(code, Noted):
        return True
    items = code.args if isinstance(code, Call) else code.items if isinstance(code, List) else ()
    return any(_noted(a) for a in items)


def render(indent: int, prefix: str, code, suffix: str = "", note: str = "") -> list[str]:
    """Lines for ``prefix + code + suffix  # note`` at ``indent``, split like ruff."""
    pad = " " * indent
    tail = f"{suffix}  # {note}" if note else suffix
    one = f"{pad}{prefix}{flat(code)}{tail}"
    if isinstance(code, Noted):
        return [f"{pad}# {comment(code.note)}", *render(indent, prefix, code.code, suffix, note)]
    if (len(one) <= LINE and not _noted(code)) or isinstance(code, str):
        return [one]
    if isinstance(code, Call):
        opener, items, closer = f"{code.func}(", code.args, ")"
    elif isinstance(code, Tuple):
        inner = indent + 4
        body = [line for a in code.items for line in render(inner, "", a, ",")]
        return [f"{pad}{prefix}(", *body, f"{pad}){tail}"]
    else:
        opener, items, closer = "[", code.items, "]"
    if not items:
        return [one]
    inner = " " * (indent + 4)
    middle = ", ".join(flat(a) for a in items)
    if len(items) == 1 and not isinstance(items[0], (str, Noted)):
        body = render(indent + 4, "", items[0])
    elif len(inner) + len(middle) <= LINE and not _noted(code):
        body = [inner + middle]
    else:
        body = [line for a in items for line in render(indent + 4, "", a, ",")]
    return [f"{pad}{prefix}{opener}", *body, f"{pad}{closer}{tail}"]
