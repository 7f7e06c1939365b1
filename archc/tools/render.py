"""``archc graph``: the layer graph as DOT, Mermaid, JSON or SVG (through Graphviz).

Containers (groups, block instances) nested less than ``depth`` levels deep are drawn as
clusters showing their rows, so skip connections and inception branches are visible; deeper
ones are single nodes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ..ir.graph import INPUT, Graph, Node
from ..ir.shapes import Model, describe


@dataclass
class Drawing:
    nodes: list[dict] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    clusters: list[dict] = field(default_factory=list)  # id, label, parent, members


def layout(model: Model, depth: int = 2) -> Drawing:
    """Nodes, edges and clusters of the model down to ``depth`` levels of nesting."""
    d = Drawing()
    d.nodes.append({"id": "input", "label": "input", "op": "input",
                    "shape": describe(model.input_shape), "cluster": None})

    def emit(graph: Graph, level: int, source: str, cluster: str | None, prefix: str) -> str:
        exits = {INPUT: source}
        for node in graph.nodes():
            srcs = [exits[i] for i in node.inputs]
            uid = f"{prefix}{node.id}"  # unique even for unnamed rows of the same op
            if node.body is not None and level < depth:
                cid = f"cluster_{_safe(uid)}"
                d.clusters.append({"id": cid, "label": _label(node), "parent": cluster})
                exits[node.id] = emit(node.body, level + 1, srcs[0], cid, uid + ".")
                continue
            nid = _safe(uid)
            d.nodes.append({"id": nid, "label": node.path, "op": node.op or "seq",
                            "shape": describe(node.out_shape), "params": node.params,
                            "macs": node.macs, "cluster": cluster})
            d.edges.extend((s, nid) for s in srcs)
            exits[node.id] = nid
        return exits[graph.output]

    last = emit(model.graph, 0, "input", None, "")
    d.nodes.append({"id": "output", "label": "output", "op": "output",
                    "shape": describe(model.output_shape), "cluster": None})
    d.edges.append((last, "output"))
    return d


def _safe(path: str) -> str:
    # '#' (unnamed rows) and '.' (nesting) map to distinct spellings, so ids stay unique
    return "n_" + re.sub(r"[^0-9A-Za-z_]", "_", path.replace("#", "__").replace(".", "_o_"))


def _label(node: Node) -> str:
    return f"{node.path} ({node.op})" if node.op else node.path


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(model: Model, depth: int = 2) -> str:
    d = layout(model, depth)
    lines = [f"digraph {_quote(model.name)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fillcolor="#f4f6fb", fontname="Helvetica",'
             " fontsize=10];", '  edge [color="#5b6b8c"];']
    children: dict[str | None, list] = {}
    for c in d.clusters:
        children.setdefault(c["parent"], []).append(c)

    def body(cluster: str | None, indent: str) -> None:
        for n in d.nodes:
            if n["cluster"] == cluster:
                label = f"{n['label']}\n{n['op']}  {n['shape']}"
                lines.append(f"{indent}{n['id']} [label={_quote(label)}];")
        for c in children.get(cluster, []):
            lines.append(f"{indent}subgraph {c['id']} {{")
            lines.append(f"{indent}  label={_quote(c['label'])}; style=rounded; "
                         'color="#9aa6c4";')
            body(c["id"], indent + "  ")
            lines.append(f"{indent}}}")

    body(None, "  ")
    lines += [f"  {a} -> {b};" for a, b in d.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(model: Model, depth: int = 2) -> str:
    d = layout(model, depth)
    lines = ["flowchart TD"]
    children: dict[str | None, list] = {}
    for c in d.clusters:
        children.setdefault(c["parent"], []).append(c)

    def text(s: str) -> str:
        return s.replace('"', "#quot;")

    def body(cluster: str | None, indent: str) -> None:
        for n in d.nodes:
            if n["cluster"] == cluster:
                lines.append(f'{indent}{n["id"]}["{text(n["label"])}<br/>{text(n["op"])} '
                             f'{text(n["shape"])}"]')
        for c in children.get(cluster, []):
            lines.append(f'{indent}subgraph {c["id"]}["{text(c["label"])}"]')
            body(c["id"], indent + "  ")
            lines.append(f"{indent}end")

    body(None, "  ")
    lines += [f"  {a} --> {b}" for a, b in d.edges]
    return "\n".join(lines) + "\n"


def to_json(model: Model, depth: int = 2) -> str:
    d = layout(model, depth)
    return json.dumps({"name": model.name, "depth": depth, "nodes": d.nodes,
                       "edges": [list(e) for e in d.edges], "clusters": d.clusters},
                      indent=2) + "\n"


class GraphvizMissing(RuntimeError):
    pass


def to_svg(model: Model, depth: int = 2) -> str:
    """SVG rendered by Graphviz's ``dot`` (must be installed)."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing("Graphviz's 'dot' is not installed (e.g. apt-get install "
                              "graphviz); use --format dot or mermaid instead")
    result = subprocess.run([dot, "-Tsvg"], input=to_dot(model, depth), capture_output=True,
                            text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise GraphvizMissing(f"dot failed: {result.stderr.strip()[:200]}")
    return result.stdout


FORMATS = {"dot": to_dot, "mermaid": to_mermaid, "json": to_json, "svg": to_svg}
