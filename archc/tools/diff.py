"""``archc diff A B``: what an edit changed, row by row (shapes, parameters, MACs)."""

from __future__ import annotations

from ..ir.shapes import Model, describe
from .summary import summary_dict


def diff_dict(a: Model, b: Model) -> dict:
    """Rows matched by module path: added, removed and changed, with totals."""
    ra = {r["name"]: r for r in summary_dict(a)["rows"]}
    rb = {r["name"]: r for r in summary_dict(b)["rows"]}
    rows = []
    for name in list(ra) + [n for n in rb if n not in ra]:
        old, new = ra.get(name), rb.get(name)
        if old and new:
            changed = {k: [old[k], new[k]] for k in ("op", "columns", "input_shape",
                                                     "output_shape", "params", "macs")
                       if old[k] != new[k]}
            if changed:
                rows.append({"name": name, "change": "changed", "fields": changed})
        else:
            row = old or new
            rows.append({"name": name, "change": "removed" if old else "added",
                         "op": row["op"], "output_shape": row["output_shape"],
                         "params": row["params"], "macs": row["macs"]})
    return {
        "a": a.checked.path, "b": b.checked.path, "rows": rows,
        "params": [a.params, b.params], "macs": [a.macs, b.macs],
        "output_shape": [list(a.output_shape), list(b.output_shape)],
    }


def _delta(old: int, new: int) -> str:
    change = new - old
    pct = f" ({change / old:+.1%})" if old else ""
    return f"{old:,} -> {new:,}  {change:+,}{pct}"


def diff_text(a: Model, b: Model) -> str:
    data = diff_dict(a, b)
    lines = [f"--- {data['a']}", f"+++ {data['b']}"]
    for row in data["rows"]:
        if row["change"] == "changed":
            lines.append(f"~ {row['name']}")
            for field, (old, new) in row["fields"].items():
                if field in ("input_shape", "output_shape"):
                    old, new = describe(old), describe(new)
                elif field in ("params", "macs"):
                    lines.append(f"    {field}: {_delta(old, new)}")
                    continue
                lines.append(f"    {field}: {old} -> {new}")
        else:
            sign = "+" if row["change"] == "added" else "-"
            lines.append(f"{sign} {row['name']} ({row['op']}) {describe(row['output_shape'])}"
                         f"  params {row['params']:,}  MACs {row['macs']:,}")
    if not data["rows"]:
        lines.append("(no row differs)")
    lines.append(f"params  {_delta(*data['params'])}")
    lines.append(f"MACs    {_delta(*data['macs'])}")
    return "\n".join(lines)
