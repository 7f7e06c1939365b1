"""A row's ``step:`` is a comment line above its module wherever the row lands: in a block
whose body is a plain chain (an ``nn.Sequential`` subclass) and in a ``seq`` group inside a
block, as at the top level (STYLE.md: "a comment per paper step")."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archc

SPEC = """\
name: Steps
input: [3, 32, 32]
blocks:
  chain:
    params: {c: {type: int}}
    body:
      - {op: conv, c: c, k: 1, step: expand}
      - {op: batch_norm}
      - {op: conv, c: c, k: 3, groups: c, step: depthwise}
  branchy:
    params: {c: {type: int}}
    body:
      - name: main
        seq:
          - {op: conv, c: c, k: 1, step: reduce}
          - {op: conv, c: c, k: 3, step: spatial}
      - {name: sc, op: conv, c: c, k: 1, from: input, step: shortcut}
      - {op: add, from: [main, sc], step: merge}
  lone:
    params: {c: {type: int}}
    body:
      - {op: conv, c: c, k: 1, step: pointwise}
layers:
  - {op: chain, c: 16, name: a, step: stem}
  - {op: branchy, c: 16, name: b}
  - {op: lone, c: 8, name: d}
  - name: head
    seq:
      - {op: global_avg_pool, step: pool}
      - {op: flatten}
      - {op: linear, c: 10, step: classify}
"""


@pytest.fixture
def source(tmp_path) -> str:
    path = tmp_path / "steps.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return archc.generate(path)


def _above(source: str, comment: str) -> str:
    """The line after the comment line ``# comment``."""
    lines = source.splitlines()
    at = [i for i, line in enumerate(lines) if line.strip() == f"# {comment}"]
    assert len(at) == 1, f"# {comment} appears {len(at)} times"
    return lines[at[0] + 1].strip()


def test_plain_chain_block_rows_keep_their_steps(source):
    assert _above(source, "expand") == "nn.Conv2d(in_channels, c, 1),"
    assert _above(source, "depthwise") == "nn.Conv2d(c, c, 3, padding=1, groups=c),"
    # a chain of one row too: the comment forces the call onto several lines
    assert _above(source, "pointwise") == "nn.Conv2d(in_channels, c, 1),"


def test_seq_group_rows_in_a_block_keep_their_steps(source):
    assert _above(source, "reduce") == "nn.Conv2d(in_channels, c, 1),"
    assert _above(source, "spatial") == "nn.Conv2d(c, c, 3, padding=1),"
    assert _above(source, "shortcut") == "sc = self.sc(x)"  # as before


def test_the_commented_source_is_formatted_and_builds(source, tmp_path):
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff not installed")
    path = tmp_path / "steps.py"
    path.write_text(source, encoding="utf-8")
    for cmd in (["format", "--isolated", "--check"], ["check", "--isolated"]):
        done = subprocess.run([ruff, *cmd, str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    torch = pytest.importorskip("torch")
    model = archc.build_model(_spec(tmp_path))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def _spec(tmp_path) -> Path:
    path = tmp_path / "steps.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path
