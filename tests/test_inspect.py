"""archc summary and archc graph: golden outputs and the figures people read first."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from .conftest import ROOT, golden

GOLDEN = ROOT / "tests" / "golden" / "inspect"


@pytest.mark.parametrize("spec", ["resnet50", "mobilenet_v2", "googlenet", "lenet5"])
def test_summary_golden(spec, cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, _ = cli("summary", f"specs/{spec}.yaml")
    assert code == 0
    golden(GOLDEN / f"summary_{spec}.txt", out)
    code, out, _ = cli("summary", f"specs/{spec}.yaml", "--json")
    assert code == 0
    golden(GOLDEN / f"summary_{spec}.json", out)


def test_resnet50_summary_figures(cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    _, out, _ = cli("summary", "specs/resnet50.yaml")
    assert "params  25,557,032 (25,557,032 trainable)" in out
    assert "MACs    4,089,184,256" in out
    data = json.loads(cli("summary", "specs/resnet50.yaml", "--json")[1])
    assert sum(r["activation_bytes"] for r in data["rows"]) == data["activation_bytes"]


def test_summary_at_another_input_size(cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    data = json.loads(cli("summary", "specs/resnet50.yaml", "--json", "--input", "3x320x320")[1])
    assert data["input_shape"] == [3, 320, 320] and data["params"] == 25_557_032
    assert data["rows"][-3]["input_shape"] == [2048, 10, 10]
    with pytest.raises(SystemExit):
        cli("summary", "specs/resnet50.yaml", "--input", "3x0x320")


@pytest.mark.parametrize("spec, fmt, depth", [
    ("resnet18", "dot", 2), ("resnet18", "mermaid", 2), ("googlenet", "json", 1),
    ("lenet5", "dot", 1), ("mobilenet_v3_small", "mermaid", 2),
])
def test_graph_golden(spec, fmt, depth, cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, _ = cli("graph", f"specs/{spec}.yaml", "--format", fmt, "--depth", str(depth))
    assert code == 0
    golden(GOLDEN / f"graph_{spec}_d{depth}.{fmt}", out)


def test_graph_shows_skips_and_branches(cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    data = json.loads(cli("graph", "specs/googlenet.yaml", "--format", "json")[1])
    edges = {tuple(e) for e in data["edges"]}
    concat = [n["id"] for n in data["nodes"] if n["id"].startswith("n_inception3a") and
              n["op"] == "concat"]
    assert len(concat) == 1
    assert len([e for e in edges if e[1] == concat[0]]) == 4  # four branches joined
    data = json.loads(cli("graph", "specs/resnet18.yaml", "--format", "json")[1])
    adds = [n["id"] for n in data["nodes"] if n["op"] == "add"]
    assert len(adds) == 8 and all(len([e for e in data["edges"] if e[1] == a]) == 2
                                  for a in adds)
    ids = [n["id"] for n in data["nodes"]]
    assert len(ids) == len(set(ids))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_graph_svg(cli, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    target = tmp_path / "g.svg"
    code, _, err = cli("graph", "specs/resnet18.yaml", "--format", "svg", "-o", str(target))
    assert code == 0, err
    root = ET.parse(target).getroot()
    assert root.tag.endswith("svg")
    assert "layer1.0.conv1" in target.read_text()


def test_summary_shows_resolved_values_with_their_expressions(cli):
    """Was: `c=num_classes` in the columns column; now the value and, where it was an
    expression, the expression: c=1000 (num_classes)."""
    from .conftest import SPECS

    code, out, _ = cli("summary", str(SPECS / "resnet18.yaml"))
    assert code == 0
    fc = next(line for line in out.splitlines() if line.startswith("fc "))
    assert "c=1000 (num_classes)" in fc
    code, out, _ = cli("summary", str(SPECS / "mobilenet_v2.yaml"), "--set",
                       "scaling.width=0.5")
    first = next(line for line in out.splitlines() if line.startswith("features.0 "))
    assert "c=16," in first  # 32 scaled by the width: the built value, not the table's
