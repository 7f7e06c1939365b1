"""Element-wise nonlinearities. One op, ``act``, with the function as a parameter, so that
blocks can take their nonlinearity as an argument (MobileNetV3's NL column)."""

from __future__ import annotations

from .base import Param, Primitive

# fn -> (nn class, functional spelling, supports inplace)
ACTIVATIONS = {
    "relu": ("ReLU", "nn.functional.relu({x})", True),
    "relu6": ("ReLU6", "nn.functional.relu6({x})", True),
    "hardswish": ("Hardswish", "nn.functional.hardswish({x})", True),
    "hardsigmoid": ("Hardsigmoid", "nn.functional.hardsigmoid({x})", False),
    "silu": ("SiLU", "nn.functional.silu({x})", True),
    "sigmoid": ("Sigmoid", "torch.sigmoid({x})", False),
    "tanh": ("Tanh", "torch.tanh({x})", False),
    "gelu": ("GELU", "nn.functional.gelu({x})", False),
    "identity": ("Identity", "{x}", False),
}


class Act(Primitive):
    op = "act"
    doc = "Activation function: " + ", ".join(ACTIVATIONS) + "."
    params = (
        Param("fn", "str", doc="activation function", choices=tuple(ACTIVATIONS)),
        Param("inplace", "bool", default=False,
              doc="overwrite the input (set by archc where the input has no other reader)"),
    )

    def infer(self, args, shapes):
        return shapes[0], 0, 0

    def source(self, args, in_channels, shape):
        if not args["fn"].known:  # chosen by a block parameter: a helper picks the class
            return f"_activation({args['fn']}, inplace={args['inplace']})"
        cls, _, can_inplace = ACTIVATIONS[args["fn"].value]
        inplace = can_inplace and args["inplace"].value
        return f"nn.{cls}({'inplace=True' if inplace else ''})"

    def call_source(self, args, inputs):
        if not args["fn"].known:
            return f"_apply_activation({args['fn']}, {inputs[0]})"
        fn = args["fn"].value
        source = ACTIVATIONS[fn][1].format(x=inputs[0])
        if ACTIVATIONS[fn][2] and args["inplace"].known and args["inplace"].value:
            source = source[:-1] + ", inplace=True)"  # nn.functional.relu(x, inplace=True)
        return source
