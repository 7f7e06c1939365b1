"""Built-in primitive operations. Composite blocks (inverted residual, ...) are written in the
spec language itself: see ``library/*.yaml``, loaded by :mod:`archc.frontend.registry`."""

from __future__ import annotations

from .activation import ACTIVATIONS, Act
from .attention import SelfAttention
from .base import REQUIRED, Param, Primitive, Shape, ShapeError, Val
from .conv import Conv
from .linear import Linear
from .merge import Add, Concat, Mul
from .misc import Dropout, Flatten, Identity
from .norm import BatchNorm, LayerNorm
from .param import Parameter
from .pool import AdaptiveAvgPool, AvgPool, GlobalAvgPool, MaxPool
from .regularize import ChannelAffine, ChannelShuffle, StochasticDepth
from .split import Split
from .tensor import Permute, Select

PRIMITIVES: dict[str, Primitive] = {
    p.op: p
    for p in (
        Conv(), BatchNorm(), Act(), Linear(), Dropout(), Flatten(), Identity(),
        MaxPool(), AvgPool(), GlobalAvgPool(), AdaptiveAvgPool(), Add(), Mul(), Concat(),
        StochasticDepth(), ChannelShuffle(), ChannelAffine(), LayerNorm(), Permute(),
        Select(), Parameter(), SelfAttention(), Split(),
    )
}

__all__ = ["ACTIVATIONS", "PRIMITIVES", "REQUIRED", "Param", "Primitive", "Shape", "ShapeError",
           "Val"]
