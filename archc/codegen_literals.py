"""Python literal spelling shared by blocks and codegen (no torch, no jinja)."""

from __future__ import annotations

import json


def literal(value: object) -> str:
    """A Python literal for a spec value (strings double-quoted, as ruff formats them)."""
    if isinstance(value, str):
        return json.dumps(value)  # escapes quotes, backslashes, control and non-ASCII chars
    if isinstance(value, (bool, int)) or value is None:
        return repr(value)
    if isinstance(value, float):
        text = repr(value)
        return text if text not in ("inf", "-inf", "nan") else f'float("{text}")'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"no literal for {type(value).__name__}")


def kwargs_source(kwargs: dict) -> str:
    """``, key=value, ...`` for a call, or an empty string."""
    return "".join(f", {k}={literal(v)}" for k, v in kwargs.items())
