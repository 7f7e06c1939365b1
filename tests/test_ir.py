"""The IR (archc/ir): its one walk over nodes, and what reading its graph's edges finds."""

from __future__ import annotations

import archc
from archc.ir import walk


def _recursive(nodes, blocks):
    for node in nodes:
        yield node
        if node.body is not None and (blocks or node.kind == "seq"):
            yield from _recursive(node.body.nodes(), blocks)


def test_walk_visits_every_node_depth_first_and_stops_at_blocks_when_asked():
    model = archc.compile_spec("specs/mobilenet_v2.yaml")
    nodes = model.graph.nodes()
    every = list(walk(model.graph))
    assert [n.id for n in every] == [n.id for n in _recursive(nodes, True)]
    top = list(walk(nodes, blocks=False))
    assert [n.id for n in top] == [n.id for n in _recursive(nodes, False)]
    assert len(every) > len(top) > len(nodes)  # groups entered; block bodies only by default
    assert any(n.kind == "block" for n in top)
    assert not any(p.kind == "block" and p.body is not None and c in p.body.nodes()
                   for p in top for c in top)
