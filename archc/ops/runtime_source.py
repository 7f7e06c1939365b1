"""Source text of helper classes and functions that generated modules embed (runtime.py's
modules, inference.py's optimiser), read with ast, without importing torch."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

_RUNTIME = Path(__file__).with_name("runtime.py")
_INFERENCE = Path(__file__).resolve().parent.parent / "tools" / "inference.py"


@lru_cache(maxsize=4)
def _definitions(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    return {node.name: ast.get_source_segment(text, node) for node in tree.body
            if isinstance(node, (ast.ClassDef, ast.FunctionDef))}


def class_source(name: str) -> str:
    """Source of one runtime class, for embedding in a generated module."""
    return _definitions(_RUNTIME)[name]


def runtime_names() -> list[str]:
    return list(_definitions(_RUNTIME))


def inference_sources() -> list[str]:
    """Every definition of archc/tools/inference.py, in file order."""
    return list(_definitions(_INFERENCE).values())
