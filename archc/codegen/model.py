"""The model class: one line per block with channels resolved, a comment per table row, and
the inferred output shape after every line."""

from __future__ import annotations

import keyword
import math
from dataclasses import dataclass, field
from types import SimpleNamespace

from .. import expr
from ..codegen_literals import literal
from ..frontend import BlockDef, init_rules
from ..frontend.names import (
    BLOCK_LOCALS,
    BUILTINS,
    GENERATED_CLASSES,
    GENERATED_GLOBALS,
    MODULE_ATTRIBUTES,
)
from ..ir.features import feature_info
from ..ir.graph import INPUT, Graph, Node, walk
from ..ir.shapes import Model, describe
from ..ops import Val, init
from ..ops.base import channel_dim, channels
from .blocks import _is_expression, block_call, docstring, row_out
from .pysrc import LINE, Call, List, Tuple, comment, pyexpr, render

_PY_TYPES = {bool: "bool", int: "int", float: "float", str: "str"}
# Names besides a class's own that its __init__ and the factory read or take.
_TAKEN = GENERATED_GLOBALS | GENERATED_CLASSES | BLOCK_LOCALS | BUILTINS | {
    "weights", "progress", "kwargs", "m", "num_features"}


@dataclass(frozen=True)
class Kwarg:
    """A spec param that is a keyword argument of the generated model class."""

    name: str
    type: str  # int | float | bool | str
    default: object


def model_kwargs(checked, taken: frozenset[str] = frozenset()) -> list[Kwarg]:
    """The spec's ``params`` the model class takes as keyword arguments, defaults the spec's
    values: all but those that decide the module tree (read by a ``when``, an ``n`` or an
    inline block's columns: fixed at build time, ``--set``) and names the module uses."""
    spec = checked.spec
    fixed = _structural(spec.layers, checked.ops)
    if not isinstance(spec.init, str):  # init numbers are evaluated when generated
        fixed |= init_rules.names_read(spec.init)
    return [Kwarg(name, _PY_TYPES[type(value)], value) for name, value in spec.params.items()
            if name not in fixed and name not in taken and name not in _TAKEN
            and not keyword.iskeyword(name) and not name.startswith("_")]


def _structural(rows, ops) -> set[str]:
    out: set[str] = set()
    for row in rows:
        texts = [v for v in (row.when, row.n) if isinstance(v, str)]
        impl = ops.get(row.op) if row.op else None
        if isinstance(impl, BlockDef) and impl.inline:
            texts += [v for v in row.args.values() if isinstance(v, str)]
        texts += [v for v in row.args.values() if isinstance(v, list)
                  for v in v if isinstance(v, str)]
        for text in texts:
            try:
                out |= expr.parse(text).names
            except expr.ExprError:
                pass
        out |= init_rules.names_read(row.init)
        if row.seq is not None:
            out |= _structural(row.seq, ops)
    return out


def _lang(value) -> str | None:
    """A value as a constant of the expression language (None: it has no spelling)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return expr.quote(value)
        except expr.ExprError:
            return None
    return None


def _noisy(value: float) -> bool:
    """A float whose shortest repr carries rounding noise (0.037500000000000006)."""
    return float(f"{value:.12g}") != value


@dataclass
class Emitter:
    """What the model class's lines share: the keyword arguments, how forward() reads them,
    and the output channels of nodes that depend on them (archc expressions)."""

    kwargs: list[Kwarg]
    ctx: object = None  # codegen.blocks.Context, for block output channels
    forward_names: dict[str, str] = field(default_factory=dict)  # kwarg -> self.attr
    scope: dict = field(default_factory=dict)  # the spec's params and scaling
    channels: dict[int, str] = field(default_factory=dict)  # id(node) -> channels expression

    @property
    def names(self) -> set[str]:
        return {k.name for k in self.kwargs}

    @property
    def init_env(self) -> dict:
        """What init rules' numbers read: the spec's params and scaling (their values as
        built: a param they read is fixed when generated)."""
        return self.scope

    def arg_text(self, node: Node, p) -> str | None:
        """The row's expression for ``p`` as archc text when it reads a keyword argument
        (compile-time names resolved), or its arithmetic when its value is a noisy float."""
        if node.inline_row is not None or p.name not in node.given:
            return None
        raw = node.row.args.get(p.name)
        if not _is_expression(p, raw):
            return None
        parsed = expr.parse(raw)
        live = parsed.names & self.names
        value = node.args.get(p.name)
        if not live and not (isinstance(value, float) and _noisy(value)):
            return None
        mapping = {n: _lang(node.scope.get(n)) for n in parsed.names - live}
        if None in mapping.values():
            return None
        text = parsed.substitute(mapping) if mapping else parsed.text
        if not live and expr.parse_trusted(text).evaluate({}) != value:
            return None
        return text

    def vals(self, node: Node, forward: bool = False) -> tuple[dict[str, Val], dict[str, str]]:
        """Argument values of a node, and the archc texts of those that are expressions."""
        rename = {k: self.forward_names.get(k, k) if forward else k for k in self.names}
        vals, texts = {}, {}
        for p in node.impl.params:
            text = self.arg_text(node, p)
            if text is None:
                vals[p.name] = Val(node.args[p.name])
            else:
                texts[p.name] = text
                vals[p.name] = Val(src=pyexpr(text, rename))
        return vals, texts

    def in_channels(self, node: Node, source: str | None) -> Val:
        sym = self.channels.get(source) if source is not None else None
        if sym is None:
            return Val(channels(node.in_shapes[0], node.in_layouts[0]))
        return Val(src=pyexpr(sym, {k: k for k in self.names}))

    def node_source(self, node: Node, source: int | None) -> Call | str:
        """Source constructing one instance (children of a group are laid out by the
        caller); ``source``: id() of the node whose output it reads, or None."""
        in_ch = self.in_channels(node, source)
        vals, texts = self.vals(node)
        self.track(node, source, texts)
        if node.kind == "block":
            return block_call(node.impl, in_ch, vals, list(node.given))
        return node.impl.module_source(vals, in_ch, node.in_shapes[0], node.in_layouts[0])

    def track(self, node: Node, source: int | None, texts: dict[str, str]) -> None:
        """Record the node's output channels when a keyword argument decides them."""
        sym = self.channels.get(source) if source is not None else None
        if sym is None and not texts:
            return
        row = SimpleNamespace(seq=None, op=node.op, args={
            p.name: texts.get(p.name, node.args[p.name]) for p in node.impl.params})
        try:
            out = row_out(row, [sym or str(channels(node.in_shapes[0], node.in_layouts[0]))],
                          self.ctx, [])
        except (expr.ExprError, KeyError, SyntaxError, TypeError):
            out = None
        if out is not None and expr.parse_trusted(out).names & self.names:
            self.channels[id(node)] = out

    def shape(self, node: Node) -> str:
        """The node's output shape comment, channels spelled by the keyword arguments."""
        sym = self.channels.get(id(node))
        if sym is None or len(node.out_shape) < 1:
            return describe(node.out_shape)
        dims = [*map(str, node.out_shape)]
        dims[channel_dim(node.layout)] = pyexpr(sym, {k: k for k in self.names})
        return f"(N, {', '.join(dims)})"


def row_comment(node: Node, em: Emitter) -> str | None:
    """``# t=6, c=24, n=2, s=2``: the paper's columns above the first instance of a table row
    (a block row with ``n``, a step, a repeated row, or an inline block's rows); not above a
    single call that already shows every column."""
    if node.inline_row is not None:
        if not node.inline_first:
            return None
        cols = _columns(node.columns, node, em)
        return comment(f"{node.inline_row.op}: {cols}" if cols else node.inline_row.op)
    cols = _columns(node.columns, node, em)
    step = comment(node.row.step) if node.row.step else ""
    if node.repeat or (not cols and not step):
        return None
    if node.repeats == 1 and not step and "n" not in node.columns:
        return None
    return comment(f"{step}: {cols}" if step and cols else step or cols)


def _columns(columns: dict, node: Node, em: Emitter) -> str:
    """Columns as written, an expression reading names the file lacks shown by its value (by
    none when it differs per repeat, like EfficientNet's block_index)."""
    shown = []
    for key, value in columns.items():
        if isinstance(value, str):
            try:
                names = expr.parse(value).names
            except expr.ExprError:
                names = frozenset()
            if names - em.names:
                if names & {"block_index", "block_count"}:
                    continue
                scope = em.scope if node.inline_row is not None else node.scope
                value = _resolved(value, names - em.names, {**em.scope, **scope})
        if isinstance(value, list):  # items as written: [1, 1, hidden], not [1, 1, 'hidden']
            value = f"[{', '.join(str(v) for v in value)}]"
        shown.append(f"{key}={value}")
    return ", ".join(shown)


def _resolved(text: str, names, scope: dict) -> str:
    try:
        value = expr.parse(text).evaluate({n: scope[n] for n in names})
    except (expr.ExprError, KeyError):
        return text if not names else "..."
    return value if isinstance(value, str) else repr(value)


def sequential_lines(graph: Graph, indent: int, prefix: str, suffix: str, em: Emitter,
                     source: int | None, stage: bool = False) -> list[str]:
    """An nn.Sequential's lines; in a stage (a named row with n repeats) the row's comment
    stands above the stage, not again above its first block. Children with names of their
    own make it ``nn.Sequential(OrderedDict([("conv0", ...), ...]))``, as torchvision's
    DenseNet writes it; unnamed children there are keyed by their index."""
    pad = " " * indent
    keyed = graph.keyed
    inner = indent + (12 if keyed else 4)
    lines = [f"{pad}{prefix}nn.Sequential("]
    if keyed:
        lines += [f"{pad}    OrderedDict(", f"{pad}        ["]
    for child in graph.nodes():
        note = None if stage else row_comment(child, em)
        if note:
            lines.append(f"{' ' * inner}# {note}")
        key = literal(child.name)
        if child.kind == "seq":
            nested = bool(child.columns)  # a stage (plain groups show no columns)
            if keyed:
                lines += [f"{' ' * inner}(", f"{' ' * inner}    {key},"]
                lines += sequential_lines(child.body, inner + 4, "", ",", em, source, nested)
                lines.append(f"{' ' * inner}),")
            else:
                lines += sequential_lines(child.body, inner, "", ",", em, source, nested)
            _group_channels(child, em)
            lines[-1] += f"  # {em.shape(child)}"
        else:
            code = em.node_source(child, source)
            lines += render(inner, "", Tuple([key, code]) if keyed else code, ",",
                            em.shape(child))
        source = id(child)
    if keyed:
        lines += [f"{pad}        ]", f"{pad}    )"]
    lines.append(f"{pad}){suffix}")
    return lines


def _group_channels(node: Node, em: Emitter) -> None:
    last = node.body.nodes()[-1] if node.body.nodes() else None
    if last is not None and id(last) in em.channels:
        em.channels[id(node)] = em.channels[id(last)]


def module_call(node: Node, em: Emitter, ins: list[str]) -> str:
    """``self.conv1(x)``; a primitive may spell its module's use otherwise (a parameter is
    read, attention is called with query, key and value)."""
    if node.kind != "op":
        return f"self.{node.name}({ins[0]})"
    return node.impl.module_call(f"self.{node.name}", em.vals(node, forward=True)[0], ins)


def _is_module(node: Node) -> bool:
    if node.kind != "op":
        return True
    return node.name is not None and node.impl.has_module


def _source(graph: Graph, node: Node) -> int | None:
    src = node.inputs[0] if node.inputs else INPUT
    return None if src == INPUT else id(graph.node(src))


def emitter(model: Model, ctx=None, nodes=None) -> Emitter:
    """The model class's keyword arguments (only those ``nodes`` read, for a backbone) and
    the attributes forward() reads them from."""
    spec = model.checked.spec
    taken = {n.name for n in model.graph.nodes() if n.name}
    kwargs = model_kwargs(model.checked, frozenset(taken | {spec.name}))
    scaling = {"width": spec.scaling.width, "depth": spec.scaling.depth}
    em = Emitter(kwargs, ctx, scope={**spec.params, **scaling})
    if nodes is not None:
        read = set()
        for node in walk(nodes, blocks=False):
            if node.kind != "seq":
                read |= {n for t in em.vals(node)[1].values()
                         for n in expr.parse_trusted(t).names}
        em.kwargs = [k for k in kwargs if k.name in read]
    for node in model.graph.nodes():
        if node.kind != "seq" and not _is_module(node):
            for text in em.vals(node)[1].values():
                for name in sorted(expr.parse_trusted(text).names & em.names):
                    if name not in em.forward_names:
                        attr, i = name, 2
                        while attr in taken or attr in MODULE_ATTRIBUTES:
                            attr, i = f"{name}_{i}", i + 1
                        taken.add(attr)
                        em.forward_names[name] = f"self.{attr}"
    return em


def _signature(em: Emitter) -> list[str]:
    args = ["self"] + [f"{k.name}: {k.type} = {literal(k.default)}" for k in em.kwargs]
    return render(4, "", Call("def __init__", args), " -> None:")


def _fixed_note(model: Model, em: Emitter) -> str:
    """The class docstring's note on params fixed at build time."""
    fixed = [f"{n}={v!r}" for n, v in model.checked.spec.params.items()
             if n not in em.names]
    if not fixed:
        return ""
    return (" Built with " + ", ".join(fixed) + " (fixed when generated, as it decides which "
            "layers exist: archc build --set changes it).")


def model_lines(model: Model, steps=None, ctx=None) -> list[str]:
    """The model class; with ``steps`` (a backbone plan) the backbone class instead."""
    spec = model.checked.spec
    name = spec.name + ("Features" if steps is not None else "")
    out = [f"class {name}(nn.Module):"]
    paper = spec.paper
    cite = f"{paper.authors} ({paper.year}): {paper.title}" if paper else ""
    about = comment(spec.description) or f"{spec.name}, compiled from its spec."
    aux = spec.aux_outputs
    nodes = model.graph.nodes()
    if steps is not None:
        keep = {s.node.id for s in steps}
        nodes = [n for n in nodes if n.id in keep]
        about = (f"{spec.name} as a backbone: returns the feature maps "
                 + ", ".join(s.point.path for s in steps if s.point) + ". " + about)
    em = emitter(model, ctx, nodes if steps is not None else None)
    about = comment(about + _fixed_note(model, em))
    out += docstring(about, comment(cite), 4)
    out.append("")
    out += _signature(em)
    out.append("        super().__init__()")
    if "num_classes" in em.names and steps is None:
        out.append("        self.num_classes = num_classes")
    for attr_name, attr in em.forward_names.items():
        if attr_name in em.names:
            out.append(f"        {attr} = {attr_name}")
    first_aux = next((n for n in nodes if n.id in aux), None)
    for node in nodes:  # the rows' order is the construction order (seeded weights follow it)
        source = _source(model.graph, node)
        if not _is_module(node):
            em.track(node, source, em.vals(node)[1])
            continue
        if node is first_aux:
            out.append("        # auxiliary classifiers: run in training only")
        note = row_comment(node, em)
        if note:
            out.append(f"        # {note}")
        if node.kind == "seq":
            stage = bool(node.columns)  # a named row with n repeats (plain groups have none)
            out.extend(sequential_lines(node.body, 8, f"self.{node.name} = ", "", em, source,
                                        stage))
            _group_channels(node, em)
        else:
            out.extend(render(8, f"self.{node.name} = ", em.node_source(node, source), "",
                              em.shape(node)))
        if node.row.init:  # right after the row's module is built, as its reference does
            rules = init_rules.resolve(node.row.init, em.init_env)
            out.extend("        " + line for line in init.source(rules, None,
                                                                 f"self.{node.name}"))
    if steps is not None:
        out += feature_info_lines(steps, em)
    label, rules = init_rules.model_rules(spec.init, em.init_env)
    out.extend("        " + line for line in init.source(rules, label))
    out.append("")
    out.extend(forward_lines(model, em) if steps is None else backbone_forward(steps, em))
    return out


def feature_info_lines(steps, em: Emitter) -> list[str]:
    """``self.feature_info``, timm's description of the returned maps, computed by shape
    inference; channels that a keyword argument decides are its expression."""
    items = []
    points = [s.point for s in steps if s.point]
    for info, point in zip(feature_info(steps), points, strict=True):
        node = point.top if point.child is None else point.top.body.nodes()[point.child]
        sym = em.channels.get(id(node))
        chs = pyexpr(sym, {k: k for k in em.names}) if sym else literal(info["num_chs"])
        items.append(Call("dict", [f"num_chs={chs}", f"reduction={literal(info['reduction'])}",
                                   f"module={literal(info['module'])}"]))
    return ["        # the returned maps, like timm's features_only models",
            *render(8, "self.feature_info = ", List(items))]


def backbone_forward(steps, em: Emitter) -> list[str]:
    lines = ["    def forward(self, x: Tensor) -> list[Tensor]:",
             "        features: list[Tensor] = []"]
    for step in steps:
        node = step.node
        if _is_module(node) and step.start is not None:
            # iterate the slice's registered layers: calling the slice itself would build an
            # unregistered nn.Sequential, which torch.fx cannot trace
            shape = step.point.shape if step.point else node.body.nodes()[step.end - 1].out_shape
            lines.append(f"        for layer in self.{node.name}[{step.start}:{step.end}]:")
            lines.append(f"            x = layer(x)  # {describe(shape)}")
            if step.point:
                stride = f"stride {step.point.stride}" if step.point.stride else "feature"
                lines.append(f"        features.append(x)  # {step.point.path}, {stride}")
            continue
        if _is_module(node):
            call = f"self.{node.name}(x)"
        else:
            call = node.impl.call_source(em.vals(node, forward=True)[0], ["x"])
        shape = step.point.shape if step.point else (
            node.body.nodes()[step.end - 1].out_shape if step.start is not None
            else node.out_shape)
        lines.extend(render(8, "x = ", call, "", describe(shape)))
        if step.point:
            stride = f"stride {step.point.stride}" if step.point.stride else "feature"
            lines.append(f"        features.append(x)  # {step.point.path}, {stride}")
    lines.append("        return features")
    return lines


def run_order(graph: Graph, aux: set[str]) -> list[Node]:
    """The order forward() computes the nodes in: the rows' order, except that an auxiliary
    head runs as soon as what it reads is computed (its row may come later: the rows are the
    construction order, and torchvision builds GoogLeNet's heads after inception5b)."""
    pending = [n for n in graph.nodes() if n.id in aux]
    done, out = {INPUT}, []

    def ready() -> None:
        while (node := next((n for n in pending if set(n.inputs) <= done), None)) is not None:
            pending.remove(node)
            out.append(node)
            done.add(node.id)

    ready()
    for node in graph.nodes():
        if node.id not in aux:
            out.append(node)
            done.add(node.id)
            ready()
    return out + pending


def _variables(graph: Graph, aux: set[str]) -> dict[str, str]:
    """Variable per node: the chain runs in ``x``; a value read after ``x`` has moved on, and
    every auxiliary output, gets a variable named after its row."""
    nodes = run_order(graph, aux)
    order = {INPUT: -1, **{n.id: i for i, n in enumerate(nodes)}}
    readers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for src in n.inputs:
            readers.setdefault(src, []).append(i)
    inputs, taken = "inputs", {n.name for n in nodes}
    while inputs in taken:  # a row may be called 'inputs' itself
        inputs += "_"
    out = {}
    for nid, pos in order.items():
        node = graph.node(nid) if nid != INPUT else None
        if node is not None and node.id in aux:
            out[nid] = node.name
            continue
        overwrite = next((i for i, n in enumerate(nodes) if i > pos and n.id not in aux),
                         len(nodes))
        late = any(r > overwrite for r in readers.get(nid, []))
        out[nid] = "x" if not late else (inputs if node is None else node.name or
                                         f"{node.op}_out")
    return out


_POOLS = ("global_avg_pool", "adaptive_avg_pool")


def head_split(model: Model) -> int | None:
    """Index of the first top-level row of the head (the first pool to a fixed size), when
    the rows form one chain without auxiliary outputs: rows before it are the features."""
    nodes = model.graph.nodes()
    if model.checked.spec.aux_outputs or model.graph.output != nodes[-1].id:
        return None
    prev = INPUT
    for node in nodes:
        if node.inputs != [prev]:
            return None
        prev = node.id
    split = next((i for i, n in enumerate(nodes) if n.op in _POOLS and i > 0), None)
    reads = [i for i, n in enumerate(nodes) for node in walk([n], blocks=False) if node.kind == "op"
             and "num_classes" in {k for t in node.row.args.values() if isinstance(t, str)
                                   for k in _names(t)}]
    # a classifier before the pool (SqueezeNet's 1x1 conv) leaves no feature/head split
    return None if split is None or any(i < split for i in reads) else split


def _names(text: str) -> frozenset[str]:
    try:
        return expr.parse(text).names
    except expr.ExprError:
        return frozenset()


def _classifier(model: Model, em: Emitter):
    """(attribute path, source of a fresh layer) of the last layer whose width is
    ``num_classes``, or None."""
    if "num_classes" not in em.names:
        return None
    found = None
    aux = set(model.checked.spec.aux_outputs)
    for top in model.graph.nodes():
        if top.id in aux or not _is_module(top):
            continue
        children = list(enumerate(top.body.nodes())) if top.kind == "seq" else [(None, top)]
        for i, node in children:
            if node.kind == "seq" or node.kind == "block":
                continue
            vals, texts = em.vals(node)
            names = {n for t in texts.values() for n in expr.parse_trusted(t).names}
            if names == {"num_classes"} and _is_module(node):
                path = f"self.{top.name}" + (f"[{i}]" if i is not None else "")
                found = path, node.impl.module_source(
                    vals, Val(channels(node.in_shapes[0], node.in_layouts[0])),
                    node.in_shapes[0], node.in_layouts[0])
    return found


def head_lines(model: Model, em: Emitter) -> list[str]:
    """num_classes, forward_features / forward_head (timm's split) and reset_classifier."""
    lines = []
    split = head_split(model)
    nodes = model.graph.nodes()
    if split is not None:
        lines += ["    def forward_features(self, x: Tensor) -> Tensor:",
                  '        """The last feature map, before pooling."""']
        lines += _chain(nodes[:split], em) + ["        return x", ""]
        head = nodes[split:]
        cut = next((i for i, n in enumerate(head) if n.kind != "op" or n.impl.has_weights),
                   len(head))
        lines += ["    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:",
                  '        """Pool and classify a feature map; ``pre_logits``: the pooled '
                  'features."""']
        lines += _chain(head[:cut], em) + ["        if pre_logits:", "            return x"]
        lines += _chain(head[cut:], em) + ["        return x", ""]
    found = _classifier(model, em)
    if found is not None:
        path, layer = found
        lines += ["    def reset_classifier(self, num_classes: int) -> None:",
                  '        """A fresh classifier for ``num_classes`` (0: none, the features)."""',
                  "        self.num_classes = num_classes"]
        lines.append("        if num_classes > 0:")
        lines += render(12, f"{path} = ", layer)
        lines += ["        else:", f"            {path} = nn.Identity()", ""]
    return lines


def _chain(nodes: list[Node], em: Emitter) -> list[str]:
    lines = []
    for node in nodes:
        call = module_call(node, em, ["x"]) if _is_module(node) else \
            node.impl.call_source(em.vals(node, forward=True)[0], ["x"])
        lines.extend(render(8, "x = ", call, "", em.shape(node)))
    return lines


def forward_lines(model: Model, em: Emitter) -> list[str]:
    graph = model.graph
    if head_split(model) is not None:
        return [*head_lines(model, em), "    def forward(self, x: Tensor) -> Tensor:",
                "        return self.forward_head(self.forward_features(x))"]
    methods = head_lines(model, em)
    aux = set(model.checked.spec.aux_outputs)
    var = _variables(graph, aux)
    lines = []
    if var[INPUT] != "x":
        lines.append(f"        {var[INPUT]} = x")
    for node in run_order(graph, aux):
        ins = [var[i] if i != INPUT else var[INPUT] if var[INPUT] != "x" else "x"
               for i in node.inputs]
        if _is_module(node):
            call = module_call(node, em, ins)
        else:
            call = node.impl.call_source(em.vals(node, forward=True)[0], ins)
        target = var[node.id]
        if node.id in aux:
            lines.append(f"        {target}: Tensor | None = None")
            lines.append("        if self.training:")
            lines.extend(render(12, f"{target} = ", call, "", em.shape(node)))
        else:
            lines.extend(render(8, f"{target} = ", call, "", em.shape(node)))
    result = var[graph.output]
    if aux:
        extra = ", ".join(var[a] for a in model.checked.spec.aux_outputs)
        lines.append("        if self.training:")
        lines.append(f"            return {result}, {extra}")
    lines.append(f"        return {result}")
    return [*methods, *_forward_def(len(aux)), *lines]


def _forward_def(aux: int) -> list[str]:
    """``def forward`` returning the output, or in training a tuple with ``aux`` optional
    auxiliary outputs: the annotation names each (TorchScript reads no ``tuple[Tensor, ...]``),
    wrapped as ruff formats it."""
    if not aux:
        return ["    def forward(self, x: Tensor) -> Tensor:"]
    items = ["Tensor"] + ["Tensor | None"] * aux
    ret = f"Tensor | tuple[{', '.join(items)}]"
    one = f"    def forward(self, x: Tensor) -> {ret}:"
    if len(one) <= LINE:
        return [one]
    head = ["    def forward(", "        self, x: Tensor"]
    if len(f"    ) -> {ret}:") <= LINE:
        return [*head, f"    ) -> {ret}:"]
    union = f"        | tuple[{', '.join(items)}]"
    if len(union) <= LINE:
        return [*head, "    ) -> (", "        Tensor", union, "    ):"]
    return [*head, "    ) -> (", "        Tensor", "        | tuple[",
            *[f"            {item}," for item in items], "        ]", "    ):"]
