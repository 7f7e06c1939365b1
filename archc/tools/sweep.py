"""``archc sweep``: the cross product of ``--set`` values and input sizes, one line each.

Each point is a spec compiled with extra overrides (pure Python, no torch); its columns come
from ``METRICS``, a list of functions of the compiled model, so a measured column (latency)
is one more entry there. Output is deterministic: points in grid order, exact integers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

from ..diagnostics import Diagnostic, SpecError
from ..ir.shapes import Model
from .summary import BYTES, human_bytes


@dataclass(frozen=True)
class Metric:
    """One column: ``key`` in CSV/JSON, ``header`` and ``show`` in markdown."""

    key: str
    header: str
    value: Callable[[Model], int | float]
    show: Callable[[int | float], str] = lambda v: f"{v:,}"


def latency_metric(repeats: int = 10, threads: int | None = None) -> Metric:
    """Eager latency at batch 1 (median ms, archc bench's interleaved timer), for
    ``archc sweep --measure``: imports torch, unlike the other columns."""
    def median_ms(model: Model) -> float:
        from .bench import measure

        result = measure(model, batches=(1,), repeats=repeats, backends=("eager",),
                         threads=threads)
        (timing,) = result.timings
        return round(timing.median_ms, 3)

    return Metric("eager_ms", "eager ms (batch 1)", median_ms, lambda v: f"{v:.1f}")


METRICS: tuple[Metric, ...] = (
    Metric("params", "params", lambda m: m.params),
    Metric("macs", "MACs", lambda m: m.macs),
    # float32 at batch 1, every layer's output (as archc summary reports it)
    Metric("activation_bytes", "activations", lambda m: m.activations * BYTES, human_bytes),
    Metric("weight_bytes", "weights (fp32)", lambda m: m.params * BYTES, human_bytes),
)


@dataclass(frozen=True)
class Point:
    """One spec with one value per grid key and (optionally) one input size."""

    spec: str
    settings: tuple[tuple[str, str], ...]
    input: tuple[int, ...] | None = None

    def overrides(self) -> list[str]:
        extra = [f"{key}={value}" for key, value in self.settings]
        if self.input is not None:
            extra.append(f"input=[{', '.join(map(str, self.input))}]")
        return extra

    def label(self, with_spec: bool = False) -> str:
        """How the point is named in diagnostics, progress and plots."""
        parts = [Path(self.spec).stem] if with_spec else []
        parts += [f"{key}={value}" for key, value in self.settings]
        if self.input is not None:
            parts.append("input=" + "x".join(map(str, self.input)))
        return " ".join(parts) or Path(self.spec).stem


@dataclass(frozen=True)
class Row:
    point: Point
    input_shape: tuple[int, ...]
    values: tuple[int | float, ...]


def split_values(text: str) -> list[str]:
    """``a,b,[1, 2]`` -> ``['a', 'b', '[1, 2]']``: commas inside brackets belong to a value."""
    values, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    values.append(text[start:].strip())
    return values


def parse_grid(text: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2`` -> ``(KEY, [V1, V2])``; raises ValueError on malformed text."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    values = split_values(rest) if sep else []
    if not key or not values or any(v == "" for v in values):
        raise ValueError(f"expected KEY=V1,V2,... such as scaling.width=1.0,0.5, got {text!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"a value repeats in {text!r}")
    return key, values


def parse_inputs(text: str) -> list[tuple[int, ...]]:
    """``3x224x224,3x192x192`` -> shapes; raises ValueError on malformed text."""
    shapes = []
    for item in text.split(","):
        try:
            dims = tuple(int(d) for d in item.strip().lower().split("x"))
        except ValueError:
            dims = ()
        if not 1 <= len(dims) <= 3 or any(d < 1 for d in dims):
            raise ValueError(f"expected CxHxW[,CxHxW...] such as 3x224x224,3x192x192, "
                             f"got {item.strip()!r}")
        shapes.append(dims)
    return shapes


def points(specs: Sequence[str], grid: Sequence[tuple[str, list[str]]],
           inputs: Sequence[tuple[int, ...]] = ()) -> list[Point]:
    """Every combination, specs outermost and input sizes innermost, in the order given."""
    keys = [key for key, _ in grid]
    if len(set(keys)) != len(keys):
        raise ValueError("a --grid key is given twice: put all its values in one --grid")
    out = []
    for spec in specs:
        for combo in product(*(values for _, values in grid)):
            for shape in inputs or (None,):
                out.append(Point(spec, tuple(zip(keys, combo, strict=True)), shape))
    return out


def run(pts: Sequence[Point], compile_point: Callable[[Point], Model],
        metrics: Sequence[Metric] = METRICS,
        progress: Callable[[int, int, Point], None] | None = None,
        ) -> tuple[list[Row], list[Diagnostic]]:
    """Compile every point; a point's spec errors come back with its label in the message.
    Every point is tried, so one run reports every failing point."""
    rows, diags = [], []
    with_spec = len({p.spec for p in pts}) > 1
    for i, point in enumerate(pts):
        if progress:
            progress(i + 1, len(pts), point)
        try:
            model = compile_point(point)
        except SpecError as exc:
            where = f"sweep point {point.label(with_spec)}: "
            # the point names its values: a "--set K=V: " the loader put first says it again
            sets = tuple(f"--set {o}: " for o in point.overrides())
            diags.extend(replace(d, message=where + _without(d.message, sets))
                         for d in exc.diagnostics)
            continue
        rows.append(Row(point, tuple(model.input_shape),
                        tuple(m.value(model) for m in metrics)))
    return rows, diags


def _columns(rows: Sequence[Row]) -> tuple[bool, list[str]]:
    with_spec = len({r.point.spec for r in rows}) > 1
    keys = [key for key, _ in rows[0].point.settings] if rows else []
    return with_spec, keys


def as_dicts(rows: Sequence[Row], metrics: Sequence[Metric] = METRICS) -> list[dict]:
    """One dict per point: spec, its grid values (as written), input, then each metric."""
    out = []
    for r in rows:
        d = {"spec": r.point.spec, **dict(r.point.settings), "input": list(r.input_shape)}
        d.update({m.key: v for m, v in zip(metrics, r.values, strict=True)})
        out.append(d)
    return out


def render(rows: Sequence[Row], fmt: str, metrics: Sequence[Metric] = METRICS) -> str:
    """The sweep as ``markdown``, ``csv`` or ``json`` text (ending in a newline)."""
    if fmt == "json":
        return json.dumps(as_dicts(rows, metrics), indent=2) + "\n"
    with_spec, keys = _columns(rows)
    header = (["spec"] if with_spec else []) + keys + ["input"]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header + [m.key for m in metrics])
        for r in rows:
            writer.writerow(_cells(r, with_spec) + list(r.values))
        return buf.getvalue()
    table = [header + [m.header for m in metrics]]
    table += [_cells(r, with_spec) + [m.show(v) for m, v in zip(metrics, r.values, strict=True)]
              for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    n_text = len(header)  # text columns left-aligned, numbers right-aligned
    lines = ["| " + " | ".join(c.ljust(w) if i < n_text else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |"
             for row in table]
    rule = "| " + " | ".join("-" * (w - 1) + (":" if i >= n_text else "-")
                             for i, w in enumerate(widths)) + " |"
    return "\n".join([lines[0], rule, *lines[1:]]) + "\n"


def _cells(r: Row, with_spec: bool) -> list[str]:
    return (([r.point.spec] if with_spec else []) + [v for _, v in r.point.settings]
            + ["x".join(map(str, r.input_shape))])


def _without(message: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if message.startswith(prefix):
            return message[len(prefix):]
    return message
