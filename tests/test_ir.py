"""The IR (archc/ir): its one walk over nodes, and what reading its graph's edges finds."""

from __future__ import annotations

import pytest

import archc
from archc.ir import walk

from .conftest import SPECS


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


DROPPED = """\
name: Dropped
input: [3, 16, 16]
blocks:
  twin:
    params: {c: {type: int}}
    body:
      - {name: a, op: conv, c: c, k: 3}
      - {name: b, op: conv, c: c, k: 1, from: a}
      - {name: lost, op: conv, c: c, k: 1, from: a}
      - {op: add, from: [a, b]}
layers:
  - {name: stem, op: conv, c: 8, k: 3}
  - {name: side, op: conv, c: 8, k: 1}
  - {name: side2, op: conv, c: 8, k: 1}
  - {name: t, op: twin, c: 8, from: stem}
  - {op: global_avg_pool}
  - {op: flatten}
  - {name: fc, op: linear, c: 10}
"""


def test_a_row_whose_output_nothing_reads_is_a_located_warning(tmp_path):
    path = tmp_path / "dropped.yaml"
    path.write_text(DROPPED)
    model = archc.compile_spec(str(path))
    found = {(d.line, d.severity, d.code) for d in model.warnings}
    # side feeds only side2, which nothing reads; lost (in the block) feeds nothing
    assert found == {(13, "warning", "W001"), (14, "warning", "W001"), (9, "warning", "W001")}
    messages = {d.line: d.message for d in model.warnings}
    assert "side2" in messages[13] and "nothing reads" in messages[14]


def test_check_prints_the_warning_and_passes(tmp_path, capsys):
    from archc.cli import main

    path = tmp_path / "dropped.yaml"
    path.write_text(DROPPED)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr()
    assert f"{path}:14:5: warning[W001]: " in out.err and f"{path}: ok" in out.out
    assert main(["check", "--format", "json", str(path)]) == 0
    assert '"severity": "warning"' in capsys.readouterr().out


def test_committed_specs_drop_nothing():
    import glob

    for path in sorted(glob.glob("specs/*.yaml")):
        assert archc.compile_spec(path).warnings == (), path


def test_row_order_is_a_topological_order_of_the_graph():
    """Code iterates containers in row order; that is only right because a row reads rows
    above it (validation, E205), so every edge of Graph.g points forward."""
    for name in ("googlenet", "resnet18", "efficientnet_b0", "squeezenet1_1"):
        model = archc.compile_spec(f"specs/{name}.yaml")
        for container in [model.graph] + [n.body for n in walk(model.graph) if n.body]:
            place = {nid: i for i, nid in enumerate(container.order)}
            assert all(place[a] < place[b] for a, b in container.g.edges), name


def test_the_ir_is_frozen_when_elaboration_returns():
    """No stage after the elaboration pass can edit a node of the IR it reads."""
    model = archc.compile_spec(SPECS / "resnet18.yaml")
    nodes = list(walk(model.graph.nodes()))
    assert len(nodes) > 50
    for node in (nodes[0], nodes[-1]):
        with pytest.raises(AttributeError, match="frozen"):
            node.out_shape = (1, 1, 1)
