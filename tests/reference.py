"""Measurements on reference (torchvision/timm) models, made with torch itself."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, shape: tuple[int, ...], device: str = "cpu") -> int:
    """Multiply-accumulates of one eval-mode forward pass: FlopCounterMode's total / 2."""
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *shape, device=device))
    return counter.get_total_flops() // 2


def assert_same_tree(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Same state_dict keys with the same shapes."""
    sa = {k: tuple(v.shape) for k, v in a.state_dict().items()}
    sb = {k: tuple(v.shape) for k, v in b.state_dict().items()}
    assert sa == sb


def assert_outputs_match(ours: torch.nn.Module, ref: torch.nn.Module, shape, atol=1e-5,
                         batch: int = 2, seed: int = 0) -> None:
    """Load ref's weights strictly into ours; eval outputs agree."""
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval()
    ref.eval()
    torch.manual_seed(seed)
    x = torch.randn(batch, *shape)
    with torch.no_grad():
        expected, actual = ref(x), ours(x)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=1e-5)
