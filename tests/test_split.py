"""The split primitive (issue 11): one piece of a channel split, ``chunks`` equal pieces or
uneven ``sizes``. Shapes equal torch's, impossible splits are located errors, the generated
code spells torch's ``x.chunk``/``x.split`` (a helper module inside an nn.Sequential), and
ShuffleNetV2's unit, the block built on it, is torchvision's InvertedResidual for any
arguments."""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")
shufflenetv2 = pytest.importorskip("torchvision.models.shufflenetv2")

import archc  # noqa: E402
from archc.diagnostics import SpecError  # noqa: E402

from .conftest import GENERATED, import_file  # noqa: E402
from .reference import (  # noqa: E402
    assert_outputs_match,
    load_same_weights,
    parity_input,
    unit_scale_weights,
)

HEAD = """\
name: Split
input: [3, 8, 8]
layers:
  - {name: conv, op: conv, c: 12, k: 3}
"""


def _model(tmp_path, rows: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(HEAD + rows, encoding="utf-8")
    return path


@pytest.mark.parametrize(("row", "piece"), [
    ("{op: split, chunks: 2, take: 0}", lambda y: y.chunk(2, dim=1)[0]),
    ("{op: split, chunks: 3, take: 2}", lambda y: y.chunk(3, dim=1)[2]),
    ("{op: split, sizes: [5, 7], take: 1}", lambda y: y[:, 5:]),
    # a channel slice x[:, 2:6] as sizes
    ("{name: piece, op: split, sizes: [2, 4, 6], take: 1}", lambda y: y[:, 2:6]),
])
def test_a_split_is_torchs_piece(row, piece, tmp_path):
    path = _model(tmp_path, f"  - {row}\n")
    model = archc.compile_spec(path)
    live = archc.build_model(path).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = piece(live.conv(x))
        assert torch.equal(live(x), expected)
    assert tuple(model.graph.nodes()[-1].out_shape) == tuple(expected.shape[1:])
    assert model.params == 12 * 3 * 9 + 12  # weight-free


@pytest.mark.parametrize(("row", "message"), [
    ("{op: split, take: 0}", "exactly one of 'chunks'"),
    ("{op: split, chunks: 2, sizes: [6, 6], take: 0}", "exactly one of 'chunks'"),
    ("{op: split, chunks: 5, take: 0}", "needs channels divisible by 5, got 12"),
    ("{op: split, sizes: [5, 6], take: 0}", r"sizes \[5, 6\] must be positive and sum to "
                                            "the input's 12 channels"),
    ("{op: split, sizes: [12, 0], take: 0}", "must be positive"),
    ("{op: split, chunks: 2, take: 2}", "take=2 is out of range: there are 2 pieces"),
])
def test_an_impossible_split_is_a_located_error(row, message, tmp_path):
    path = _model(tmp_path, f"  - {row}\n")
    with pytest.raises(SpecError) as exc:
        archc.compile_spec(path)
    (diag,) = exc.value.diagnostics
    assert re.search(message, diag.message), diag.message
    assert (diag.line, diag.column) == (5, 5)  # the split row
    assert diag.spec_path == "layers[1]"


def test_a_split_needs_a_channel_map(tmp_path):
    path = _model(tmp_path, "  - {op: flatten}\n  - {op: split, chunks: 2, take: 0}\n")
    with pytest.raises(SpecError, match=r"split expects \(N, C, H, W\) but its input "
                       r"\(N, 768\) is \(N, F\)") as exc:
        archc.compile_spec(path)
    assert exc.value.diagnostics[0].line == 6


@pytest.mark.parametrize(("value", "message"), [
    ("[6, 6.5]", "expected an integer, got 6.5"),
    ("[]", "must be a list of integers"),
    ("6", "must be a list of integers"),
])
def test_sizes_are_a_list_of_integers(value, message, tmp_path):
    path = _model(tmp_path, f"  - {{op: split, sizes: {value}, take: 0}}\n")
    with pytest.raises(SpecError, match=re.escape(message)) as exc:
        archc.compile_spec(path)
    assert exc.value.diagnostics[0].line == 5


def test_generated_code_spells_torchs_split(tmp_path):
    """Unnamed or named, a split is a call in forward(); in an nn.Sequential (which holds
    modules only) it is the ChannelSplit helper, copied into the module."""
    path = _model(tmp_path, """\
  - {name: second, op: split, chunks: 2, take: 1}
  - name: head
    seq:
      - {op: split, sizes: [2, 4], take: 1}
      - {op: act, fn: relu}
""")
    source = archc.generate(path)
    assert "x = x.chunk(2, dim=1)[1]  # (N, 6, 8, 8)" in source
    assert "ChannelSplit([2, 4], 1),  # (N, 4, 8, 8)" in source
    assert "class ChannelSplit(nn.Module):" in source
    assert "nn.ReLU()," in source  # a split's piece is a view: no in-place activation after it
    module = import_file(_write(tmp_path, source), f"_split_seq_{tmp_path.name}")
    gen = module.spec().eval()
    live = archc.build_model(path).eval()
    gen.load_state_dict(live.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = torch.relu(live.conv(x)[:, 6:][:, 2:])
        assert torch.equal(live(x), expected)
        assert torch.equal(gen(x), expected)


GHOST = """\
name: Ghost
input: [3, 8, 8]
blocks:
  half_conv:
    params:
      c: {type: int, min: 1, doc: channels kept as they are}
    body:
      - {name: head, op: split, sizes: [c, in_channels - c], take: 0, from: input}
      - {name: tail, op: split, sizes: [c, in_channels - c], take: 1, from: input}
      - {name: conv, op: conv, c: c, k: 1, from: tail}
      - {op: concat, from: [head, conv]}
layers:
  - {name: conv, op: conv, c: 8, k: 3}
  - {name: mix, op: half_conv, c: 3}
"""


def test_split_sizes_are_expressions_of_a_blocks_arguments(tmp_path):
    """The block class is general: the sizes are its arguments, kept for forward(), and the
    channels after the split follow them (the conv reads in_channels - c)."""
    path = tmp_path / "ghost.yaml"
    path.write_text(GHOST, encoding="utf-8")
    source = archc.generate(path)
    assert "head = x.split([self.c, self.in_channels - self.c], dim=1)[0]" in source
    assert "self.conv = nn.Conv2d(in_channels - c, c, 1)" in source
    module = import_file(_write(tmp_path, source), f"_ghost_{tmp_path.name}")
    block = module.HalfConv(10, c=4).eval()  # arguments the spec never used
    x = torch.randn(2, 10, 5, 5)
    with torch.no_grad():
        expected = torch.cat([x[:, :4], block.conv(x[:, 4:])], 1)
        assert torch.equal(block(x), expected)


# ------------------------------------------------------------------ ShuffleNetV2's unit
def _generated_unit():
    return import_file(GENERATED / "shufflenet_v2_x1_0.py", "_split_shufflenet").InvertedResidual


@pytest.mark.parametrize(("inp", "oup", "stride"), [
    (24, 116, 2), (116, 116, 1), (10, 20, 3), (20, 20, 1), (7, 12, 2),
])
def test_the_unit_is_torchvisions_for_any_arguments(inp, oup, stride):
    """The generated InvertedResidual (ours: the shuffle_unit library block) against
    torchvision's, for arguments the specs use and others: the same modules in the same
    order (so seeded weights match), strict loading, equal outputs under unit-scale weights."""
    unit = _generated_unit()
    torch.manual_seed(5)
    ref = shufflenetv2.InvertedResidual(inp, oup, stride)
    torch.manual_seed(5)
    ours = unit(inp, oup, stride=stride)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for key, value in ref.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    x = parity_input((inp, 12, 12))
    unit_scale_weights(ref, batch=x)
    load_same_weights(ref, ours)
    assert_outputs_match(ref, ours, x)


def test_a_wrong_split_fails_the_comparison(tmp_path):
    """The comparison can fail for the right reason: the two halves of the channel split
    swapped (x1 through branch2 instead of x2) give other outputs."""
    source = (GENERATED / "shufflenet_v2_x1_0.py").read_text(encoding="utf-8")
    assert source.count("x.chunk(2, dim=1)[0]") == source.count("x.chunk(2, dim=1)[1]") == 1
    swapped = source.replace("x.chunk(2, dim=1)[0]", "SWAP").replace(
        "x.chunk(2, dim=1)[1]", "x.chunk(2, dim=1)[0]").replace("SWAP", "x.chunk(2, dim=1)[1]")
    wrong = import_file(_write(tmp_path, swapped), f"_swapped_{tmp_path.name}")
    right = import_file(GENERATED / "shufflenet_v2_x1_0.py", f"_right_{tmp_path.name}")
    x = parity_input((3, 64, 64))
    ref = unit_scale_weights(shufflenetv2.shufflenet_v2_x1_0(), batch=x)
    models = [right.shufflenet_v2_x1_0(), wrong.shufflenet_v2_x1_0()]
    load_same_weights(ref, *models)
    assert_outputs_match(ref, models[0], x)
    with pytest.raises(AssertionError, match="max difference"):
        assert_outputs_match(ref, models[1], x)


def _write(tmp_path, source: str):
    path = tmp_path / f"gen_{abs(hash(source))}.py"
    path.write_text(source, encoding="utf-8")
    return path


def test_the_documented_unit_is_torchvisions(tmp_path):
    """docs/spec-language.md's channel-split example: its two rows are torchvision's stride-2
    and stride-1 InvertedResidual (strict loading, equal outputs)."""
    from .conftest import ROOT

    doc = (ROOT / "docs" / "spec-language.md").read_text(encoding="utf-8")
    (text,) = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S)
               if b.startswith("name: ShuffleUnits")]
    path = tmp_path / "units.yaml"
    path.write_text(text, encoding="utf-8")
    ref = torch.nn.Sequential()
    ref.add_module("down", shufflenetv2.InvertedResidual(24, 116, 2))
    ref.add_module("same", shufflenetv2.InvertedResidual(116, 116, 1))
    assert archc.compile_spec(path).params == sum(p.numel() for p in ref.parameters())
    x = parity_input((24, 14, 14))
    unit_scale_weights(ref, batch=x)
    live = archc.build_model(path)
    load_same_weights(ref, live)
    assert_outputs_match(ref, live, x)
