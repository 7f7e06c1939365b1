"""Reachability over the IR's dataflow edges. A row whose output never reaches an output of its
container (the model's output or an auxiliary head; a group's or a block's result) is computed
and dropped: its parameters are trained by nothing and DistributedDataParallel reports them
unused. That is a warning, not an error: a branch left in while experimenting is still a model
that builds and runs."""

from __future__ import annotations

from dataclasses import replace

import networkx as nx

from ..diagnostics import Diagnostic
from ..frontend import CheckedSpec
from .graph import INPUT, Graph, Node, walk

DROPPED = "W001"


def dropped_rows(checked: CheckedSpec, graph: Graph) -> tuple[Diagnostic, ...]:
    """One warning per row (at the row, in the file that writes it) whose output reaches no
    output of its container; repeats and equal block instances are reported once."""
    aux = set(checked.spec.aux_outputs)
    found: dict[tuple, Diagnostic] = {}
    containers = [(graph, True)] + [(n.body, False) for n in walk(graph) if n.body is not None]
    seen: set[tuple] = set()
    for container, top in containers:
        nodes = container.nodes()
        # equal block instances share rows and edges: their answer is the first one's
        shape = (top, container.output, *((id(n.row), n.id, tuple(n.inputs)) for n in nodes))
        if shape in seen:
            continue
        seen.add(shape)
        if not (top and aux) and _chain(nodes, container.output):  # most: nothing to find
            continue
        ends = {container.output} | ({n.id for n in nodes if n.name in aux}
                                     if top else set())
        g = container.g
        live = set(ends)
        for end in ends & set(g):
            live |= nx.ancestors(g, end)
        for node in nodes:
            if node.id not in live:
                diag = _warning(node, [container.node(s) for s in g.successors(node.id)])
                found.setdefault((diag.file, diag.line, diag.column), diag)
    return tuple(found.values())


def _chain(nodes: list[Node], output: str) -> bool:
    """Each row reads the one before it and the last is the output: every row is read."""
    prev = INPUT
    for node in nodes:
        if node.inputs != [prev]:
            return False
        prev = node.id
    return output == prev


def _warning(node: Node, readers: list[Node]) -> Diagnostic:
    what = f"row {node.name!r}" if node.name else f"this {node.op!r} row"
    if readers:
        names = ", ".join(repr(r.name or r.op) for r in readers)
        why = f"only rows whose output is dropped read it ({names})"
    else:
        why = "nothing reads it"
    # a row spliced from an inline block is the row that uses the block
    doc, path = (node.inline_doc, node.inline_path) if node.inline_row else (node.doc,
                                                                             node.row_path)
    diag = doc.diag(path, f"the output of {what} is never used: {why}", DROPPED,
                    hint="read it with 'from:', or remove the row")
    return replace(diag, severity="warning")
