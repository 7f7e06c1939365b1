"""Weight initialisation schemes of the reference families, as data: the live backend applies
them, the code generator prints the same rules as a loop (torchvision's style)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..codegen_literals import kwargs_source


@dataclass(frozen=True)
class Rule:
    tensor: str  # "weight" or "bias"
    fn: str  # an nn.init function name, or a computed rule: "uniform_out", "goog_conv"
    kwargs: dict = field(default_factory=dict)


BN = ("BatchNorm2d", "BatchNorm1d", "GroupNorm")
_ONES_ZEROS = (BN, (Rule("weight", "ones_"), Rule("bias", "zeros_")))

# scheme -> [(module classes, rules)] checked in order per module, like torchvision's loops
SCHEMES: dict[str, tuple[str, list]] = {
    "pytorch": ("PyTorch's module defaults", []),
    "mobilenet": ("torchvision's MobileNetV2/V3 scheme", [
        (("Conv2d",), (Rule("weight", "kaiming_normal_", {"mode": "fan_out"}),
                       Rule("bias", "zeros_"))),
        _ONES_ZEROS,
        (("Linear",), (Rule("weight", "normal_", {"mean": 0, "std": 0.01}),
                       Rule("bias", "zeros_"))),
    ]),
    "efficientnet": ("torchvision's EfficientNet scheme", [
        (("Conv2d",), (Rule("weight", "kaiming_normal_", {"mode": "fan_out"}),
                       Rule("bias", "zeros_"))),
        _ONES_ZEROS,
        (("Linear",), (Rule("weight", "uniform_out"), Rule("bias", "zeros_"))),
    ]),
    "resnet": ("torchvision's ResNet scheme", [
        (("Conv2d",), (Rule("weight", "kaiming_normal_", {"mode": "fan_out",
                                                          "nonlinearity": "relu"}),)),
        _ONES_ZEROS,
    ]),
    "vgg": ("torchvision's VGG scheme", [
        (("Conv2d",), (Rule("weight", "kaiming_normal_", {"mode": "fan_out",
                                                          "nonlinearity": "relu"}),
                       Rule("bias", "zeros_"))),
        _ONES_ZEROS,
        (("Linear",), (Rule("weight", "normal_", {"mean": 0, "std": 0.01}),
                       Rule("bias", "zeros_"))),
    ]),
    "googlenet": ("torchvision's GoogLeNet scheme", [
        (("Conv2d", "Linear"), (Rule("weight", "trunc_normal_", {"mean": 0.0, "std": 0.01,
                                                                  "a": -2, "b": 2}),)),
        _ONES_ZEROS,
    ]),
    "goog": ("the TensorFlow/timm EfficientNet and MobileNet scheme", [
        (("Conv2d",), (Rule("weight", "goog_conv"), Rule("bias", "zeros_"))),
        _ONES_ZEROS,
        (("Linear",), (Rule("weight", "uniform_out"), Rule("bias", "zeros_"))),
    ]),
}


def apply(scheme: str, model) -> None:
    """Initialise ``model``'s modules in place (imports torch)."""
    from torch import nn

    groups = SCHEMES[scheme][1]
    for m in model.modules():
        for classes, rules in groups:
            if isinstance(m, tuple(getattr(nn, c) for c in classes)):
                for rule in rules:
                    tensor = getattr(m, rule.tensor, None)
                    if tensor is None:
                        continue
                    if rule.fn == "uniform_out":
                        bound = 1.0 / math.sqrt(m.out_features)
                        nn.init.uniform_(tensor, -bound, bound)
                    elif rule.fn == "goog_conv":
                        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                        nn.init.normal_(tensor, 0.0, math.sqrt(2.0 / (fan_out // m.groups)))
                    else:
                        getattr(nn.init, rule.fn)(tensor, **rule.kwargs)
                break


def source(scheme: str) -> list[str]:
    """The same rules as a loop in generated code (8-space indent, inside __init__)."""
    label, groups = SCHEMES[scheme]
    if not groups:
        return []
    lines = [f"# weight initialisation: {label}", "for m in self.modules():"]
    for i, (classes, rules) in enumerate(groups):
        names = [f"nn.{c}" for c in classes]
        test = names[0] if len(names) == 1 else f"({', '.join(names)})"
        lines.append(f"    {'if' if i == 0 else 'elif'} isinstance(m, {test}):")
        for rule in rules:
            target = f"m.{rule.tensor}"
            if rule.fn == "uniform_out":
                stmt = ["bound = 1.0 / math.sqrt(m.out_features)",
                        f"nn.init.uniform_({target}, -bound, bound)"]
            elif rule.fn == "goog_conv":
                stmt = ["fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels",
                        "std = math.sqrt(2.0 / (fan_out // m.groups))",
                        f"nn.init.normal_({target}, 0.0, std)"]
            else:
                stmt = [f"nn.init.{rule.fn}({target}{kwargs_source(rule.kwargs)})"]
            if rule.tensor == "bias":
                lines.append(f"        if {target} is not None:")
                lines += [f"            {s}" for s in stmt]
            else:
                lines += [f"        {s}" for s in stmt]
    return lines
