"""Block types available to a spec: built-in primitives, the YAML block library shipped with
archc, and the blocks a spec defines itself. All three are used the same way in rows."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import expr
from ..ops import PRIMITIVES, Param, Primitive
from .loader import Document, PathT

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "ops" / "library"


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
    operator: str = ""  # the name paper tables give it (archc table's Operator column)

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


PLUGIN_GROUP = "archc.primitives"
NO_PLUGINS_ENV = "ARCHC_NO_PLUGINS"
_loaded: dict[str, Primitive | None] = {}


def plugins_enabled() -> bool:
    """False when ``ARCHC_NO_PLUGINS`` is set to anything but ``""``/``0``."""
    return os.environ.get(NO_PLUGINS_ENV, "") in ("", "0")


def _trusted_locations() -> set[Path]:
    """Where installed distributions live: site-packages (system, venv, user), never the
    current directory that ``python -m`` puts first on ``sys.path``."""
    import site
    import sysconfig

    paths = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    paths.update(getattr(site, "getsitepackages", list)())
    if site.ENABLE_USER_SITE:
        paths.add(site.getusersitepackages())
    return {Path(p).resolve() for p in paths}


def plugin_entry_points() -> dict:
    """Entry points of the ``archc.primitives`` group by op name (the entry point's name),
    from installed distributions only. Reads metadata; imports nothing."""
    from importlib.metadata import entry_points

    if not plugins_enabled():
        return {}
    trusted, cwd = _trusted_locations(), Path.cwd().resolve()
    found = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        dist = getattr(ep, "dist", None)
        try:
            where = Path(dist.locate_file("")).resolve() if dist is not None else None
        except (OSError, TypeError, ValueError):
            where = None
        if where is not None and where in trusted and where != cwd:
            found.setdefault(ep.name, ep)
    return found


def plugins(names) -> dict[str, Primitive]:
    """The plugin primitives for those of ``names`` that an installed package provides,
    imported on first use: a plugin's code runs only when a spec uses its op."""
    wanted = [n for n in names if n not in _loaded]
    if wanted:
        eps = plugin_entry_points()
        for name in wanted:
            _loaded[name] = _load(eps[name]) if name in eps else None
    return {n: op for n in names if (op := _loaded.get(n)) is not None}


def _load(ep) -> Primitive:
    obj = ep.load()
    op = obj() if isinstance(obj, type) else obj
    if not isinstance(op, Primitive) or op.op != ep.name or op.op in PRIMITIVES:
        raise RuntimeError(f"entry point {ep.name!r} ({ep.value}) is not a new archc Primitive "
                           f"with op {ep.name!r}")
    return op


def plugin_cache_clear() -> None:
    """Forget loaded plugins (for tests)."""
    _loaded.clear()


def builtin_ops(used=()) -> dict[str, Op]:
    """Every op a spec can use without defining it: the primitives, the block library and,
    for the op names in ``used`` that neither provides, installed plugins."""
    ops: dict[str, Op] = {**PRIMITIVES, **library()}
    missing = [name for name in used if name not in ops]
    if missing and plugins_enabled():
        ops.update(plugins(missing))
    return ops


def used_ops(spec) -> list[str]:
    """Op names a validated :class:`Spec` writes in its rows but does not define itself: the
    only names :func:`builtin_ops` may look up among plugins."""
    names: dict[str, None] = {}
    rows = [*spec.layers, *(row for b in spec.blocks.values() for row in b.body)]
    while rows:
        row = rows.pop()
        if row.op is not None and row.op not in spec.blocks:
            names[row.op] = None
        rows.extend(row.seq or ())
    return list(names)

