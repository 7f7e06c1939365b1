"""Generated modules: fresh, deterministic, formatted, standalone."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import archc

from .conftest import GENERATED, ROOT, SPECS

STDLIB = set(sys.stdlib_module_names)
SPEC_FILES = sorted(SPECS.glob("*.yaml"))


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.stem)
def test_committed_module_is_fresh(spec: Path, monkeypatch):
    monkeypatch.chdir(ROOT)  # headers name the spec relative to the working directory
    committed = GENERATED / f"{spec.stem}.py"
    assert committed.exists(), f"run: archc build specs/{spec.name}"
    assert archc.generate(Path("specs") / spec.name) == committed.read_text(encoding="utf-8"), (
        f"generated/{committed.name} is stale: run archc build specs/{spec.name}")


def test_build_is_deterministic(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("build", "specs/mobilenet_v2.yaml", "-o", str(a))[0] == 0
    assert cli("build", "specs/mobilenet_v2.yaml", "-o", str(b))[0] == 0
    assert (a / "mobilenet_v2.py").read_bytes() == (b / "mobilenet_v2.py").read_bytes()


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.stem)
def test_imports_only_torch_and_the_standard_library(spec: Path):
    tree = ast.parse((GENERATED / f"{spec.stem}.py").read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots <= STDLIB | {"torch"}, roots


def test_header_names_spec_hash_and_regeneration():
    text = (GENERATED / "mobilenet_v2.py").read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text))
    import hashlib

    digest = hashlib.sha256((SPECS / "mobilenet_v2.yaml").read_bytes()).hexdigest()
    assert "specs/mobilenet_v2.yaml" in doc and digest in doc
    assert "archc build specs/mobilenet_v2.yaml" in doc and "Do not edit" in doc


def test_reads_like_hand_written_code():
    text = (GENERATED / "mobilenet_v2.py").read_text(encoding="utf-8")
    assert text.count("class InvertedResidual(") == 1
    assert "InvertedResidual(16, 24, expand_ratio=6, stride=2),  # (N, 24, 56, 56)" in text
    assert "# t=6, c=24, n=2, s=2" in text
    assert "# depthwise" in text and "# expand" in text
    assert "getattr(" not in text and "_1 =" not in text
    assert "def mobilenet_v2(\n    *, weights: str | None = None, progress: bool = True, " \
        "**kwargs\n) -> MobileNetV2:" in text


ruff = shutil.which("ruff") or (Path(sys.executable).parent / "ruff")


@pytest.mark.skipif(not Path(ruff).exists(), reason="ruff not installed")
def test_generated_code_is_ruff_formatted_and_clean():
    files = [str(p) for p in sorted(GENERATED.glob("*.py"))]
    fmt = subprocess.run([str(ruff), "format", "--isolated", "--check", *files],
                         capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run([str(ruff), "check", "--isolated", *files], capture_output=True,
                          text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_generated_module_runs_where_archc_cannot_be_imported(tmp_path):
    target = tmp_path / "mobilenet_v2.py"
    shutil.copy(GENERATED / "mobilenet_v2.py", target)
    code = textwrap.dedent(f"""
        import sys
        sys.modules["archc"] = None  # any import of archc now fails
        sys.path.insert(0, {str(tmp_path)!r})
        import torch
        import mobilenet_v2
        model = mobilenet_v2.mobilenet_v2().eval()
        with torch.no_grad():
            out = model(torch.randn(1, 3, 64, 64))
        assert out.shape == (1, 1000), out.shape
        assert not any(m == "archc" or m.startswith("archc.") for m in sys.modules
                       if sys.modules[m] is not None)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
