"""Latency of a spec's model on this machine, per backend and batch size: the eager model, the
inference build (:func:`archc.optimize_for_inference`), ``torch.compile`` of that build and
onnxruntime (when installed). Backends are timed round-robin within each repeat, after a
warm-up, so drift on a busy machine hits all of them alike; each reports the median and the
spread (quartiles, min-max) of its runs and its time as a ratio of eager's.

A backend that cannot run here (onnxruntime missing, an export or a compilation failing or
taking too long) is reported as skipped or failed with its reason; the others are measured.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..frontend.loader import Budget

__all__ = ["BACKENDS", "BenchResult", "Timing", "machine", "measure", "format_text"]

BACKENDS = ("eager", "inference", "compile", "onnxruntime")
DESCRIPTIONS = {
    "eager": "build_model, eval, no_grad",
    "inference": "optimize_for_inference: BatchNorm folded, dropout removed, channels_last",
    "compile": "torch.compile of the inference build",
    "onnxruntime": "archc export (ONNX), onnxruntime CPUExecutionProvider",
}


@dataclass(frozen=True)
class Timing:
    """One backend at one batch size. Times in milliseconds; ``ratio`` is this backend's
    median over eager's (below 1: faster than eager); ``max_rel_diff`` is
    ``max|out - eager| / max|eager|`` on the same input. ``status`` is ``ok``, ``skipped``
    (cannot run here) or ``failed`` (raised or timed out), with ``reason``."""

    backend: str
    batch: int
    status: str
    reason: str = ""
    median_ms: float | None = None
    q1_ms: float | None = None
    q3_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    runs: int = 0
    ratio: float | None = None
    max_rel_diff: float | None = None


@dataclass(frozen=True)
class BenchResult:
    """What :func:`measure` returns: the machine, the settings, one :class:`Timing` per
    backend and batch (batches in the order given, backends in :data:`BACKENDS` order)."""

    name: str
    input_shape: tuple[int, ...]
    batches: tuple[int, ...]
    threads: int
    repeats: int
    warmup: int
    machine: dict
    timings: tuple[Timing, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        """Plain JSON-ready data (what ``archc bench --json`` prints)."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["batches"] = list(self.batches)
        data["backends"] = {b: DESCRIPTIONS[b] for b in dict.fromkeys(
            t.backend for t in self.timings)}
        return data


def machine() -> dict:
    """Where the numbers were measured: printed with every latency."""
    info = {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "device": "cpu"}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    return info


def measure(spec_or_model, *, batches: Sequence[int] = (1,),
            input_shape: Sequence[int] | None = None, threads: int | None = None,
            repeats: int = 10, warmup: int = 2, backends: Sequence[str] = BACKENDS,
            overrides: list[str] | None = None, budget: Budget | None = None,
            compile_timeout: float = 300.0, seed: int = 0,
            spec_root: str | os.PathLike | None = None) -> BenchResult:
    """Time ``spec_or_model`` (a spec path, :class:`archc.CheckedSpec`, :class:`archc.Model`
    or an ``nn.Module``) on the CPU with each of ``backends`` at each batch size.

    ``input_shape``: ``(C, H, W)`` without the batch (default: the spec's input; required for
    a bare module). ``threads``: torch's (and onnxruntime's) intra-op threads during the run,
    restored afterwards (default: torch's current setting). ``repeats``: timed runs per
    backend and batch, interleaved; ``warmup``: untimed runs before them. ``compile_timeout``:
    seconds torch.compile may take to warm up at one batch size before it is reported as
    failed (enforced with SIGALRM in the main thread only). ``overrides``/``budget``: as for
    :func:`archc.build_model`, ``spec_root`` as for :func:`archc.load_spec`; ``seed`` seeds
    the input. Raises :class:`archc.SpecError` for spec errors and
    ``ValueError`` for bad arguments; a backend that fails is reported, never raised.
    """
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise ValueError(f"unknown backend(s) {unknown}: choose from {', '.join(BACKENDS)}")
    if not batches or any(int(b) < 1 for b in batches) or repeats < 1 or warmup < 0:
        raise ValueError("batches and repeats must be positive, warmup not negative")
    if threads is not None and threads < 1:
        raise ValueError("threads must be positive")
    model, name, shape = _model(spec_or_model, overrides, input_shape, budget or Budget(),
                                spec_root)
    order = [b for b in BACKENDS if b in backends]
    saved = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        n_threads = torch.get_num_threads()
        with torch.no_grad(), tempfile.TemporaryDirectory(prefix="archc-bench-") as tmp:
            runners = _prepare(model, order, shape, n_threads, tmp)
            timings = []
            for batch in batches:
                timings += _one_batch(runners, int(batch), shape, repeats, warmup,
                                      compile_timeout, seed)
    finally:
        torch.set_num_threads(saved)
    return BenchResult(name, shape, tuple(int(b) for b in batches), n_threads, repeats,
                       warmup, machine(), tuple(timings))


def _model(spec_or_model, overrides, input_shape, budget: Budget, spec_root):
    if isinstance(spec_or_model, nn.Module):
        if overrides:
            raise ValueError("overrides apply to specs, not to an nn.Module")
        if not input_shape:
            raise ValueError("input_shape is required to time an nn.Module: e.g. (3, 224, 224)")
        return spec_or_model.eval(), type(spec_or_model).__name__, tuple(map(int, input_shape))
    from ..api import compile_spec
    from ..ir.shapes import at_input
    from ..torch_backend import build_module

    compiled = compile_spec(spec_or_model, budget, overrides, spec_root)  # SpecError propagates
    if input_shape:  # the budget holds at the input timed, as for archc export
        compiled_at = at_input(compiled, tuple(int(n) for n in input_shape), budget)
        shape = tuple(compiled_at.input_shape)
    else:
        shape = tuple(compiled.input_shape)
    return build_module(compiled, overrides).eval(), compiled.name, shape


Runner = Callable[[torch.Tensor], object]


def _prepare(model: nn.Module, order: list[str], shape, threads: int, tmp: str) -> dict:
    """backend -> a runner, or the reason it cannot run (a string starting with its status)."""
    runners: dict[str, Runner | str] = {}
    inference = None
    for backend in order:
        if backend == "eager":
            runners[backend] = model
        elif backend in ("inference", "compile"):
            try:
                if inference is None:
                    from .inference import optimize_for_inference

                    inference = optimize_for_inference(model)
                runners[backend] = inference if backend == "inference" else torch.compile(
                    inference)
            except Exception as exc:
                runners[backend] = f"failed: {_one_line(exc)}"
        elif backend == "onnxruntime":
            runners[backend] = _onnxruntime(model, shape, threads, tmp)
    return runners


def _onnxruntime(model: nn.Module, shape, threads: int, tmp: str) -> Runner | str:
    try:
        import onnxruntime as ort
    except ImportError:
        return "skipped: onnxruntime is not installed (pip install 'archc[onnx]')"
    from .export import ExportError, export_onnx

    try:
        path = export_onnx(model, os.path.join(tmp, "model.onnx"), input_shape=shape)
    except ExportError as exc:
        return f"failed: ONNX export: {exc}"
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # onnxruntime's threads spin after a run by default, taking the cores from the backend
    # timed next; torch's do not spin that long
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(x: torch.Tensor):
        return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    return run


def _one_batch(runners: dict, batch: int, shape, repeats: int, warmup: int,
               compile_timeout: float, seed: int) -> list[Timing]:
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))
    live, reasons, outputs = {}, {}, {}
    for backend, runner in runners.items():
        if isinstance(runner, str):
            reasons[backend] = runner
            continue
        try:  # the first call compiles (torch.compile) and gives the output to compare
            limit = compile_timeout if backend == "compile" else None
            with _deadline(limit), _quiet("torch.utils.cpp_extension"):  # a CUDA-less note
                outputs[backend] = _first(runner(x))
            for _ in range(warmup):
                runner(x)
            live[backend] = runner
        except _Timeout:
            reasons[backend] = f"failed: warm-up took over {compile_timeout:g} s"
            runners[backend] = f"{reasons[backend]} (at batch {batch})"  # not tried again
            torch._dynamo.reset()
        except Exception as exc:
            reasons[backend] = f"failed: {_one_line(exc)}"
    times: dict[str, list[float]] = {b: [] for b in live}
    order = list(live)
    for r in range(repeats):  # round-robin, each repeat starting one backend further on
        for backend in order[r % len(order):] + order[:r % len(order)]:
            runner = live[backend]
            start = time.perf_counter()
            runner(x)
            times[backend].append((time.perf_counter() - start) * 1e3)
    eager_median = statistics.median(times["eager"]) if "eager" in times else None
    out = []
    for backend in runners:
        if backend not in live:
            status, _, reason = reasons[backend].partition(": ")
            out.append(Timing(backend, batch, status, reason))
            continue
        out.append(_timing(backend, batch, times[backend], eager_median,
                           _rel_diff(outputs[backend], outputs.get("eager"))))
    return out


def _timing(backend, batch, ms: list[float], eager_median, rel) -> Timing:
    median = statistics.median(ms)
    q1, _, q3 = (statistics.quantiles(ms, n=4, method="inclusive") if len(ms) > 1
                 else (ms[0], ms[0], ms[0]))
    ratio = median / eager_median if eager_median else None
    return Timing(backend, batch, "ok", "", median, q1, q3, min(ms), max(ms), len(ms), ratio,
                  rel)


def _first(out) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _rel_diff(out: torch.Tensor, ref: torch.Tensor | None) -> float | None:
    if ref is None:
        return None
    out, ref = out.float().contiguous(), ref.float().contiguous()
    if out.shape != ref.shape:
        return float("inf")
    scale = ref.abs().max().item() or 1.0
    return (out - ref).abs().max().item() / scale


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`_Timeout` in the body after ``seconds`` (main thread, POSIX only: a
    per-backend limit on torch.compile's warm-up; elsewhere the body runs unlimited)."""
    usable = (seconds is not None and hasattr(signal, "SIGALRM")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def format_text(result: BenchResult) -> str:
    """The human-readable report: a header naming the machine, then one line per backend and
    batch (median, quartiles, min-max, ratio to eager, max relative difference)."""
    m = result.machine
    lines = [
        f"# {result.name}, input {'x'.join(map(str, result.input_shape))}, batches "
        f"{', '.join(map(str, result.batches))}",
        f"# machine: {m['platform']}, {m['cpu_count']} CPUs ({m['processor']}), device cpu",
        f"# torch {m['torch']}, {result.threads} threads, onnxruntime "
        f"{m['onnxruntime'] or 'not installed'}, python {m['python']}",
        f"# {result.repeats} interleaved runs per backend after {result.warmup} warm-up; "
        "ratio = median / eager's median (below 1 is faster)",
        "",
        f"{'backend':<12} {'batch':>5} {'median ms':>10} {'IQR ms':>17} {'min-max ms':>17} "
        f"{'ratio':>6} {'rel diff':>8}",
    ]
    for t in result.timings:
        if t.status != "ok":
            lines.append(f"{t.backend:<12} {t.batch:>5} {t.status}: {t.reason}")
            continue
        ratio = f"{t.ratio:6.3f}" if t.ratio is not None else f"{'-':>6}"
        rel = f"{t.max_rel_diff:8.1e}" if t.max_rel_diff is not None else f"{'-':>8}"
        lines.append(f"{t.backend:<12} {t.batch:>5} {t.median_ms:10.3f} "
                     f"{_range(t.q1_ms, t.q3_ms):>17} {_range(t.min_ms, t.max_ms):>17} "
                     f"{ratio} {rel}")
    lines.append("")
    lines += [f"{b}: {DESCRIPTIONS[b]}" for b in dict.fromkeys(t.backend for t in
                                                                  result.timings)]
    return "\n".join(lines) + "\n"


def _range(lo: float, hi: float) -> str:
    return f"{lo:.3f}-{hi:.3f}"


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
