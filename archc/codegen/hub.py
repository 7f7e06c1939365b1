"""Published weights in generated modules (no torch here): the ``_WEIGHTS`` table a factory's
``weights=`` argument reads, and the ``_load_weights`` helper copied from weights_source.py."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from ..codegen_literals import literal
from ..frontend.models import Weights

_SOURCE = Path(__file__).with_name("weights_source.py")
TABLE = "_WEIGHTS"


@lru_cache(maxsize=1)
def helper_source() -> str:
    """The source of ``_load_weights``, for embedding verbatim in a generated module."""
    text = _SOURCE.read_text(encoding="utf-8")
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef))
    return ast.get_source_segment(text, node)


def table_source(entries: dict[str, Weights]) -> str:
    """``_WEIGHTS = {...}``: name -> url, sha256 and metadata, every value through the literal
    emitter."""
    if not entries:
        return ("# No published checkpoints: the factory's weights= argument takes a state_dict "
                f"file.\n{TABLE} = {{}}")
    lines = ["# Published checkpoints, loaded by name through the factory's weights= argument.",
             f"{TABLE} = {{"]
    for name, entry in entries.items():
        lines.append(f"    {literal(name)}: {{")
        for key, value in entry.model_dump().items():
            lines.append(f"        {literal(key)}: {literal(value)},")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines)
