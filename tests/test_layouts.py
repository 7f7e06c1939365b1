"""Tensors of any rank (issue 11): shape inference knows each row's layout, (N, C, H, W),
(N, H, W, C), (N, L, C) or (N, F), and the ops that need one say so in a located error. The
new ops (permute, flatten(start, end), linear on the last dim, layer_norm, param, select,
concat along a dim, self_attention) equal torch's own modules: shapes, parameters, MACs
(torch's flop counter, attention counted in its math form), outputs and state_dict names."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest

import archc
from archc.api import load_spec_text
from archc.diagnostics import SpecError

torch = pytest.importorskip("torch")
nn = torch.nn
tv_ops = pytest.importorskip("torchvision.ops.misc")
cnx = pytest.importorskip("torchvision.models.convnext")

from .reference import count_macs  # noqa: E402

# A ConvNeXt-style channels-last unit and a ViT-style token head, in one spec: every layout.
SPEC = """\
name: Layouts
input: [3, 16, 16]
blocks:
  scaled:
    params:
      init_scale: {type: float, default: 0.5}
    body:
      - {name: fc, op: linear, c: in_channels}
      - {name: gamma, op: param, shape: [in_channels], fill: constant, value: init_scale}
      - {name: branch, op: mul, from: [fc, gamma]}
      - {op: add, from: [input, branch]}
layers:
  - {name: stem, op: conv, c: 8, k: 4, s: 4, p: 0}
  - {name: norm2d, op: layer_norm, eps: 0.000001}
  - {op: permute, dims: [0, 2, 3, 1]}
  - {name: ln, op: layer_norm}
  - {name: up, op: linear, c: 16}
  - {name: unit, op: scaled}
  - {op: permute, dims: [0, 3, 1, 2]}
  - {op: flatten, start: 2}
  - {name: tokens, op: permute, dims: [0, 2, 1]}
  - {name: cls, op: param, shape: [1, 1, 16], fill: trunc_normal, std: 0.02, expand: true}
  - {op: concat, from: [cls, tokens], dim: 1}
  - {name: attn, op: self_attention, heads: 4}
  - {op: select, index: 0}
  - {name: head, op: linear, c: 5}
"""


class _Scaled(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc = nn.Linear(c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.5))

    def forward(self, x):
        return x + self.fc(x) * self.gamma


class _Reference(nn.Module):
    """The same network written by hand with torch and torchvision modules."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 4, stride=4)
        self.norm2d = cnx.LayerNorm2d(8, eps=1e-6)
        self.ln = nn.LayerNorm(8)
        self.up = nn.Linear(8, 16)
        self.unit = _Scaled(16)
        self.cls = nn.Parameter(torch.zeros(1, 1, 16))
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = self.norm2d(self.stem(x)).permute(0, 2, 3, 1)
        x = self.unit(self.up(self.ln(x))).permute(0, 3, 1, 2)
        x = x.flatten(2).permute(0, 2, 1)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.attn(x, x, x, need_weights=False)[0]
        return self.head(x[:, 0])


def _shapes(model):
    return {node.name: (node.out_shape, node.layout) for node in model.graph.nodes()
            if node.name}


def test_layouts_shapes_params_and_macs():
    model = archc.compile_spec(load_spec_text(SPEC))
    shapes = _shapes(model)
    assert shapes["stem"] == ((8, 4, 4), "CHW")
    assert shapes["ln"] == ((4, 4, 8), "HWC")
    assert shapes["unit"] == ((4, 4, 16), "HWC")
    assert shapes["tokens"] == ((16, 16), "LC")
    assert shapes["attn"] == ((17, 16), "LC")
    assert shapes["head"] == ((5,), "C")
    ref = _Reference()
    assert model.params == sum(p.numel() for p in ref.parameters())
    assert model.macs == count_macs(ref, (3, 16, 16))


@pytest.mark.parametrize("build", ["live", "generated"])
def test_loads_the_hand_written_reference_and_outputs_match(build, tmp_path):
    from .conftest import import_file
    from .reference import assert_outputs_match, load_same_weights, parity_input

    checked = load_spec_text(SPEC)
    ref = _Reference().eval()
    x = parity_input((3, 16, 16))
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    if build == "live":
        model = archc.build_model(checked)
    else:
        path = tmp_path / "layouts.py"
        path.write_text(archc.generate(checked))
        model = import_file(path, f"_gen_layouts_{tmp_path.name}").Layouts()
    load_same_weights(ref, model)
    assert_outputs_match(ref, [model], x)


def test_generated_code_reads_like_torchvision():
    source = archc.generate(load_spec_text(SPEC))
    for line in ("self.norm2d = LayerNorm2d(8, eps=1e-06)", "self.ln = nn.LayerNorm(8)",
                 "self.cls = nn.Parameter(\n",
                 "nn.init.trunc_normal_(torch.empty(1, 1, 16), std=0.02)",
                 "self.attn = nn.MultiheadAttention(16, 4, batch_first=True)",
                 "self.gamma = nn.Parameter(torch.full((in_channels,), init_scale))",
                 "x.permute(0, 2, 3, 1)", "torch.flatten(x, 2)",
                 "self.cls.expand(tokens.shape[0], -1, -1)",
                 "need_weights=False)[0]", "[:, 0]"):
        assert line in source, line


@pytest.mark.parametrize("init, check", [
    ("zeros", lambda t: torch.equal(t, torch.zeros_like(t))),
    ("ones", lambda t: torch.equal(t, torch.ones_like(t))),
    ("constant", lambda t: torch.equal(t, torch.full_like(t, 1e-6))),
])
def test_param_initial_values(init, check):
    text = SPEC.replace("fill: trunc_normal, std: 0.02", f"fill: {init}, value: 0.000001")
    model = archc.build_model(load_spec_text(text))
    assert check(model.cls.detach())


def test_param_random_inits_draw_like_torch():
    for init, draw in (("normal", lambda: torch.empty(1, 1, 16).normal_(std=0.02)),
                       ("trunc_normal", lambda: nn.init.trunc_normal_(torch.empty(1, 1, 16),
                                                                      std=0.02))):
        text = SPEC.replace("fill: trunc_normal", f"fill: {init}")
        checked = load_spec_text(text)
        model = archc.build_model(checked)  # warm: the audit and compile are not seeded
        torch.manual_seed(7)
        model = archc.build_model(checked)
        torch.manual_seed(7)
        # the modules built before the token, in order, then the token itself
        nn.Conv2d(3, 8, 4, stride=4), nn.Linear(8, 16), nn.Linear(16, 16)
        expected = draw()
        assert torch.equal(model.cls.detach(), expected), init


def _error(text: str):
    with pytest.raises(SpecError) as info:
        archc.compile_spec(load_spec_text(text))
    return info.value.diagnostics[0]


@pytest.mark.parametrize("old, new, words", [
    # a conv on a channels-last map: stated with both layouts, not a 4-channel conv
    ("  - {name: ln, op: layer_norm}", "  - {name: ln, op: conv, c: 4, k: 1}",
     "conv expects (N, C, H, W) but its input (N, 4, 4, 8) is (N, H, W, C)"),
    ("{op: select, index: 0}", "{op: select, index: 17}", "index 17 is out of range"),
    ("dims: [0, 2, 1]", "dims: [1, 0, 2]", "batch dimension 0 first"),
    ("dims: [0, 2, 1]", "dims: [0, 2, 2]", "must reorder 0..2"),
    ("{op: concat, from: [cls, tokens], dim: 1}", "{op: concat, from: [cls, tokens]}",
     "concat of (N, L, C) inputs needs 'dim'"),
    ("heads: 4", "heads: 5", "5 heads must divide the embedding width 16"),
    ("shape: [1, 1, 16], fill: trunc_normal, std: 0.02, expand: true",
     "shape: [2, 1, 16], expand: true", "expand repeats a leading batch dimension of 1"),
    ("{op: flatten, start: 2}", "{op: flatten, start: 2, end: 4}", "does not fit"),
    ("{name: up, op: linear, c: 16}", "{name: up, op: linear, c: 16}\n  - {op: permute, "
     "dims: [0, 3, 1, 2]}\n  - {name: bad, op: linear, c: 3}",
     "linear acts on the last dimension, which must be the channels"),
])
def test_layout_and_shape_errors_are_located(old, new, words):
    assert old in SPEC
    text = SPEC.replace(old, new, 1)
    diag = _error(text)
    assert words in diag.message, diag.message
    line = text.splitlines()[diag.line - 1]
    assert line.strip().startswith("- {") or "shape" in line, line


def test_param_and_attention_cannot_be_seq_entries():
    text = SPEC.replace("  - {name: attn, op: self_attention, heads: 4}",
                        "  - name: blk\n    seq: [{op: self_attention, heads: 4}]")
    diag = _error(text)
    assert "cannot be an entry of a seq group" in diag.message
    assert diag.line == text.splitlines().index("    seq: [{op: self_attention, heads: 4}]") + 1


def test_attention_macs_count_projections_and_scores():
    """4 L D^2 for the q, k, v and output projections, 2 L^2 D for q k^T and its use on v:
    torch's flop counter on nn.MultiheadAttention (math attention) agrees."""
    text = """\
name: Attn
input: [10, 64]
layers:
  - {name: attn, op: self_attention, heads: 4}
"""
    model = archc.compile_spec(load_spec_text(text))
    ref = nn.Module()
    ref.attn = nn.MultiheadAttention(64, 4, batch_first=True)
    ref.forward = lambda x: ref.attn(x, x, x, need_weights=False)[0]
    assert model.macs == 4 * 10 * 64 * 64 + 2 * 10 * 10 * 64 == count_macs(ref, (10, 64))
    assert model.params == sum(p.numel() for p in ref.attn.parameters())


def test_layer_norm2d_is_torchvisions():
    text = "name: N\ninput: [6, 5, 5]\nlayers:\n  - {name: n, op: layer_norm, eps: 0.001}\n"
    model = archc.build_model(load_spec_text(text)).eval()
    ref = cnx.LayerNorm2d(6, eps=1e-3)
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
    model.n.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(model(x), ref(x))
    assert math.isclose(model.n.eps, 1e-3)


def test_ordered_reference_keys_match():
    """The state_dict names are torch's: in_proj_weight, out_proj.weight, a parameter at its
    row's name."""
    model = archc.build_model(load_spec_text(SPEC))
    keys = list(model.state_dict())
    assert keys == list(_Reference().state_dict()), keys
    assert isinstance(OrderedDict(model.state_dict()), OrderedDict)


def test_encoder_block_is_torchvisions():
    """The library's encoder_block is torchvision's ViT EncoderBlock: strict state_dict load,
    equal outputs, parameters and MACs."""
    vt = pytest.importorskip("torchvision.models.vision_transformer")
    from functools import partial

    from .reference import assert_outputs_match, load_same_weights, parity_input

    text = """\
name: OneLayer
input: [17, 64]
layers:
  - {name: layer, op: encoder_block, heads: 4, mlp: 128}
"""
    ref = nn.Sequential(OrderedDict(layer=vt.EncoderBlock(
        4, 64, 128, 0.0, 0.0, partial(nn.LayerNorm, eps=1e-6)))).eval()
    model = archc.compile_spec(load_spec_text(text))
    assert model.params == sum(p.numel() for p in ref.parameters())
    assert model.macs == count_macs(ref, (17, 64))
    live = archc.build_model(load_spec_text(text))
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    load_same_weights(ref, live)
    assert_outputs_match(ref, [live], parity_input((17, 64)))


def test_ops_and_summary_say_the_layouts(cli, write_spec):
    """`archc ops` names the input layouts an op accepts; `summary --json` each row's."""
    import json

    code, out, _ = cli("ops")
    assert code == 0
    lines = out.splitlines()
    conv = lines.index(next(x for x in lines if x.startswith("conv ")))
    assert lines[conv + 1] == "    input: (N, C, H, W)"
    attn = lines.index(next(x for x in lines if x.startswith("self_attention ")))
    assert lines[attn + 1] == "    input: (N, L, C)"
    add = lines.index(next(x for x in lines if x.startswith("add ")))
    assert not lines[add + 1].startswith("    input:")  # any layout
    code, out, _ = cli("summary", str(write_spec(SPEC)), "--json")
    assert code == 0, out
    rows = {r["name"]: r for r in json.loads(out)["rows"]}
    assert (rows["ln"]["input_layout"], rows["ln"]["output_layout"]) == ("HWC", "HWC")
    assert (rows["attn"]["input_layout"], rows["head"]["output_layout"]) == ("LC", "C")


def test_mul_takes_the_layout_of_its_higher_rank_input():
    """Found by the property tests: a per-channel scale of shape [C] times a channels-last map
    gave a (C, H, W)-laid-out result, so the permute back scrambled the dimensions."""
    text = """\
name: Scale
input: [3, 8, 8]
layers:
  - {op: permute, dims: [0, 2, 3, 1]}
  - {name: fc, op: linear, c: 4}
  - {name: gamma, op: param, shape: [4], fill: ones}
  - {name: scaled, op: mul, from: [gamma, fc]}
  - {op: permute, dims: [0, 3, 1, 2]}
  - {op: global_avg_pool}
"""
    model = archc.compile_spec(load_spec_text(text))
    scaled = next(n for n in model.graph.nodes() if n.name == "scaled")
    assert (scaled.out_shape, scaled.layout) == ((8, 8, 4), "HWC")
    assert model.output_shape == (4, 1, 1)


def test_expand_from_a_block_parameter_builds_and_runs(tmp_path):
    """Found attacking the new ops: `expand: e` (a block parameter) passed check, but the
    generated forward read `e`, which only __init__ had (the audit refused the module)."""
    text = """\
name: Tok
input: [5, 8]
blocks:
  tokens:
    params:
      e: {type: bool, default: true}
    body:
      - {name: tok, op: param, shape: [1, 1, in_channels], expand: e}
      - {op: concat, from: [tok, input], dim: 1}
layers:
  - {name: u, op: tokens}
"""
    from .conftest import import_file

    path = tmp_path / "tok.py"
    path.write_text(archc.generate(load_spec_text(text)))
    module = import_file(path, f"_gen_tok_{tmp_path.name}")
    assert module.Tok()(torch.randn(3, 5, 8)).shape == (3, 6, 8)
    assert module.Tokens(8, e=True)(torch.randn(2, 5, 8)).shape == (2, 6, 8)
    assert archc.build_model(load_spec_text(text))(torch.randn(2, 5, 8)).shape == (2, 6, 8)
