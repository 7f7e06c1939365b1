"""Variants: ``patch:`` by module path (``features.17``) and by spec path (``layers.0.seq.7``),
and ``--set`` into lists (issue 11). Every error is located at the patch key in the child spec
or names the override, exit 1, never an internal error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archc import SpecError
from archc.api import compile_spec

ROOT = Path(__file__).resolve().parent.parent
HEADER = r"^{file}:(\d+):(\d+): error\[{code}\]: "


@pytest.fixture
def variant(tmp_path):
    """Write a child of a copy of specs/mobilenet_v2.yaml (the spec root is tmp_path)."""
    shutil.copy(ROOT / "specs" / "mobilenet_v2.yaml", tmp_path / "mobilenet_v2.yaml")

    def write(patch: str) -> Path:
        path = tmp_path / "child.yaml"
        path.write_text(f"extends: mobilenet_v2.yaml\nname: Child\npatch:\n{patch}",
                        encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="module")
def t4_params() -> int:
    """torchvision's mobilenet_v2 with features[17] rebuilt with expand ratio 4: an independent
    count for the row 't=6, c=320, n=1, s=1' patched to t=4."""
    torchvision = pytest.importorskip("torchvision")
    from torchvision.models.mobilenetv2 import InvertedResidual

    model = torchvision.models.mobilenet_v2()
    model.features[17] = InvertedResidual(160, 320, 1, expand_ratio=4)
    return sum(p.numel() for p in model.parameters())


def _error(path: Path, overrides=None):
    with pytest.raises(SpecError) as exc:
        compile_spec(path, overrides=overrides)
    return exc.value.diagnostics


# ----------------------------------------------------------------------------- working forms

def test_patch_by_module_path_gives_torchvisions_count(variant, t4_params):
    model = compile_spec(variant("  features.17: {t: 4}\n"))
    assert model.params == t4_params != compile_spec(ROOT / "specs" / "mobilenet_v2.yaml").params


def test_patch_by_spec_path_gives_the_same_count(variant, t4_params):
    assert compile_spec(variant("  layers.0.seq.7: {t: 4}\n")).params == t4_params


def test_set_reaches_into_lists(t4_params):
    model = compile_spec(ROOT / "specs" / "mobilenet_v2.yaml", overrides=["layers.0.seq.7.t=4"])
    assert model.params == t4_params


def test_patch_by_module_path_keeps_the_patch_position(variant):
    """A bad value given by a module-path patch is reported at that value in the child."""
    diags = _error(variant("  features.17: {t: -1}\n"))
    assert diags[0].file.endswith("child.yaml") and diags[0].line == 4


def test_module_path_to_a_whole_group_and_by_name_still_work(variant):
    model = compile_spec(variant("  classifier: {seq: [{op: linear, c: 10}]}\n"))
    assert model.output_shape[-1] == 10


def test_module_paths_are_those_of_the_base(variant):
    """Two patches in one file address the base's numbering, whatever the first changed."""
    path = variant("  features.1: {n: 2}\n  features.17: {t: 4}\n")
    model = compile_spec(path)
    rows = [n for n in model.graph.node("features").body.nodes()]
    assert rows[18].args["t"] == 4 and len(rows) == 20


# ----------------------------------------------------------------------------- errors

def _located_at_patch_key(diags, line=4):
    d = diags[0]
    assert d.file.endswith("child.yaml") and d.code == "E604", d
    assert (d.line, d.column) == (line, 3), d
    return d.message + " " + (d.hint or "")


def test_module_index_inside_a_repeated_row(variant):
    text = _located_at_patch_key(_error(variant("  features.5: {t: 4}\n")))
    assert "layers.0.seq.3" in text and "n: 3" in text and "repeat" in text


def test_module_index_out_of_range(variant):
    text = _located_at_patch_key(_error(variant("  features.99: {t: 4}\n")))
    assert "index 99 out of range" in text and "19" in text


def test_module_path_into_a_block(variant):
    text = _located_at_patch_key(_error(variant("  features.17.conv: {t: 4}\n")))
    assert "inverted_residual" in text and "layers.0.seq.7" in text


def test_module_path_names_no_row(variant):
    text = _located_at_patch_key(_error(variant("  featurse.17: {t: 4}\n")))
    assert "featurse" in text and "features" in text


def test_spec_path_out_of_range(variant):
    text = _located_at_patch_key(_error(variant("  layers.0.seq.99: {t: 4}\n")))
    assert "index 99 out of range (9 rows)" in text


def test_spec_path_not_a_list(variant):
    text = _located_at_patch_key(_error(variant("  layers.1.seq.0: {c: 4}\n")))
    assert "layers.1" in text and "no 'seq'" in text


def test_spec_path_not_an_index(variant):
    text = _located_at_patch_key(_error(variant("  layers.first: {c: 4}\n")))
    assert "'first' is not an index" in text


def test_spec_path_that_is_no_row(variant):
    text = _located_at_patch_key(_error(variant("  layers.0.seq.7.t: {c: 4}\n")))
    assert "layers.0.seq.7.t" in text and "row" in text


def test_patch_errors_are_all_reported(variant):
    diags = _error(variant("  features.99: {t: 4}\n  features.5: {t: 4}\n"))
    assert [d.line for d in diags] == [4, 5]
    assert "out of range" in diags[0].message and "repeat 2" in diags[1].message


@pytest.mark.parametrize("key, wanted", [
    ("layers.0.seq.99.t", "--set layers.0.seq.99.t=4: index 99 out of range (9 rows)"),
    ("layers.x.t", "--set layers.x.t=4: 'x' is not an index"),
    ("layers.-1.t", "--set layers.-1.t=4: '-1' is not an index"),
    ("name.first", "--set name.first=4: name is a string, not a mapping or a list"),
])
def test_set_errors_name_the_override(key, wanted):
    diags = _error(ROOT / "specs" / "mobilenet_v2.yaml", overrides=[f"{key}=4"])
    assert diags[0].message.startswith(wanted) and diags[0].code == "E605", diags[0]


def test_cli_reports_patch_errors_located(variant, cli):
    path = variant("  features.5: {t: 4}\n  layers.0.seq.99: {t: 4}\n")
    code, _, err = cli("check", str(path))
    assert code == 1 and "Traceback" not in err and "internal error" not in err
    assert err.count("error[E604]") == 2 and f"{path}:4:3:" in err and f"{path}:5:3:" in err
    assert "one repeat cannot be patched alone" in err


def test_cli_set_error(cli):
    code, _, err = cli("check", str(ROOT / "specs" / "mobilenet_v2.yaml"),
                       "--set", "layers.0.seq.99.t=4")
    assert code == 1 and "index 99 out of range (9 rows)" in err and "expected a list" not in err


def test_docs_patch_example_compiles(tmp_path, t4_params):
    """The variant example of docs/spec-language.md is real: it gives torchvision's count."""
    import re

    doc = (ROOT / "docs" / "spec-language.md").read_text(encoding="utf-8")
    example = next(b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S)
                   if "extends: mobilenet_v2.yaml" in b and "features.17" in b)
    shutil.copy(ROOT / "specs" / "mobilenet_v2.yaml", tmp_path / "mobilenet_v2.yaml")
    (tmp_path / "child.yaml").write_text(example, encoding="utf-8")
    assert compile_spec(tmp_path / "child.yaml").params == t4_params


@pytest.mark.parametrize(("value", "ok"), [
    ("1x64x64", True), ("[1, 64, 64]", True), ("abc", False), ("1x0x64", False),
    ("[1, 64, 64, 2]", False), ("true", False)])
def test_set_input_takes_the_input_flags_form_and_errors_name_the_override(cli, value, ok):
    """Was: `--set input=3x32x32` (the form --input takes) failed with "expected a list"
    blamed on the base file's line."""
    from .conftest import SPECS

    code, out, err = cli("check", str(SPECS / "lenet5.yaml"), "--set", f"input={value}")
    if ok:
        assert code == 0, err
        assert "868,106 params" in out  # LeNet-5's linear layer grows with a 64x64 input
    else:
        assert code == 1
        assert f"error[E605]: --set input={value}: expected [C, H, W] or CxHxW" in err, err


def test_a_bad_set_value_names_the_override(cli):
    """Was: `--set scaling.width=abc` was blamed on the base file's `scaling:` line alone."""
    from .conftest import SPECS

    code, _, err = cli("check", str(SPECS / "mobilenet_v2.yaml"), "--set", "scaling.width=abc")
    assert code == 1
    assert "error[E103]: --set scaling.width=abc: expected a number" in err, err
