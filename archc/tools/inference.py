"""Inference builds: fold every BatchNorm into the convolution before it, drop what is the
identity in eval mode (dropout, stochastic depth), and run in channels_last memory format.

The functions below use only torch (and torch.fx); ``archc build --inference`` copies them
into the generated module, so a generated inference module needs nothing from archc."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution computing conv followed by bn (in eval mode)."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
    )
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused


def optimize_for_inference(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """An eval-only copy of ``model``: BatchNorm folded into convolutions, dropout and
    stochastic depth removed, weights in channels_last. Outputs equal the model's in eval
    mode up to float rounding."""
    model = model.eval()
    traced = torch.fx.symbolic_trace(model)
    modules = dict(traced.named_modules())
    for node in list(traced.graph.nodes):
        if node.op != "call_module":
            continue
        module = modules[node.target]
        if _foldable(module):
            source = node.args[0]
            conv = None
            if getattr(source, "op", "") == "call_module":
                conv = modules.get(source.target)
            if isinstance(conv, nn.Conv2d) and len(source.users) == 1:
                _replace(traced, source.target, _fold(conv, module))
                node.replace_all_uses_with(source)
                traced.graph.erase_node(node)
        elif _identity_in_eval(module):
            node.replace_all_uses_with(node.args[0])
            traced.graph.erase_node(node)
    traced.graph.eliminate_dead_code()
    traced.delete_all_unused_submodules()
    traced.recompile()
    out = ChannelsLast(traced) if channels_last else traced
    return out.eval()


def _foldable(module: nn.Module) -> bool:
    bn = isinstance(module, nn.BatchNorm2d)
    return bn and module.affine and module.track_running_stats


def _identity_in_eval(module: nn.Module) -> bool:
    return isinstance(module, nn.Dropout) or type(module).__name__ == "StochasticDepth"


def _replace(root: nn.Module, target: str, module: nn.Module) -> None:
    parent, _, name = target.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


class ChannelsLast(nn.Module):
    """Runs the wrapped model with its weights and its input in channels_last format."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor):
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)
