"""The source text of the classes in runtime.py, read without importing torch."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

_RUNTIME = Path(__file__).with_name("runtime.py")


@lru_cache(maxsize=1)
def _classes() -> dict[str, str]:
    text = _RUNTIME.read_text(encoding="utf-8")
    tree = ast.parse(text)
    return {node.name: ast.get_source_segment(text, node) for node in tree.body
            if isinstance(node, ast.ClassDef)}


def class_source(name: str) -> str:
    """Source of one runtime class, for embedding in a generated module."""
    return _classes()[name]


def runtime_names() -> list[str]:
    return list(_classes())
