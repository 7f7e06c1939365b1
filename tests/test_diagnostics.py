"""Broken specs give located diagnostics (text and JSON), exit 1, and write nothing.

Each case in golden/diagnostics/cases has golden outputs beside it; refresh them with
ARCHC_UPDATE_GOLDEN=1 after an intended change, and read the diff."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, golden

CASES_DIR = ROOT / "tests" / "golden" / "diagnostics" / "cases"
CASES = sorted(CASES_DIR.glob("*.yaml"))
HEADER = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): error\[E\d{3}\]: .+$",
                    re.MULTILINE)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_text_diagnostics(case: Path, cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    rel = case.relative_to(ROOT).as_posix()
    code, out, err = cli("check", rel)
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    headers = HEADER.findall(err)
    assert headers, err
    assert all(m.group("path") == rel for m in HEADER.finditer(err))
    golden(case.with_suffix(".txt"), err)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_json_diagnostics(case: Path, cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    rel = case.relative_to(ROOT).as_posix()
    code, out, err = cli("check", rel, "--format", "json")
    assert code == 1 and err == ""
    data = json.loads(out)
    assert data and all(d["file"] == rel and d["line"] >= 1 and d["column"] >= 1 for d in data)
    golden(case.with_suffix(".json"), out)


def test_all_errors_of_a_file_are_reported(write_spec, cli):
    path = write_spec("name: X\ninput: [3, 32, 32]\nlayers:\n"
                      "  - {name: a, op: conv, c: 0, k: 3}\n"
                      "  - {name: b, op: conv, c: 8, k: 3, strid: 1}\n"
                      "  - {name: c, op: convv, c: 8}\n")
    code, _, err = cli("check", str(path))
    assert code == 1
    assert [int(m.group("line")) for m in HEADER.finditer(err)] == [4, 5, 6]


def test_build_writes_nothing_when_any_spec_fails(tmp_path, cli):
    good = ROOT / "specs" / "mobilenet_v2.yaml"
    bad = CASES_DIR / "channels_zero.yaml"
    out = tmp_path / "out"
    code, _, err = cli("build", str(good), str(bad), "-o", str(out))
    assert code == 1 and "error[" in err
    assert not out.exists() or not any(out.iterdir())


def test_subprocess_exit_code_and_no_traceback():
    case = CASES_DIR / "shrinks_below_one.yaml"
    result = subprocess.run([sys.executable, "-m", "archc", "check", str(case)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "error[" in result.stderr


def test_shrinking_names_the_row(cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    _, _, err = cli("check", "tests/golden/diagnostics/cases/shrinks_below_one.yaml")
    assert ":9:" in err.splitlines()[0] and "features.6 (conv)" in err and "1x1 shrinks to 0x0" in err


def test_input_size_mismatch_names_both(cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    _, _, err = cli("check", "tests/golden/diagnostics/cases/input_size_mismatch.yaml")
    assert "[16, 32, 32]" in err and "[16, 16, 16]" in err


def test_a_comma_in_a_flow_mapping_expression_hints_to_quote_it(cli, write_spec):
    """Was: `unknown column '4)'` and `'(' was never closed`, with no word on the cause (a
    comma ends a column inside {...})."""
    path = write_spec("name: Flow\ninput: [3, 8, 8]\nparams: {r: 0.5}\nlayers:\n"
                      "  - {name: a, op: conv, c: make_divisible(32 * r, 4), k: 3}\n")
    code, _, err = cli("check", str(path))
    assert code == 1
    hint = 'hint: a comma inside {...} ends a column: quote the expression, ' \
           'c: "make_divisible(32 * r, 4)"'
    assert err.count(hint) == 2, err  # at the cut expression and at the bogus column
    assert "unknown column '4)'" in err


def test_a_misindented_line_gets_an_indentation_hint(cli, write_spec):
    """Was: PyYAML's raw "did not find expected '-' indicator" with no hint."""
    path = write_spec("name: Bad\ninput: [3, 8, 8]\nlayers:\n  - {name: a, op: conv, c: 4, k: 3}\n"
                      "   - {name: b, op: conv, c: 4, k: 3}\n")
    code, _, err = cli("check", str(path))
    assert code == 1 and ":5:4: error[E001]" in err
    assert "hint: check the indentation: this line starts at column 4, the line above (4) at " \
           "column 3" in err, err
