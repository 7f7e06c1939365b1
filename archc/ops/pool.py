"""Pooling rows: windowed max/average pooling and (adaptive) global average pooling."""

from __future__ import annotations

from .base import CHW, Call, Param, Primitive, ShapeError, conv_out, pair, pair_val
from .conv import _hw, _kw, fmt


def _spatial(shape, op):
    if len(shape) != 3:
        raise ShapeError(f"{op} expects a (C, H, W) input, got {fmt(shape)}")
    return shape


class _WindowPool(Primitive):
    expects = (CHW,)
    cls = fn = ""
    params = (
        Param("k", "int2", doc="window size: an int, or [height, width]", minimum=1,
              py="kernel_size"),
        Param("s", "int2", default=None, doc="stride: an int, or [height, width] (default: "
              "the window size)", minimum=1, py="stride", first_only=True),
        Param("p", "int2", default=0, doc="padding: an int, or [height, width]", minimum=0,
              py="padding"),
        Param("ceil", "bool", default=False, doc="ceil_mode: round output size up",
              py="ceil_mode"),
    )

    def _stride(self, args):
        return args["k"] if args["s"] is None else args["s"]

    def infer(self, args, shapes):
        c, h, w = _spatial(shapes[0], self.op)
        (kh, kw), (ph, pw) = pair(args["k"]), pair(args["p"])
        if 2 * ph > kh or 2 * pw > kw:
            raise ShapeError(f"padding {_hw(args['p'])} must be at most half the window "
                             f"{_hw(args['k'])}")
        s = self._stride(args)
        sh, sw = pair(s)
        ho = conv_out(h, kh, sh, ph, 1, args["ceil"])
        wo = conv_out(w, kw, sw, pw, 1, args["ceil"])
        if ho < 1 or wo < 1:
            raise ShapeError(f"spatial size {h}x{w} shrinks to {ho}x{wo} (window "
                             f"{_hw(args['k'])}, stride {_hw(s)})")
        return (c, ho, wo), 0, 0

    def source(self, args, in_channels, shape):
        return Call(f"nn.{self.cls}", self._args(args))

    def call_source(self, args, inputs):
        return Call(f"nn.functional.{self.fn}", [inputs[0], *self._args(args)])

    def _args(self, args) -> list[str]:
        """The module's and the function's arguments alike (stride None is the window)."""
        parts = [str(pair_val(args["k"]))]
        if not (args["s"].known and args["s"].value in (None,)):
            parts += [f"stride={pair_val(args['s'])}"]
        return parts + _kw("padding", pair_val(args["p"]), 0) + _kw("ceil_mode", args["ceil"],
                                                                      False)


class MaxPool(_WindowPool):
    op = "max_pool"
    doc = "Max pooling (nn.MaxPool2d; unnamed in forward, nn.functional.max_pool2d)."
    cls, fn = "MaxPool2d", "max_pool2d"


class AvgPool(_WindowPool):
    op = "avg_pool"
    doc = "Average pooling (nn.AvgPool2d; unnamed in forward, nn.functional.avg_pool2d)."
    cls, fn = "AvgPool2d", "avg_pool2d"


class GlobalAvgPool(Primitive):
    op = "global_avg_pool"
    operator = "avgpool"
    doc = "Global average pooling to (C, 1, 1) (nn.AdaptiveAvgPool2d(1))."
    expects = (CHW,)
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
    expects = (CHW,)
    params = (Param("size", doc="output height and width", minimum=1, py="output_size"),)

    def infer(self, args, shapes):
        c, _, _ = _spatial(shapes[0], self.op)
        return (c, args["size"], args["size"]), 0, 0

    def source(self, args, in_channels, shape):
        return f"nn.AdaptiveAvgPool2d(({args['size']}, {args['size']}))"

    def call_source(self, args, inputs):
        return f"nn.functional.adaptive_avg_pool2d({inputs[0]}, ({args['size']}, {args['size']}))"
