"""Rows that move dimensions around: permute (NCHW <-> NHWC, tokens) and select (one token).
Their layouts are what the following rows check: a conv after a permute to (N, H, W, C) is a
located error, not a 56-channel convolution."""

from __future__ import annotations

from .base import Call, Param, Primitive, ShapeError, layout_name, list_items
from .conv import fmt


class Permute(Primitive):
    op = "permute"
    doc = ("Reorder dimensions (torch.permute), batch included: dims [0, 2, 3, 1] turns "
           "(N, C, H, W) into (N, H, W, C) and [0, 3, 1, 2] back (torchvision's Permute).")
    layout_aware = True
    params = (Param("dims", "ints", doc="the new order of the input's dimensions, batch "
                    "first (0)", minimum=0),)

    @staticmethod
    def check(dims: list[int], rank: int) -> None:
        if sorted(dims) != list(range(rank + 1)) or dims[0] != 0:
            raise ShapeError(f"dims {list(dims)} must reorder 0..{rank} with the batch "
                             f"dimension 0 first, for an input of {rank + 1} dimensions")

    def infer(self, args, shapes, layouts):
        (shape,) = shapes
        self.check(args["dims"], len(shape))
        return tuple(shape[d - 1] for d in args["dims"][1:]), 0, 0

    def out_layout(self, args, layouts, shapes):
        return "".join(layouts[0][d - 1] for d in args["dims"][1:])

    def source(self, args, in_channels, shape, layout=None):
        return Call("Permute", ["[" + ", ".join(list_items(args["dims"])) + "]"])

    def call_source(self, args, inputs):
        return f"{inputs[0]}.permute({', '.join(list_items(args['dims']))})"


class Select(Primitive):
    op = "select"
    doc = ("Take one index along a dimension, removing it (x[:, 0]: ViT's class token from "
           "(N, L, D)).")
    layout_aware = True
    params = (
        Param("index", doc="the index taken (negative counts from the end)", minimum=-(2**31)),
        Param("dim", default=1, doc="the dimension, batch is 0", minimum=1),
    )

    def infer(self, args, shapes, layouts):
        (shape,) = shapes
        dim, index = args["dim"], args["index"]
        if dim > len(shape):
            raise ShapeError(f"dim {dim} is beyond the input {fmt(shape)}")
        if not -shape[dim - 1] <= index < shape[dim - 1]:
            raise ShapeError(f"index {index} is out of range for dimension {dim} of size "
                             f"{shape[dim - 1]} (input {fmt(shape)})")
        if len(shape) == 1:
            raise ShapeError(f"select needs an input with more than the batch dimension, got "
                             f"{fmt(shape)} ({layout_name(layouts[0])})")
        return shape[:dim - 1] + shape[dim:], 0, 0

    def out_layout(self, args, layouts, shapes):
        layout = layouts[0]
        return layout[:args["dim"] - 1] + layout[args["dim"]:]

    def call_source(self, args, inputs):
        if args["dim"].known and args["dim"].value == 1:
            return f"{inputs[0]}[:, {args['index']}]"
        return f"{inputs[0]}.select({args['dim']}, {args['index']})"
