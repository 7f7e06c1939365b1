"""Expand table rows into a layer graph: ``n`` repeats (stride-like columns on the first repeat
only), named groups, and expressions evaluated to concrete values. The result is a networkx
DiGraph per container (the model, each ``seq`` group, each block instance) whose nodes carry a
:class:`Node`. Block bodies are expanded later, by shape inference, because what they contain can
depend on their input channels (``when: t != 1`` ... ``round(in_channels * t)``)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import networkx as nx

from .. import expr
from ..diagnostics import Diagnostic, SpecError
from ..frontend import BlockDef, CheckedSpec, Row
from ..frontend.loader import Budget, Document, PathT
from ..frontend.models import row_name_problem
from ..frontend.validate import check_range
from ..ops import ACTIVATIONS, Primitive, Shape

INPUT = "input"
MAX_LAYERS = Budget.max_layers  # the default layer budget
ACTIVATION_NAMES = frozenset(ACTIVATIONS)


@dataclass
class Node:
    """One instance of a row: a primitive op, a block, or a group of rows (``seq``)."""

    id: str  # unique within its container
    name: str | None  # module attribute / Sequential index; None: applied functionally
    op: str | None  # None for a seq group
    impl: Primitive | BlockDef | None
    row: Row
    doc: Document  # the document the row is written in
    row_path: PathT
    args: dict = field(default_factory=dict)  # concrete values
    given: tuple[str, ...] = ()  # columns the row states (shown in generated code)
    inputs: list[str] = field(default_factory=list)
    path: str = ""  # dotted module path in the model, e.g. features.3.conv.0
    repeat: int = 0  # index within the row's n repeats
    repeats: int = 1
    body: Graph | None = None  # for seq groups and block instances
    inline_row: Row | None = None  # the inline-block row this node was spliced from
    inline_doc: Document | None = None
    inline_path: PathT = ()
    inline_first: bool = False
    env: dict = field(default_factory=dict)  # a block's parameters and lets
    scope: dict = field(default_factory=dict)  # the names the row's expressions were read in
    # filled by shape inference
    in_shapes: list[Shape] = field(default_factory=list)
    out_shape: Shape = ()
    in_layouts: list[str] = field(default_factory=list)  # "CHW", "HWC", "LC", "C" (features)
    layout: str = ""
    params: int = 0
    macs: int = 0
    activations: int = 0  # output elements of every primitive inside, per sample

    def __setattr__(self, key: str, value) -> None:
        # The IR is written by the one elaboration pass (expansion, then shape inference) and
        # frozen when it returns: no later stage edits a node (see freeze()).
        if self.__dict__.get("_frozen"):
            raise AttributeError(f"IR node {self.path or self.id!r} is frozen: {key} is "
                                 "written by the elaboration pass only")
        object.__setattr__(self, key, value)

    @property
    def kind(self) -> str:
        if self.op is None:
            return "seq"
        return "block" if isinstance(self.impl, BlockDef) else "op"

    @property
    def columns(self) -> dict:
        """The row's paper columns as written, in the file's order (for comments, summaries).
        Rows spliced from an inline block show the inline row's columns on their first node."""
        if self.inline_row is not None:
            return row_columns(self.inline_doc, self.inline_path) if self.inline_first else {}
        return row_columns(self.doc, self.row_path)


def row_columns(doc: Document, path: PathT) -> dict:
    """Columns of the row at ``path`` as written in the file."""
    if path == ("input_transform",):
        return {}
    while True:  # a top-level repeated row is wrapped in a synthetic group: use the row
        raw = doc.data
        try:
            for seg in path:
                raw = raw[seg]
            break
        except (KeyError, IndexError, TypeError):
            path = path[:-2]
    skip = {"op", "name", "from", "when", "step", "seq", "input_size", "init"}
    return {k: v for k, v in raw.items() if k not in skip} if isinstance(raw, dict) else {}


@dataclass
class Graph:
    """An ordered container of nodes with dataflow edges (each node's ``inputs``; ``g`` is
    the same as a networkx graph, made when asked for: building one per container cost more
    than all of shape inference)."""

    order: list[str] = field(default_factory=list)
    sequential: bool = False  # an nn.Sequential: chained children, keyed by index or name
    out: str | None = None
    last: str = INPUT  # the end of the chain (the last row that is not left out)
    members: dict[str, Node] = field(default_factory=dict)

    def add(self, node: Node) -> None:
        self.members[node.id] = node
        self.order.append(node.id)

    def nodes(self) -> list[Node]:
        return [self.members[i] for i in self.order]

    def node(self, node_id: str) -> Node:
        return self.members[node_id]

    @property
    def g(self) -> nx.DiGraph:
        """The container as a networkx graph: nodes carry ``node``, edges are dataflow."""
        g = nx.DiGraph()
        for node in self.nodes():
            g.add_node(node.id, node=node)
            g.add_edges_from((src, node.id) for src in node.inputs if src != INPUT)
        return g

    @property
    def output(self) -> str:
        return self.out or self.last

    @property
    def keyed(self) -> bool:
        """Whether a Sequential's children carry names of their own (``denseblock1``), so it
        is built from an OrderedDict; unnamed children keep their index as their key."""
        return self.sequential and any(n.name != str(i) for i, n in enumerate(self.nodes()))


@dataclass(slots=True)
class Site:
    """Where one repeat of a row is expanded: the container it joins, the file and path that
    write it, the names its expressions read, and whether the spec's scaling applies."""

    graph: Graph
    doc: Document
    path: PathT
    env: dict
    repeat: int = 0
    sequential: bool = False
    scaled: bool = False  # the spec's own layers (not block bodies): width/depth apply
    prefix: str = ""  # module path of the container, for node paths
    names: bool = True  # a group's rows keep their names (an inline block's are numbered)


class Expander:
    """Turns rows into nodes, evaluating expressions in an environment."""

    def __init__(self, checked: CheckedSpec, max_layers: int = MAX_LAYERS) -> None:
        self.checked = checked
        self.diags: list[Diagnostic] = []
        self._repeats: dict[tuple, int] = {}  # an error made again by a row's repeats
        self.scaling = checked.spec.scaling
        self.block_index = 0  # instances of rows whose columns read 'block_index'
        self.layers = 0
        self.max_layers = max_layers
        # Pure results, memoised: expanding is linear in the layers it makes, however deeply
        # blocks nest (a block used six times per level, twelve levels deep, was exponential).
        self._parsed: dict[str, expr.Expr] = {}
        self._min: dict[int, int] = {}  # id(row) -> layers one repeat surely adds
        self._args: dict[tuple, tuple] = {}  # (id(row), id(env), ...) -> (row, env, args)

    def over_budget(self, doc: Document, path: PathT) -> SpecError:
        """The located E005 error for a model past the layer budget."""
        return SpecError([doc.diag(path, f"the model expands to more than {self.max_layers:,} "
                                   "layers", "E005", hint="raise the limit with --max-layers "
                                   "if intended")])

    def error(self, doc: Document, path: PathT, message: str, code: str,
              hint: str | None = None) -> None:
        diag = doc.diag(path, message, code, hint=hint)
        key = (diag.file, diag.line, diag.column, code, message)
        for i, seen in enumerate(self.diags):  # a row's repeats make the same error: once
            if (seen.file, seen.line, seen.column, seen.code) == key[:4] and \
                    seen.message.startswith(message):
                if key not in self._repeats:
                    self._repeats[key] = 2
                    self.diags[i] = replace(seen, message=f"{message} (and in the row's "
                                            "later repeats)")
                return
        self.diags.append(diag)

    def evaluate(self, value, doc: Document, path: PathT, env: dict):
        try:
            parsed = self._parsed.get(value)
            if parsed is None:
                parsed = self._parsed[value] = expr.parse(value)
            return parsed.evaluate(env)
        except expr.ExprError as exc:
            self.error(doc, path, f"in expression {value!r}: {exc.message}", "E301", exc.hint)
            return None

    def condition(self, row: Row, doc: Document, path: PathT, env: dict) -> bool:
        if row.when is None or isinstance(row.when, bool):
            return row.when is not False
        value = self.evaluate(row.when, doc, (*path, "when"), env)
        if not isinstance(value, bool):
            if value is not None:
                self.error(doc, (*path, "when"), f"condition {row.when!r} is {value!r}, not "
                           "true or false", "E302")
            return False
        return value

    def args(self, row: Row, impl, site: Site) -> dict:
        """The row's columns for ``impl``'s parameters: expressions evaluated, channels scaled,
        types and ranges checked (errors collected, the column then None)."""
        doc, path, env, repeat, scaled = site.doc, site.path, site.env, site.repeat, site.scaled
        out = {}
        given = row.args
        for p in impl.params:
            if p.name in given and not (p.first_only and repeat > 0):
                raw = given[p.name]
                if p.type in ("floats", "ints") and isinstance(raw, list):
                    raw = [self._item(v, doc, (*path, p.name, i), env, p) for i, v in
                           enumerate(raw)]
                elif isinstance(raw, str) and not (p.type == "str" and (
                        p.choices is None or raw in p.choices)):
                    raw = self.evaluate(raw, doc, (*path, p.name), env)
                    raw = self._coerce(p, raw, doc, (*path, p.name))
                elif scaled and p.scale == "channels" and isinstance(raw, int):
                    raw = self._coerce(p, self.scale_channels(raw), doc, (*path, p.name))
                needs = p.default is not None or p.name in getattr(impl, "context_defaults", {})
                if raw is None and needs and not self.diags:
                    # an empty value (an optional block parameter) where one is needed
                    self.error(doc, (*path, p.name), f"column {p.name!r} gets no value",
                               "E303", hint="the expression reads a parameter that is unset "
                               "(optional, or left to later repeats of a first-only column)")
                out[p.name] = raw
            else:
                out[p.name] = None if p.required else p.default
        return out

    def _item(self, value, doc, path, env, p):
        """One item of a list column: a float (``floats``) or an integer in range (``ints``)."""
        if isinstance(value, str):
            value = self.evaluate(value, doc, path, env)
        if p.type == "ints":
            if isinstance(value, bool) or not isinstance(value, int):
                if value is not None:
                    self.error(doc, path, f"expected an integer, got {value!r}", "E303")
                return 0
            if not check_range(p, value, lambda m: self.error(doc, path, m, "E304")):
                return 0
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if value is not None:
                self.error(doc, path, f"expected a number, got {value!r}", "E303")
            return 0.0
        return float(value)

    def scale_channels(self, value: int) -> int:
        width = self.scaling.width
        if width == 1.0:
            return value
        policy = self.scaling.channels
        if policy == "make_divisible_8":
            return expr.make_divisible(value * width, 8)
        return int({"round": round, "floor": math.floor, "ceil": math.ceil}[policy](value * width))

    def scale_repeats(self, value: int) -> int:
        depth = self.scaling.depth
        if depth == 1.0:
            return value
        return int({"round": round, "floor": math.floor, "ceil": math.ceil}[
            self.scaling.repeats](value * depth))

    def _coerce(self, p, value, doc, path):
        if value is None:
            return None
        if p.type == "int" and isinstance(value, float) and not isinstance(value, bool):
            self.error(doc, path, f"column {p.name!r} must be an integer, but its expression "
                       f"gives {value!r}", "E303", hint="wrap it in round(), int() or "
                       "make_divisible()")
            return None
        if p.type == "int2" and isinstance(value, (list, tuple)):  # a pair from a parameter
            if len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, int)
                                      for v in value):
                self.error(doc, path, f"column {p.name!r} gets {value!r}, not an integer or "
                           "a [height, width] pair of integers", "E303")
                return None
            report = lambda m: self.error(doc, path, m, "E304")  # noqa: E731
            return list(value) if all([check_range(p, v, report) for v in value]) else None
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "int2": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "bool": isinstance(value, bool), "str": isinstance(value, str)}[p.type]
        if not ok:
            self.error(doc, path, f"column {p.name!r} gets {value!r}, which is not of type "
                       f"{p.type}", "E303")
            return None
        if p.type != "str" and not check_range(p, value, lambda m: self.error(doc, path, m,
                                                                                "E304")):
            return None
        if p.choices and value not in p.choices:
            self.error(doc, path, f"column {p.name!r} gets {value!r}, not one of "
                       f"{', '.join(p.choices)}", "E304")
            return None
        return value

    def repeats(self, row: Row, doc: Document, path: PathT, env: dict, scaled: bool) -> int:
        if row.n is None:
            return 1
        n = row.n
        if isinstance(n, str):
            n = self.evaluate(n, doc, (*path, "n"), env)
        elif scaled:
            n = self.scale_repeats(n)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            if n is not None:
                self.error(doc, (*path, "n"), f"repeats must be a positive integer, got {n!r}",
                           "E305")
            return 0
        return n

    def rows(self, rows: list[Row], doc: Document, path: PathT, env: dict, *,
             sequential: bool, out: str | None = None, prefix: str = "", scaled: bool = False,
             aux: frozenset[str] = frozenset(), graph: Graph | None = None,
             prev: str = INPUT, names: bool = True) -> Graph:
        """Expand rows into a container graph; disabled rows pass their input through.

        ``scaled``: apply the spec's width/depth scaling (a spec's own layers, not block
        bodies). ``aux``: rows that branch off the chain (auxiliary heads). ``names``: rows of
        a sequential container keep their names (false for an inline block's spliced rows)."""
        graph = graph if graph is not None else Graph(sequential=sequential)
        alias: dict[str, str] = {}  # disabled row name -> the node its input came from
        for i, row in enumerate(rows):
            rpath = path if path and path[-1] == _SELF else (*path, i)
            rpath = rpath[:-1] if rpath and rpath[-1] == _SELF else rpath
            if not self.condition(row, doc, rpath, env):
                if row.name:
                    alias[row.name] = self._inputs(row, prev, alias)[0]
                continue
            if names and _is_group_stage(row):
                row = _stage(row)  # a named row with n (in a group, a block): its repeats
            n = self.repeats(row, doc, rpath, env, scaled)
            per_repeat = _min_layers(row, self.checked.ops, self._min)
            if self.layers + n * per_repeat > self.max_layers:  # refuse before expanding
                raise self.over_budget(doc, (*rpath, "n") if row.n is not None else rpath)
            impl = self.checked.ops.get(row.op) if row.op else None
            for rep in range(n):
                site = Site(graph, doc, rpath, self._env(row, env), rep, sequential, scaled,
                            prefix, names)
                if isinstance(impl, BlockDef) and impl.inline:
                    prev = self.inline(row, impl, site, prev)
                    continue
                node = self.node(row, site, alias, prev)
                node.repeats = n
                if row.op == "act" and "inplace" not in row.args:
                    node.args["inplace"] = _may_overwrite(rows, i, rep, sequential, aux)
                node.path = prefix + (node.name or f"({row.op})")
                if node.body is not None:
                    _prefix_paths(node.body, node.path + ".")
                graph.add(node)
                if row.name not in aux:
                    prev = node.id
        graph.last = prev
        if out is not None:
            graph.out = alias.get(out, out)
        return graph

    def _env(self, row: Row, env: dict) -> dict:
        if "block_index" not in env or not _reads(row, "block_index"):
            return env
        env = {**env, "block_index": self.block_index}
        self.block_index += 1
        return env

    def inline(self, row: Row, impl: BlockDef, site: Site, prev: str) -> str:
        """Splice an inline block's rows into the current group (VGG's conv-[bn]-relu)."""
        graph, doc, rpath, rep = site.graph, site.doc, site.path, site.repeat
        first = len(graph.order)
        args = self.args(row, impl, site)
        inner = dict(args)
        for name, parsed in impl.lets:
            try:
                inner[name] = parsed.evaluate(inner)
            except expr.ExprError as exc:
                self.error(doc, rpath, f"{impl.op}: let {name}: {exc.message}", "E301")
                return prev
        start = len(self.diags)
        self.rows(impl.body, impl.document, (*impl.path, "body"), inner, sequential=True,
                  prefix=site.prefix, graph=graph, prev=prev, names=False)
        if impl.builtin:  # an error in archc's library rows is the error of the row using them
            self.diags[start:] = [replace(doc.diag(rpath, f"{impl.op}: {d.message}", d.code),
                                          hint=library_hint(d, d.hint))
                                  for d in self.diags[start:]]
        for node in graph.nodes()[first:]:
            node.inline_row, node.inline_doc, node.inline_path = row, doc, rpath
            node.inline_first = node.id == graph.order[first] and rep == 0
        return graph.last

    def _inputs(self, row: Row, prev: str, alias: dict) -> list[str]:
        if row.from_ is None:
            return [prev]
        refs = [row.from_] if isinstance(row.from_, str) else row.from_
        return [alias.get(r, r) for r in refs]

    def node(self, row: Row, site: Site, alias: dict, prev: str) -> Node:
        """One repeat of a row as a node of ``site.graph``, reading ``prev`` unless it says
        ``from:`` (``alias``: disabled rows, by name, to the node their input came from)."""
        graph, doc, rpath, env, rep = site.graph, site.doc, site.path, site.env, site.repeat
        self.layers += 1
        if self.layers > self.max_layers:
            raise self.over_budget(doc, rpath)
        index = str(len(graph.order))
        if site.sequential:
            node_id = name = self.key(row, site) or index
        elif row.name:
            node_id, name = row.name, row.name
        else:
            node_id, name = f"{row.op}#{index}", None
        impl = None if row.op is None else self.checked.ops[row.op]
        node = Node(node_id, name, row.op, impl, row, doc, rpath, inputs=self._inputs(
            row, prev, alias), repeat=rep, scope=env)
        if row.op is None:
            # A stage made from a named row with n repeats: its one inner row is the row itself.
            inner = (*rpath, _SELF) if _is_stage(row) else (*rpath, "seq")
            node.body = self.rows(row.seq, doc, inner, env, sequential=True,
                                  scaled=site.scaled)
            return node
        # Repeats after the first get the same arguments from the same environment: evaluate
        # them once (a row's expressions can be long; n can be large).
        key = (id(row), id(env), rep > 0, site.scaled)
        cached = self._args.get(key)
        if cached is not None:  # the entry holds row and env, so their ids are not reused
            args = cached[2]
        else:
            errors = len(self.diags)
            args = self.args(row, impl, site)
            if len(self.diags) == errors:
                self._args[key] = (row, env, args)
        node.args = dict(args)
        firsts = {p.name for p in impl.params if p.first_only}
        node.given = tuple(k for k in row.args if not (k in firsts and rep > 0))
        return node


    def key(self, row: Row, site: Site) -> str | None:
        """A group child's own name: the row's, or its template rendered for this repeat
        (None: the child is keyed by its index). Unique in the group."""
        if row.name is None or not site.names:
            return None
        name = self.render_name(row, site) if row.template else row.name
        if name is None:
            return None
        if name in site.graph.members:
            self.error(site.doc, (*site.path, "name"), f"module name {name!r} is used twice "
                       "in this 'seq' group" + (f" (repeat {site.repeat})" if row.template
                                                else ""), "E201",
                       hint="names in a group are its keys (features.NAME): make them differ")
            return None
        return name

    def render_name(self, row: Row, site: Site) -> str | None:
        """A name template for repeat ``i``: each ``{expression}`` evaluated by archc's
        expression language (never Python's format or eval), integers and strings only."""
        path = (*site.path, "name")
        out = []
        for literal, text in _TEMPLATE.findall(row.name):
            out.append(literal)
            if not text:
                continue
            value = self.evaluate(text, site.doc, path, {**site.env, "i": site.repeat})
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                self.error(site.doc, path, f"in name template {row.name!r}: {{{text}}} gives "
                           f"{value!r}, not an integer or a string", "E241")
                return None
            out.append(str(value))
        name = "".join(out)
        problem = row_name_problem(name, key=True)  # templates name 'seq' children only
        if problem:
            self.error(site.doc, path, f"name template {row.name!r} gives, for repeat "
                       f"{site.repeat}, {problem}", "E241")
            return None
        return name


_TEMPLATE = re.compile(r"([^{}]*)(?:\{([^{}]+)\}|$)")


def library_hint(diag: Diagnostic, hint: str | None = None) -> str:
    """The note of an error found in a row of archc's block library: where that row is."""
    note = f"the block's row is archc/ops/library/{Path(diag.file).name}:{diag.line}:" \
        f"{diag.column}"
    return f"{note}; {hint}" if hint else note


def _min_layers(row: Row, ops: dict, memo: dict, depth: int = 0) -> int:
    """Layers one repeat of a row surely adds (rows with conditions may be left out).
    ``memo`` (id(row) -> count) keeps it linear in the spec's rows however blocks nest."""
    if depth > 32:
        return 1
    known = memo.get(id(row))
    if known is not None:
        return known
    if row.seq is not None:
        count = 1 + sum(_min_layers(r, ops, memo, depth + 1) for r in row.seq
                        if r.when is None or r.when is True)
    elif isinstance(impl := ops.get(row.op), BlockDef):
        count = (0 if impl.inline else 1) + sum(
            _min_layers(r, ops, memo, depth + 1) * (r.n if isinstance(r.n, int) else 1)
            for r in impl.body if r.when is None or r.when is True)
    else:
        count = 1
    memo[id(row)] = count
    return count


def _reads(row: Row, name: str) -> bool:
    """Whether any column of the row is an expression reading ``name``."""
    for value in row.args.values():
        if isinstance(value, str):
            try:
                if name in expr.parse(value).names:
                    return True
            except expr.ExprError:
                pass
    return False


def _may_overwrite(rows: list[Row], i: int, rep: int, sequential: bool,
                   aux: frozenset[str] = frozenset()) -> bool:
    """Whether an activation row may work in place: only when its input is the output of the
    row just before it, which always runs and which nothing else reads. Decided from the rows
    alone, so the live model and the generated class agree for every instance."""
    if rep > 0:
        return True
    row = rows[i]
    if i == 0 or row.from_ is not None:
        return False
    prev = rows[i - 1]
    if prev.when is not None and prev.when is not True:
        return False
    if not _fresh_output(prev) or prev.name in aux:  # an aux row leaves the chain
        return False
    if sequential or prev.name is None:
        return True
    return not any(prev.name == r.from_ or (isinstance(r.from_, list) and prev.name in r.from_)
                   for r in rows[i + 1:])


# Ops whose output is always a tensor they allocated. Anything else (identity, dropout and
# stochastic depth in eval, flatten, channel shuffle, groups and blocks, which may hand back
# their input or a view of it) could share memory with a tensor someone else holds, so an
# activation after it must not work in place.
_FRESH = {"conv", "batch_norm", "linear", "add", "mul", "concat", "max_pool", "avg_pool",
          "global_avg_pool", "adaptive_avg_pool", "channel_affine"}


def _fresh_output(row: Row) -> bool:
    """Whether a row's output is a tensor it made (so the next row may overwrite it)."""
    if row.op == "act":
        fn = row.args.get("fn")
        return fn != "identity" and fn in ACTIVATION_NAMES
    return row.op in _FRESH


def _needs_module(node: Node) -> bool:
    impl = node.impl
    if isinstance(impl, Primitive):
        return impl.has_weights or not impl.functional
    return True


_SELF = "<stage>"  # path marker: a stage's inner row lives at the stage row's own path


def _is_stage(row: Row) -> bool:
    return bool(row.seq) and len(row.seq) == 1 and getattr(row, "_stage", False)


def _stage(row: Row) -> Row:
    """A named row with ``n`` as a stage: a group whose one row is the row itself, unnamed
    (the stage reads the row's 'from'; its repeats chain inside the group)."""
    stage = row.model_copy(update={
        "seq": [row.model_copy(update={"name": None, "from_": None})], "op": None,
        "n": None, "input_size": None})
    stage._stage = True
    return stage


def _is_group_stage(row: Row) -> bool:
    """A row in a group that is a stage: named (not a template), with ``n``."""
    return row.op is not None and row.n is not None and row.name is not None and \
        not row.template


def _top_rows(spec) -> list[Row]:
    rows = []
    if spec.input_transform is not None:
        # Input whitening is the first step (torchvision's GoogLeNet calls it transform_input).
        t = spec.input_transform
        rows.append(Row.model_validate({"op": "channel_affine", "name": "transform_input",
                                        "scale": t.scale, "shift": t.shift}))
    for row in spec.layers:
        if row.op is not None and row.n is not None and row.name is not None:
            # A named, repeated row at the top level is a stage: an nn.Sequential of its repeats
            # (ResNet's layer1..layer4).
            rows.append(_stage(row))
        else:
            rows.append(row)
    return rows


def _reads_anywhere(rows: list[Row], name: str):
    for row in rows:
        yield _reads(row, name) or (isinstance(row.n, str) and name in row.n)
        if row.seq is not None:
            yield from _reads_anywhere(row.seq, name)


def _fix_paths(graph: Graph, doc: Document) -> None:
    """With a synthetic first row, layer i is row i + 1: shift the recorded YAML paths back."""
    def shift(path: PathT) -> PathT:
        if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int):
            return ("input_transform",) if path[1] == 0 else ("layers", path[1] - 1, *path[2:])
        return path

    for node in walk(graph):
        if node.doc is doc:
            node.row_path = shift(node.row_path)
        if node.inline_doc is doc:
            node.inline_path = shift(node.inline_path)


def walk(nodes: Graph | Iterable[Node], *, blocks: bool = True) -> Iterator[Node]:
    """Every node of ``nodes`` and of the containers inside them, depth first, each before its
    children: named groups always, block instances' bodies unless ``blocks`` is false (the
    model class's own lines stop at a block's call)."""
    stack = list(nodes.nodes() if isinstance(nodes, Graph) else nodes)[::-1]
    while stack:
        node = stack.pop()
        yield node
        if node.body is not None and (blocks or node.kind == "seq"):
            stack.extend(node.body.nodes()[::-1])


def _prefix_paths(graph: Graph, prefix: str) -> None:
    for node in graph.nodes():
        node.path = prefix + (node.name or f"({node.op})")
        if node.body is not None:
            _prefix_paths(node.body, node.path + ".")


def build_graph(checked: CheckedSpec, max_layers: int = MAX_LAYERS) -> Graph:
    """The model's top-level container: one node per row (or per named group of repeats)."""
    spec, doc = checked.spec, checked.document
    env = {**spec.params, "width": spec.scaling.width, "depth": spec.scaling.depth}
    aux = frozenset(spec.aux_outputs)
    if any(_reads_anywhere(spec.layers, "block_index")):
        # Rows reading block_index are numbered 0..block_count-1 in order (EfficientNet's
        # stochastic depth rate grows with it): count them first, then expand for real.
        counter = Expander(checked, max_layers)
        counter.rows(_top_rows(spec), doc, ("layers",), {**env, "block_index": 0,
                                                         "block_count": 1},
                     sequential=False, scaled=True, aux=aux)
        env.update(block_index=0, block_count=max(1, counter.block_index))
    ex = Expander(checked, max_layers)
    graph = ex.rows(_top_rows(spec), doc, ("layers",), env, sequential=False, scaled=True,
                    aux=aux)
    if spec.input_transform is not None:
        _fix_paths(graph, doc)
    if ex.diags:
        raise SpecError(ex.diags)
    return graph


def unnamed_modules(checked: CheckedSpec, graph: Graph) -> list[Diagnostic]:
    """Top-level rows that need a module but have no name (E306). Their shapes are sound, so
    shape inference runs first and reports its errors together with these."""
    out = []
    for node in graph.nodes():
        if node.kind != "seq" and node.name is None and _needs_module(node):
            what = "has weights, so it" if getattr(node.impl, "has_weights", True) else \
                "is a module (it has no functional form), so it"
            out.append(checked.document.diag(node.row_path, f"row {node.op!r} {what} needs a "
                                             "'name' (or put it in a named 'seq' group)",
                                             "E306"))
    return out
