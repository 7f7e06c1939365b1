"""Backbone builds: the rows whose outputs are returned as feature maps (like timm's
features_only). No torch here; codegen turns the plan into the backbone's source, which
``build_model(features=True)`` runs."""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import SpecError
from .graph import INPUT, Node
from .shapes import Model

STRIDES = (4, 8, 16, 32)


@dataclass(frozen=True)
class FeaturePoint:
    path: str  # module path, e.g. layer2 or features.6
    top: Node  # the top-level node that holds it
    child: int | None  # index inside the top-level group, or None for the node itself
    stride: int | None
    shape: tuple[int, ...]


HEAD_OPS = ("global_avg_pool", "adaptive_avg_pool", "flatten", "linear")


def _candidates(model: Model):
    for node in model.graph.nodes():
        if node.id in model.checked.spec.aux_outputs:
            continue
        if node.op in HEAD_OPS or node.layout != "CHW":  # the head (or tokens) start: no
            return  # more (N, C, H, W) feature maps
        if node.kind == "seq" and node.name:
            for i, child in enumerate(node.body.nodes()):
                if child.layout == "CHW":
                    yield f"{node.name}.{child.name}", node, i, child.out_shape  # its key
        yield node.name or node.path, node, None, node.out_shape


def _stride(model: Model, shape) -> int | None:
    if len(shape) != 3 or len(model.input_shape) != 3:
        return None
    h, w = model.input_shape[1:]
    if h % shape[1] or w % shape[2] or h // shape[1] != w // shape[2]:
        return None
    return h // shape[1]


def feature_points(model: Model) -> list[FeaturePoint]:
    """The spec's ``features:`` rows, or the last row at each stride 4, 8, 16, 32."""
    spec = model.checked.spec
    _require_chain(model)
    found = {path: (top, child, shape) for path, top, child, shape in _candidates(model)}
    if spec.features is not None:
        points, doc = [], model.checked.document
        for i, path in enumerate(spec.features):
            if path not in found:
                from ..expr import did_you_mean

                raise SpecError([doc.diag(("features", i), f"features: no row {path!r} (use a "
                                          "top-level row or group.index)", "E701",
                                          hint=did_you_mean(path, found))])
            top, child, shape = found[path]
            points.append(FeaturePoint(path, top, child, _stride(model, shape), shape))
        order = list(found)
        if [p.path for p in points] != sorted((p.path for p in points), key=order.index):
            raise SpecError([doc.diag(("features",), "features must be listed in forward order",
                                      "E701")])
        return points
    best: dict[int, FeaturePoint] = {}
    for path, (top, child, shape) in found.items():  # forward order; a group after its rows
        stride = _stride(model, shape)
        if stride in STRIDES:
            best[stride] = FeaturePoint(path, top, child, stride, shape)
    if not best:
        raise SpecError([model.checked.document.diag(("layers",), "no feature maps at strides "
                                                     "4/8/16/32; list them under 'features:'",
                                                     "E702")])
    return [best[s] for s in STRIDES if s in best]




def _require_chain(model: Model) -> None:
    prev = INPUT
    aux = set(model.checked.spec.aux_outputs)
    for node in model.graph.nodes():
        if node.id in aux:
            continue
        if node.inputs != [prev]:
            raise SpecError([node.doc.diag(node.row_path, "backbone builds need the top-level "
                                           "rows to form a chain", "E703")])
        prev = node.id


@dataclass(frozen=True)
class Step:
    """Run a top-level node (or a slice of a top-level group), maybe keeping its output."""

    node: Node
    start: int | None  # slice of the group's rows, or None for the whole node
    end: int | None
    point: FeaturePoint | None


def plan(model: Model, points: list[FeaturePoint]) -> list[Step]:
    """The forward of a backbone: every top-level node up to the last feature, groups cut
    where a feature lies inside them."""
    aux = set(model.checked.spec.aux_outputs)
    steps: list[Step] = []
    last = points[-1].top
    for node in model.graph.nodes():
        if node.id in aux:
            continue
        inner = [p for p in points if p.top is node and p.child is not None]
        whole = next((p for p in points if p.top is node and p.child is None), None)
        if inner:
            start = 0
            for p in inner:
                steps.append(Step(node, start, p.child + 1, p))
                start = p.child + 1
            size = len(node.body.nodes())
            if start < size and (node is not last or whole):
                steps.append(Step(node, start, size, whole))
            elif whole and steps:
                steps[-1] = Step(node, steps[-1].start, steps[-1].end, whole)
        else:
            steps.append(Step(node, None, None, whole))
        if node is last:
            break
    return steps


def feature_info(steps: list[Step]) -> list[dict]:
    """timm's ``feature_info`` for the maps a backbone returns, in order: channels, reduction
    (input size over map size; None where it is not one whole number) and the module whose
    output the map is (a group run in slices: the slice's last row, which a hook can watch)."""
    return [{"num_chs": s.point.shape[0], "reduction": s.point.stride,
             "module": s.point.path if s.start is None else
             f"{s.node.name}.{s.node.body.nodes()[s.end - 1].name}"}
            for s in steps if s.point]
