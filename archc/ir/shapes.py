"""Pure-Python shape, parameter and MAC inference. Walks the layer graph in order, expanding each
block instance's body once its input channels are known, and checks the input sizes the paper
states. MACs count the multiply-accumulates of convolutions and linear layers (the convention of
torchvision's documentation: FlopCounterMode's total divided by two)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .. import expr
from ..diagnostics import Diagnostic, SpecError
from ..frontend import BlockDef, CheckedSpec
from ..frontend.loader import Budget
from ..frontend.validate import ordered
from ..ops import Primitive, Shape, ShapeError
from ..ops.base import channels, default_layout, layout_name
from ..ops.conv import fmt
from .graph import (
    INPUT,
    Expander,
    Graph,
    Node,
    _prefix_paths,
    build_graph,
    library_hint,
    unnamed_modules,
    walk,
)
from .reach import dropped_rows


@dataclass
class Model:
    """A fully elaborated, shape-checked spec: what the backends consume."""

    checked: CheckedSpec
    graph: Graph
    input_shape: Shape
    output_shape: Shape
    params: int
    macs: int  # one inference pass (eval mode)
    aux_macs: int = 0  # auxiliary heads, training only
    activations: int = 0  # elements of every primitive's output in an inference pass
    warnings: tuple[Diagnostic, ...] = ()  # located, printed by check, failing nothing

    @property
    def name(self) -> str:
        return self.checked.spec.name


class _Failed(Exception):
    """A container's output depends on a row that failed (its error is recorded)."""


class _Inference:
    def __init__(self, checked: CheckedSpec, expander: Expander) -> None:
        self.checked = checked
        self.expander = expander
        self.norm = {"eps": checked.spec.norm.eps, "momentum": checked.spec.norm.momentum}
        # A paper's input sizes describe its table at width 1 and at its own input size; a
        # variant at another width or resolution (MobileNetV2 x1.4, EfficientNet-B1) skips them.
        spec = checked.spec
        stated = next(_stated_sizes(spec.layers), None)
        self.check_sizes = spec.scaling.width == 1.0 and (
            stated is None or len(stated) != len(spec.input) or list(stated) == spec.input)
        # (block, arguments, input shape) -> (an inferred instance, its layer count): a block's
        # body is a pure function of these, so later instances copy the first one's nodes.
        self.done: dict[tuple, tuple[Node, int]] = {}
        # Errors of rows whose inputs are known; rows reading a failed row are not checked.
        self.errors: list[Diagnostic] = []

    def container(self, graph: Graph, in_shape: Shape, anchor: Node | None,
                  in_layout: str) -> tuple[Shape, str]:
        """Infer a container's nodes in order: (output shape, output layout). Errors inside a
        block instance are reported at the spec row that made the instance (``anchor``),
        naming the inner module."""
        shapes, layouts = {INPUT: in_shape}, {INPUT: in_layout}
        for node in graph.nodes():
            if any(i not in shapes for i in node.inputs):
                continue  # reads a row that failed: its input shape is unknown
            node.in_shapes = [shapes[i] for i in node.inputs]
            node.in_layouts = [layouts[i] for i in node.inputs]
            try:
                if graph.sequential and node.kind == "op" and not node.impl.in_sequential:
                    raise self.fail(node, anchor, f"{node.op!r} cannot be an entry of a seq "
                                    "group (an nn.Sequential passes one tensor from entry to "
                                    "entry); write it in a block body or at the top level",
                                    "E402")
                self.node(node, anchor)
            except SpecError as exc:  # reported with the other rows' errors at the end
                if any(d.code == "E005" for d in exc.diagnostics):
                    raise  # a budget: elaborating further is what it guards against
                self.errors += exc.diagnostics
                continue
            except _Failed:
                continue
            shapes[node.id] = node.out_shape
            layouts[node.id] = node.layout
        if graph.output not in shapes:
            raise _Failed
        return shapes[graph.output], layouts[graph.output]

    def fail(self, node: Node, anchor: Node | None, message: str, code: str = "E401"):
        """An error at ``node``, located in the spec: at the row that made the block instance
        (``anchor``) or spliced the inline block; a row of archc's block library is a note."""
        where = f"{node.path} ({node.op})" if node.op and node.name else node.path
        at = anchor or node
        doc, path, hint = at.doc, at.row_path, None
        if at.inline_row is not None and at.doc is not self.checked.document:
            doc, path = at.inline_doc, at.inline_path
        if node.doc is not self.checked.document:  # a row of archc's block library
            where += f" in block {node.row_path[1]!r}"
            hint = library_hint(node.doc.diag(node.row_path, message, code))
        elif at.inline_row is not None and anchor is None:  # the user's own inline block
            used = at.inline_doc.diag(at.inline_path, message, code).line
            hint = f"block {at.inline_row.op!r} is used at line {used}"
        elif anchor is not None and node.row_path[:1] == ("blocks",):
            # a row of a block this spec defines: located in the body, the use site a note
            use = anchor.doc.diag(anchor.row_path, message, code)
            doc, path = node.doc, node.row_path
            hint = (f"block {node.row_path[1]!r} is used at line {use.line} "
                    f"({anchor.path or anchor.op})")
        return SpecError([doc.diag(path, f"{where}: {message}", code, hint=hint)])

    def node(self, node: Node, anchor: Node | None) -> None:
        self.check_input_size(node)
        if node.kind == "seq":
            node.out_shape, node.layout = self.container(node.body, node.in_shapes[0], anchor,
                                                         node.in_layouts[0])
            _total(node)
            return
        if node.kind == "block":
            self.block(node, anchor)
            return
        impl: Primitive = node.impl
        for key, ctx in getattr(impl, "context_defaults", {}).items():
            if node.args.get(key) is None:
                node.args[key] = self.norm[ctx]
        if impl.arity == 1 and len(node.in_shapes) != 1:
            raise self.fail(node, anchor, f"{node.op!r} takes one input, got "
                            f"{len(node.in_shapes)}", "E402")
        layouts = node.in_layouts
        if impl.expects is not None and layouts and layouts[0] not in impl.expects:
            wanted = " or ".join(layout_name(x) for x in impl.expects)
            fix = "; a 'permute' row reorders dimensions" if any(
                sorted(x) == sorted(layouts[0]) for x in impl.expects) else ""
            raise self.fail(node, anchor, f"{node.op} expects {wanted} but its input "
                            f"{fmt(node.in_shapes[0])} is {layout_name(layouts[0])}{fix}")
        try:
            if impl.layout_aware:
                node.out_shape, node.params, node.macs = impl.infer(node.args, node.in_shapes,
                                                                    layouts)
                node.layout = impl.out_layout(node.args, layouts, node.in_shapes)
            else:
                node.out_shape, node.params, node.macs = impl.infer(node.args, node.in_shapes)
                node.layout = layouts[0] if layouts and len(node.out_shape) == len(
                    node.in_shapes[0]) else default_layout(node.out_shape)
        except ShapeError as exc:
            raise self.fail(node, anchor, str(exc)) from None
        node.activations = math.prod(node.out_shape)

    def block(self, node: Node, anchor: Node | None) -> None:
        bdef: BlockDef = node.impl
        key = _instance_key(bdef, node.args, node.in_shapes, node.in_layouts)
        if key is not None and key in self.done:
            self.copy_block(node, *self.done[key], anchor)
            return
        layers = self.expander.layers
        self.expand_block(node, anchor)
        if key is not None:
            self.done[key] = (node, self.expander.layers - layers)

    def copy_block(self, node: Node, first: Node, layers: int, anchor: Node | None) -> None:
        """Give ``node`` a copy of the inferred body of an equal instance (same block,
        arguments and input shape), counting its layers against the budget first."""
        ex = self.expander
        if ex.layers + layers > ex.max_layers:
            at = anchor or node
            raise ex.over_budget(at.doc, at.row_path)
        ex.layers += layers
        node.env = first.env
        node.body = _copy_graph(first.body)
        _prefix_paths(node.body, node.path + ".")
        node.out_shape, node.layout = first.out_shape, first.layout
        node.params, node.macs, node.activations = first.params, first.macs, first.activations

    def expand_block(self, node: Node, anchor: Node | None) -> None:
        bdef: BlockDef = node.impl
        shape = node.in_shapes[0]
        env = dict(node.args)
        env["in_channels"] = channels(shape, node.in_layouts[0])
        for name, parsed in bdef.lets:
            try:
                env[name] = parsed.evaluate(env)
            except Exception as exc:  # ExprError and arithmetic errors alike
                raise self.fail(node, anchor, f"let {name} = {parsed.text!r}: "
                                f"{getattr(exc, 'message', exc)}", "E403") from None
        node.env = env
        self.expander.diags = []
        try:
            node.body = self.expander.rows(bdef.body, bdef.document, (*bdef.path, "body"), env,
                                           sequential=bdef.sequential, out=bdef.out,
                                           prefix=node.path + ".")
        except SpecError as exc:  # the layer budget, hit inside a block: blame the spec row
            d = exc.diagnostics[0]
            at = anchor or node
            raise SpecError([replace(at.doc.diag(at.row_path, d.message, d.code), hint=d.hint)]
                            ) from None
        if self.expander.diags:  # every row of the body that failed, at the using row
            raise SpecError([replace(self.fail(node, anchor, f"{d.message} (in {d.spec_path})",
                                               d.code).diagnostics[0],
                                     hint=library_hint(d, d.hint) if bdef.builtin else d.hint)
                             for d in self.expander.diags])
        node.out_shape, node.layout = self.container(node.body, shape, anchor or node,
                                                     node.in_layouts[0])
        _total(node)

    def check_input_size(self, node: Node) -> None:
        stated = node.row.input_size
        if stated is None or node.repeat > 0 or not self.check_sizes:
            return
        actual = node.in_shapes[0]
        if tuple(stated) != tuple(actual):
            raise SpecError([node.doc.diag(
                (*node.row_path, "input_size"),
                f"row states input size {list(stated)} but the inferred input is "
                f"{list(actual)}", "E404",
                hint="input sizes are [C, H, W]; check the strides of the rows above")])


def _instance_key(bdef: BlockDef, args: dict, in_shapes: list[Shape],
                  in_layouts: list[str]) -> tuple | None:
    """What a block instance's body depends on, hashable; None when it reads more (a
    'block_index' counter) or holds an unhashable value."""
    if "block_index" in args:
        return None
    try:
        # types too: 1, 1.0 and True are equal keys but not equal arguments
        key = (id(bdef), tuple((k, type(v), v if not isinstance(v, list) else tuple(v))
                               for k, v in args.items()), tuple(map(tuple, in_shapes)),
               tuple(in_layouts))
        hash(key)
    except TypeError:
        return None
    return key


def _copy_graph(graph: Graph) -> Graph:
    """A copy of an inferred container: new nodes (their paths are their own), equal values."""
    out = Graph(sequential=graph.sequential, out=graph.out, last=graph.last)
    copies = []
    for node in graph.nodes():
        new = object.__new__(Node)  # copy.copy, without its generic (slow) protocol
        new.__dict__.update(node.__dict__)
        new.args = dict(node.args)
        if node.body is not None:
            new.body = _copy_graph(node.body)
        copies.append(new)
    out.members = {n.id: n for n in copies}
    out.order = list(graph.order)
    return out


def _check_class_names(checked: CheckedSpec, graph: Graph) -> None:
    """Each block a spec uses becomes one class of the generated module: their names (and the
    model's) must differ. Found here, so `check` reports what `build` would trip over."""
    seen: dict[str, object] = {checked.spec.name: None}
    for node in walk(graph):
        if node.kind != "block":
            continue
        bdef = node.impl
        other = seen.setdefault(bdef.class_name, bdef)
        if other is bdef:
            continue
        what = "the model" if other is None else f"block {other.op!r}"
        msg = (f"block {bdef.op!r} and {what} would both be generated as class "
               f"{bdef.class_name!r}")
        if not bdef.builtin:
            path = (*bdef.path, "class_name")
            raise SpecError([bdef.document.diag(path, msg, "E501",
                                                hint="give the block another class_name")])
        at = node
        while at.doc is not checked.document and at.inline_row is None:
            break
        raise SpecError([checked.document.diag(_spec_row(checked, node), msg, "E501",
                                               hint="a spec uses one of them at a time")])


def _spec_row(checked: CheckedSpec, node: Node):
    """The path of the spec row that made ``node`` (node paths inside blocks point elsewhere)."""
    if node.doc is checked.document:
        return node.row_path
    return ("layers",)


def _total(node: Node) -> None:
    children = node.body.nodes()
    node.params = sum(n.params for n in children)
    node.macs = sum(n.macs for n in children)
    node.activations = sum(n.activations for n in children)


def _stated_sizes(rows):
    for row in rows:
        if row.input_size is not None:
            yield row.input_size
        if row.seq is not None:
            yield from _stated_sizes(row.seq)


def infer(checked: CheckedSpec, budget: Budget | None = None) -> Model:
    """Build the graph and infer every node's shapes, parameters and MACs. The budget's
    layer, parameter and activation caps are checked here, before torch allocates anything."""
    budget = budget or Budget()
    graph = build_graph(checked, budget.max_layers)
    expander = Expander(checked, budget.max_layers)
    expander.layers = sum(1 for _ in walk(graph))
    run = _Inference(checked, expander)
    shape = tuple(checked.spec.input)
    try:
        out, _ = run.container(graph, shape, None, default_layout(shape))
    except _Failed:  # only after an error, raised just below
        out = None
    unnamed = unnamed_modules(checked, graph)
    if run.errors or unnamed:
        raise SpecError(ordered(run.errors + unnamed))
    nodes = graph.nodes()
    aux = set(checked.spec.aux_outputs)
    _check_class_names(checked, graph)
    params = sum(n.params for n in nodes)
    acts = sum(n.activations for n in nodes)
    doc = checked.document
    if params > budget.max_params:
        # located at the top-level row holding the most parameters
        big = max(nodes, key=lambda n: n.params)
        where = big.row_path if big.doc is doc else ("layers",)
        raise SpecError([doc.diag(where, f"the model has {params:,} parameters, more "
                                  f"than the limit of {budget.max_params:,}", "E005",
                                  hint="raise the limit with --max-params if intended")])
    if acts * 4 > budget.max_activation_bytes:
        raise SpecError([doc.diag(("input",), f"one sample's activations need "
                                  f"{acts * 4:,} bytes, more than the limit of "
                                  f"{budget.max_activation_bytes:,}", "E005",
                                  hint="raise the limit with --max-activation-bytes")])
    freeze(graph)
    # MACs are those of an inference pass: auxiliary heads run only in training.
    return Model(checked, graph, shape, out, sum(n.params for n in nodes),
                 sum(n.macs for n in nodes if n.id not in aux),
                 sum(n.macs for n in nodes if n.id in aux),
                 sum(n.activations for n in nodes if n.id not in aux),
                 (*spec_warnings(checked), *dropped_rows(checked, graph)))


WIDTH_UNUSED, CHANNELS_LAST = "W002", "W003"


def spec_warnings(checked: CheckedSpec) -> tuple[Diagnostic, ...]:
    """Settings that build a model but likely not the one meant: a width multiplier that
    scales nothing (every channel column an expression that ignores ``width``), and an input
    written channels-last ([224, 224, 3] builds a 224-channel first layer)."""
    spec, doc, found = checked.spec, checked.document, []
    if spec.scaling.width != 1.0 and not _uses_width(spec.layers, checked.ops):
        found.append(doc.diag(("scaling", "width"), f"scaling.width is {spec.scaling.width:g} "
                              "but scales nothing: no channel column is a number, and no "
                              "expression reads 'width'", WIDTH_UNUSED, hint="write channel "
                              "columns as numbers, or read 'width' in their expressions"))
    shape = spec.input
    if len(shape) == 3 and 1 <= shape[2] <= 4 and min(shape[0], shape[1]) >= 8 * shape[2]:
        found.append(doc.diag(("input",), f"input {list(shape)} looks channels-last: the "
                              f"first layer gets {shape[0]} input channels", CHANNELS_LAST,
                              hint=f"input is [C, H, W]: write [{shape[2]}, {shape[0]}, "
                              f"{shape[1]}] for {shape[2]}-channel {shape[0]}x{shape[1]} "
                              "images"))
    return tuple(replace(d, severity="warning") for d in found)


def _uses_width(rows, ops) -> bool:
    """Whether a row of the spec's own (block bodies never see ``width``) writes a number in a
    channel column, which the multiplier scales, or an expression that reads ``width``."""
    for row in rows:
        impl = ops.get(row.op) if row.op else None
        scaled = {p.name for p in impl.params if p.scale == "channels"} if impl else set()
        for key, value in row.args.items():
            if key in scaled and isinstance(value, int) and not isinstance(value, bool):
                return True
        texts = [v for v in (*row.args.values(), row.n, row.when) if isinstance(v, str)]
        texts += [v for x in row.args.values() if isinstance(x, list) for v in x
                  if isinstance(v, str)]
        if any("width" in _names(t) for t in texts):
            return True
        if row.seq is not None and _uses_width(row.seq, ops):
            return True
    return False


def _names(text: str) -> frozenset[str]:
    try:
        return expr.parse(text).names
    except expr.ExprError:  # not an expression (a string column): reads nothing
        return frozenset()


def at_input(model: Model, shape: Shape, budget: Budget | None = None) -> Model:
    """The model inferred again at another input size (``--input``), within the budget."""
    if tuple(shape) == tuple(model.input_shape):
        return model
    checked = model.checked
    spec = checked.spec.model_copy(update={"input": [int(n) for n in shape]})
    return infer(replace(checked, spec=spec), budget)


def describe(shape: Shape) -> str:
    """``(N, 32, 112, 112)``."""
    return fmt(shape)


def published(model: Model, overrides: list[str] | None = None) -> dict:
    """The spec's ``weights:`` entries this model can load: those whose ``params`` equal its
    parameter count. An inherited entry (from an ``extends`` base) or any entry under ``--set``
    that does not match is dropped, so a variant never loads its base's weights by accident; an
    entry the spec file itself states for its own architecture must match (a located error)."""
    doc, spec = model.checked.document, model.checked.spec
    out, errors = {}, []
    for name, entry in spec.weights.items():
        if entry.params == model.params:
            out[name] = entry
        elif not overrides and doc.origins.get(("weights", name), doc.path) == doc.path:
            errors.append(doc.diag(("weights", name, "params"), f"weights {name!r} has "
                                   f"{entry.params:,} parameters; this spec has "
                                   f"{model.params:,}", "E230", hint="state the checkpoint's "
                                   "parameter count, or remove the entry if this architecture has "
                                   "no such checkpoint (a variant's inherited entries whose count "
                                   "differs are dropped)"))
    if errors:
        raise SpecError(errors)
    return out


def freeze(graph: Graph) -> None:
    """End of the elaboration pass: every node of ``graph`` refuses further attribute writes,
    so no later stage (codegen, tools) can edit the IR it reads."""
    for node in walk(graph.nodes()):
        object.__setattr__(node, "_frozen", True)
