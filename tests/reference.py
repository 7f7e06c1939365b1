"""Measurements on reference (torchvision/timm) models, made with torch itself."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, shape: tuple[int, ...], device: str = "cpu") -> int:
    """Multiply-accumulates of one eval-mode forward pass: FlopCounterMode's total / 2.
    Attention is counted as its math (bmm) form: the fused kernels that eval mode picks
    (nn.MultiheadAttention's fast path, flash attention) are invisible to the counter, which
    would drop attention's 2 L^2 D and its projections (torchvision's documented ViT GFLOPS
    count them)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model.eval()
    counter = FlopCounterMode(display=False)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            model(torch.zeros(1, *shape, device=device))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return counter.get_total_flops() // 2


def assert_same_tree(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Same state_dict keys with the same shapes."""
    sa = {k: tuple(v.shape) for k, v in a.state_dict().items()}
    sb = {k: tuple(v.shape) for k, v in b.state_dict().items()}
    assert sa == sb


# A parity test is only as strong as the outputs it compares. Freshly initialised networks
# give logits of 1e-3 (MobileNet, EfficientNet: 1e-10): under an absolute tolerance a wrong
# wiring passes. So every parity test loads random weights that keep activations O(1) through
# any depth, and compares relative to the output's magnitude.
RELATIVE_TOLERANCE = 1e-4
BN_TYPES = (torch.nn.modules.batchnorm._BatchNorm,)


def parity_input(shape, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))


def unit_scale_weights(model: torch.nn.Module, seed: int = 0,
                       batch: torch.Tensor | None = None) -> torch.nn.Module:
    """Overwrite every parameter and buffer of ``model`` with random unit-scale values.

    Weights of rank >= 2 (convolutions, linear layers) ~ N(0, 2/fan_in), variance-preserving
    through ReLU-like activations; biases ~ N(0, 0.1^2); other parameters (normalisation and
    layer-scale weights) ~ U(0.5, 1.5). Batch-norm statistics: running_mean ~ N(0, 0.1^2),
    running_var ~ U(0.5, 1.5); given a ``batch``, each batch norm's are instead those of its
    input when the model runs on that batch in eval mode, jittered (mean +- 0.1 std, variance
    x U(0.8, 1.25)): deep residual stacks (EfficientNet-B7) then stay O(1) on that batch,
    where fixed statistics let them reach 1e4. A tensor these rules do not cover is an error,
    never left as it was. Returns ``model`` in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(_draw(name, p, g))
        for name, b in model.named_buffers():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "running_mean":
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif leaf == "running_var":
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif leaf == "num_batches_tracked":
                b.zero_()
            else:
                raise AssertionError(f"no unit-scale rule for buffer {name!r}")
    bns = [m for m in model.modules() if isinstance(m, BN_TYPES)]
    if bns and batch is not None:
        _calibrate(model, bns, batch, g)
    return model.eval()


def _draw(name: str, p: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    if p.dim() >= 2:
        fan_in = p[0].numel()
        return torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5
    if name.rsplit(".", 1)[-1] == "bias":
        return 0.1 * torch.randn(p.shape, generator=g)
    return 0.5 + torch.rand(p.shape, generator=g)


def _calibrate(model, bns, batch, g) -> None:
    # Each batch norm takes its statistics from the input it sees in an eval pass, in order,
    # after the batch norms before it were set: what every later layer sees is what it sees
    # in an eval pass on this batch afterwards.
    def set_statistics(m, args):
        x = args[0]
        dims = [0, *range(2, x.dim())]
        mean, var = x.mean(dims), x.var(dims)
        noise = torch.randn(mean.shape, generator=g)
        m.running_mean.copy_(mean + 0.1 * var.sqrt() * noise)
        m.running_var.copy_(var * (0.8 + 0.45 * torch.rand(var.shape, generator=g)))

    hooks = [m.register_forward_pre_hook(set_statistics) for m in bns]
    try:
        with torch.no_grad():
            model.eval()(batch)
    finally:
        for hook in hooks:
            hook.remove()


def load_same_weights(ref: torch.nn.Module, *models: torch.nn.Module) -> None:
    """Load ``ref``'s state_dict strictly into each model (each its own copy). The models may
    be built on the meta device: the loaded tensors replace theirs, and none may stay meta."""
    for model in models:
        state = {k: v.clone() for k, v in ref.state_dict().items()}
        model.load_state_dict(state, strict=True, assign=True)
        left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
        assert not left, f"not in the state_dict, still on the meta device: {left}"
        model.eval()


def assert_relative_close(actual, expected, rel: float = RELATIVE_TOLERANCE) -> None:
    """max|actual - expected| <= rel * max|expected|, and the expected output is O(1): a
    comparison against near-zero outputs would accept anything. Tuples compare by element."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_relative_close(a, e, rel)
        return
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = expected.abs().max().item()
    assert 1e-2 < scale < 1e3, f"reference output max {scale:.3g} is not O(1)"
    err = (actual - expected).abs().max().item()
    assert err <= rel * scale, f"max difference {err:.3g} > {rel:g} x max|ref| {scale:.3g}"


def assert_outputs_match(ref: torch.nn.Module, models, x: torch.Tensor) -> torch.Tensor:
    """Eval outputs of every model in ``models`` equal ``ref``'s on ``x``, relative to their
    size. Returns the reference output."""
    models = list(models) if isinstance(models, (list, tuple)) else [models]
    with torch.no_grad():
        expected = ref.eval()(x)
        for model in models:
            assert_relative_close(model.eval()(x), expected)
    return expected


def assert_unit_scale_parity(ref: torch.nn.Module, models, shape, batch: int = 2,
                             seed: int = 0) -> torch.Tensor:
    """Parity: random unit-scale weights in ``ref``, the same state_dict loaded strictly into
    every model in ``models``, eval outputs equal relative to the reference's size on a batch
    of ``shape``. Returns that batch."""
    x = parity_input(shape, batch, seed + 1)
    unit_scale_weights(ref, seed, batch=x)
    load_same_weights(ref, *(models if isinstance(models, (list, tuple)) else [models]))
    assert_outputs_match(ref, models, x)
    return x
