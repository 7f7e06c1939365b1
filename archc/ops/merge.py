"""Rows that join branches: residual add, channel concat, gating multiply."""

from __future__ import annotations

from .base import CHW, Param, Primitive, ShapeError, channel_dim, layout_name
from .conv import fmt


class Add(Primitive):
    op = "add"
    doc = "Element-wise sum of its inputs (residual connection)."
    arity = 0

    def infer(self, args, shapes):
        if len(shapes) < 2:
            raise ShapeError("add needs at least two inputs ('from: [a, b]')")
        if any(s != shapes[0] for s in shapes):
            raise ShapeError("add inputs differ in shape: " + " vs ".join(map(fmt, shapes)))
        return shapes[0], 0, 0

    def call_source(self, args, inputs):
        return " + ".join(inputs)


class Mul(Primitive):
    op = "mul"
    doc = ("Element-wise product of two inputs, broadcasting as torch does (aligned at the "
           "last dimension): (C, 1, 1) gates or layer scales over (C, H, W).")
    arity = 0
    layout_aware = True  # the output takes the layout of the input of higher rank

    def infer(self, args, shapes, layouts):
        if len(shapes) != 2:
            raise ShapeError("mul needs exactly two inputs ('from: [a, b]')")
        a, b = shapes
        rank = max(len(a), len(b))
        pa, pb = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
        if any(x != y and 1 not in (x, y) for x, y in zip(pa, pb, strict=True)):
            raise ShapeError(f"mul inputs do not broadcast: {fmt(a)} vs {fmt(b)}")
        return tuple(max(x, y) for x, y in zip(pa, pb, strict=True)), 0, 0

    def out_layout(self, args, layouts, shapes):
        return layouts[0] if len(shapes[0]) >= len(shapes[1]) else layouts[1]

    def call_source(self, args, inputs):
        return " * ".join(inputs)


class Concat(Primitive):
    op = "concat"
    doc = ("Concatenate inputs along channels (inception branches), or along another "
           "dimension with dim (ViT's class token before the patch tokens: dim 1 of (N, L, D)).")
    arity = 0
    keeps_channels = False
    layout_aware = True
    params = (Param("dim", default=None, doc="the dimension joined, batch is 0 (default: the "
                    "channels)", minimum=1),)

    def out_channels(self, args, in_channels):
        raise NotImplementedError  # handled by the channel tracker: sum of inputs

    def axis(self, args, layouts) -> int:
        """The per-sample dimension joined: dim 1 (the channels of (N, C, H, W) and (N, F))
        unless stated; other layouts state it, so generated code never guesses."""
        if args["dim"] is None:
            if channel_dim(layouts[0]) != 0:
                raise ShapeError(f"concat of {layout_name(layouts[0])} inputs needs 'dim' (the "
                                 "dimension joined, batch is 0)")
            return 0
        return args["dim"] - 1

    def infer(self, args, shapes, layouts):
        if len(shapes) < 2:
            raise ShapeError("concat needs at least two inputs ('from: [a, b]')")
        if any(layout != layouts[0] for layout in layouts):
            raise ShapeError("concat inputs differ in layout: " + ", ".join(
                f"{fmt(s)} {layout_name(lay)}" for s, lay in zip(shapes, layouts, strict=True)))
        axis = self.axis(args, layouts)
        if axis >= len(shapes[0]):
            raise ShapeError(f"dim {args['dim']} is beyond the inputs {fmt(shapes[0])}")
        rest = [s[:axis] + s[axis + 1:] for s in shapes]
        if any(len(s) != len(shapes[0]) or r != rest[0] for s, r in zip(shapes, rest, strict=True)):
            what = "spatial size" if axis == 0 and layouts[0] == CHW else "shape"
            raise ShapeError(f"concat inputs differ in {what}: " + ", ".join(map(fmt, shapes)))
        joined = sum(s[axis] for s in shapes)
        return (*shapes[0][:axis], joined, *shapes[0][axis + 1:]), 0, 0

    def call_source(self, args, inputs):
        dim = "1" if args["dim"].known and args["dim"].value is None else str(args["dim"])
        return f"torch.cat([{', '.join(inputs)}], {dim})"
