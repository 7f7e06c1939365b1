"""Denial of service (issue 9, items 4, 5, 7): every command on any spec ends quickly in bounded
memory, or fails with a located budget error (E005) naming the flag that raises the budget.

Each CLI case runs in a subprocess with a wall-clock timeout. Commands that do not import torch
also run under an address-space limit (RLIMIT_AS), so an allocation past it fails instead of
swapping the machine; torch-importing commands are measured (ru_maxrss) instead, since torch
itself maps more address space than any sensible limit."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from archc.expr import ExprError, parse

ROOT = Path(__file__).resolve().parents[1]
TIME_LIMIT = 10.0  # seconds, for every command on any spec (the bound)
MEMORY_LIMIT = 2 * 1024**3  # bytes
AS_LIMIT = 3 * 1024**3  # address space for commands that do not import torch


def _limit_memory() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def run_archc(*args: str, torch: bool = False, cwd: Path = ROOT) -> tuple[int, str, float, int]:
    """Run ``python -m archc ARGS``: (exit code, stderr + stdout, seconds, peak RSS bytes)."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-m", "archc", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=TIME_LIMIT * 3,
                          preexec_fn=None if torch else _limit_memory)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    # ru_maxrss of children is the largest of all children so far: only a rise is this one's
    return proc.returncode, proc.stderr + proc.stdout, seconds, rss if rss > before * 1024 else 0


def assert_budget_error(result, flag: str, line: int | None = None) -> None:
    code, out, seconds, _ = result
    assert code == 1, out
    assert "error[E005]" in out and flag in out, out
    assert "Traceback" not in out and "internal error" not in out, out
    assert seconds < TIME_LIMIT, f"took {seconds:.1f} s"
    if line is not None:
        assert f".yaml:{line}:" in out, out


# --- item 5: no string-producing operation allocates before its size is checked ------------

@pytest.mark.parametrize("text, env", [
    ("'%.2147483640f' % 1.0", {}),
    ("'%s' % x", {"x": "a"}),
    ("x % 2", {"x": "%d"}),
    ("'%d' % 3 == '3'", {}),
])
def test_string_formatting_is_not_allowed(text, env):
    start = time.perf_counter()
    with pytest.raises(ExprError, match="formats strings"):
        parse(text).evaluate(env)
    assert time.perf_counter() - start < 0.5


def test_numeric_modulo_still_works():
    assert parse("7 % 3").evaluate({}) == 1
    assert parse("x % 2.5").evaluate({"x": 6.0}) == 1.0


@pytest.mark.parametrize("text, env", [
    ("x + x", {"x": "a" * 4 * 1024 * 1024}),
    ("x + 'b'", {"x": "a" * 1000}),
    ("x * 1", {"x": "a" * 1001}),
    ("(x + x) + (x + x)", {"x": "a" * 300}),
])
def test_string_concatenation_is_capped_before_it_runs(text, env):
    tracemalloc.start()
    try:
        with pytest.raises(ExprError, match="too long"):
            parse(text).evaluate(env)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"allocated {peak:,} bytes before refusing"


@pytest.mark.parametrize("text, env", [
    ("round(12345, -1000000000000000)", {}),  # 10 ** 10**15: hung for ever
    ("round(x, n)", {"x": 5, "n": -999_999_999_999_999}),
    ("round(1.5, 1000000)", {}),
    ("x ** 64", {"x": 10 ** 4000}),  # a 4,000-digit parameter: 256,000 digits
    ("make_divisible(x, 1e-300)", {"x": 1e15}),
    ("int(float('1e308'))", {}),
    ("ceil(1e300)", {}),
    ("(-8) ** 0.5", {}),  # a complex number is no spec value
])
def test_numeric_operations_are_bounded(text, env):
    start = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(ExprError):
            parse(text).evaluate(env)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 0.5
    assert peak < 64 * 1024, f"allocated {peak:,} bytes before refusing"


def test_expression_string_format_in_a_spec_is_located(tmp_path):
    spec = tmp_path / "fmt.yaml"
    spec.write_text("name: F\ninput: [3, 8, 8]\nparams: {w: 1}\nlayers:\n"
                    "  - {name: c, op: conv, c: \"4 if '%.2147483640f' % 1.0 else 4\", k: 1}\n",
                    encoding="utf-8")
    code, out, seconds, _ = run_archc("check", str(spec))
    assert code == 1 and "fmt.yaml:5:" in out and "formats strings" in out, out
    assert seconds < TIME_LIMIT
