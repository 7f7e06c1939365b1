"""Port weights between two implementations of one architecture whose module names differ
(timm's ``mobilenetv1_100`` and ``specs/mobilenet_v1.yaml``, say), matching layers by the order
in which they run rather than by name.

Only parameters and buffers are copied. Anything else that defines the function (activations,
strides, padding, pooling, the order of operations inside a block) is the architecture's, and is
not checked: two models can take each other's weights and still compute different things (our
MobileNetV1 with the paper's ReLU against timm's ReLU6 is one).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["WeightPortError", "port_weights", "weight_layers"]


class WeightPortError(ValueError):
    """The two models' layers do not pair up; the message names the first pair that fails."""


def port_weights(src: nn.Module, dst: nn.Module, example_input, strict: bool = True
                 ) -> dict[str, str]:
    """Copy ``src``'s parameters and buffers into ``dst``, pairing layers by execution order.

    Both models run ``example_input`` once (a tensor, or a tuple of positional inputs) in eval
    mode, under ``torch.no_grad``; their modes are restored afterwards and neither is changed
    unless every check passes. The layers are the modules that own parameters or buffers
    themselves (convolutions, linear layers, batch norms, ...), in the order they are first
    called. Pair ``i`` of the two lists must have the same type, compared on the nearest
    ``torch.nn`` class (timm's ``BatchNormAct2d`` is a ``BatchNorm2d``), and the same names and
    shapes of parameters and buffers.

    ``strict``: the two lists must have the same length. With ``strict=False`` the common
    prefix is paired, checked and copied, and the rest of the longer model is left as it is
    (like ``load_state_dict(strict=False)``, a mismatch within the pairs is still an error).

    Layers the example does not reach in eval mode (GoogLeNet's auxiliary heads) are neither
    paired nor copied. Returns ``{dst_name: src_name}`` for every pair copied, in order.
    Raises :class:`WeightPortError` naming the first mismatching pair.
    """
    src_layers = weight_layers(src, example_input)
    dst_layers = weight_layers(dst, example_input)
    pairs = list(zip(src_layers, dst_layers, strict=False))  # lengths are checked below
    for i, ((s_name, s_mod), (d_name, d_mod)) in enumerate(pairs):
        problem = _mismatch(s_mod, d_mod)
        if problem:
            raise WeightPortError(
                f"layer pair {i}: src {_describe(s_name, s_mod)} does not match dst "
                f"{_describe(d_name, d_mod)} ({problem})")
    if strict and len(src_layers) != len(dst_layers):
        n = min(len(src_layers), len(dst_layers))
        side, (name, mod) = (("src", src_layers[n]) if len(src_layers) > n
                             else ("dst", dst_layers[n]))
        raise WeightPortError(
            f"src has {len(src_layers)} layers with weights, dst has {len(dst_layers)}: "
            f"the first unmatched is {side} {_describe(name, mod)} (layer {n})")
    mapping = {}
    with torch.no_grad():
        for (s_name, s_mod), (d_name, d_mod) in pairs:
            s_state, d_state = _tensors(s_mod), _tensors(d_mod)
            for key, tensor in d_state.items():
                tensor.copy_(s_state[key])
            mapping[d_name] = s_name
    return mapping


def weight_layers(model: nn.Module, example_input) -> list[tuple[str, nn.Module]]:
    """The modules of ``model`` that own parameters or buffers, as ``(qualified name, module)``
    in the order an eval-mode forward pass of ``example_input`` first calls them."""
    names = {id(m): name for name, m in model.named_modules()}
    owners = [m for m in model.modules() if _tensors(m)]
    order: list[nn.Module] = []
    seen: set[int] = set()

    def record(module, _args):
        if id(module) not in seen:
            seen.add(id(module))
            order.append(module)

    # Pre-hooks: a module is recorded when it is called, so a layer that owns weights and
    # also has children (timm's BatchNormAct2d holds its activation) comes before them.
    handles = [m.register_forward_pre_hook(record) for m in owners]
    was_training = {id(m): m.training for m in model.modules()}
    inputs = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    try:
        model.eval()  # no batch-norm statistics updated, no dropout
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.training = was_training[id(m)]
    return [(names[id(m)], m) for m in order]


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's own parameters and buffers (not its children's), by local name."""
    out = {name: p for name, p in module.named_parameters(recurse=False)}
    out.update((name, b) for name, b in module.named_buffers(recurse=False) if b is not None)
    return out


def _torch_type(module: nn.Module) -> type:
    """The nearest ``torch.nn`` class of a module (itself when it derives from none but
    ``nn.Module``)."""
    for cls in type(module).__mro__:
        if cls.__module__.startswith("torch.nn.") and cls is not nn.Module:
            return cls
    return type(module)


def _mismatch(a: nn.Module, b: nn.Module) -> str | None:
    ta, tb = _torch_type(a), _torch_type(b)
    if ta is not tb:
        return f"types {ta.__name__} and {tb.__name__} differ"
    sa = {k: tuple(v.shape) for k, v in _tensors(a).items()}
    sb = {k: tuple(v.shape) for k, v in _tensors(b).items()}
    if sa.keys() != sb.keys():
        only_a, only_b = sorted(sa.keys() - sb.keys()), sorted(sb.keys() - sa.keys())
        return f"tensors differ: only src has {only_a}, only dst has {only_b}"
    for key in sa:
        if sa[key] != sb[key]:
            return f"{key} shapes {_shape(sa[key])} and {_shape(sb[key])} differ"
    return None


def _describe(name: str, module: nn.Module) -> str:
    own, base = type(module).__name__, _torch_type(module).__name__
    kind = own if own == base else f"{own} ({base})"
    shapes = ", ".join(f"{k} {_shape(v.shape)}" for k, v in _tensors(module).items()
                       if k != "num_batches_tracked")
    return f"'{name or '(root)'}' {kind} [{shapes}]"


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(int(n)) for n in shape) if len(shape) else "scalar"
