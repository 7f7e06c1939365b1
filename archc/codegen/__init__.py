"""Graph -> standalone PyTorch source. Python computes everything into a view model; the jinja2
template only prints it. Output is deterministic (no timestamps) and already ruff-formatted."""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path

import jinja2

from ..diagnostics import SpecError
from ..frontend import BlockDef
from ..frontend.names import module_stem
from ..ir.graph import Node, walk
from ..ir.shapes import Model, published
from ..ops import ACTIVATIONS
from ..ops.runtime_source import class_source, inference_sources, runtime_names
from ..writer import FILE_PLACEHOLDER, stamp
from .audit import audit_source
from .blocks import BlockWriter, Context
from .hub import TABLE, helper_source, table_source
from .model import model_kwargs, model_lines
from .pysrc import Call, comment, docstring_text, render

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(_TEMPLATES)), undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
)

MAKE_DIVISIBLE = '''def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round v to a multiple of divisor, at least min_value, losing no more than 10%."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v'''


def factory_name(path: str) -> str:
    """The factory function name for a spec file: its stem as a Python identifier (one that
    shadows nothing: archc.spec.names.stem_problem, reported by check)."""
    return module_stem(path)


def _ordered_defs(model: Model, instances: dict[str, list[Node]]) -> list[BlockDef]:
    ops = model.checked.ops
    order: list[BlockDef] = []

    def visit(name: str) -> None:
        bdef = ops[name]
        if bdef in order:
            return
        for used in sorted(bdef.uses):
            if isinstance(ops.get(used), BlockDef):
                visit(used)
        order.append(bdef)

    for name in instances:
        visit(name)
    # Every class a written class can construct, instances or not: a block class is general
    # (bneck's SqueezeExcitation under 'if se:' is needed even when every bneck has se: false).
    return order


def _activation_helper(names: list[str]) -> str:
    lines = ['def _activation(name: str, inplace: bool = False) -> nn.Module:',
             '    """The activation layer a block parameter names."""']
    for name in names:
        cls, _, can_inplace = ACTIVATIONS[name]
        arg = "inplace=inplace" if can_inplace else ""
        lines.append(f'    if name == "{name}":')
        lines.append(f"        return nn.{cls}({arg})")
    lines.append('    raise ValueError(f"unknown activation {name}")')
    return "\n".join(lines)


def _apply_activation_helper(names: list[str]) -> str:
    lines = ["def _apply_activation(name: str, x: Tensor) -> Tensor:",
             '    """Apply the activation a block parameter names."""']
    for name in names:
        spelling = ACTIVATIONS[name][1].format(x="x")
        lines.append(f'    if name == "{name}":')
        lines.append(f"        return {spelling}")
    lines.append('    raise ValueError(f"unknown activation {name}")')
    return "\n".join(lines)


def display_path(path: str) -> str:
    """The spec path as written in headers: relative to the working directory when inside it."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.name


def generate_source(model: Model, overrides: list[str] | None = None,
                    features: bool = False, inference: bool = False) -> str:
    """Source text of a standalone module for ``model`` (built with ``--set overrides``);
    ``features``: the backbone returning its feature maps; ``inference``: with a factory that
    loads a training state_dict and folds it for inference."""
    checked = model.checked
    spec = checked.spec
    instances: dict[str, list[Node]] = {}
    for node in walk(model.graph.nodes()):
        if node.kind == "block":
            instances.setdefault(node.op, []).append(node)
    ctx = Context(checked.ops, {"eps": spec.norm.eps, "momentum": spec.norm.momentum}, instances)
    defs = _ordered_defs(model, instances)
    names = {d.class_name for d in defs}
    if spec.name in names or len(names) != len(defs) or names & {"Tensor"}:
        raise SpecError([checked.document.diag(("name",), f"class name {spec.name!r} clashes "
                                               "with a block class", "E501")])
    blocks = ["\n".join(BlockWriter(d, ctx).lines()) for d in defs]
    steps = None
    if features:
        from ..ir.features import feature_points, plan

        steps = plan(model, feature_points(model))
        kept = {n.id for n in steps and [s.node for s in steps]}
        instances = {}
        for node in walk([n for n in model.graph.nodes() if n.id in kept]):
            if node.kind == "block":
                instances.setdefault(node.op, []).append(node)
        ctx.instances = instances
        defs = _ordered_defs(model, instances)
        blocks = ["\n".join(BlockWriter(d, ctx).lines()) for d in defs]
    model_src = "\n".join(model_lines(model, steps, ctx))
    body = "\n".join(blocks) + model_src
    acts = sorted({n.args["fn"] for n in walk(model.graph.nodes()) if n.op == "act"}
                  | ctx.activations)  # every activation a block's parameters can name
    if any(k.type == "str" for k in model_kwargs(checked)):  # a keyword argument may name any
        acts = sorted(ACTIVATIONS)
    helpers = []
    if "_make_divisible(" in body:
        helpers.append(MAKE_DIVISIBLE)
    if re.search(r"\b_activation\(", body):
        helpers.append(_activation_helper(acts))
    if "_apply_activation(" in body:
        helpers.append(_apply_activation_helper(acts))
    helpers += [class_source(name) for name in runtime_names() if f"{name}(" in body]
    if inference:
        helpers += inference_sources()
    helpers.append(helper_source())  # weights= also takes a local file, with or without a table
    everything = body + "\n".join(helpers)
    imports = ["import math"] if "math." in everything else []
    imports += ["import warnings"]
    # a group with named children (torchvision's DenseNet features)
    imports += ["from collections import OrderedDict"] if "OrderedDict(" in body else []
    imports += [""]
    imports += ["import torch"] if re.search(r"\btorch\.", everything) else []
    imports += ["from torch import Tensor, nn"]
    raw = Path(checked.path).read_bytes() if Path(checked.path).is_file() else \
        checked.document.text.encode()
    paper = spec.paper
    paper_line = ""
    if paper:
        bits = [paper.authors, f"({paper.year})." if paper.year else ".", paper.title]
        paper_line = " ".join(b for b in bits if b)
        paper_line += f", {paper.table}" if paper.table else ""
        paper_line += f". {paper.url}" if paper.url else ""
    factory = factory_name(checked.path) + ("_features" if features else "")
    class_name = spec.name + ("Features" if features else "")
    infer_factory = f"{factory}_inference" if inference else None
    src = _ENV.get_template("module.py.j2").render(
        title=docstring_text(f"{spec.name}, generated by archc."),
        description=docstring_text(_wrap(spec.description)) or "",
        paper=docstring_text(_wrap(paper_line)), reference=docstring_text(
            comment(spec.reference)),
        # header fields are one line each: archc.writer reads them back
        spec_path=docstring_text(comment(display_path(checked.path))),
        sha256=hashlib.sha256(raw).hexdigest(), imports=imports, file_sha256=FILE_PLACEHOLDER,
        regenerate=docstring_text(comment(" ".join(
            ["archc build", shlex.quote(display_path(checked.path))]
            + (["--features"] if features else []) + (["--inference"] if inference else [])
            + [f"--set {shlex.quote(o)}" for o in overrides or []]))),
        blocks=helpers + blocks, model=model_src, factory=factory,
        weights_table=table_source(published(model, overrides)),
        load_args=", ".join(["model", "weights", TABLE, "progress"]
                            + (["backbone=True"] if features else [])),
        factory_signature="\n".join(render(0, "def ", Call(factory, [
            "*", "weights: str | None = None", "progress: bool = True", "**kwargs"]),
            f" -> {class_name}:")),
        infer_factory=infer_factory, class_name=class_name, factory_doc=docstring_text(
            f"{spec.name} ({model.params:,} parameters, {model.macs:,} MACs at "
            f"{'x'.join(map(str, model.input_shape))})." if not features else
            f"The {spec.name} backbone ({_backbone_params(steps):,} parameters)."),
    )
    src = stamp(src.rstrip("\n") + "\n")
    audit_source(src)  # nothing outside the allow-list is returned, so nothing is written or run
    return src


def _backbone_params(steps) -> int:
    return sum(n.params for n in {s.node.id: s.node for s in steps}.values())


def _wrap(text: str, width: int = 84) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(comment(text), width)) if text else ""
