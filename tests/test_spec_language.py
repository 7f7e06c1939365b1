"""Spec-language features: variants (extends/patch/--set), scaling, inline and user-defined
blocks, the JSON Schema and diff."""

from __future__ import annotations

import json

import pytest

import archc
from archc.diagnostics import SpecError

from .conftest import ROOT, SPECS


def test_variant_files_are_short_and_extend_their_bases():
    for name, base in [("mobilenet_v2_x0_5", "mobilenet_v2"), ("mobilenet_v2_x1_4",
                                                                "mobilenet_v2"),
                       ("resnet101", "resnet50"), ("resnet152", "resnet50"),
                       ("vgg16_bn", "vgg16"), *[(f"efficientnet_b{i}", "efficientnet_b0")
                                                for i in range(1, 8)]]:
        text = (SPECS / f"{name}.yaml").read_text()
        assert f"extends: {base}.yaml" in text
        assert len([ln for ln in text.splitlines() if ln.strip()]) <= 12, name


def test_extends_merges_and_patch_edits_rows_by_name(write_spec, tmp_path):
    (tmp_path / "base.yaml").write_text(
        "name: Base\ninput: [3, 32, 32]\nparams: {classes: 10}\nlayers:\n"
        "  - {name: stage, op: basic_block, c: 16, n: 2, s: 1}\n"
        "  - {op: global_avg_pool}\n  - {op: flatten}\n  - {name: fc, op: linear, c: classes}\n")
    child = write_spec("extends: base.yaml\nname: Child\nparams: {classes: 5}\n"
                       "patch:\n  stage: {n: 3, c: 8}\n", "child.yaml")
    model = archc.compile_spec(child)
    assert model.name == "Child" and model.output_shape == (5,)
    stage = model.graph.nodes()[0]
    assert len(stage.body.nodes()) == 3 and stage.out_shape == (8, 32, 32)


def test_extends_errors_point_at_the_right_file(write_spec, tmp_path):
    (tmp_path / "base.yaml").write_text(
        "name: Base\ninput: [3, 32, 32]\nlayers:\n  - {name: conv, op: conv, c: 0, k: 3}\n")
    child = write_spec("extends: base.yaml\nname: Child\n", "child.yaml")
    with pytest.raises(SpecError) as exc:
        archc.compile_spec(child)
    d = exc.value.diagnostics[0]
    assert d.file.endswith("base.yaml") and (d.line, d.column) == (4, 31)
    cyc = write_spec("extends: cyc.yaml\nname: Cyc\n", "cyc.yaml")
    with pytest.raises(SpecError, match="cycle"):
        archc.compile_spec(cyc)
    missing = write_spec("extends: nope.yaml\n", "missing.yaml")
    with pytest.raises(SpecError, match="base spec not found") as exc:
        archc.compile_spec(missing)
    assert exc.value.line == 1 and exc.value.column == 10
    bad_patch = write_spec("extends: base.yaml\npatch: {cnov: {c: 8}}\n", "patch.yaml")
    with pytest.raises(SpecError, match="patch names no row") as exc:
        archc.compile_spec(bad_patch)
    assert exc.value.diagnostics[0].hint == "did you mean 'conv'?"


def test_set_overrides_params_and_dotted_keys(cli):
    code, out, _ = cli("summary", str(SPECS / "mobilenet_v2.yaml"), "--json",
                       "--set", "num_classes=10", "--set", "scaling.width=0.5")
    data = json.loads(out)
    assert code == 0 and data["output_shape"] == [10]
    assert data["params"] == 1_968_680 - 1281 * 990  # torchvision width 0.5, 10 classes


def test_scaling_rounds_like_the_references():
    model = archc.compile_spec(SPECS / "efficientnet_b4.yaml")
    stages = model.graph.nodes()[0].body.nodes()
    assert [len(s.body.nodes()) for s in stages[1:8]] == [2, 4, 4, 6, 6, 8, 2]  # ceil(n * 1.8)
    assert stages[0].out_shape[0] == 48  # make_divisible(32 * 1.4, 8)


GATED = """\
name: Tiny
input: [3, 16, 16]
blocks:
  gated:
    doc: A gated residual unit.
    params:
      c: {type: int, py: out_channels}
      e: {type: float, default: 2.0, py: expansion}
    let:
      hidden: round(in_channels * e)
      skip: in_channels == c
    body:
      - {name: expand, op: conv, c: hidden, k: 1, when: e != 1}
      - {name: mix, op: conv, c: c, k: 3}
      - {name: gate, op: conv, c: c, k: 1, from: input}
      - {name: sig, op: act, fn: sigmoid}
      - {name: gated, op: mul, from: [mix, sig]}
      - {op: add, from: [input, gated], when: skip}
layers:
  - {name: a, op: gated, c: 8}
  - {name: b, op: gated, c: 8, e: 1}
"""


def test_user_defined_block_with_let_when_and_branches(write_spec):
    path = write_spec(GATED)
    model = archc.compile_spec(path)
    a, b = model.graph.nodes()
    assert [n.name for n in a.body.nodes() if n.name] == ["expand", "mix", "gate", "sig",
                                                          "gated"]
    assert [n.name for n in b.body.nodes() if n.name] == ["mix", "gate", "sig", "gated"]
    assert a.params == 3 * 6 + 6 + 6 * 8 * 9 + 8 + 3 * 8 + 8
    source = archc.generate(path)
    assert source.count("class Gated(nn.Module):") == 1
    assert "hidden = round(in_channels * expansion)" in source


def test_user_block_generated_and_live_agree(write_spec, tmp_path):
    torch = pytest.importorskip("torch")
    from .conftest import import_file

    path = write_spec(GATED + "  - {name: c, op: gated, c: 8, e: 3}\n", "tiny.yaml")
    live = archc.build_model(path).eval()
    target = tmp_path / "tiny.py"
    target.write_text(archc.generate(path))
    gen = import_file(target).tiny().eval()
    gen.load_state_dict(live.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(gen(x), live(x))


def test_schema_is_committed_fresh_and_validates_every_spec():
    jsonschema = pytest.importorskip("jsonschema")
    from archc.frontend.loader import load_file
    from archc.frontend.schema import json_schema, schema_text

    committed = ROOT / "schema" / "archc.schema.json"
    assert committed.read_text() == schema_text(), "run: archc schema > schema/archc.schema.json"
    validator = jsonschema.Draft202012Validator(json_schema())
    jsonschema.Draft202012Validator.check_schema(json_schema())
    for spec in sorted(SPECS.glob("*.yaml")):
        text = spec.read_text()
        assert text.startswith("# yaml-language-server: $schema=../schema/archc.schema.json")
        errors = list(validator.iter_errors(load_file(spec).data))
        assert not errors, (spec.name, errors[0].message)
    bad = {"name": "X", "input": [3, 8, 8], "layers": [{"name": "c", "op": "conv", "c": 8,
                                                        "k": 3, "stride": 2}]}
    assert any("stride" in e.message for e in validator.iter_errors(bad))


def test_diff_reports_rows_and_totals(cli):
    code, out, _ = cli("diff", str(SPECS / "resnet50.yaml"), str(SPECS / "resnet101.yaml"))
    assert code == 0
    assert "+ layer3.22 (bottleneck) (N, 1024, 14, 14)" in out
    assert "params  25,557,032 -> 44,549,160" in out
    code, out, _ = cli("diff", str(SPECS / "vgg16.yaml"), str(SPECS / "vgg16_bn.yaml"),
                       "--json")
    data = json.loads(out)
    assert data["params"] == [138_357_544, 138_365_992]
    assert {r["change"] for r in data["rows"]} == {"added", "changed"}


def test_ops_lists_library_blocks(cli):
    code, out, _ = cli("ops")
    assert code == 0 and "inverted_residual  (block)" in out and "    t: float, required" in out


MATHY = """\
name: Mathy
input: [3, 16, 16]
params:
  wm: 2.5
blocks:
  widen:
    params:
      c: {type: int, py: out_channels}
    let:
      hidden: int(round(sqrt(in_channels * c) + log2(c)))
    body:
      - {name: expand, op: conv, c: hidden, k: 1}
      - {name: project, op: conv, c: c, k: 1}
layers:
  - {name: stem, op: conv, c: "int(round(pow(wm, 2) * exp(0) * log(8, 2)))", k: 3}
  - {name: body, op: widen, c: 16}
"""


def test_math_functions_in_a_spec_generate_and_run(write_spec, tmp_path):
    torch = pytest.importorskip("torch")
    from .conftest import import_file

    path = write_spec(MATHY, "mathy.yaml")
    stem, body = archc.compile_spec(path).graph.nodes()
    assert stem.out_shape[0] == 19  # round(2.5 ** 2 * 1 * 3)
    expand = next(n for n in body.body.nodes() if n.name == "expand")
    assert expand.out_shape[0] == 21  # round(sqrt(19 * 16) + log2(16)) = round(17.44 + 4)
    source = archc.generate(path)
    assert "import math" in source and "math.sqrt(" in source and "math.log2(" in source
    target = tmp_path / "mathy.py"
    target.write_text(source)
    gen = import_file(target).mathy().eval()
    live = archc.build_model(path).eval()
    gen.load_state_dict(live.state_dict(), strict=True)
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(gen(x), live(x))


NORMED = """\
name: Normed
input: [3, 16, 16]
params:
  bn_decay: 0.9997
norm: {eps: "1e-3 * 1", momentum: 1 - bn_decay}
layers:
  - {name: conv, op: conv, c: 8, k: 3}
  - {name: bn, op: batch_norm}
"""


def test_norm_defaults_take_expressions(write_spec, cli):
    path = write_spec(NORMED)
    bn = archc.compile_spec(path).graph.nodes()[1]
    assert (bn.args["eps"], bn.args["momentum"]) == (0.001, 1 - 0.9997)  # MNASNet's momentum
    assert "eps=0.001, momentum=0.00029999999999996696" in archc.generate(path)
    code, _, _ = cli("check", str(path), "--set", "params.bn_decay=0.99")
    assert code == 0
    bad = write_spec(NORMED.replace('"1e-3 * 1"', '"1 - 1"').replace("- bn_decay", "+ bn_decy")
                     .replace("momentum:", "momentum: 2 *"), "bad.yaml")
    code, _, err = cli("check", str(bad))
    assert code == 1 and "Traceback" not in err
    assert "bad.yaml:5:13: error[E211]: norm.eps must be a finite number greater than 0; " \
        "'1 - 1' gives 0" in err
    assert "bad.yaml:5:32: error[E213]: unknown name 'bn_decy'" in err
    assert "did you mean 'bn_decay'?" in err
    code, _, err = cli("check", str(write_spec(NORMED.replace("1 - bn_decay", "1 + bn_decay"),
                                               "big.yaml")))
    assert code == 1 and "big.yaml:5:35: error[E211]: norm.momentum must be a finite number " \
        "between 0 and 1; '1 + bn_decay' gives 1.9997" in err
    code, _, err = cli("check", str(write_spec(NORMED.replace('"1e-3 * 1"', '"sqrt(-1)"'),
                                               "dom.yaml")))
    assert code == 1 and "dom.yaml:5:13: error[E212]: in expression 'sqrt(-1)': sqrt() of -1" \
        in err


SUGGEST = """\
name: Suggest
input: [3, 16, 16]
blocks:
  blk:
    params:
      x: {type: int}
    let:
      torch: 2
    body:
      - {name: out, op: conv, c: 8, k: 1}
layers:
  - {name: x, op: conv, c: 8, k: 3}
  - {name: gn, op: group_norm}
  - {name: bn, op: batch_nrom}
"""


def test_op_hints_are_typos_only_and_reserved_names_say_why(write_spec, cli):
    code, _, err = cli("check", str(write_spec(SUGGEST)))
    assert code == 1
    group_norm = err.split("unknown op 'group_norm'")[1].split("unknown op 'batch_nrom'")[0]
    assert "did you mean" not in group_norm  # batch_norm would build a different model
    assert "group_norm (GroupNorm) is not an archc op yet" in err
    assert "unknown op 'batch_nrom'" in err and "did you mean 'batch_norm'?" in err
    assert "'x' cannot be a parameter name: 'x' is the input variable of forward()" in err
    assert "'torch' cannot be a 'let' name: the generated module imports torch" in err
    assert "'out' is reserved: 'out' is the running output variable of forward()" in err
    assert "'x' is reserved: 'x' is the input variable of forward()" in err
