"""Fully connected layer."""

from __future__ import annotations

import math

from .base import Call, Param, Primitive, ShapeError, layout_name
from .conv import _kw, fmt


class Linear(Primitive):
    op = "linear"
    operator = "fc"
    doc = ("Fully connected layer (nn.Linear) on the last dimension: a flattened (N, F) input, "
           "or the channels of (N, H, W, C) and (N, L, C).")
    has_weights = True
    layout_aware = True
    keeps_channels = False
    params = (
        Param("c", doc="output features", minimum=1, py="out_features"),
        Param("bias", "bool", default=True, doc="add a learned bias"),
    )

    def out_channels(self, args, in_channels):
        return args["c"]

    def infer(self, args, shapes, layouts):
        (shape,) = shapes
        if not layouts[0].endswith("C"):
            raise ShapeError(f"linear acts on the last dimension, which must be the channels: "
                             f"got {fmt(shape)} laid out {layout_name(layouts[0])}; add a "
                             "'flatten' row before it (or a 'permute' to channels-last)")
        weights = shape[-1] * args["c"]
        positions = math.prod(shape[:-1])
        return (*shape[:-1], args["c"]), weights + (args["c"] if args["bias"] else 0), \
            weights * positions

    def source(self, args, in_channels, shape, layout=None):
        parts = [str(in_channels), str(args["c"])] + _kw("bias", args["bias"], True)
        return Call("nn.Linear", parts)
