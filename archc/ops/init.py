"""Weight initialisation schemes of the reference families, as data the code generator prints
as a loop in the model's ``__init__`` (torchvision's style)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..codegen_literals import kwargs_source


@dataclass(frozen=True)
class Rule:
    tensor: str  # "weight" or "bias"
    fn: str  # an nn.init function name, or a computed rule: "uniform_out", "goog_conv"
    kwargs: dict = field(default_factory=dict)


# A group whose classes start with LAST applies to the last module of that class in module
# order only (torchvision's ``m is final_conv``); it is listed before the general group.
LAST = "last "
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
    "convnext": ("torchvision's ConvNeXt scheme", [
        (("Conv2d", "Linear"), (Rule("weight", "trunc_normal_", {"std": 0.02}),
                                Rule("bias", "zeros_"))),
    ]),
    "squeezenet": ("torchvision's SqueezeNet scheme", [
        ((LAST + "Conv2d",), (Rule("weight", "normal_", {"mean": 0.0, "std": 0.01}),
                              Rule("bias", "zeros_"))),
        (("Conv2d",), (Rule("weight", "kaiming_uniform_"), Rule("bias", "zeros_"))),
    ]),
    "goog": ("the TensorFlow/timm EfficientNet and MobileNet scheme", [
        (("Conv2d",), (Rule("weight", "goog_conv"), Rule("bias", "zeros_"))),
        _ONES_ZEROS,
        (("Linear",), (Rule("weight", "uniform_out"), Rule("bias", "zeros_"))),
    ]),
}


def source(scheme: str) -> list[str]:
    """The same rules as a loop in generated code (8-space indent, inside __init__)."""
    label, groups = SCHEMES[scheme]
    if not groups:
        return []
    lines = [f"# weight initialisation: {label}"]
    for classes, _ in groups:
        for c in classes:
            if c.startswith(LAST):
                cls = c.removeprefix(LAST)
                lines += [f"{_last_name(cls)} = None", "for m in self.modules():",
                          f"    if isinstance(m, nn.{cls}):", f"        {_last_name(cls)} = m"]
    lines.append("for m in self.modules():")
    for i, (classes, rules) in enumerate(groups):
        lines.append(f"    {'if' if i == 0 else 'elif'} {_test(classes)}:")
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


def _last_name(cls: str) -> str:
    return f"final_{cls.lower().removesuffix('2d')}"


def _test(classes: tuple[str, ...]) -> str:
    tests = [f"m is {_last_name(c.removeprefix(LAST))}" for c in classes if c.startswith(LAST)]
    names = [f"nn.{c}" for c in classes if not c.startswith(LAST)]
    if len(names) == 1:
        tests.append(f"isinstance(m, {names[0]})")
    elif names:
        tests.append(f"isinstance(m, ({', '.join(names)}))")
    return " or ".join(tests)
