"""``archc sweep --pareto``: MACs against parameters as an SVG, through matplotlib (the
``plot`` extra). The bytes are deterministic for one matplotlib version (fixed hash salt, no
date); the plotted points are also written into the SVG's description as JSON, so a test can
check a committed picture against the sweep without comparing bytes across versions."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

from .sweep import Row


class PlotMissing(Exception):
    """matplotlib is not installed."""


def label(row: Row, with_spec: bool) -> str:
    """Short point label: the grid values and the input size (``0.75 192`` for width 0.75
    at 192x192); the title names the keys."""
    parts = [Path(row.point.spec).stem] if with_spec else []
    parts += [value for _, value in row.point.settings]
    if row.point.input is not None:
        h, w = row.input_shape[-2:] if len(row.input_shape) == 3 else (row.input_shape[-1],) * 2
        parts.append(str(h) if h == w else f"{h}x{w}")
    return " ".join(parts) or Path(row.point.spec).stem


def title(rows: Sequence[Row], specs: Sequence[str]) -> str:
    """The specs, and what a label's parts are."""
    keys = [key for key, _ in rows[0].point.settings] if rows else []
    if rows and rows[0].point.input is not None:
        keys.append("input size")
    named = ", ".join(map(str, specs))
    return f"{named}\nlabels: {', '.join(keys)}" if keys else named


def points(rows: Sequence[Row]) -> list[dict]:
    """What the picture shows: label, MACs (x) and params (y) of each point."""
    with_spec = len({r.point.spec for r in rows}) > 1
    return [{"label": label(r, with_spec), "macs": r.values[1], "params": r.values[0]}
            for r in rows]


def read_points(svg: str) -> list[dict]:
    """The points an SVG written by :func:`pareto_svg` records in its description."""
    import html
    import re

    found = re.search(r"<dc:description>(.*?)</dc:description>", svg, re.S)
    if not found:
        raise ValueError("no archc sweep points in this SVG")
    return json.loads(html.unescape(found.group(1)))


def pareto_svg(rows: Sequence[Row], specs: Sequence[str]) -> bytes:
    """MACs (x, millions) against parameters (y, millions) on log axes, every point
    labelled: the cost plane a variant is chosen in."""
    try:
        import matplotlib
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        raise PlotMissing("--pareto needs matplotlib (pip install matplotlib, or pip install "
                          "-e '.[plot]' in a checkout)") from exc
    data = points(rows)
    with matplotlib.rc_context({"svg.hashsalt": "archc", "svg.fonttype": "path",
                                "font.size": 8}):
        fig = Figure(figsize=(6.4, 4.4))
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        xs = [p["macs"] / 1e6 for p in data]
        ys = [p["params"] / 1e6 for p in data]
        ax.scatter(xs, ys, s=14, color="tab:blue", zorder=3)
        for p, x, y in zip(data, xs, ys, strict=True):
            ax.annotate(p["label"], (x, y), xytext=(2, 4), textcoords="offset points",
                        fontsize=6, rotation=35)
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")  # 200, not 2 x 10^2
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(plain)
        ax.tick_params(which="minor", labelsize=6)
        ax.margins(x=0.1, y=0.1)
        ax.set_xlabel("MACs (millions, batch 1)")
        ax.set_ylabel("parameters (millions)")
        ax.set_title(title(rows, specs))
        ax.grid(True, which="both", linewidth=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={
            "Date": None, "Creator": "archc sweep --pareto",
            "Description": json.dumps(data, separators=(",", ":"))})
    return buf.getvalue()


def available() -> bool:
    """Whether matplotlib can be imported (asked before a sweep runs, not after it)."""
    try:
        import matplotlib  # noqa: F401  (importlib stays registry.py's, see test_security)
    except ImportError:
        return False
    return True
