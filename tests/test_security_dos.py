"""Denial of service (issue 9, items 4, 5, 7): every command on any spec ends quickly in bounded
memory, or fails with a located budget error (E005) naming the flag that raises the budget.

Each CLI case runs in a subprocess with a wall-clock timeout. Commands that do not import torch
also run under an address-space limit (RLIMIT_AS), so an allocation past it fails instead of
swapping the machine; torch-importing commands are measured (ru_maxrss) instead, since torch
itself maps more address space than any sensible limit."""

from __future__ import annotations

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


# --- item 4: nested blocks expand in time linear in the layers they make -------------------

def _nested_spec(levels: int, rows: int = 6, leaf: str = "{name: r%d, op: act, fn: relu}") -> str:
    """Block b_L uses block b_(L-1) ``rows`` times: rows ** levels leaf layers in 2-4 KB."""
    out = ["name: Nest", "input: [4, 8, 8]", "blocks:",
           "  b0:", "    params: {c: {type: int}}", "    body:"]
    out += ["      - " + leaf % i for i in range(rows)]
    for level in range(1, levels + 1):
        out += [f"  b{level}:", "    params: {c: {type: int}}", "    body:"]
        out += [f"      - {{name: r{i}, op: b{level - 1}, c: c}}" for i in range(rows)]
    out += ["layers:", f"  - {{name: top, op: b{levels}, c: 4}}"]
    return "\n".join(out) + "\n"


def test_nested_blocks_stop_at_the_layer_budget(tmp_path):
    """Was: 12 levels of 6 rows (2 KB) did not finish in 120 s."""
    spec = tmp_path / "nest.yaml"
    spec.write_text(_nested_spec(12), encoding="utf-8")
    result = run_archc("check", str(spec))
    assert_budget_error(result, "--max-layers", line=spec.read_text().count("\n"))


def test_equal_block_instances_are_expanded_once(monkeypatch):
    """A block's body depends only on its arguments and input shape: 6**4 instances of
    blocks nested 4 deep are 5 expansions, copied (paths and all) for the others."""
    from archc.api import load_spec_text
    from archc.ir.graph import Expander, walk
    from archc.ir.shapes import infer

    calls = []
    rows = Expander.rows
    monkeypatch.setattr(Expander, "rows", lambda self, *a, **k: calls.append(1) or
                        rows(self, *a, **k))
    leaf = "{name: r%d, op: conv, c: c, k: 1}"
    model = infer(load_spec_text(_nested_spec(4, leaf=leaf)))
    assert len(calls) < 20, f"{len(calls)} expansions"
    nodes = list(walk(model.graph))
    assert len(nodes) == sum(6 ** i for i in range(6))
    assert model.params == 6 ** 5 * (4 * 4 + 4)
    paths = [n.path for n in nodes]
    assert len(set(paths)) == len(paths)
    assert "top.r5.r0.r3.r2.r1" in paths


def test_copied_block_instances_build_the_same_module(tmp_path):
    """The live model and the generated module of a spec whose instances are copies."""
    import torch  # noqa: F401  (this test builds modules)

    import archc

    leaf = "{name: r%d, op: conv, c: c, k: 1}"
    spec = tmp_path / "nest.yaml"
    spec.write_text(_nested_spec(2, rows=3, leaf=leaf), encoding="utf-8")
    live = archc.build_model(str(spec))
    names = [n for n, _ in live.named_parameters()]
    assert len(names) == 2 * 27 and "top.r2.r1.r0.weight" in names
    namespace: dict = {}
    exec(compile(archc.generate(str(spec)), "nest.py", "exec"), namespace)  # noqa: S102
    generated = namespace["Nest"]()
    assert [n for n, _ in generated.named_parameters()] == names


# --- item 7: budgets that no real CNN hits, each a located E005 naming its flag ------------

def test_many_repeats_fail_fast(tmp_path):
    """Was: n: 199000 took 20-33 s."""
    spec = tmp_path / "many.yaml"
    spec.write_text("name: Many\ninput: [3, 8, 8]\nlayers:\n  - name: f\n    seq:\n"
                    "      - {op: act, fn: relu, n: 199000}\n", encoding="utf-8")
    assert_budget_error(run_archc("check", str(spec)), "--max-layers", line=6)


def test_a_model_near_the_layer_budget_checks_quickly(tmp_path):
    spec = tmp_path / "deep.yaml"
    spec.write_text("name: Deep\ninput: [16, 8, 8]\nlayers:\n"
                    "  - {name: f, op: inverted_residual, t: 6, c: 16, n: 750}\n",
                    encoding="utf-8")
    code, out, seconds, _ = run_archc("check", str(spec))
    assert code == 0, out
    assert seconds < TIME_LIMIT


HUGE = ("name: Huge\ninput: [3, 32, 32]\nlayers:\n  - {name: c, op: conv, c: 64, k: 3}\n"
        "  - {op: flatten}\n  - {name: fc, op: linear, c: 300000}\n")  # 19.7 G parameters


def test_parameter_budget_is_a_located_error(tmp_path):
    """Was: a 19.6 G-parameter spec passed check (and build_model then took minutes)."""
    spec = tmp_path / "huge.yaml"
    spec.write_text(HUGE, encoding="utf-8")
    assert_budget_error(run_archc("check", str(spec)), "--max-params", line=6)
    code, out, _, _ = run_archc("check", str(spec), "--max-params", str(10**11))
    assert code == 0, out


def test_build_model_checks_the_budget_before_torch_allocates(tmp_path):
    spec = tmp_path / "huge.yaml"
    spec.write_text(HUGE, encoding="utf-8")
    script = ("import sys, archc\n"
              "try:\n    archc.build_model(sys.argv[1])\n"
              "except archc.SpecError as e:\n    print(e.diagnostics[0].code, "
              "e.diagnostics[0].hint)\n"
              "try:\n    archc.build_model(sys.argv[1], budget=archc.Budget(max_params=10))\n"
              "except archc.SpecError as e:\n    print(e.diagnostics[0].code)\n")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script, str(spec)], capture_output=True,
                          text=True, timeout=TIME_LIMIT * 3, cwd=ROOT)
    assert proc.stdout.split("\n")[0].startswith("E005") and "--max-params" in proc.stdout
    assert time.perf_counter() - start < TIME_LIMIT


def test_export_input_is_held_to_the_activation_budget(tmp_path):
    """Was: export --input 3x20000x20000 bypassed the activation budget (a 9.6 GB input)."""
    result = run_archc("export", "specs/resnet18.yaml", "--input", "3x20000x20000", "-o",
                       str(tmp_path / "r.onnx"), torch=True)
    assert_budget_error(result, "--max-activation-bytes", line=None)
    assert "input" in result[1]
    assert result[3] < MEMORY_LIMIT, f"peak RSS {result[3]:,} bytes"
    assert not list(tmp_path.iterdir())


def test_summary_input_is_held_to_the_activation_budget():
    result = run_archc("summary", "specs/resnet18.yaml", "--input", "3x20000x20000")
    assert_budget_error(result, "--max-activation-bytes")


def test_committed_specs_are_within_the_default_budgets():
    code, out, _, _ = run_archc("check", *sorted(str(p.relative_to(ROOT))
                                                 for p in (ROOT / "specs").glob("*.yaml")))
    assert code == 0, out
    code, out, _, _ = run_archc("summary", "specs/efficientnet_b7.yaml", "--input",
                                "3x800x800")
    assert code == 0, out


def test_readme_states_the_largest_committed_specs():
    """The README's budget paragraph names the largest committed spec per budget: true, and
    inside the defaults."""
    import re

    import archc
    from archc.frontend.loader import Budget
    from archc.ir.graph import walk

    from .conftest import ROOT, SPECS

    largest = {"layers": (0, ""), "params": (0, ""), "bytes": (0, "")}
    for path in sorted(SPECS.glob("*.yaml")):
        model = archc.compile_spec(path)
        for key, value in (("layers", sum(1 for _ in walk(model.graph.nodes()))),
                           ("params", model.params), ("bytes", model.activations * 4)):
            largest[key] = max(largest[key], (value, path.stem))
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    found = re.search(r"largest committed spec has ([\d,]+) layers \((\w+)\), (\d+) M "
                      r"parameters \((\w+)\) and ([\d.]+) GB of activations \((\w+)", text)
    assert found, "the README's sentence on the largest committed specs is gone"
    layers, lname, params, pname, gb, bname = found.groups()
    assert (int(layers.replace(",", "")), lname) == largest["layers"]
    assert (round(largest["params"][0] / 1e6), largest["params"][1]) == (int(params), pname)
    assert (round(largest["bytes"][0] / 1e9, 2), largest["bytes"][1]) == (float(gb), bname)
    budget = Budget()
    assert largest["params"][0] <= budget.max_params
    assert largest["layers"][0] <= budget.max_layers
    assert largest["bytes"][0] <= budget.max_activation_bytes
