"""Stochastic depth and channel operations backed by the runtime helper modules."""

from __future__ import annotations

from ..codegen_literals import literal
from .base import CHW, Call, Param, Primitive, ShapeError
from .conv import fmt


class StochasticDepth(Primitive):
    op = "stochastic_depth"
    doc = ("Stochastic depth (Huang et al. 2016): drop the input per sample with probability p "
           "in training, scaling survivors by 1/(1-p); identity in eval.")
    params = (
        Param("p", "float", doc="drop probability", minimum=0.0, maximum=1.0),
        Param("mode", "str", default="row", choices=("row", "batch"),
              doc="'row': per sample; 'batch': whole batch"),
    )

    def infer(self, args, shapes):
        return shapes[0], 0, 0

    def source(self, args, in_channels, shape):
        parts = [str(args["p"])]
        if not (args["mode"].known and args["mode"].value == "row"):
            parts.append(str(args["mode"]))
        return Call("StochasticDepth", parts)


class ChannelShuffle(Primitive):
    op = "channel_shuffle"
    doc = "Channel shuffle (ShuffleNet): interleave channels across groups."
    expects = (CHW,)
    params = (Param("groups", doc="number of groups", minimum=1),)

    def infer(self, args, shapes):
        (shape,) = shapes
        if len(shape) != 3 or shape[0] % args["groups"]:
            raise ShapeError(f"channel_shuffle with {args['groups']} groups needs (C, H, W) with "
                             f"C divisible by the groups, got {fmt(shape)}")
        return shape, 0, 0

    def source(self, args, in_channels, shape):
        return Call("ChannelShuffle", [str(args["groups"])])

    def call_source(self, args, inputs):
        return Call("channel_shuffle", [inputs[0], str(args["groups"])])


class ChannelAffine(Primitive):
    op = "channel_affine"
    doc = "Per-channel x * scale + shift with constant lists (input whitening)."
    expects = (CHW,)
    params = (
        Param("scale", "floats", doc="per-channel factors"),
        Param("shift", "floats", doc="per-channel offsets"),
    )

    def infer(self, args, shapes):
        (shape,) = shapes
        c = shape[0]
        if len(shape) != 3 or len(args["scale"]) != c or len(args["shift"]) != c:
            raise ShapeError(f"channel_affine needs one scale and one shift per channel: input "
                             f"{fmt(shape)}, {len(args['scale'])} scales, {len(args['shift'])} "
                             "shifts")
        return shape, 0, 0

    def source(self, args, in_channels, shape):
        return Call("ChannelAffine", [_floats(args["scale"]), _floats(args["shift"])])


def _floats(val) -> str:
    if not val.known:
        return str(val)
    return literal([float(v) for v in val.value])
