"""2-D convolution: the workhorse row of every table in scope."""

from __future__ import annotations

from .base import CHW, Call, Param, Primitive, ShapeError, Val, conv_out, derive, pair, pair_val


class Conv(Primitive):
    op = "conv"
    operator = "conv2d"
    doc = "2-D convolution (nn.Conv2d). Padding defaults to (k - 1) // 2 * d ('same' for stride 1)."
    has_weights = True
    expects = (CHW,)
    keeps_channels = False
    params = (
        Param("c", doc="output channels", minimum=1, py="out_channels", scale="channels"),
        Param("k", "int2", doc="kernel size: an int, or [height, width]", minimum=1,
              py="kernel_size"),
        Param("s", "int2", default=1, doc="stride: an int, or [height, width]", minimum=1,
              py="stride", first_only=True),
        Param("p", "int2", default=None, doc="padding: an int, or [height, width] (default "
              "(k - 1) // 2 * d per dimension)", minimum=0, py="padding"),
        Param("d", "int2", default=1, doc="dilation: an int, or [height, width]", minimum=1,
              py="dilation"),
        Param("groups", default=1, doc="groups (= channels for a depthwise conv)", minimum=1),
        Param("bias", "bool", default=True, doc="add a learned bias"),
    )

    @staticmethod
    def padding(args: dict) -> tuple[int, int]:
        """(height, width) padding; the default keeps the size at stride 1 for odd kernels."""
        if args["p"] is not None:
            return pair(args["p"])
        (kh, kw), (dh, dw) = pair(args["k"]), pair(args["d"])
        return (kh - 1) // 2 * dh, (kw - 1) // 2 * dw

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
        (kh, kw), (sh, sw), (dh, dw) = pair(args["k"]), pair(args["s"]), pair(args["d"])
        ph, pw = self.padding(args)
        ho = conv_out(h, kh, sh, ph, dh)
        wo = conv_out(w, kw, sw, pw, dw)
        if ho < 1 or wo < 1:
            pad = args["p"] if args["p"] is not None else ph if ph == pw else (ph, pw)
            raise ShapeError(f"spatial size {h}x{w} shrinks to {ho}x{wo} (kernel "
                             f"{_hw(args['k'])}, stride {_hw(args['s'])}, padding {_hw(pad)})")
        weights = args["c"] * (cin // g) * kh * kw
        params = weights + (args["c"] if args["bias"] else 0)
        return (args["c"], ho, wo), params, weights * ho * wo

    def source(self, args, in_channels, shape):
        k, d = pair_val(args["k"]), pair_val(args["d"])
        if args["p"].known and args["p"].value is None:
            if k.known and d.known:
                ph, pw = self.padding({"k": k.value, "d": d.value, "p": None})
                pad = Val(ph if isinstance(k.value, int) and isinstance(d.value, int)
                          else (ph, pw))
            elif d.known and d.value == 1:
                pad = derive(lambda k: (k - 1) // 2, "({0} - 1) // 2", k)
            else:
                pad = derive(lambda k, d: (k - 1) // 2 * d, "({0} - 1) // 2 * {1}", k, d)
        else:
            pad = pair_val(args["p"])
        parts = [str(in_channels), str(args["c"]), str(k)]
        parts += _kw("stride", pair_val(args["s"]), 1) + _kw("padding", pad, 0)
        parts += _kw("dilation", d, 1)
        parts += _kw("groups", args["groups"], 1) + _kw("bias", args["bias"], True)
        return Call("nn.Conv2d", parts)


def _kw(name: str, val: Val, default) -> list[str]:
    """``name=val`` unless val is the known default (a pair (d, d) is the default d too)."""
    if val.known and (val.value == default or val.value == (default, default)):
        return []
    return [f"{name}={val}"]


def _hw(value) -> str:
    """An int2 value for a message: 3, or 1x7 (height x width)."""
    h, w = pair(value)
    return str(h) if h == w and not isinstance(value, (list, tuple)) else f"{h}x{w}"


def fmt(shape) -> str:
    return "(N, " + ", ".join(str(s) for s in shape) + ")"
