"""archc bench: every backend and batch reported, ratios that follow from the medians, outputs
compared with eager's, the thread count honoured, a missing or failing backend reported and
not fatal, usage and spec errors as everywhere else. No assertion here is about speed."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.cli import main  # noqa: E402
from archc.tools.bench import BACKENDS, measure  # noqa: E402

from .conftest import SPECS  # noqa: E402

LENET = str(SPECS / "lenet5.yaml")
BATCHES = [1, 3]
REPEATS = 3


@pytest.fixture(scope="module")
def report():
    """``archc bench lenet5 --json`` with every backend (what a user runs, kept tiny)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["bench", LENET, "--batch", "1,3", "--threads", "1", "--repeats",
                     str(REPEATS), "--warmup", "1", "--json"])
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


def by_key(data: dict) -> dict:
    return {(t["backend"], t["batch"]): t for t in data["timings"]}


def test_json_has_every_backend_at_every_batch(report):
    timings = by_key(report)
    assert len(timings) == len(report["timings"]) == len(BACKENDS) * len(BATCHES)
    assert set(timings) == {(b, n) for b in BACKENDS for n in BATCHES}
    assert report["batches"] == BATCHES and report["input_shape"] == [1, 32, 32]
    assert set(report["backends"]) == set(BACKENDS)
    for key in (("eager", 1), ("inference", 1), ("eager", 3), ("inference", 3)):
        assert timings[key]["status"] == "ok", timings[key]
    for t in report["timings"]:  # torch.compile may fail on a machine: then it says why
        assert t["status"] in ("ok", "skipped", "failed")
        assert (t["status"] == "ok") == (t["reason"] == "")
    if all(_has(name) for name in ("onnxruntime", "onnx", "onnxscript")):  # the onnx extra
        assert timings[("onnxruntime", 1)]["status"] == "ok", timings[("onnxruntime", 1)]


def _has(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_ratios_follow_from_the_medians_and_spreads_are_ordered(report):
    timings = by_key(report)
    for (_, batch), t in timings.items():
        if t["status"] != "ok":
            continue
        eager = timings[("eager", batch)]["median_ms"]
        assert t["ratio"] == pytest.approx(t["median_ms"] / eager, rel=1e-12)
        assert t["min_ms"] <= t["q1_ms"] <= t["median_ms"] <= t["q3_ms"] <= t["max_ms"]
        assert t["min_ms"] > 0 and t["runs"] == REPEATS
    assert timings[("eager", 1)]["ratio"] == 1.0


def test_header_names_the_machine_threads_and_torch(report):
    m = report["machine"]
    assert m["torch"] == torch.__version__ and m["cpu_count"] == os.cpu_count()
    assert m["platform"] and m["python"] and m["device"] == "cpu"
    assert report["threads"] == 1 and report["repeats"] == REPEATS and report["warmup"] == 1


def test_backends_compute_what_eager_computes(report):
    for t in report["timings"]:
        if t["status"] == "ok":
            assert t["max_rel_diff"] < 1e-5, t


def test_text_report_is_labelled(report, cli):
    code, out, _ = cli("bench", LENET, "--batch", "2", "--threads", "1", "--repeats", "2",
                       "--warmup", "0", "--backends", "eager,inference")
    assert code == 0
    assert f"torch {torch.__version__}, 1 threads" in out
    assert f"{os.cpu_count()} CPUs" in out and "LeNet5, input 1x32x32, batches 2" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("eager ", "inference "))]
    assert [r[:2] for r in rows] == [["eager", "2"], ["inference", "2"]]
    assert rows[0][5] == "1.000"


def trained_like(model, seed: int = 0):
    """Batch norms with non-trivial statistics, so that folding them is put to the test."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return trained_like(archc.build_model(SPECS / "resnet18.yaml", num_classes=10))


def test_eager_and_inference_outputs_agree(resnet18):
    result = measure(resnet18, input_shape=(3, 32, 32), batches=(2,), repeats=1, warmup=0,
                     backends=("eager", "inference"))
    eager, inference = result.timings
    assert (eager.status, inference.status) == ("ok", "ok")
    assert eager.max_rel_diff == 0.0
    assert inference.max_rel_diff < 1e-5


def test_a_wrong_inference_build_shows_in_the_difference(resnet18, monkeypatch):
    from archc.tools import inference

    real = inference.optimize_for_inference

    def skewed(model, channels_last=True):
        fast = real(model, channels_last)
        with torch.no_grad():
            next(fast.parameters()).mul_(1.5)  # the first convolution's weights, off by half
        return fast

    monkeypatch.setattr(inference, "optimize_for_inference", skewed)
    result = measure(resnet18, input_shape=(3, 32, 32), batches=(2,), repeats=1, warmup=0,
                     backends=("eager", "inference"))
    assert result.timings[1].max_rel_diff > 1e-2


def test_missing_onnxruntime_is_reported_as_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    result = measure(LENET, batches=(1, 2), repeats=2, warmup=0,
                     backends=("eager", "onnxruntime"))
    got = {(t.backend, t.batch): (t.status, t.reason) for t in result.timings}
    assert set(got) == {("eager", 1), ("onnxruntime", 1), ("eager", 2), ("onnxruntime", 2)}
    assert got[("eager", 1)] == got[("eager", 2)] == ("ok", "")
    for batch in (1, 2):
        status, reason = got[("onnxruntime", batch)]
        assert status == "skipped" and "onnxruntime is not installed" in reason
    assert result.machine["onnxruntime"] is None


class ThreadProbe(torch.nn.Module):
    """Records torch's thread count each time it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)
        self.seen: list[int] = []

    def forward(self, x):
        self.seen.append(torch.get_num_threads())
        return self.fc(x)


def test_threads_are_set_for_the_run_and_restored():
    before = torch.get_num_threads()
    wanted = before + 1  # not the default, so passing it cannot be a coincidence
    probe = ThreadProbe().eval()
    result = measure(probe, input_shape=(4,), batches=(1, 2), threads=wanted, repeats=3,
                     warmup=1, backends=("eager",))
    assert probe.seen and set(probe.seen) == {wanted}
    assert len(probe.seen) == 2 * (1 + 1 + 3)  # per batch: the compared run, warm-up, repeats
    assert result.threads == wanted
    assert torch.get_num_threads() == before


def test_a_failing_compile_is_reported_not_fatal(monkeypatch):
    def broken(model, *args, **kwargs):
        def run(x):
            raise RuntimeError("inductor fell over\nsecond line")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    result = measure(LENET, batches=(1,), repeats=2, warmup=0,
                     backends=("eager", "inference", "compile"))
    got = {t.backend: t for t in result.timings}
    assert got["eager"].status == got["inference"].status == "ok"
    assert got["compile"].status == "failed"
    assert got["compile"].reason == "RuntimeError: inductor fell over"


def test_a_compile_slower_than_its_timeout_is_reported(monkeypatch):
    finished = []

    def slow(model, *args, **kwargs):
        def run(x):
            time.sleep(5)
            finished.append(True)
            return model(x)
        return run

    monkeypatch.setattr(torch, "compile", slow)
    result = measure(LENET, batches=(1, 2), repeats=1, warmup=0,
                     backends=("eager", "compile"), compile_timeout=0.2)
    got = {(t.backend, t.batch): t for t in result.timings}
    assert got[("eager", 1)].status == got[("eager", 2)].status == "ok"
    assert (got[("compile", 1)].status, got[("compile", 1)].reason) == (
        "failed", "warm-up took over 0.2 s")
    assert (got[("compile", 2)].status, got[("compile", 2)].reason) == (
        "failed", "warm-up took over 0.2 s (at batch 1)")  # not waited for again
    assert not finished  # the warm-up was cut short, once


@pytest.mark.parametrize("argv", [
    ["--batch", "1,x"], ["--batch", "0"], ["--batch", ""], ["--batch", "1,-8"],
    ["--threads", "0"], ["--repeats", "0"], ["--backends", "eager,tensorrt"],
])
def test_bad_arguments_are_usage_errors(cli, argv):
    code, out, err = cli("bench", LENET, *argv)
    assert code == 2 and out == ""
    assert err.startswith("archc bench: error: ")


@pytest.mark.parametrize("shape", ["3xq", "0x32x32", "1x2x3x4", ""])
def test_bad_input_is_a_usage_error(cli, shape):
    with pytest.raises(SystemExit) as exc:
        cli("bench", LENET, "--input", shape)
    assert exc.value.code == 2


def test_a_spec_error_is_located_and_exits_1(cli, write_spec):
    path = write_spec(
        "name: Tiny\ninput: [1, 8, 8]\nlayers:\n  - {op: conv_act, c: 4, k: 3, strid: 1}\n")
    code, out, err = cli("bench", str(path), "--backends", "eager")
    assert code == 1 and out == ""
    assert f"{path}:4:32: error[E207]: unknown column 'strid'" in err


def test_an_input_over_the_budget_is_a_spec_error(cli):
    code, _, err = cli("bench", LENET, "--input", "1x4000x4000", "--backends", "eager")
    assert code == 1 and "error[" in err


def test_bad_measure_arguments_raise():
    with pytest.raises(ValueError):
        measure(LENET, batches=())
    with pytest.raises(ValueError):
        measure(LENET, backends=("eager", "tensorrt"))
    with pytest.raises(ValueError):
        measure(ThreadProbe(), batches=(1,))  # a bare module needs its input shape


def test_readme_example_is_what_bench_prints():
    """The README's example output: the layout format_text prints, and ratios that are the
    medians' (it was pasted from a run, so its numbers are checked against each other)."""
    import re

    from archc.tools.bench import BenchResult, Timing, format_text

    from .conftest import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- bench-example -->\n```text\n", 1)[1].split("```", 1)[0]
    command, printed = block.split("\n", 1)
    head = re.match(r"# (\w+), input ([\dx]+), batches ([\d, ]+)\n# machine: (\S+), (\d+) CPUs "
                    r"\((\w+)\), device cpu\n# torch (\S+), (\d+) threads, onnxruntime (\S+), "
                    r"python (\S+)\n# (\d+) interleaved runs per backend after (\d+) warm-up",
                    printed)
    assert head, printed[:300]
    rows = [line.split() for line in printed.splitlines()
            if line.split()[:1] and line.split()[0] in BACKENDS]
    timings, eager = [], {}
    for backend, batch, median, iqr, span, ratio, rel in rows:
        median, ratio = float(median), float(ratio)
        eager.setdefault(batch, median)
        assert ratio == pytest.approx(median / eager[batch], abs=6e-4)  # printed to 3 places
        q1, q3 = map(float, iqr.split("-"))
        lo, hi = map(float, span.split("-"))
        assert lo <= q1 <= median <= q3 <= hi
        timings.append(Timing(backend, int(batch), "ok", "", median, q1, q3, lo, hi,
                              int(head[11]), ratio, float(rel)))
    assert {(t.backend, t.batch) for t in timings} == {(b, n) for b in BACKENDS for n in (1, 8)}
    machine = {"platform": head[4], "cpu_count": int(head[5]), "processor": head[6],
               "torch": head[7], "onnxruntime": head[9], "python": head[10]}
    result = BenchResult(head[1], tuple(map(int, head[2].split("x"))), (1, 8), int(head[8]),
                         int(head[11]), int(head[12]), machine, tuple(timings))
    assert format_text(result) == printed
    assert command == ("$ archc bench specs/mobilenet_v2.yaml --batch 1,8 --threads 1 "
                       f"--repeats {head[11]}")
