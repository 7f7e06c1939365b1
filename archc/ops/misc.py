"""Shape-only and regularisation rows: flatten, dropout, identity."""

from __future__ import annotations

import math

from .base import Call, Param, Primitive, ShapeError


class Flatten(Primitive):
    op = "flatten"
    doc = ("Flatten dimensions start..end into one (torch.flatten(x, start, end), batch is 0): "
           "by default (C, H, W) to (C*H*W); start 2 turns (N, C, H, W) into (N, C, H*W) "
           "tokens.")
    keeps_channels = False
    layout_aware = True
    params = (
        Param("start", default=1, doc="first dimension flattened (batch is 0)", minimum=1,
              py="start_dim"),
        Param("end", default=-1, doc="last dimension flattened (-1: the last)",
              minimum=-16, py="end_dim"),
    )

    def span(self, args, rank: int) -> tuple[int, int]:
        """Per-sample (first, last) indices flattened, checked against the input's rank."""
        end = args["end"] if args["end"] >= 0 else rank + 1 + args["end"]
        if not 1 <= args["start"] <= end <= rank:
            raise ShapeError(f"flatten from dimension {args['start']} to {args['end']} does "
                             f"not fit an input of {rank + 1} dimensions")
        return args["start"] - 1, end - 1

    def out_channels(self, args, in_channels):
        return None  # C * H * W: shapes decide, not the arguments

    def infer(self, args, shapes, layouts):
        shape = shapes[0]
        a, b = self.span(args, len(shape))
        return (*shape[:a], math.prod(shape[a:b + 1]), *shape[b + 1:]), 0, 0

    def out_layout(self, args, layouts, shapes):
        layout = layouts[0]
        a, b = self.span(args, len(shapes[0]))
        merged = layout[a:b + 1]
        letter = "C" if "C" in merged or len(merged) == len(layout) else "L"
        return layout[:a] + letter + layout[b + 1:]

    def _args(self, args) -> list[str]:
        start, end = args["start"], args["end"]
        if end.known and end.value == -1:
            return [str(start)]
        return [str(start), str(end)]

    def source(self, args, in_channels, shape, layout=None):
        return f"nn.Flatten({', '.join(self._args(args))})"

    def call_source(self, args, inputs):
        return f"torch.flatten({inputs[0]}, {', '.join(self._args(args))})"


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
