"""Block types available to a spec: built-in primitives, the YAML block library shipped with
archc, and the blocks a spec defines itself. All three are used the same way in rows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import expr
from ..blocks import PRIMITIVES, REQUIRED, Param, Primitive
from ..loader import Document, PathT

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "blocks" / "library"


@dataclass
class BlockDef:
    """A composite block type: parameters, derived values and a body of rows."""

    op: str
    class_name: str
    doc: str
    paper: str
    params: tuple[Param, ...]
    lets: list[tuple[str, expr.Expr]]
    body: list  # list[Row]
    out: str | None
    document: Document  # where the definition is written, for diagnostics
    path: PathT  # location of the definition in that document
    builtin: bool = False
    uses: set[str] = field(default_factory=set)
    sequential: bool = False  # a plain chain of unnamed rows: generated as an nn.Sequential
    inline: bool = False  # rows spliced into the enclosing group instead of a module

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


Op = Primitive | BlockDef


def camel(name: str) -> str:
    """``inverted_residual`` -> ``InvertedResidual``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"_+", name) if part)


@lru_cache(maxsize=1)
def library() -> dict[str, BlockDef]:
    """The built-in YAML block library, validated once per process."""
    from .validate import load_library

    out: dict[str, BlockDef] = {}
    for path in sorted(LIBRARY_DIR.glob("*.yaml")):
        out.update(load_library(path, out))
    return out


@lru_cache(maxsize=1)
def plugins() -> dict[str, Primitive]:
    """Primitive ops registered by installed packages under the ``archc.primitives`` entry
    point group (for what YAML cannot express). Specs can only *use* them by op name; nothing
    in a spec can name Python code to import."""
    from importlib.metadata import entry_points

    found: dict[str, Primitive] = {}
    for ep in entry_points(group="archc.primitives"):
        obj = ep.load()
        op = obj() if isinstance(obj, type) else obj
        if not isinstance(op, Primitive) or not op.op or op.op in PRIMITIVES:
            raise RuntimeError(f"entry point {ep.name!r} is not a new archc Primitive")
        found[op.op] = op
    return found


def builtin_ops() -> dict[str, Op]:
    """Every op a spec can use without defining it."""
    return {**PRIMITIVES, **plugins(), **library()}


def declared_params(op: Op) -> tuple[Param, ...]:
    return op.params


def is_required(param: Param) -> bool:
    return param.default is REQUIRED
