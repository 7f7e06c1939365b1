"""The command line: exit codes, outputs, and no torch import for check/build/summary."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from .conftest import ROOT, SPECS

MNV2 = str(SPECS / "mobilenet_v2.yaml")


def test_check_ok(cli):
    code, out, err = cli("check", MNV2)
    assert code == 0 and "ok" in out and err == ""


def test_summary_json_reports_exact_counts(cli):
    code, out, _ = cli("summary", MNV2, "--json")
    data = json.loads(out)
    assert code == 0
    assert data["name"] == "MobileNetV2"
    assert data["params"] == 3_504_872 and data["macs"] == 300_774_272
    assert data["input_shape"] == [3, 224, 224] and data["output_shape"] == [1000]
    rows = data["rows"]
    assert rows[2]["name"] == "features.2" and rows[2]["columns"] == {
        "t": 6, "c": 24, "n": 2, "s": 2}
    assert rows[2]["output_shape"] == [24, 56, 56]
    assert sum(r["params"] for r in rows) == data["params"]
    assert sum(r["macs"] for r in rows) == data["macs"]


def test_summary_text(cli):
    code, out, _ = cli("summary", MNV2)
    assert code == 0
    assert "3,504,872" in out and "300,774,272" in out and "features.18" in out


def test_build_writes_module(cli, tmp_path):
    code, out, _ = cli("build", MNV2, "-o", str(tmp_path))
    assert code == 0
    assert (tmp_path / "mobilenet_v2.py").exists()


def test_usage_errors_exit_2(cli):
    with pytest.raises(SystemExit) as exc:
        cli("frobnicate")
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli("check")
    assert exc.value.code == 2


def test_missing_file_is_a_located_usage_error(cli, tmp_path):
    """A SPEC argument that cannot be read is a usage problem (exit 2), not a spec error; with
    a real spec error beside it, the spec error decides (exit 1)."""
    code, _, err = cli("check", str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml:1:1: error[E006]: cannot read spec" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad\ninput: [3, 8, 8]\nlayers:\n  - {op: nope}\n", encoding="utf-8")
    code, _, err = cli("check", str(tmp_path / "nope.yaml"), str(bad))
    assert code == 1


def test_missing_tools_and_extras_exit_4(cli, monkeypatch, tmp_path):
    """Was: a missing Graphviz dot or onnx extra exited 1, the README's "spec errors"."""
    from archc.tools import render

    def no_dot(*args, **kwargs):
        raise render.GraphvizMissing("Graphviz's 'dot' is not installed")

    monkeypatch.setitem(render.FORMATS, "svg", no_dot)
    code, _, err = cli("graph", MNV2, "--format", "svg")
    assert code == 4 and "dot" in err
    import builtins

    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name in ("onnx", "onnxscript"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    code, _, err = cli("export", MNV2, "-o", str(tmp_path / "m.onnx"))
    assert code == 4 and "pip install onnx onnxscript onnxruntime" in err, err
    assert "in a checkout" in err


@pytest.mark.parametrize("command", [
    ["check", MNV2], ["summary", MNV2, "--json"], ["build", MNV2, "-o", "{tmp}"],
])
def test_commands_do_not_import_torch(command, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # importing torch now raises ImportError
        from archc.cli import main
        rc = main({args!r})
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
        sys.exit(rc)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "archc", "check", MNV2],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_install_declares_numpy_for_torch():
    """Was: every torch-importing command of the base install printed "UserWarning: Failed to
    initialize NumPy": torch needs numpy but does not declare it, so archc does."""
    import tomllib

    from .conftest import ROOT

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"]
    assert any(d.split(">")[0].split("=")[0].strip() == "numpy" for d in deps), deps
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", "import torch"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "NumPy" not in proc.stderr, proc.stderr


def test_version():
    """Was: `archc --version` was a usage error (exit 2)."""
    import subprocess
    import sys

    import archc

    proc = subprocess.run([sys.executable, "-m", "archc", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == f"archc {archc.__version__}\n", proc


def test_summary_has_one_json_flag_and_specs_have_help(cli):
    """Was: --json (the table) and --format json (the diagnostics) coexisted on summary, and
    SPEC arguments had no help text. --format json now does both; --json stays an alias."""
    import json

    code, out, _ = cli("summary", MNV2, "--format", "json")
    assert code == 0 and json.loads(out)["name"] == "MobileNetV2"
    assert json.loads(cli("summary", MNV2, "--json")[1]) == json.loads(out)
    from archc.cli import _parser

    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.metavar == "SPEC":
                assert action.help, f"archc {name}: SPEC has no help"
        assert "--json" not in p.format_help() or name != "summary"
