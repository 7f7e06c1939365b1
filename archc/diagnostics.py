"""One diagnostic type for every stage: file, line, column, dotted spec path, message, hint.

Imports nothing from archc, so every stage (and the CLI) can raise and print the same thing.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Diagnostic:
    """A located problem in a spec file. Lines and columns are 1-based."""

    file: str
    line: int
    column: int
    message: str
    code: str = "E000"
    spec_path: str = ""
    hint: str | None = None
    end_line: int | None = None
    end_column: int | None = None
    severity: str = "error"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SpecError(Exception):
    """Raised for any invalid spec; carries every diagnostic found in the file."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(
            f"{d.file}:{d.line}:{d.column}: {d.severity}[{d.code}]: {d.message}"
            for d in self.diagnostics
        )

    # The first diagnostic's location, for callers that want one answer.
    @property
    def path(self) -> str:
        return self.diagnostics[0].file if self.diagnostics else ""

    @property
    def line(self) -> int:
        return self.diagnostics[0].line if self.diagnostics else 0

    @property
    def column(self) -> int:
        return self.diagnostics[0].column if self.diagnostics else 0

    @property
    def message(self) -> str:
        return self.diagnostics[0].message if self.diagnostics else ""


def render_text(diag: Diagnostic, source: str | None) -> str:
    """Format a diagnostic like rustc/ruff: header, source line, caret under the span, hint.
    Control characters, escape sequences and bidi overrides are shown escaped (``\\x1b``,
    ``\\u202e``), so a spec cannot drive the terminal; the caret still lines up."""
    out = [f"{visible(diag.file)}:{diag.line}:{diag.column}: {diag.severity}[{diag.code}]: "
           f"{visible(diag.message)}"]
    lines = source.splitlines() if source else []
    if 1 <= diag.line <= len(lines):
        shown = [visible(ch) for ch in lines[diag.line - 1]]
        gutter = str(diag.line)
        pad = " " * len(gutter)
        width = 1
        if diag.end_line == diag.line and diag.end_column and diag.end_column > diag.column:
            width = diag.end_column - diag.column
        width = max(1, min(width, max(1, len(shown) - diag.column + 1)))
        start = diag.column - 1
        out.append(f"{pad} |")
        out.append(f"{gutter} | {''.join(shown)}")
        caret = max(1, len("".join(shown[start:start + width])))
        out.append(f"{pad} | {' ' * len(''.join(shown[:start]))}{'^' * caret}")
    if diag.hint:
        out.append(f"  = hint: {visible(diag.hint)}")
    return "\n".join(out)


# Shown escaped: C0/C1 controls and DEL (Cc), format characters such as bidi overrides and
# zero-width joiners (Cf), surrogates, private-use and unassigned code points, and the line
# and paragraph separators.
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def visible(text: str) -> str:
    """``text`` with every character that could act on a terminal written as an escape; a tab
    becomes one space (as code frames always showed it)."""
    if text.isprintable() and text.isascii():
        return text
    return "".join(" " if ch == "\t" else _escape(ch)
                   if unicodedata.category(ch) in _HIDDEN else ch for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else \
        f"\\U{code:08x}"


def render_json(diags: list[Diagnostic]) -> str:
    """The machine-readable form: the same fields as the text form."""
    return json.dumps([d.to_dict() for d in diags], indent=2)
