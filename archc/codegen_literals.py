"""The one emitter for values that reach generated source (no torch, no jinja).

Every spec value printed into a generated module goes through :func:`literal`: it can only spell
a literal (a constant, ``-constant``, ``float("inf")``/``float("nan")`` or a list or tuple of
those), and it proves that by parsing what it wrote back into the value before returning it.
"""

from __future__ import annotations

import ast
import math


class UnsafeSourceError(RuntimeError):
    """Generated source that archc cannot prove safe: a bug in archc, reported as an internal
    error (exit 3) before anything is written or executed. Not a ValueError, so no stage
    mistakes it for a problem in the spec."""


class LiteralError(UnsafeSourceError):
    """A value that has no literal spelling, or a spelling that did not parse back to it."""


def string_literal(value: str) -> str:
    """A Python string literal, formatted as ruff does: double quotes unless the text holds
    more double quotes than single ones; every non-ASCII or non-printable character escaped."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    # unicode_escape escapes the backslash, control characters and everything non-ASCII
    # (line and paragraph separators, bidi overrides, NUL) but no quote.
    body = value.encode("unicode_escape").decode("ascii").replace(quote, "\\" + quote)
    return quote + body + quote


def _spell(value: object) -> str:
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return str(int(value))  # int subclasses (IntEnum) print as plain numbers
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(float(value))
        return f'float("{value!r}")'
    if isinstance(value, tuple):  # (1, 7): a kernel size as torchvision spells it
        items = [_spell(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_spell(v) for v in value) + "]"
    raise LiteralError(f"no literal for {type(value).__name__}")


def _read(node: ast.AST) -> object:
    """The value of a node that :func:`_spell` may write; anything else is an error."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, type(None))):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and \
            isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float):
        return -node.operand.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == "float" and not node.keywords and len(node.args) == 1 and \
            isinstance(node.args[0], ast.Constant) and node.args[0].value in ("inf", "-inf", "nan"):
        return float(node.args[0].value)
    if isinstance(node, ast.List):
        return [_read(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_read(e) for e in node.elts)
    raise LiteralError(f"not a literal: {ast.dump(node)[:80]}")


def _same(a: object, b: object) -> bool:
    """Equal and of the same kind (1 is not True, 0.0 is not -0.0, NaN is NaN)."""
    if isinstance(a, (list, tuple)):
        return type(b) is (tuple if isinstance(a, tuple) else list) and len(a) == len(b) and \
            all(map(_same, a, b))
    if isinstance(a, bool) or a is None:
        return a is b
    if isinstance(a, str):
        return type(b) is str and a == b
    if isinstance(a, float):
        return type(b) is float and (a == b and math.copysign(1, a) == math.copysign(1, b)
                                     or math.isnan(a) and math.isnan(b))
    return type(b) is int and a == b


_CACHE: dict[tuple[type, str], str] = {}


def literal(value: object) -> str:
    """Python source for a spec value (str, int, float incl. inf/nan, bool, None, or a list
    of those), checked to parse back into exactly that value."""
    try:  # repr tells 1 from 1.0 from True, and 0.0 from -0.0
        key = (type(value), repr(value))
    except ValueError as exc:  # an int too long to print
        raise LiteralError(str(exc)) from None
    if key in _CACHE:
        return _CACHE[key]
    text = _spell(value)
    try:
        back = _read(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise LiteralError(f"the literal for a {type(value).__name__} does not parse back: "
                           f"{exc}") from None
    if not _same(value, back):
        raise LiteralError(f"the literal {text[:80]!r} does not read back as the value")
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = text
    return text


def kwargs_source(kwargs: dict) -> str:
    """``, key=value, ...`` for a call, or an empty string."""
    return "".join(f", {k}={literal(v)}" for k, v in kwargs.items())
