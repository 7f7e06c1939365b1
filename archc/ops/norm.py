"""Batch normalisation. eps and momentum default to the spec's ``norm:`` settings, because the
reference families differ (1e-5/0.1 in most of torchvision, 1e-3/0.01 in MobileNetV3)."""

from __future__ import annotations

from .base import Call, Param, Primitive, ShapeError
from .conv import _kw, fmt


class BatchNorm(Primitive):
    op = "batch_norm"
    doc = "Batch normalisation over channels (nn.BatchNorm2d, or nn.BatchNorm1d after flatten)."
    has_weights = True
    params = (
        Param("eps", "float", default=None, doc="epsilon (default: the spec's norm.eps)"),
        Param("momentum", "float", default=None,
              doc="running-stat momentum (default: the spec's norm.momentum)"),
    )
    context_defaults = {"eps": "eps", "momentum": "momentum"}

    def infer(self, args, shapes):
        (shape,) = shapes
        if len(shape) not in (1, 3):
            raise ShapeError(f"batch_norm expects (N, C, H, W) or (N, F), got {fmt(shape)}")
        return shape, 2 * shape[0], 0

    def source(self, args, in_channels, shape):
        parts = [str(in_channels)] + _kw("eps", args["eps"], 1e-5)
        parts += _kw("momentum", args["momentum"], 0.1)
        return Call(f"nn.BatchNorm{'1' if len(shape) == 1 else '2'}d", parts)
