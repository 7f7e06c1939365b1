"""Batch normalisation. eps and momentum default to the spec's ``norm:`` settings, because the
reference families differ (1e-5/0.1 in most of torchvision, 1e-3/0.01 in MobileNetV3)."""

from __future__ import annotations

from .base import CHW, FEATURES, HWC, LC, Call, Param, Primitive, ShapeError, channel_dim
from .conv import _kw, fmt


class BatchNorm(Primitive):
    op = "batch_norm"
    doc = "Batch normalisation over channels (nn.BatchNorm2d, or nn.BatchNorm1d after flatten)."
    has_weights = True
    expects = (CHW, FEATURES)
    params = (
        Param("eps", "float", default=None, doc="epsilon (default: the spec's norm.eps)"),
        Param("momentum", "float", default=None,
              doc="running-stat momentum (default: the spec's norm.momentum)"),
    )
    context_defaults = {"eps": "eps", "momentum": "momentum"}

    def infer(self, args, shapes):
        (shape,) = shapes
        if len(shape) not in (1, 3):
            raise ShapeError(f"batch_norm expects (N, C, H, W) or (N, F), got {fmt(shape)}")
        return shape, 2 * shape[0], 0

    def source(self, args, in_channels, shape):
        parts = [str(in_channels)] + _kw("eps", args["eps"], 1e-5)
        parts += _kw("momentum", args["momentum"], 0.1)
        return Call(f"nn.BatchNorm{'1' if len(shape) == 1 else '2'}d", parts)


class LayerNorm(Primitive):
    op = "layer_norm"
    doc = ("Layer normalisation over channels: nn.LayerNorm(C) on the last dimension of "
           "(N, H, W, C), (N, L, C) or (N, F); on a (N, C, H, W) map, over C at each position "
           "(torchvision's LayerNorm2d, ConvNeXt's stem and downsampling).")
    has_weights = True
    layout_aware = True
    expects = (CHW, HWC, LC, FEATURES)
    params = (
        Param("eps", "float", default=1e-5, doc="epsilon (nn.LayerNorm's default 1e-5; "
              "ConvNeXt and ViT use 1e-6)", minimum=0.0),
        Param("affine", "bool", default=True, doc="learned weight and bias "
              "(elementwise_affine)", py="elementwise_affine"),
    )

    def infer(self, args, shapes, layouts):
        (shape,) = shapes
        c = shape[channel_dim(layouts[0])]
        return shape, 2 * c if args["affine"] else 0, 0

    def source(self, args, in_channels, shape, layout=None):
        parts = [str(in_channels)] + _kw("eps", args["eps"], 1e-5)
        parts += _kw("elementwise_affine", args["affine"], True)
        return Call("LayerNorm2d" if layout == CHW else "nn.LayerNorm", parts)
