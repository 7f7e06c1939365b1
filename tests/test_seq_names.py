"""Module names inside groups (issue 11): a named row in a ``seq`` keeps its name, the group
becomes ``nn.Sequential(OrderedDict([...]))`` as torchvision's DenseNet and ViT write it; name
templates (``denselayer{i + 1}``) name each repeat; a named row with ``n`` in a block body is
a stage. Checked against the real torchvision modules, live model against generated file."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import types
from collections import OrderedDict
from pathlib import Path

import pytest

import archc
from archc.codegen.audit import AuditError, audit_source

from .conftest import import_file

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision.models")
nn = torch.nn

# DenseNet-121's features[:5] (Huang et al. 2017, Table 1: the stem and dense block 1, six
# BN-ReLU-Conv(1x1)-BN-ReLU-Conv(3x3) layers of growth 32, each output concatenated).
DENSENET_PREFIX = """\
name: DenseNetPrefix
input: [3, 64, 64]
blocks:
  dense_layer:
    params: {growth: {type: int}}
    body:
      - {name: norm1, op: batch_norm}
      - {name: relu1, op: act, fn: relu}
      - {name: conv1, op: conv, c: 4 * growth, k: 1, bias: false}
      - {name: norm2, op: batch_norm}
      - {name: relu2, op: act, fn: relu}
      - {name: conv2, op: conv, c: growth, k: 3, bias: false}
      - {op: concat, from: [input, conv2]}
layers:
  - name: features
    seq:
      - {name: conv0, op: conv, c: 64, k: 7, s: 2, bias: false}
      - {name: norm0, op: batch_norm}
      - {name: relu0, op: act, fn: relu}
      - {name: pool0, op: max_pool, k: 3, s: 2, p: 1}
      - name: denseblock1
        seq:
          - {name: "denselayer{i + 1}", op: dense_layer, growth: 32, n: 6}
"""

# ViT's heads (torchvision vision_transformer.py): OrderedDict([("head", nn.Linear(...))]),
# here after a mixed group: unnamed rows keep their index as their key.
HEADS = """\
name: Heads
input: [3, 16, 16]
layers:
  - name: stem
    seq:
      - {op: conv, c: 8, k: 3, s: 2}
      - {name: norm, op: batch_norm}
      - {op: act, fn: relu}
  - {op: global_avg_pool}
  - {op: flatten}
  - name: heads
    seq:
      - {name: head, op: linear, c: 10}
"""


def _generated(path, tmp_path):
    """The generated module's class, imported from the written file."""
    source = archc.generate(path)
    audit_source(source)
    out = tmp_path / f"gen_{path.stem}.py"
    out.write_text(source, encoding="utf-8")
    return source, import_file(out)


def _reference_features():
    return nn.Sequential(OrderedDict(features=tv.densenet121().features[:5]))


def test_densenet_prefix_loads_torchvision_state_dict_strictly(write_spec):
    """Was: names in a seq were dropped (features.0, features.4.0...), so torchvision's
    DenseNet keys (features.denseblock1.denselayer1.norm1.weight) could not load."""
    from .reference import assert_unit_scale_parity

    path = write_spec(DENSENET_PREFIX, "densenet_prefix.yaml")
    model = archc.build_model(path)
    ref = _reference_features()
    assert list(model.state_dict()) == list(ref.state_dict())
    assert archc.compile_spec(path).params == sum(p.numel() for p in ref.parameters())
    assert_unit_scale_parity(ref, model, (3, 64, 64))


def test_generated_module_is_the_live_model(write_spec, tmp_path):
    path = write_spec(DENSENET_PREFIX, "densenet_prefix.yaml")
    source, module = _generated(path, tmp_path)
    assert "from collections import OrderedDict\n" in source
    assert '"denselayer6",' in source and '("norm0", nn.BatchNorm2d(64)),' in source
    live = archc.build_model(path)
    gen = module.densenet_prefix()
    assert list(gen.state_dict()) == list(live.state_dict())
    gen.load_state_dict(live.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(gen.eval()(x), live.eval()(x))
    assert [n for n, _ in live.features.named_children()] == [
        "conv0", "norm0", "relu0", "pool0", "denseblock1"]
    assert isinstance(live.features[4], nn.Sequential)  # indexing still works


def test_mixed_group_keys_unnamed_rows_by_index_and_vit_heads(write_spec, tmp_path):
    path = write_spec(HEADS, "heads.yaml")
    source, module = _generated(path, tmp_path)
    live = archc.build_model(path)
    assert [n for n, _ in live.stem.named_children()] == ["0", "norm", "2"]
    ref_heads = nn.Sequential(OrderedDict(head=nn.Linear(8, 10)))  # torchvision ViT's heads
    ref_heads.load_state_dict({k[len("heads."):]: v for k, v in live.state_dict().items()
                               if k.startswith("heads.")}, strict=True)
    assert list(live.heads.state_dict()) == ["head.weight", "head.bias"]
    assert '("0", nn.Conv2d(3, 8, 3, stride=2, padding=1)),' in source
    gen = module.heads()
    gen.load_state_dict(live.state_dict(), strict=True)


def test_summary_and_graph_show_the_names(cli, write_spec):
    path = write_spec(DENSENET_PREFIX, "densenet_prefix.yaml")
    code, out, _ = cli("summary", str(path))
    assert code == 0
    assert "features.denseblock1.denselayer6" in out and "features.pool0" in out
    model = archc.compile_spec(path)
    from archc.ir.graph import walk

    paths = {n.path for n in walk(model.graph)}
    assert "features.denseblock1.denselayer1.conv2" in paths


def test_onnx_export_of_named_groups(write_spec, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from archc.tools.export import export_onnx

    path = write_spec(HEADS, "heads.yaml")
    model = archc.build_model(path).eval()
    out = export_onnx(model, tmp_path / "heads.onnx", input_shape=(3, 16, 16))
    x = torch.randn(2, 3, 16, 16)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    with torch.no_grad():
        assert torch.allclose(got, model(x), atol=1e-5)


@pytest.mark.parametrize(("template", "names"), [
    ("denselayer{i + 1}", ["denselayer1", "denselayer2", "denselayer3"]),
    ("encoder_layer_{i}", ["encoder_layer_0", "encoder_layer_1", "encoder_layer_2"]),
    ("b{i // 2}_{i % 2}", ["b0_0", "b0_1", "b1_0"]),
])
def test_templates_render_one_name_per_repeat(write_spec, template, names):
    path = write_spec(f"""\
name: T
input: [3, 8, 8]
layers:
  - name: blocks
    seq:
      - {{name: "{template}", op: conv, c: 4, k: 3, n: 3}}
""")
    model = archc.build_model(path)
    assert [n for n, _ in model.blocks.named_children()] == names


BAD = """\
name: Bad
input: [3, 8, 8]
layers:
  - name: blocks
    seq:
      - {name: conv0, op: conv, c: 4, k: 3}
      - {name: NAME, op: conv, c: 4, k: 3, n: 3}
"""


@pytest.mark.parametrize(("name", "code", "words"), [
    ('"layer{j}"', "E213", "unknown name 'j'"),
    ("\"x{'.'}\"", "E241", "'x.' is not a module name"),
    ('"layer{i // 2}"', "E201", "'layer0' is used twice"),
    ('"conv{i}"', "E201", "'conv0' is used twice"),
    ('"x{i / 2}"', "E241", "not an integer or a string"),
    ('"x{i}{"', "E104", "not a name template"),
    ('"_x{i}"', "E104", "reserved"),
    ("block1.0", "E104", "is not a module name"),
])
def test_bad_names_are_located_errors(cli, write_spec, name, code, words):
    path = write_spec(BAD.replace("NAME", name))
    rc, _, err = cli("check", str(path))
    assert rc == 1 and "Traceback" not in err, err
    assert re.search(rf":7:16: error\[{code}\]: .*{re.escape(words)}", err), err


@pytest.mark.parametrize(("spec", "where"), [
    ("layers:\n  - {name: 'c{i}', op: conv, c: 4, k: 3, n: 2}\n", "not in a 'seq' group"),
    ("layers:\n  - name: g\n    seq:\n      - {name: 'c{i}', op: conv, c: 4, k: 3}\n",
     "has no 'n'"),
])
def test_template_outside_a_group_or_without_n_is_refused(cli, write_spec, spec, where):
    path = write_spec("name: T\ninput: [3, 8, 8]\n" + spec)
    rc, _, err = cli("check", str(path))
    assert rc == 1 and "E240" in err and where in err, err


def test_named_row_with_n_in_a_group_is_a_stage(write_spec):
    path = write_spec("""\
name: T
input: [3, 8, 8]
layers:
  - name: features
    seq:
      - {name: stem, op: conv, c: 4, k: 3}
      - {name: stage, op: conv, c: 4, k: 3, n: 2}
""")
    model = archc.build_model(path)
    assert list(model.state_dict())[-2:] == ["features.stage.1.weight", "features.stage.1.bias"]


STAGED = """\
name: Staged
input: [3, 32, 32]
blocks:
  basic:
    params: {c: {type: int}, s: {type: int, default: 1, first_only: true}}
    body:
      - {name: conv1, op: conv, c: c, k: 3, s: s, bias: false}
      - {name: bn1, op: batch_norm}
      - {op: act, fn: relu}
  tower:
    params: {c: {type: int}, depth: {type: int, default: 2}}
    body:
      - {name: stem, op: conv, c: c, k: 1}
      - {name: layer1, op: basic, c: c, s: 2, n: depth}
layers:
  - {name: t, op: tower, c: 8, depth: 3}
  - {op: global_avg_pool}
"""


def test_named_row_with_n_in_a_block_body_is_a_stage(write_spec, tmp_path):
    """Was: E202 'repeats are only allowed in a spec's layers'. Now ResNet's layer1 inside a
    block: a loop over the block's parameter, stride on the first repeat only."""
    path = write_spec(STAGED, "staged.yaml")
    source, module = _generated(path, tmp_path)
    assert "for _ in range(depth - 1):" in source
    live = archc.build_model(path)
    ref = nn.Module()
    ref.stem = nn.Conv2d(3, 8, 1)
    ref.layer1 = nn.Sequential(*[nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(8, 8, 3, 2 if i == 0 else 1, 1, bias=False), bn1=nn.BatchNorm2d(8)))
        for i in range(3)])
    ref.load_state_dict({k[2:]: v for k, v in live.state_dict().items()}, strict=True)
    x = torch.randn(2, 3, 32, 32)
    assert live.eval()(x).shape == (2, 8, 1, 1)
    assert archc.compile_spec(path).graph.node("t").out_shape == (8, 16, 16)
    gen = module.Tower(3, c=8, depth=5)  # general: any depth the signature accepts
    assert len(gen.layer1) == 5 and gen.layer1[0].conv1.stride == (2, 2)
    assert gen.layer1[4].conv1.stride == (1, 1)


def test_unnamed_or_grouped_repeats_in_a_block_are_still_refused(cli, write_spec):
    path = write_spec(STAGED.replace("{name: layer1, op: basic", "{op: basic"))
    rc, _, err = cli("check", str(path))
    assert rc == 1 and "E202" in err and "plain 'name'" in err, err


def test_names_in_a_block_group_with_conditions_are_refused(cli, write_spec):
    path = write_spec(STAGED.replace(
        "      - {name: layer1, op: basic, c: c, s: 2, n: depth}\n",
        "      - name: g\n        seq:\n          - {name: a, op: conv, c: c, k: 1}\n"
        "          - {op: batch_norm, when: depth > 2}\n"))
    rc, _, err = cli("check", str(path))
    assert rc == 1 and "E242" in err, err


def test_named_children_in_a_block_group(write_spec, tmp_path):
    path = write_spec(STAGED.replace(
        "      - {name: layer1, op: basic, c: c, s: 2, n: depth}\n",
        "      - name: downsample\n        seq:\n          - {name: conv, op: conv, c: c, k: 1}"
        "\n          - {op: batch_norm}\n"), "grouped.yaml")
    source, module = _generated(path, tmp_path)
    live = archc.build_model(path)
    keys = [k for k in live.state_dict() if k.endswith("weight")]
    assert keys == ["t.stem.weight", "t.downsample.conv.weight", "t.downsample.1.weight"]
    from archc.ir.graph import walk

    assert "t.downsample.conv" in {n.path for n in walk(archc.compile_spec(path).graph)}
    module.grouped().load_state_dict(live.state_dict(), strict=True)


def test_audit_allows_only_collections_ordereddict():
    ok = "from collections import OrderedDict\n"
    audit_source(ok)
    for bad in ["from collections import deque\n", "from collections import OrderedDict as O\n",
                "from os import path\n", "import collections\n",
                "from .collections import OrderedDict\n"]:
        with pytest.raises(AuditError):
            audit_source(bad)
    with pytest.raises(AuditError):  # used without the import: an unknown name
        audit_source("def f():\n    return OrderedDict()\n")


@pytest.mark.parametrize("name", ["OrderedDict"])
def test_row_named_like_the_import_is_refused(cli, write_spec, name):
    path = write_spec(BAD.replace("NAME", name).replace(", n: 3", ""))
    rc, _, err = cli("check", str(path))
    assert rc == 1 and "defines or imports" in err, err


def test_generated_groups_are_ruff_formatted_and_clean(write_spec, tmp_path):
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff not installed")
    grouped = STAGED.replace(
        "      - {name: layer1, op: basic, c: c, s: 2, n: depth}\n",
        "      - {name: layer1, op: basic, c: c, s: 2, n: depth}\n      - name: downsample\n"
        "        seq:\n          - {name: conv, op: conv, c: c, k: 1}\n"
        "          - {op: batch_norm}\n")
    files = []
    for i, text in enumerate([DENSENET_PREFIX, HEADS, grouped]):
        out = tmp_path / f"m{i}.py"
        out.write_text(archc.generate(write_spec(text, f"m{i}.yaml")), encoding="utf-8")
        files.append(str(out))
    for args in (["format", "--isolated", "--check"], ["check", "--isolated"]):
        done = subprocess.run([ruff, *args, *files], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_documented_example_loads_torchvision_densenet_prefix(write_spec):
    """docs/spec-language.md's 'Named rows inside a group' example is what it claims."""
    from .conftest import ROOT

    doc = (ROOT / "docs" / "spec-language.md").read_text(encoding="utf-8")
    [text] = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S)
              if b.startswith("name: DenseNetPrefix")]
    model = archc.build_model(write_spec(text, "densenet_prefix.yaml"))
    ref = _reference_features()
    ref.load_state_dict(model.state_dict(), strict=True)
    assert '"denselayer6",' in archc.generate(write_spec(text, "densenet_prefix.yaml"))


def test_hyphens_name_group_children_only(cli, write_spec):
    """A child of a 'seq' group is an OrderedDict key: '-' is allowed there (timm's
    block1-0), in templates too; an attribute (a top-level or block row) cannot carry it."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    text = BAD.replace("{name: NAME, op: conv, c: 4, k: 3, n: 3}",
                       '{name: "block2-{i}", op: conv, c: 4, k: 3, n: 2}').replace(
        "{name: conv0,", "{name: block1-0,")
    model = archc.build_model(write_spec(text))
    keys = [k for k in model.state_dict() if k.endswith("weight")]
    assert keys == ["blocks.block1-0.weight", "blocks.block2-0.weight",
                    "blocks.block2-1.weight"], keys
    ref = nn.Module()
    ref.blocks = nn.Sequential(OrderedDict([
        ("block1-0", nn.Conv2d(3, 4, 3, padding=1)), ("block2-0", nn.Conv2d(4, 4, 3, padding=1)),
        ("block2-1", nn.Conv2d(4, 4, 3, padding=1))]))
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(model(x), ref.blocks(x))
    top = write_spec("name: T\ninput: [3, 8, 8]\nlayers:\n"
                     "  - {name: conv-1, op: conv, c: 4, k: 3}\n")
    rc, _, err = cli("check", str(top))
    assert rc == 1 and re.search(r":4:12: error\[E201\]: 'conv-1' is not a module name", err), err
    assert "only name a child of a 'seq' group" in err


KEYED = """\
name: Keyed
input: [4, 8, 8]
blocks:
  tower:
    params:
      depth: {type: int, min: 1}
    body:
      - name: layers
        seq:
          - {name: "unit_{i + 1}", op: basic_block, c: 4, n: depth}
layers:
  - {name: tower, op: tower, depth: 3}
"""


def test_a_keyed_stage_in_a_block_is_a_loop_over_a_parameter(tmp_path):
    """A group of one templated row with n, in a block body: an OrderedDict filled in a loop,
    so the block class takes any depth; names and weights as a hand-built reference."""
    torch = pytest.importorskip("torch")
    tvr = pytest.importorskip("torchvision.models.resnet")
    path = tmp_path / "keyed.yaml"
    path.write_text(KEYED, encoding="utf-8")
    source = archc.generate(path)
    # the first repeat maps in_channels to c, the loop's keep c: unit_1 is built apart
    assert 'layers["unit_1"] = BasicBlock(in_channels, 4)' in source
    assert "for i in range(1, depth):" in source
    assert 'layers["unit_" + str(i + 1)] = BasicBlock(4, 4)' in source
    model = archc.build_model(path).eval()
    ref = torch.nn.Module()
    ref.tower = torch.nn.Module()
    ref.tower.layers = torch.nn.Sequential(OrderedDict(
        (f"unit_{i + 1}", tvr.BasicBlock(4, 4)) for i in range(3)))
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.tower.layers.eval()(x))
    module = types.ModuleType("_keyed")
    exec(compile(source, "<keyed>", "exec"), module.__dict__)
    assert len(module.Tower(4, depth=5).layers) == 5  # the class is general in depth


def test_a_keyed_stage_builds_a_different_first_repeat_before_its_loop(tmp_path):
    """A stride on the first repeat (a first-only column) and new channels: unit_1 is built
    apart, the loop runs from 1; names and weights as torchvision's blocks."""
    torch = pytest.importorskip("torch")
    tvr = pytest.importorskip("torchvision.models.resnet")
    path = tmp_path / "keyed.yaml"
    path.write_text(KEYED.replace("c: 4, n: depth", "c: 8, s: 2, n: depth"), encoding="utf-8")
    source = archc.generate(path)
    assert 'layers["unit_1"] = BasicBlock(' in source and "for i in range(1, depth):" in source
    model = archc.build_model(path).eval()
    down = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 1, 2, bias=False), torch.nn.BatchNorm2d(8))
    units = [tvr.BasicBlock(4, 8, 2, downsample=down)] + [tvr.BasicBlock(8, 8) for _ in range(2)]
    ref = torch.nn.Sequential(OrderedDict((f"unit_{i + 1}", u) for i, u in enumerate(units)))
    model.tower.layers.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.eval()(x))
