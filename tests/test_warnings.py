"""Warnings a spec earns without being wrong: located, printed by `check`, failing nothing.
W002: a width multiplier that scales no column; W003: an input written channels-last."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

import archc

from .conftest import SPECS

# Every channel column is an expression that does not read `width`: scaling.width changes
# nothing here, which a user who set it would not expect.
FIXED = """\
name: Fixed
input: [3, 32, 32]
params: {c1: 16}
scaling:
  width: 0.5
layers:
  - {name: stem, op: conv_norm_act, c: c1, s: 2}
  - {name: conv, op: conv_norm_act, c: "2 * c1"}
  - {op: global_avg_pool}
  - {op: flatten}
  - {name: fc, op: linear, c: 10}
"""


def _codes(model) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.line, d.column, d.severity) for d in model.warnings]


def test_a_width_that_scales_no_column_is_a_located_warning(write_spec):
    model = archc.compile_spec(str(write_spec(FIXED)))
    assert _codes(model) == [("W002", 5, 10, "warning")]
    (diag,) = model.warnings
    assert diag.spec_path == "scaling.width" and "0.5" in diag.message


def test_a_width_set_from_the_command_line_that_scales_nothing_warns(write_spec):
    path = write_spec(FIXED.replace("  width: 0.5\n", "  depth: 1.0\n"))
    assert archc.compile_spec(str(path)).warnings == ()  # width 1: nothing asked, nothing said
    model = archc.compile_spec(str(path), overrides=["scaling.width=2"])
    assert [d.code for d in model.warnings] == ["W002"]


@pytest.mark.parametrize("column", ['c: 16', 'c: "make_divisible(16 * width)"'])
def test_a_width_that_scales_a_number_or_is_read_by_an_expression_is_quiet(write_spec, column):
    """A number in a channel column is scaled; an expression reading `width` uses it."""
    model = archc.compile_spec(str(write_spec(FIXED.replace("c: c1, s: 2", column + ", s: 2"))))
    assert model.warnings == ()


def test_a_width_read_inside_a_group_is_quiet(write_spec):
    text = FIXED.replace("  - {name: stem, op: conv_norm_act, c: c1, s: 2}\n",
                         "  - name: stem\n    seq:\n      - {op: conv_norm_act, c: 8, s: 2}\n")
    assert archc.compile_spec(str(write_spec(text))).warnings == ()


@pytest.mark.parametrize("shape", [[224, 224, 3], [32, 32, 3], [28, 28, 1]])
def test_a_channels_last_input_is_a_located_warning(write_spec, shape):
    text = FIXED.replace("input: [3, 32, 32]", f"input: {shape}").replace("width: 0.5",
                                                                          "width: 1.0")
    model = archc.compile_spec(str(write_spec(text)))
    assert _codes(model) == [("W003", 2, 8, "warning")]
    (diag,) = model.warnings
    assert diag.spec_path == "input" and f"{shape[0]} input channels" in diag.message
    assert diag.hint.startswith("input is [C, H, W]")
    assert f"[{shape[2]}, {shape[0]}, {shape[1]}]" in diag.hint


@pytest.mark.parametrize("shape", [[3, 224, 224], [1, 28, 28], [64, 56, 56], [4, 8, 8]])
def test_a_channels_first_input_is_quiet(write_spec, shape):
    text = FIXED.replace("input: [3, 32, 32]", f"input: {shape}").replace("width: 0.5",
                                                                          "width: 1.0")
    assert archc.compile_spec(str(write_spec(text))).warnings == ()


def test_check_prints_both_warnings_and_passes(write_spec, cli):
    path = write_spec(FIXED.replace("input: [3, 32, 32]", "input: [32, 32, 3]"))
    code, out, err = cli("check", str(path))
    assert code == 0 and f"{path}: ok" in out
    assert f"{path}:5:10: warning[W002]: " in err
    assert f"{path}:2:8: warning[W003]: " in err and "input is [C, H, W]" in err


def test_committed_specs_warn_at_their_own_widths_and_at_another():
    """No committed spec earns either warning, and every one with channel columns follows a
    width set from the command line (a spec whose width did nothing would warn here)."""
    for path in sorted(glob.glob(str(SPECS / "*.yaml"))):
        assert archc.compile_spec(path).warnings == (), path
        model = archc.compile_spec(path, overrides=["scaling.width=0.5"])
        # a ViT's widths are its params (hidden, mlp): a width multiplier rightly warns
        expected = ["W002"] if Path(path).stem.startswith("vit_") else []
        assert [d.code for d in model.warnings if d.code != "W001"] == expected, path
