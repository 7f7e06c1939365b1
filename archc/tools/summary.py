"""Per-row summaries of an inferred model (text table and JSON). No torch."""

from __future__ import annotations

from ..ir.graph import Node
from ..ir.shapes import Model, describe

BYTES = 4  # float32: activation memory is reported for float32 at batch 1


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"


def _rows(nodes: list[Node], prefix: str = ""):
    for node in nodes:
        path = f"{prefix}{node.name}" if node.name else f"{prefix}({node.op})"
        if node.kind == "seq":
            yield from _rows(node.body.nodes(), f"{path}.")
        else:
            yield path, node


def summary_dict(model: Model) -> dict:
    """Everything ``archc summary --json`` prints."""
    rows = []
    for path, node in _rows(model.graph.nodes()):
        rows.append({
            "name": path,
            "op": node.op,
            "columns": {k: v for k, v in node.columns.items()},
            # the values the columns resolve to (c=num_classes: 1000)
            "values": {k: node.args.get(k, v) for k, v in node.columns.items()},
            "repeat": node.repeat,
            "input_shape": list(node.in_shapes[0]) if node.in_shapes else [],
            "output_shape": list(node.out_shape),
            # one letter per dimension after the batch: CHW, HWC, LC (tokens), C (features)
            "input_layout": node.in_layouts[0] if node.in_layouts else "",
            "output_layout": node.layout,
            "params": node.params,
            "macs": node.macs,
            "activation_bytes": node.activations * BYTES,
        })
    spec = model.checked.spec
    from ..diagnostics import SpecError
    from ..ir.features import feature_points

    try:
        features = [{"name": p.path, "stride": p.stride, "shape": list(p.shape)}
                    for p in feature_points(model)]
    except SpecError:
        features = []
    return {
        "name": spec.name,
        "spec": model.checked.path,
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
        "params": model.params,
        "trainable_params": model.params,
        "macs": model.macs,
        "aux_macs": model.aux_macs,
        "activation_bytes": model.activations * BYTES,
        "features": features,
        "rows": rows,
    }


def summary_text(model: Model) -> str:
    """A table keyed to the spec's rows, with totals."""
    data = summary_dict(model)
    header = ("row", "op", "columns", "output", "params", "MACs", "act mem")
    table = [header]
    for r in data["rows"]:
        cols = ", ".join(_column(k, v, r["values"][k]) for k, v in r["columns"].items()) \
            if not r["repeat"] else "  (repeat)"
        table.append((r["name"], r["op"], cols, describe(r["output_shape"]),
                      f"{r['params']:,}", f"{r['macs']:,}", human_bytes(r["activation_bytes"])))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = [f"{data['name']}  ({data['spec']})", ""]
    for i, row in enumerate(table):
        cells = [str(c).ljust(w) if j < 4 else str(c).rjust(w)
                 for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"input   {describe(data['input_shape'])}")
    lines.append(f"output  {describe(data['output_shape'])}")
    lines.append(f"params  {data['params']:,} ({data['trainable_params']:,} trainable)")
    lines.append(f"size    {human_bytes(data['params'] * BYTES)} (float32 weights)")
    lines.append(f"MACs    {data['macs']:,}" + (
        f" (+{data['aux_macs']:,} in auxiliary heads, training only)" if data["aux_macs"] else ""))
    lines.append(f"activation memory  {human_bytes(data['activation_bytes'])} (float32, batch 1, "
                 "every layer's output)")
    if data["features"]:
        lines.append("features (archc build --features):")
        for f in data["features"]:
            stride = f"stride {f['stride']}" if f["stride"] else ""
            lines.append(f"  {f['name']:<16} {describe(f['shape']):<20} {stride}")
    return "\n".join(lines)


def _written(value) -> str:
    """A column as the spec writes it: a list's expression items unquoted ([1, 1, hidden])."""
    if isinstance(value, list):
        return "[" + ", ".join(_written(v) for v in value) + "]"
    return str(value)


def _column(key: str, written, value) -> str:
    """``c=1000 (num_classes)``: the value, and the expression it was written as where it is
    one (a number written as a number shows once)."""
    shown = _written(value)
    if _has_expression(written) and _written(written) != shown:
        return f"{key}={shown} ({_written(written)})"
    return f"{key}={shown}"


def _has_expression(value) -> bool:
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return isinstance(value, str)
