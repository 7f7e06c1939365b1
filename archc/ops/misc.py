"""Shape-only and regularisation rows: flatten, dropout, identity."""

from __future__ import annotations

import math

from .base import Call, Param, Primitive


class Flatten(Primitive):
    op = "flatten"
    doc = "Flatten (C, H, W) to (C*H*W) (torch.flatten(x, 1))."
    keeps_channels = False

    def out_channels(self, args, in_channels):
        return None  # C * H * W: shapes decide, not the arguments

    def infer(self, args, shapes):
        return (math.prod(shapes[0]),), 0, 0

    def source(self, args, in_channels, shape):
        return "nn.Flatten(1)"

    def call_source(self, args, inputs):
        return f"torch.flatten({inputs[0]}, 1)"


class Dropout(Primitive):
    op = "dropout"
    doc = "Dropout (nn.Dropout): zeroes elements with probability p, in training only."
    params = (Param("p", "float", doc="drop probability", minimum=0.0, maximum=1.0),)

    def infer(self, args, shapes):
        return shapes[0], 0, 0

    def source(self, args, in_channels, shape):
        return f"nn.Dropout(p={args['p']})"

    def call_source(self, args, inputs):
        # training=self.training: the function's default (True) would drop in eval too
        return Call("nn.functional.dropout", [inputs[0], f"p={args['p']}",
                                              "training=self.training"])


class Identity(Primitive):
    op = "identity"
    doc = "Identity (nn.Identity)."

    def infer(self, args, shapes):
        return shapes[0], 0, 0

    def source(self, args, in_channels, shape):
        return "nn.Identity()"

    def call_source(self, args, inputs):
        return inputs[0]
