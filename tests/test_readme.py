"""Every code block of README.md runs as written (issue 13.1-13.2): the Python blocks in a
folder holding a copy of specs/, the console blocks command by command with the installed
`archc` on PATH (as after the quick start's activation), their printed output, where the README
shows it, compared. Only what needs an extra is skipped, and the skip names it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
PYTHON = [text for lang, text in BLOCKS if lang == "python"]
CONSOLE = [text for lang, text in BLOCKS if lang == "console"]


def _commands(block: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines the README shows for it) of a console block."""
    out: list[tuple[str, list[str]]] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            out.append((command, []))
        elif out:
            out[-1][1].append(line)
        i += 1
    return out


COMMANDS = [c for block in CONSOLE for c in _commands(block)]
NEEDS = {  # what a command needs beyond the base install, named
    "--format svg": ("Graphviz's dot", lambda: shutil.which("dot") is not None),
    "archc export": ("the onnx extra", lambda: _importable("onnx", "onnxscript")),
    "--pareto": ("the plot extra (matplotlib)", lambda: _importable("matplotlib")),
}


def _importable(*names: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(n) is not None for n in names)


def _checkout(where: Path) -> Path:
    """A folder like a checkout: specs/, schema/ and docs/img/ (and a spec root marker)."""
    shutil.copytree(ROOT / "specs", where / "specs")
    (where / "schema").mkdir()
    (where / "docs" / "img").mkdir(parents=True)
    (where / "pyproject.toml").write_text("", encoding="utf-8")
    return where


def test_readme_has_the_blocks_this_file_runs():
    assert len(PYTHON) >= 2 and len(CONSOLE) >= 2 and len(COMMANDS) >= 14


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_python_blocks_run_as_written(index, tmp_path):
    text = PYTHON[index]
    if "import timm" in text:
        pytest.importorskip("timm", reason="the block needs timm (the test extra)")
    if "export_onnx" in text and not _importable("onnx", "onnxscript"):
        pytest.skip("the block needs the onnx extra")
    proc = subprocess.run([sys.executable, "-c", text], cwd=_checkout(tmp_path),
                          capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("index", range(len(CONSOLE)))
def test_console_blocks_run_as_written(index, tmp_path):
    """Each block's commands in order (a later one may read what an earlier one wrote: build,
    then build --check), in a fresh folder; a command needing an extra is skipped by name."""
    work = _checkout(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    skipped = []
    for command, shown in _commands(CONSOLE[index]):
        needs = [what for marker, (what, ok) in NEEDS.items() if marker in command and not ok()]
        if needs:
            skipped.append(f"{command!r} needs {', '.join(needs)}")
            continue
        proc = subprocess.run(["bash", "-c", command], cwd=work, capture_output=True,
                              text=True, timeout=600, env=env)
        assert proc.returncode == 0, (command, proc.stderr[-3000:])
        if shown:
            assert proc.stdout.splitlines() == shown, (command, proc.stdout)
    if skipped:
        pytest.skip("; ".join(skipped))
