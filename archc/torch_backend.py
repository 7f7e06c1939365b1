"""Graph -> live ``torch.nn.Module``. Groups become ``nn.Sequential``; other containers (the model,
blocks with branches or skips) become a :class:`GraphBlock` that runs its nodes in order. The
module tree is the one the generated code builds, so state_dicts are interchangeable."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .graph import INPUT, Graph, Node
from .shapes import Model


class GraphBlock(nn.Module):
    """A container with named children and a fixed dataflow (residuals, branches, gates)."""

    def __init__(self, steps: list[tuple[str, object, tuple[int, ...]]], out: int,
                 kind: str = "") -> None:
        super().__init__()
        self.kind = kind
        calls = []
        for name, fn, idx in steps:
            if isinstance(fn, nn.Module) and name:
                self.add_module(name, fn)
            calls.append((fn, idx))
        self._calls = calls
        self._out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = [x]
        for fn, idx in self._calls:
            values.append(fn(*[values[i] for i in idx]))
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


def _container(graph: Graph, kind: str) -> GraphBlock:
    position = {INPUT: 0}
    steps = []
    for i, node in enumerate(graph.nodes(), start=1):
        position[node.id] = i
        steps.append((node.name, _module(node), tuple(position[s] for s in node.inputs)))
    return GraphBlock(steps, position[graph.output], kind)


def build_module(model: Model) -> nn.Module:
    """Instantiate the elaborated model with PyTorch's default initialisation."""
    return _container(model.graph, model.name)


def build_model(spec: str | Path | Model) -> nn.Module:
    """A live ``nn.Module`` for a spec path or an inferred :class:`Model`."""
    if not isinstance(spec, Model):
        from .api import compile_spec

        spec = compile_spec(spec)
    return build_module(spec)
