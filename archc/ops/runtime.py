"""Small modules that torch.nn lacks, copied verbatim into generated modules (codegen reads
this file's source with ast, so each class is written once and archc never imports it)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class StochasticDepth(nn.Module):
    """Drop the residual branch per sample with probability p (Huang et al. 2016), scaling
    survivors by 1 / (1 - p); identity in eval mode. Same as torchvision.ops.StochasticDepth."""

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        if self.mode == "row":
            size = [x.shape[0]] + [1] * (x.ndim - 1)
        else:
            size = [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class ChannelShuffle(nn.Module):
    """Interleave channels across groups (ShuffleNet, Zhang et al. 2018)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(n, c, h, w)


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave channels across groups: torchvision's shufflenetv2.channel_shuffle."""
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, c, h, w)


class ChannelAffine(nn.Module):
    """Per-channel x * scale + shift with constants (input whitening); no state_dict entries."""

    def __init__(self, scale: list[float], shift: list[float]) -> None:
        super().__init__()
        self.scale = scale
        self.shift = shift

    def forward(self, x: Tensor) -> Tensor:
        scale = x.new_tensor(self.scale).view(1, -1, 1, 1)
        shift = x.new_tensor(self.shift).view(1, -1, 1, 1)
        return x * scale + shift


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an (N, C, H, W) map at each position: channels-last,
    normalise, back (torchvision's LayerNorm2d in ConvNeXt)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(
            x, self.normalized_shape, self.weight, self.bias, self.eps
        )
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    """Reorder dimensions (torchvision's Permute): [0, 2, 3, 1] is NCHW to NHWC."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return torch.permute(x, self.dims)


class ChannelSplit(nn.Module):
    """One piece of a channel split, for an nn.Sequential: x.chunk(pieces, dim=1)[take] for
    an int, x.split(pieces, dim=1)[take] for a list of sizes."""

    def __init__(self, pieces: int | list[int], take: int) -> None:
        super().__init__()
        self.pieces = pieces
        self.take = take

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(self.pieces, int):
            return x.chunk(self.pieces, dim=1)[self.take]
        return x.split(self.pieces, dim=1)[self.take]
