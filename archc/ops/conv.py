"""2-D convolution: the workhorse row of every table in scope."""

from __future__ import annotations

from .base import Call, Param, Primitive, ShapeError, Val, conv_out, derive


class Conv(Primitive):
    op = "conv"
    doc = "2-D convolution (nn.Conv2d). Padding defaults to (k - 1) // 2 * d ('same' for stride 1)."
    has_weights = True
    keeps_channels = False
    params = (
        Param("c", doc="output channels", minimum=1, py="out_channels", scale="channels"),
        Param("k", doc="kernel size", minimum=1, py="kernel_size"),
        Param("s", default=1, doc="stride", minimum=1, py="stride", first_only=True),
        Param("p", default=None, doc="padding (default (k - 1) // 2 * d)", minimum=0,
              py="padding"),
        Param("d", default=1, doc="dilation", minimum=1, py="dilation"),
        Param("groups", default=1, doc="groups (= channels for a depthwise conv)", minimum=1),
        Param("bias", "bool", default=True, doc="add a learned bias"),
    )

    @staticmethod
    def padding(args: dict) -> int:
        return (args["k"] - 1) // 2 * args["d"] if args["p"] is None else args["p"]

    def out_channels(self, args, in_channels):
        return args["c"]

    def infer(self, args, shapes):
        (shape,) = shapes
        if len(shape) != 3:
            raise ShapeError(f"conv expects a (C, H, W) input, got {fmt(shape)}")
        cin, h, w = shape
        g = args["groups"]
        if cin % g or args["c"] % g:
            raise ShapeError(f"groups={g} must divide input channels {cin} and output "
                             f"channels {args['c']}")
        p = self.padding(args)
        ho = conv_out(h, args["k"], args["s"], p, args["d"])
        wo = conv_out(w, args["k"], args["s"], p, args["d"])
        if ho < 1 or wo < 1:
            raise ShapeError(f"spatial size {h}x{w} shrinks to {ho}x{wo} (kernel {args['k']}, "
                             f"stride {args['s']}, padding {p})")
        weights = args["c"] * (cin // g) * args["k"] ** 2
        params = weights + (args["c"] if args["bias"] else 0)
        return (args["c"], ho, wo), params, weights * ho * wo

    def source(self, args, in_channels, shape):
        k, d = args["k"], args["d"]
        if args["p"].known and args["p"].value is None:
            pad = derive(lambda k, d: (k - 1) // 2 * d, "({0} - 1) // 2 * {1}", k, d)
            if d.known and d.value == 1:
                pad = derive(lambda k: (k - 1) // 2, "({0} - 1) // 2", k)
        else:
            pad = args["p"]
        parts = [str(in_channels), str(args["c"]), str(k)]
        parts += _kw("stride", args["s"], 1) + _kw("padding", pad, 0) + _kw("dilation", d, 1)
        parts += _kw("groups", args["groups"], 1) + _kw("bias", args["bias"], True)
        return Call("nn.Conv2d", parts)


def _kw(name: str, val: Val, default) -> list[str]:
    """``name=val`` unless val is the known default."""
    return [] if val.known and val.value == default else [f"{name}={val}"]


def fmt(shape) -> str:
    return "(N, " + ", ".join(str(s) for s in shape) + ")"
