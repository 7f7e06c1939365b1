"""The model class: one line per block with channels resolved, a comment per table row, and
the inferred output shape after every line."""

from __future__ import annotations

from ..blocks import Val, init
from ..graph import INPUT, Graph, Node
from ..shapes import Model, describe
from .blocks import block_call, docstring
from .pysrc import Call, comment, render


def node_source(node: Node) -> Call | str:
    """Source constructing one instance (children of a group are laid out by the caller)."""
    in_ch = Val(node.in_shapes[0][0])
    if node.kind == "block":
        vals = {p.name: Val(node.args[p.name]) for p in node.impl.params}
        return block_call(node.impl, in_ch, vals, list(node.given))
    vals = {k: Val(v) for k, v in node.args.items()}
    return node.impl.source(vals, in_ch, node.in_shapes[0])


def row_comment(node: Node) -> str | None:
    """``# t=6, c=24, n=2, s=2`` above the first instance of a block row, a repeated row, or
    an inline block's rows."""
    if node.inline_row is not None:
        if not node.inline_first:
            return None
        cols = ", ".join(f"{k}={v}" for k, v in node.columns.items())
        return comment(f"{node.inline_row.op}: {cols}" if cols else node.inline_row.op)
    cols = ", ".join(f"{k}={v}" for k, v in node.columns.items())
    step = comment(node.row.step) if node.row.step else ""
    if node.repeat or (not cols and not step):
        return None
    if node.kind == "op" and node.repeats == 1 and not step:
        return None
    return comment(f"{step}: {cols}" if step and cols else step or cols)


def sequential_lines(graph: Graph, indent: int, prefix: str, suffix: str,
                     stage: bool = False) -> list[str]:
    """An nn.Sequential's lines; in a stage (a named row with n repeats) the row's comment
    stands above the stage, not again above its first block."""
    pad = " " * indent
    lines = [f"{pad}{prefix}nn.Sequential("]
    for child in graph.nodes():
        note = None if stage else row_comment(child)
        if note:
            lines.append(f"{pad}    # {note}")
        shape = describe(child.out_shape)
        if child.kind == "seq":
            lines.extend(sequential_lines(child.body, indent + 4, "", ","))
            lines[-1] += f"  # {shape}"
        else:
            lines.extend(render(indent + 4, "", node_source(child), ",", shape))
    lines.append(f"{pad}){suffix}")
    return lines


def _is_module(node: Node) -> bool:
    if node.kind != "op":
        return True
    return node.name is not None and node.impl.has_module


def model_lines(model: Model, steps=None) -> list[str]:
    """The model class; with ``steps`` (a backbone plan) the backbone class instead."""
    spec = model.checked.spec
    name = spec.name + ("Features" if steps is not None else "")
    out = [f"class {name}(nn.Module):"]
    paper = spec.paper
    cite = f"{paper.authors} ({paper.year}): {paper.title}" if paper else ""
    about = comment(spec.description) or f"{spec.name}, compiled from its spec."
    if steps is not None:
        about = (f"{spec.name} as a backbone: returns the feature maps "
                 + ", ".join(s.point.path for s in steps if s.point) + ". " + about)
    out += docstring(about, comment(cite), 4)
    out.append("")
    out.append("    def __init__(self) -> None:")
    out.append("        super().__init__()")
    aux = spec.aux_outputs
    nodes = model.graph.nodes()
    if steps is not None:
        keep = {s.node.id for s in steps}
        nodes = [n for n in nodes if n.id in keep]
    main = [n for n in nodes if n.id not in aux]
    extra = [n for n in nodes if n.id in aux]
    for node in main + extra:  # auxiliary heads last (torchvision's construction order)
        if not _is_module(node):
            continue
        if node is (extra[0] if extra else None):
            out.append("        # auxiliary classifiers: run in training only")
        note = row_comment(node)
        if note:
            out.append(f"        # {note}")
        if node.kind == "seq":
            stage = bool(node.columns)  # a named row with n repeats (plain groups have none)
            out.extend(sequential_lines(node.body, 8, f"self.{node.name} = ", "", stage))
        else:
            out.extend(render(8, f"self.{node.name} = ", node_source(node), "",
                              describe(node.out_shape)))
    out.extend("        " + line for line in init.source(spec.init))
    out.append("")
    out.extend(forward_lines(model) if steps is None else backbone_forward(steps))
    return out


def backbone_forward(steps) -> list[str]:
    lines = ["    def forward(self, x: Tensor) -> list[Tensor]:",
             "        features: list[Tensor] = []"]
    for step in steps:
        node = step.node
        if _is_module(node):
            target = f"self.{node.name}"
            if step.start is not None:
                target += f"[{step.start}:{step.end}]"
            call = f"{target}(x)"
        else:
            call = node.impl.call_source({k: Val(v) for k, v in node.args.items()}, ["x"])
        shape = step.point.shape if step.point else (
            node.body.nodes()[step.end - 1].out_shape if step.start is not None
            else node.out_shape)
        lines.extend(render(8, "x = ", call, "", describe(shape)))
        if step.point:
            stride = f"stride {step.point.stride}" if step.point.stride else "feature"
            lines.append(f"        features.append(x)  # {step.point.path}, {stride}")
    lines.append("        return features")
    return lines


def _variables(graph: Graph, aux: set[str]) -> dict[str, str]:
    """Variable per node: the chain runs in ``x``; a value read after ``x`` has moved on, and
    every auxiliary output, gets a variable named after its row."""
    nodes = graph.nodes()
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


def forward_lines(model: Model) -> list[str]:
    graph = model.graph
    aux = set(model.checked.spec.aux_outputs)
    var = _variables(graph, aux)
    lines = []
    if var[INPUT] != "x":
        lines.append(f"        {var[INPUT]} = x")
    for node in graph.nodes():
        ins = [var[i] if i != INPUT else var[INPUT] if var[INPUT] != "x" else "x"
               for i in node.inputs]
        if _is_module(node):
            call = f"self.{node.name}({ins[0]})"
        else:
            vals = {k: Val(v) for k, v in node.args.items()}
            call = node.impl.call_source(vals, ins)
        target = var[node.id]
        if node.id in aux:
            lines.append(f"        {target}: Tensor | None = None")
            lines.append("        if self.training:")
            lines.extend(render(12, f"{target} = ", call, "", describe(node.out_shape)))
        else:
            lines.extend(render(8, f"{target} = ", call, "", describe(node.out_shape)))
    result = var[graph.output]
    if aux:
        extra = ", ".join(var[a] for a in model.checked.spec.aux_outputs)
        lines.append("        if self.training:")
        lines.append(f"            return {result}, {extra}")
        ret = "Tensor | tuple[Tensor, ...]"
    else:
        ret = "Tensor"
    lines.append(f"        return {result}")
    return [f"    def forward(self, x: Tensor) -> {ret}:", *lines]
