"""``archc table``: a spec rendered back as its paper's table (markdown, LaTeX or CSV). No torch.

One line per row group: a top-level row, or a row inside a ``seq`` group (nested groups are
opened); a row with ``n`` repeats is one line, its repeats' parameters and MACs summed. Each line
shows the row's computed input size as the papers print it (``224² × 3``; a flat vector of C
features is ``1 × 1 × C``), its operator (the row's ``step`` when it states one, else its op),
the paper's columns as the spec writes them (each with the value this variant's model uses:
``c`` scaled by ``--set scaling.width``, ``c: num_classes`` as 1000), and its parameters and MACs.

The papers leave normalisation, activation, dropout and flatten implicit (MobileNetV1's
"Conv / s2" line includes its batch norm and ReLU): rows of those ops (``FOLDED``) are folded into
the line above, their parameters and MACs added to it, unless they state a ``step``.
Auxiliary heads are marked "(training only)"; the total's MACs are an inference pass's, as in
``archc check``.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

from ..ir.graph import Node
from ..ir.shapes import Model

FOLDED = frozenset({"act", "batch_norm", "layer_norm", "dropout", "flatten", "identity",
                    "stochastic_depth"})
MISSING = "-"  # a column the row does not write, as the papers print it
AUX = " (training only)"  # an auxiliary head (GoogLeNet's), outside an inference pass


@dataclass
class Line:
    """One line of the table: a row group and its repeats (plus any rows folded into it)."""

    shape: tuple[int, ...]  # the input shape, batch excluded
    layout: str  # "CHW", "HWC", "LC", "C": one letter per dimension
    operator: str
    repeats: int = 1
    aux: bool = False  # in an auxiliary head: its MACs are not in the total (inference)
    cells: dict = field(default_factory=dict)  # column -> value, in the row's written order
    params: int = 0
    macs: int = 0

    @property
    def input(self) -> str:
        """The input size as the papers print it: ``224² × 3``, ``56 × 28 × 24``, ``1 × 1 × C``."""
        return size_text(self.shape, self.layout)


def size_text(shape: tuple[int, ...], layout: str, square: str = "²", times: str = " × ") -> str:
    """A shape as H²×C (square maps), H×W×C, 1×1×C (features) or L×C (tokens)."""
    dims = dict(zip(layout, shape, strict=True)) if len(layout) == len(shape) else {}
    if set(dims) == {"C", "H", "W"}:
        h, w, c = dims["H"], dims["W"], dims["C"]
        return f"{h}{square}{times}{c}" if h == w else times.join(map(str, (h, w, c)))
    if layout == "C":
        return times.join(("1", "1", str(shape[0])))
    return times.join(map(str, shape))


def table_lines(model: Model) -> list[Line]:
    """The model's rows grouped into the paper's lines (see the module docstring)."""
    lines: list[Line] = []
    aux = set(model.checked.spec.aux_outputs)
    for node in model.graph.nodes():
        _collect([node], lines, node.id in aux)
    if any("n" in ln.cells for ln in lines):  # every line repeats n times, 1 unless written
        for ln in lines:
            ln.cells.setdefault("n", ln.repeats)
    return lines


def _collect(nodes: list[Node], lines: list[Line], aux: bool) -> None:
    last_key = None
    for node in nodes:
        if node.kind == "seq":
            _collect(node.body.nodes(), lines, aux)
            last_key = None
            continue
        row = node.inline_row if node.inline_row is not None else node.row
        key = (id(node.doc), node.inline_path if node.inline_row is not None else node.row_path)
        if key == last_key:  # a further repeat of the row (or node of its inline block)
            lines[-1].params += node.params
            lines[-1].macs += node.macs
            continue
        last_key = key
        if node.op in FOLDED and not row.step and lines and lines[-1].aux == aux:
            lines[-1].params += node.params
            lines[-1].macs += node.macs
            continue
        lines.append(Line(
            shape=tuple(node.in_shapes[0]) if node.in_shapes else (),
            layout=node.in_layouts[0] if node.in_layouts else "",
            operator=(row.step or getattr(node.impl, "operator", "") or node.op)
            + (AUX if aux else ""), aux=aux,
            repeats=node.repeats, cells=_cells(node),
            params=node.params, macs=node.macs))


def _cells(node: Node) -> dict:
    """The row's columns as written, each with its value in this variant: an expression or a
    scaled channel count reads as the number the model uses (``c: num_classes`` is 1000)."""
    cells = {}
    for key, written in node.columns.items():
        cells[key] = node.repeats if key == "n" else node.args.get(key, written)
    return cells


def columns(lines: list[Line]) -> list[str]:
    """The columns in the order the spec writes them: the most common operator's lines first
    (MobileNetV2's bottleneck rows give t, c, n, s), then the others' columns as they appear."""
    if not lines:
        return []
    main = Counter(line.operator for line in lines).most_common(1)[0][0]
    # the paper's columns are its main operator's (MobileNetV2: t, c, n, s); a column only
    # other rows write (a conv's k, an act) is left out: archc summary shows every column
    return list(dict.fromkeys(key for ln in lines if ln.operator == main for key in ln.cells))


def _value(value) -> str:
    if isinstance(value, bool):  # as YAML writes it
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _grid(model: Model) -> tuple[list[str], list[Line], list[list[str]]]:
    lines = table_lines(model)
    cols = columns(lines)
    body = [[_value(ln.cells[c]) if c in ln.cells else MISSING for c in cols] for ln in lines]
    return cols, lines, body


def render_markdown(model: Model) -> str:
    """A GitHub-flavoured markdown table with a total line."""
    cols, lines, body = _grid(model)
    header = ["Input", "Operator", *cols, "Params", "MACs"]
    rows = [[ln.input, *(c.replace("|", "\\|") for c in (ln.operator, *cells)),
             f"{ln.params:,}", f"{ln.macs:,}"] for ln, cells in zip(lines, body, strict=True)]
    rows.append(["", "total", *[""] * len(cols), f"{model.params:,}", f"{model.macs:,}"])
    widths = [max(3, *(len(r[i]) for r in [header, *rows])) for i in range(len(header))]
    right = {i for i in range(2, len(header))}  # numbers and short columns

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if i in right else "-" * w
                             for i, w in enumerate(widths)) + " |"
    return "\n".join([fmt(header), rule, *map(fmt, rows)]) + "\n"


def render_csv(model: Model) -> str:
    """CSV (the csv module's dialect): plain integers, no total line."""
    cols, lines, body = _grid(model)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["input", "operator", *cols, "params", "macs"])
    for ln, cells in zip(lines, body, strict=True):
        writer.writerow([ln.input, ln.operator, *cells, ln.params, ln.macs])
    return out.getvalue()


_TEX = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#",
        "$": r"\$", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}"}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def render_latex(model: Model) -> str:
    """A LaTeX ``tabular`` (no packages needed) with a total line."""
    cols, lines, body = _grid(model)
    spec = "ll" + "r" * (len(cols) + 2)
    out = [f"% {_tex(model.checked.spec.name)}: archc table", f"\\begin{{tabular}}{{{spec}}}",
           "\\hline",
           " & ".join(["Input", "Operator", *map(_tex, cols), "Params", "MACs"]) + r" \\",
           "\\hline"]
    for ln, cells in zip(lines, body, strict=True):
        size = size_text(ln.shape, ln.layout, square="^2", times=r" \times ")
        out.append(" & ".join([f"${size}$", _tex(ln.operator), *map(_tex, cells),
                               f"{ln.params:,}", f"{ln.macs:,}"]) + r" \\")
    out += ["\\hline",
            " & ".join(["", "total", *[""] * len(cols), f"{model.params:,}",
                        f"{model.macs:,}"]) + r" \\",
            "\\hline", "\\end{tabular}"]
    return "\n".join(out) + "\n"


FORMATS = {"markdown": render_markdown, "latex": render_latex, "csv": render_csv}
