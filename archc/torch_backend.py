"""Graph -> live ``torch.nn.Module``. Groups become ``nn.Sequential``; other containers (the model,
blocks with branches or skips) become a :class:`GraphBlock` that runs its nodes in order. The
module tree is the one the generated code builds, so state_dicts are interchangeable."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .blocks import init
from .graph import INPUT, Graph, Node
from .loader import Budget
from .shapes import Model


class GraphBlock(nn.Module):
    """A container with named children and a fixed dataflow (residuals, branches, gates)."""

    def __init__(self, steps: list[tuple[str, object, tuple[int, ...]]], out: int,
                 kind: str = "", aux: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.kind = kind
        calls = []
        for i, (name, fn, idx) in enumerate(steps, start=1):
            if isinstance(fn, nn.Module) and name and i not in aux:
                self.add_module(name, fn)
            calls.append((fn, idx, i in aux))
        for i, (name, fn, _) in enumerate(steps, start=1):
            if i in aux:  # auxiliary heads come last, as in torchvision's GoogLeNet
                self.add_module(name, fn)
        self._calls = calls
        self._out = out
        self._aux = aux  # steps run only in training; their outputs follow the main one

    def forward(self, x: torch.Tensor):
        values = [x]
        training = self.training
        for fn, idx, aux in self._calls:
            if aux and not training:
                values.append(None)
                continue
            values.append(fn(*[values[i] for i in idx]))
        if self._aux and training:
            return (values[self._out], *[values[i] for i in self._aux])
        return values[self._out]

    def extra_repr(self) -> str:
        return self.kind


def _module(node: Node):
    if node.kind == "seq":
        return nn.Sequential(*[_module(n) for n in node.body.nodes()])
    if node.kind == "block":
        if node.impl.sequential:
            return nn.Sequential(*[_module(n) for n in node.body.nodes()])
        return _container(node.body, node.impl.class_name)
    if (node.name is None or not node.impl.has_module) and node.impl.functional:
        return node.impl.function(node.args)
    return node.impl.module(node.args, node.in_shapes)


def _container(graph: Graph, kind: str, aux_names: list[str] | None = None) -> GraphBlock:
    position = {INPUT: 0}
    aux_names = aux_names or []
    nodes = graph.nodes()
    # Auxiliary heads are built after the main network (torchvision's order, so that seeded
    # initialisation draws the same random numbers).
    built = {n.id: _module(n) for n in nodes if n.id not in aux_names}
    built.update({n.id: _module(n) for n in nodes if n.id in aux_names})
    steps = []
    for i, node in enumerate(nodes, start=1):
        position[node.id] = i
        steps.append((node.name, built[node.id], tuple(position[s] for s in node.inputs)))
    aux = tuple(position[name] for name in aux_names)
    return GraphBlock(steps, position[graph.output], kind, aux)


def build_module(model: Model) -> nn.Module:
    """Instantiate the elaborated model and initialise it with the spec's scheme."""
    spec = model.checked.spec
    module = _container(model.graph, model.name, spec.aux_outputs)
    init.apply(spec.init, module)
    return module


def build_model(spec: str | Path | Model, budget: Budget | None = None) -> nn.Module:
    """A live ``nn.Module`` for a spec path or an inferred :class:`Model` (a spec path is
    checked against ``budget`` before torch allocates anything)."""
    if not isinstance(spec, Model):
        from .api import compile_spec

        spec = compile_spec(spec, budget)
    return build_module(spec)


class Backbone(nn.Module):
    """The model cut after its last feature map; forward returns the feature maps."""

    def __init__(self, steps: list[tuple[str | None, object, int | None, int | None, bool]],
                 kind: str = "") -> None:
        super().__init__()
        self.kind = kind
        program = []
        for name, fn, start, end, keep in steps:
            if name and isinstance(fn, nn.Module) and name not in self._modules:
                self.add_module(name, fn)
            program.append((fn if start is None else fn[start:end], keep))
        self._program = program

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for fn, keep in self._program:
            x = fn(x)
            if keep:
                features.append(x)
        return features


def build_backbone(model: Model) -> nn.Module:
    """A backbone returning the spec's feature maps (``features:`` or strides 4-32)."""
    from .features import feature_points, plan

    steps, built = [], {}
    for step in plan(model, feature_points(model)):
        node = step.node
        if node.id not in built:
            built[node.id] = _module(node)
        steps.append((node.name, built[node.id], step.start, step.end, step.point is not None))
    module = Backbone(steps, model.name)
    init.apply(model.checked.spec.init, module)
    return module
