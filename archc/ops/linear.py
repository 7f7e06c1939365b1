"""Fully connected layer."""

from __future__ import annotations

from .base import Call, Param, Primitive, ShapeError
from .conv import _kw, fmt


class Linear(Primitive):
    op = "linear"
    doc = "Fully connected layer (nn.Linear) on a flattened input."
    has_weights = True
    keeps_channels = False
    params = (
        Param("c", doc="output features", minimum=1, py="out_features"),
        Param("bias", "bool", default=True, doc="add a learned bias"),
    )

    def out_channels(self, args, in_channels):
        return args["c"]

    def infer(self, args, shapes):
        (shape,) = shapes
        if len(shape) != 1:
            raise ShapeError(f"linear expects a flattened (N, F) input, got {fmt(shape)}; "
                             "add a 'flatten' row before it")
        weights = shape[0] * args["c"]
        return (args["c"],), weights + (args["c"] if args["bias"] else 0), weights

    def source(self, args, in_channels, shape):
        parts = [str(in_channels), str(args["c"])] + _kw("bias", args["bias"], True)
        return Call("nn.Linear", parts)
