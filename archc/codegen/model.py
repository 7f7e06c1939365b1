"""The model class: one line per block with channels resolved, a comment per table row, and
the inferred output shape after every line."""

from __future__ import annotations

from ..blocks import Primitive, Val
from ..graph import INPUT, Graph, Node
from ..shapes import Model, describe
from .blocks import block_call
from .pysrc import Call, comment, render


def node_source(node: Node, ctx) -> Call | str:
    """Source constructing one instance (children of a group are laid out by the caller)."""
    in_ch = Val(node.in_shapes[0][0])
    if node.kind == "block":
        vals = {p.name: Val(node.args[p.name]) for p in node.impl.params}
        return block_call(node.impl, in_ch, vals, list(node.given))
    vals = {k: Val(v) for k, v in node.args.items()}
    return node.impl.source(vals, in_ch, node.in_shapes[0])


def row_comment(node: Node) -> str | None:
    """``# t=6, c=24, n=2, s=2`` above the first repeat of a block row or a repeated row."""
    if node.repeat or not node.columns or (node.kind == "op" and node.repeats == 1):
        return None
    return comment(", ".join(f"{k}={v}" for k, v in node.columns.items()))


def sequential_lines(graph: Graph, indent: int, prefix: str, suffix: str, ctx) -> list[str]:
    pad = " " * indent
    lines = [f"{pad}{prefix}nn.Sequential("]
    for child in graph.nodes():
        note = row_comment(child)
        if note:
            lines.append(f"{pad}    # {note}")
        shape = describe(child.out_shape)
        if child.kind == "seq":
            lines.extend(sequential_lines(child.body, indent + 4, "", ",", ctx))
            lines[-1] += f"  # {shape}"
        else:
            lines.extend(render(indent + 4, "", node_source(child, ctx), ",", shape))
    lines.append(f"{pad}){suffix}")
    return lines


def _is_module(node: Node) -> bool:
    if node.kind != "op":
        return True
    return node.name is not None and node.impl.has_module


def model_lines(model: Model, ctx) -> list[str]:
    spec = model.checked.spec
    out = [f"class {spec.name}(nn.Module):"]
    from .blocks import docstring

    paper = spec.paper
    cite = f"{paper.authors} ({paper.year}): {paper.title}" if paper else ""
    out += docstring(comment(spec.description) or f"{spec.name}, compiled from its spec.",
                     comment(cite), 4)
    out.append("")
    out.append("    def __init__(self) -> None:")
    out.append("        super().__init__()")
    for node in model.graph.nodes():
        if not _is_module(node):
            continue
        note = row_comment(node)
        if note:
            out.append(f"        # {note}")
        if node.kind == "seq":
            out.extend(sequential_lines(node.body, 8, f"self.{node.name} = ", "", ctx))
        else:
            out.extend(render(8, f"self.{node.name} = ", node_source(node, ctx), "",
                              describe(node.out_shape)))
    out.append("")
    out.extend(forward_lines(model, ctx))
    return out


def forward_lines(model: Model, ctx) -> list[str]:
    graph = model.graph
    referenced = {i for n in graph.nodes() for i in n.inputs}
    chain = {n.id for n in graph.nodes()}
    var = {INPUT: "x"}
    prev = INPUT
    lines = []
    for node in graph.nodes():
        ins = [var[i] for i in node.inputs]
        explicit = node.row.from_ is not None
        target = "x" if not explicit and node.id not in _nonlocal(graph) else (node.name or "x")
        if _is_module(node):
            call = f"self.{node.name}({ins[0]})"
        else:
            vals = {k: Val(v) for k, v in node.args.items()}
            call = node.impl.call_source(vals, ins)
        lines.extend(render(8, f"{target} = ", call, "", describe(node.out_shape)))
        var[node.id] = target
        prev = node.id
    del referenced, chain
    lines.append(f"        return {var[graph.output if graph.out else prev]}")
    return ["    def forward(self, x: Tensor) -> Tensor:", *lines]


def _nonlocal(graph: Graph) -> set[str]:
    """Nodes read by a row other than the next one: they need their own variable."""
    order = graph.order
    out = set()
    for i, nid in enumerate(order):
        for src in graph.node(nid).inputs:
            if src != "input" and (order.index(src) != i - 1):
                out.add(src)
    return out


__all__ = ["model_lines", "Primitive"]
