"""Weight initialisation rules as data: each initialiser's generated call draws what torch.nn.init
draws under the same seed, a rule list equals its named scheme weight for weight, a row's rules
reproduce torchvision's ViT MLPBlock, and bad rules are located errors."""

from __future__ import annotations

import math

import pytest
import yaml

import archc
from archc.diagnostics import SpecError
from archc.frontend import init_rules
from archc.ops.init import INITIALISERS, SCHEME_NAMES, SCHEMES_FILE

torch = pytest.importorskip("torch")
nn = torch.nn

TINY = """\
name: Tiny
input: [3, 8, 8]
init:
{init}
layers:
  - {{op: conv, name: conv, c: 4, k: 3}}
  - {{op: batch_norm, name: bn}}
  - {{op: act, fn: relu}}
  - {{op: conv, name: conv2, c: 6, k: 3, s: 2, groups: 2}}
  - {{op: global_avg_pool}}
  - {{op: flatten}}
  - {{op: linear, name: fc, c: 5}}
"""


def _tiny_reference() -> nn.Module:
    """The module tree Tiny builds, in the same order (so the same default draws)."""
    return nn.ModuleDict({
        "conv": nn.Conv2d(3, 4, 3, padding=1), "bn": nn.BatchNorm2d(4),
        "conv2": nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), "fc": nn.Linear(6, 5)})


def _build(write_spec, init: str, seed: int = 0, **kw) -> nn.Module:
    text = TINY.format(init=init)
    torch.manual_seed(seed)
    return archc.build_model(write_spec(text), **kw)


def _assert_same_weights(ours: nn.Module, ref_tensors: dict) -> None:
    state = ours.state_dict()
    for key, value in ref_tensors.items():
        assert torch.equal(state[key], value), key


def _goog_normal(w: torch.Tensor, m: nn.Conv2d) -> None:
    """timm's _init_weight_goog for a conv, written out."""
    fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
    nn.init.normal_(w, 0.0, math.sqrt(2.0 / fan_out))


# initialiser as written in YAML -> the torch.nn.init call on a tensor (module for computed ones)
CASES = {
    "zeros": lambda t, m: nn.init.zeros_(t),
    "ones": lambda t, m: nn.init.ones_(t),
    "{constant: {value: 0.25}}": lambda t, m: nn.init.constant_(t, 0.25),
    "{normal: {mean: 0.5, std: 0.02}}": lambda t, m: nn.init.normal_(t, mean=0.5, std=0.02),
    "{trunc_normal: {std: 0.02}}": lambda t, m: nn.init.trunc_normal_(t, std=0.02),
    "{trunc_normal: {mean: 0.1, std: 2, a: -1, b: 1}}":
        lambda t, m: nn.init.trunc_normal_(t, mean=0.1, std=2.0, a=-1.0, b=1.0),
    "{uniform: {a: -0.5, b: 0.5}}": lambda t, m: nn.init.uniform_(t, -0.5, 0.5),
    "{kaiming_normal: {mode: fan_out, nonlinearity: relu}}":
        lambda t, m: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
    "{kaiming_uniform: {a: 2.23606797749979}}":  # = sqrt(5): nn.Conv2d's own reset
        lambda t, m: nn.init.kaiming_uniform_(t, a=math.sqrt(5)),
    "kaiming_uniform": lambda t, m: nn.init.kaiming_uniform_(t),
    "{xavier_uniform: {gain: 1.5}}": lambda t, m: nn.init.xavier_uniform_(t, gain=1.5),
    "xavier_normal": lambda t, m: nn.init.xavier_normal_(t),
}


def test_every_initialiser_is_tested():
    named = [yaml.safe_load(k) for k in CASES]
    names = {next(iter(n)) if isinstance(n, dict) else n for n in named}
    assert names | {"uniform_out_features", "goog_normal"} == set(INITIALISERS)


@pytest.mark.parametrize("written", list(CASES))
def test_each_initialiser_draws_what_torch_nn_init_draws(written, write_spec):
    """Conv weights (and, for those that take a 1-D tensor, biases) get the initialiser; the
    hand-built reference applies torch.nn.init's function under the same seed."""
    apply = CASES[written]
    one_d = not any(n in written for n in ("kaiming", "xavier"))  # fans need 2-D tensors
    bias = f"\n    bias: {written}" if one_d else ""
    ours = _build(write_spec, f"  - ops: [conv]\n    weight: {written}{bias}")
    torch.manual_seed(0)
    ref = _tiny_reference()
    with torch.no_grad():
        for m in ref.modules():  # module order, as the generated loop
            if isinstance(m, nn.Conv2d):
                apply(m.weight, m)
                if one_d:
                    apply(m.bias, m)
    _assert_same_weights(ours, ref.state_dict())


def test_computed_initialisers_are_efficientnet_and_timms(write_spec):
    ours = _build(write_spec, "  - {ops: [conv], weight: goog_normal, bias: zeros}\n"
                  "  - {ops: [linear], weight: uniform_out_features, bias: zeros}")
    torch.manual_seed(0)
    ref = _tiny_reference()
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.Conv2d):
                _goog_normal(m.weight, m)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):  # torchvision EfficientNet's classifier init
                init_range = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -init_range, init_range)
                nn.init.zeros_(m.bias)
    _assert_same_weights(ours, ref.state_dict())


def test_the_generated_call_reads_like_torchvision(write_spec, tmp_path):
    path = write_spec(TINY.format(init="  - ops: [conv, linear]\n"
                                  "    weight: {trunc_normal: {std: 0.02}}\n    bias: zeros"))
    source = archc.generate(path)
    assert ("        for m in self.modules():\n"
            "            if isinstance(m, (nn.Conv2d, nn.Linear)):\n"
            "                nn.init.trunc_normal_(m.weight, std=0.02)\n"
            "                if m.bias is not None:\n"
            "                    nn.init.zeros_(m.bias)\n") in source


def test_numbers_may_be_expressions_of_the_params(write_spec):
    """std: sqrt(1 / dim) is evaluated when generated; the param it reads is then fixed."""
    text = TINY.format(init="  - {ops: [linear], weight: {normal: {std: sqrt(1 / dim)}}}")
    text = text.replace("input: [3, 8, 8]\n", "input: [3, 8, 8]\nparams: {dim: 768}\n")
    source = archc.generate(write_spec(text))
    assert f"nn.init.normal_(m.weight, std={math.sqrt(1 / 768)!r})" in source
    assert "dim: int" not in source  # fixed when generated, not a dead argument


# --------------------------------------------------------------------------- named schemes
def _scheme_yaml(name: str) -> str:
    rules = yaml.safe_load(SCHEMES_FILE.read_text())["schemes"][name]["rules"]
    return "\n".join("  " + line for line in yaml.safe_dump(rules, sort_keys=False).splitlines())


@pytest.mark.parametrize("name", [n for n in SCHEME_NAMES if n != "pytorch"])
def test_a_rule_list_equals_its_named_scheme(name, write_spec):
    named = _build(write_spec, f"  {name}")
    listed = _build(write_spec, _scheme_yaml(name))
    a, b = named.state_dict(), listed.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_hand_written_rules_equal_mobilenet_and_squeezenet(write_spec):
    mobilenet = """\
  - ops: [conv]
    weight: {kaiming_normal: {mode: fan_out}}
    bias: zeros
  - {ops: [batch_norm], weight: ones, bias: zeros}
  - {ops: [linear], weight: {normal: {mean: 0, std: 0.01}}, bias: zeros}"""
    squeezenet = """\
  - {ops: [conv], last: true, weight: {normal: {mean: 0.0, std: 0.01}}, bias: zeros}
  - {ops: [conv], weight: kaiming_uniform, bias: zeros}"""
    for scheme, rules in (("mobilenet", mobilenet), ("squeezenet", squeezenet)):
        a = _build(write_spec, rules).state_dict()
        b = _build(write_spec, f"  {scheme}").state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), scheme
        c = _build(write_spec, f"  {scheme}", seed=1).state_dict()
        assert not all(torch.equal(a[k], c[k]) for k in a)  # the comparison can fail


def test_convnext_is_torchvisions_scheme(write_spec):
    """torchvision ConvNeXt.__init__ runs this loop after building the whole model."""
    ours = _build(write_spec, "  convnext")
    torch.manual_seed(0)
    ref = _tiny_reference()
    for m in ref.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    _assert_same_weights(ours, ref.state_dict())


def test_schemes_are_checked_like_a_specs_rules():
    schemes = init_rules.schemes()
    assert tuple(schemes) == SCHEME_NAMES
    assert schemes["pytorch"][1] == ()
    assert schemes["squeezenet"][1][0].last


# --------------------------------------------------------------------------- per-row rules
MLP = """\
name: Mlp
input: [768]
layers:
  - name: mlp
    init:
      - ops: [linear]
        weight: xavier_uniform
        bias: {normal: {std: 1e-6}}
    seq:
      - {op: linear, c: 3072}
      - {op: act, fn: gelu}
      - {op: dropout, p: 0.0}
      - {op: linear, c: 768}
      - {op: dropout, p: 0.0}
  - {op: linear, name: head, c: 10}
"""


def test_row_rules_reproduce_torchvisions_vit_mlp_block(write_spec):
    vit = pytest.importorskip("torchvision.models.vision_transformer")
    torch.manual_seed(0)
    ref = vit.MLPBlock(768, 3072, 0.0)
    head = nn.Linear(768, 10)  # built after the block re-initialised its Linears
    torch.manual_seed(0)
    ours = archc.build_model(write_spec(MLP)).state_dict()
    for key, value in ref.state_dict().items():
        assert torch.equal(ours[f"mlp.{key}"], value), key
    assert torch.equal(ours["head.weight"], head.weight)
    source = archc.generate(write_spec(MLP))
    assert "        for m in self.mlp.modules():\n" in source


def test_row_rules_in_a_block_body_run_in_the_blocks_init(write_spec):
    text = """\
name: Net
input: [16]
blocks:
  mlp:
    params: {hidden: {type: int}}
    body:
      - op: linear
        name: fc1
        c: hidden
        init: [{ops: [linear], weight: xavier_uniform, bias: {normal: {std: 1e-6}}}]
      - {op: act, fn: gelu}
      - {op: linear, name: fc2, c: in_channels}
layers:
  - {op: mlp, name: block, hidden: 32}
"""
    path = write_spec(text)
    source = archc.generate(path)
    cls = source.split("class Mlp(nn.Module):")[1].split("def forward")[0]
    assert "for m in self.fc1.modules():" in cls
    torch.manual_seed(0)
    ours = archc.build_model(path).state_dict()
    torch.manual_seed(0)
    fc1 = nn.Linear(16, 32)
    nn.init.xavier_uniform_(fc1.weight)
    nn.init.normal_(fc1.bias, std=1e-6)
    fc2 = nn.Linear(32, 16)
    for key, value in {"fc1.weight": fc1.weight, "fc1.bias": fc1.bias,
                       "fc2.weight": fc2.weight}.items():
        assert torch.equal(ours[f"block.{key}"], value), key


# --------------------------------------------------------------------------- errors
def _error(write_spec, text: str):
    with pytest.raises(SpecError) as err:
        archc.compile_spec(write_spec(text))
    return err.value.diagnostics


@pytest.mark.parametrize("rules, code, where, words", [
    ("  - {ops: [conv], weight: xavier_unifrom}", "E252", "init[0].weight",
     "did you mean 'xavier_uniform'"),
    ("  - {ops: [conv], weight: {normal: {stdev: 1}}}", "E253", "init[0].weight.normal.stdev",
     "did you mean 'std'"),
    ("  - {ops: [conv], weight: {normal: {std: -1}}}", "E253", "init[0].weight.normal.std",
     "at least 0"),
    ("  - {ops: [conv], weight: {kaiming_normal: {mode: fan_middle}}}", "E253",
     "init[0].weight.kaiming_normal.mode", "fan_in, fan_out"),
    ("  - {ops: [conv], weight: {kaiming_normal: {mode: 'fan_in\"); import os #'}}}", "E253",
     "init[0].weight.kaiming_normal.mode", "must be one of"),
    ("  - {ops: [conv], bias: {constant: {}}}", "E253", "init[0].bias.constant",
     "needs 'value'"),
    ("  - {ops: [convv], weight: zeros}", "E250", "init[0].ops[0]", "did you mean 'conv'"),
    ("  - {ops: [linear], weight: goog_normal}", "E253", "init[0].weight",
     "conv modules only"),
    ("  - {ops: [conv], weight: {normal: {std: 1 / dimm}}}", "E213",
     "init[0].weight.normal.std", "unknown name 'dimm'"),
    ("  - {ops: [conv], weight: {normal: {std: 1, mean: 0}, ones: {}}}", "E252",
     "init[0].weight", "one name"),
    ("  - {ops: [conv]}", "E251", "init[0]", "'weight', 'bias' or both"),
])
def test_bad_rules_are_located_errors(rules, code, where, words, write_spec):
    diags = _error(write_spec, TINY.format(init=rules))
    assert [(d.code, d.spec_path) for d in diags] == [(code, where)], diags
    assert words in diags[0].message + (diags[0].hint or "")
    assert diags[0].line == 4


def test_row_rules_only_where_a_statement_builds_the_row(write_spec):
    text = """\
name: Net
input: [3, 8, 8]
layers:
  - name: features
    seq:
      - {op: conv, c: 4, k: 3, init: [{ops: [conv], weight: zeros}]}
  - {op: global_avg_pool, init: [{ops: [conv], weight: zeros}]}
"""
    diags = _error(write_spec, text)
    assert [(d.code, d.spec_path, d.line) for d in diags] == [
        ("E255", "layers[0].seq[0].init", 6), ("E255", "layers[1].init", 7)]
    assert "put it on the group" in diags[0].message
    assert "no weights" in diags[1].message


def test_rule_loops_are_ruff_clean(write_spec, tmp_path):
    """A last rule, several ops, a bias-only row rule: the loops pass ruff like every module."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff not installed")
    text = TINY.format(init="  - {ops: [conv], last: true, weight: {xavier_uniform: {gain: 2}}}\n"
                       "  - {ops: [conv, linear], weight: {trunc_normal: {std: 0.02}}}\n"
                       "  - {ops: [linear], last: true, weight: zeros, bias: ones}")
    text = text.replace("name: conv, c: 4", "name: conv, init: [{ops: [conv], bias: ones}], c: 4")
    out = tmp_path / "tiny.py"
    out.write_text(archc.generate(write_spec(text)), encoding="utf-8")
    assert "if isinstance(m, nn.Conv2d) and m.bias is not None:" in out.read_text()
    for args in (["format", "--isolated", "--check"], ["check", "--isolated"]):
        run = subprocess.run([ruff, *args, str(out)], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def test_the_docs_example_prints_the_loop_the_docs_show(write_spec):
    """docs/spec-language.md's rule example compiles (test_docs) and generates the loop shown."""
    import re

    from .conftest import ROOT

    doc = (ROOT / "docs" / "spec-language.md").read_text(encoding="utf-8")
    section = doc.split("## Weight initialisation\n")[1].split("\n## ")[0]
    spec = re.search(r"```yaml\n(name: TinyViTHead.*?)```", section, re.S).group(1)
    shown = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    source = archc.generate(write_spec(spec))
    assert shown in source
    assert f"nn.init.trunc_normal_(m.weight, std={math.sqrt(1 / 64)!r})" in source


def test_row_rules_on_a_stage_and_a_conditional_block_row(write_spec):
    """A named row with n repeats (a stage: its rules see every repeat, 'last' the last conv
    of the stage) and a block row under 'when' (its rules run only where it is built)."""
    text = """\
name: Stage
input: [3, 16, 16]
blocks:
  unit:
    params: {c: {type: int}, se: {type: bool, default: false}}
    body:
      - {op: conv, name: conv, c: c, k: 3, init: [{ops: [conv], weight: zeros}]}
      - {op: conv, name: extra, c: c, k: 1, when: se, init: [{ops: [conv], weight: ones}]}
layers:
  - {op: unit, name: layer1, c: 8, n: 2, init: [{ops: [conv], last: true, weight: ones}]}
  - {op: unit, name: layer2, c: 8, se: true}
"""
    path = write_spec(text)
    source = archc.generate(path)
    assert "# c=8, n=2\n" in source  # the rules are no paper column
    model = archc.build_model(path)
    assert not model.layer1[0].conv.weight.any()
    assert bool((model.layer1[1].conv.weight == 1).all())  # the stage's last conv
    assert bool((model.layer2.extra.weight == 1).all()) and not model.layer2.conv.weight.any()
