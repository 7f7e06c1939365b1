"""Pooling rows: windowed max/average pooling and (adaptive) global average pooling."""

from __future__ import annotations

from .base import Call, Param, Primitive, ShapeError, conv_out
from .conv import _kw, fmt


def _spatial(shape, op):
    if len(shape) != 3:
        raise ShapeError(f"{op} expects a (C, H, W) input, got {fmt(shape)}")
    return shape


class _WindowPool(Primitive):
    cls = ""
    params = (
        Param("k", doc="window size", minimum=1, py="kernel_size"),
        Param("s", default=None, doc="stride (default: the window size)", minimum=1,
              py="stride", first_only=True),
        Param("p", default=0, doc="padding", minimum=0, py="padding"),
        Param("ceil", "bool", default=False, doc="ceil_mode: round output size up",
              py="ceil_mode"),
    )

    def _stride(self, args):
        return args["k"] if args["s"] is None else args["s"]

    def infer(self, args, shapes):
        c, h, w = _spatial(shapes[0], self.op)
        if 2 * args["p"] > args["k"]:
            raise ShapeError(f"padding {args['p']} must be at most half the window {args['k']}")
        s = self._stride(args)
        ho = conv_out(h, args["k"], s, args["p"], 1, args["ceil"])
        wo = conv_out(w, args["k"], s, args["p"], 1, args["ceil"])
        if ho < 1 or wo < 1:
            raise ShapeError(f"spatial size {h}x{w} shrinks to {ho}x{wo} (window {args['k']}, "
                             f"stride {s})")
        return (c, ho, wo), 0, 0

    def source(self, args, in_channels, shape):
        parts = [str(args["k"])]
        if not (args["s"].known and args["s"].value in (None,)):
            parts += [f"stride={args['s']}"]
        parts += _kw("padding", args["p"], 0) + _kw("ceil_mode", args["ceil"], False)
        return Call(f"nn.{self.cls}", parts)


class MaxPool(_WindowPool):
    op = "max_pool"
    doc = "Max pooling (nn.MaxPool2d)."
    cls = "MaxPool2d"


class AvgPool(_WindowPool):
    op = "avg_pool"
    doc = "Average pooling (nn.AvgPool2d)."
    cls = "AvgPool2d"


class GlobalAvgPool(Primitive):
    op = "global_avg_pool"
    doc = "Global average pooling to (C, 1, 1) (nn.AdaptiveAvgPool2d(1))."
    params = ()

    def infer(self, args, shapes):
        c, _, _ = _spatial(shapes[0], self.op)
        return (c, 1, 1), 0, 0

    def source(self, args, in_channels, shape):
        return "nn.AdaptiveAvgPool2d(1)"

    def call_source(self, args, inputs):
        return f"nn.functional.adaptive_avg_pool2d({inputs[0]}, 1)"


class AdaptiveAvgPool(Primitive):
    op = "adaptive_avg_pool"
    doc = "Adaptive average pooling to a fixed size (nn.AdaptiveAvgPool2d((size, size)))."
    params = (Param("size", doc="output height and width", minimum=1, py="output_size"),)

    def infer(self, args, shapes):
        c, _, _ = _spatial(shapes[0], self.op)
        return (c, args["size"], args["size"]), 0, 0

    def source(self, args, in_channels, shape):
        return f"nn.AdaptiveAvgPool2d(({args['size']}, {args['size']}))"

    def call_source(self, args, inputs):
        return f"nn.functional.adaptive_avg_pool2d({inputs[0]}, ({args['size']}, {args['size']}))"
