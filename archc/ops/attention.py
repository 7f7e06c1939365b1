"""Multi-head self-attention over tokens (N, L, D): torchvision's ViT uses
nn.MultiheadAttention with batch_first=True, so its state_dict names (in_proj_weight,
in_proj_bias, out_proj) are these."""

from __future__ import annotations

from .base import LC, Call, Param, Primitive, ShapeError
from .conv import _kw


class SelfAttention(Primitive):
    op = "self_attention"
    doc = ("Multi-head self-attention over tokens (nn.MultiheadAttention(D, heads, "
           "batch_first=True) applied as attn(x, x, x)): (N, L, D) -> (N, L, D).")
    has_weights = True
    expects = (LC,)
    in_sequential = False  # called with three inputs and returns a pair
    params = (
        Param("heads", doc="number of heads (D must be divisible by it)", minimum=1,
              py="num_heads"),
        Param("dropout", "float", default=0.0, doc="dropout on the attention weights",
              minimum=0.0, maximum=1.0),
        Param("bias", "bool", default=True, doc="biases in the projections"),
    )

    def infer(self, args, shapes):
        (shape,) = shapes
        tokens, dim = shape
        if dim % args["heads"]:
            raise ShapeError(f"{args['heads']} heads must divide the embedding width {dim}")
        bias = 4 * dim if args["bias"] else 0
        # q, k, v and output projections; scores q k^T and their weighting of v: 2 L^2 D
        macs = 4 * tokens * dim * dim + 2 * tokens * tokens * dim
        return shape, 4 * dim * dim + bias, macs

    def source(self, args, in_channels, shape):
        parts = [str(in_channels), str(args["heads"])]
        parts += _kw("dropout", args["dropout"], 0.0) + _kw("bias", args["bias"], True)
        return Call("nn.MultiheadAttention", parts + ["batch_first=True"])

    def module_call(self, attr, args, inputs):
        x = inputs[0]
        return f"{attr}({x}, {x}, {x}, need_weights=False)[0]"
