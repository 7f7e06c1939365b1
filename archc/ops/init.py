"""Weight initialisation as data: rules that pick modules by archc op and give each tensor an
initialiser, printed as torchvision's loop (``for m in self.modules(): if isinstance(...)``).

A spec's ``init:`` rule list, a row's ``init:`` and the named schemes of the reference families
(``init_schemes.yaml`` beside this file) are all :class:`Rule` tuples, checked by
:mod:`archc.frontend.init_rules` and printed by :func:`source` alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..codegen_literals import literal

SCHEMES_FILE = Path(__file__).resolve().parent / "init_schemes.yaml"
# The names of the schemes in SCHEMES_FILE (the spec model's enum is built before any file is
# read; a test keeps the two equal).
SCHEME_NAMES = ("pytorch", "mobilenet", "efficientnet", "resnet", "vgg", "googlenet",
                "squeezenet", "goog", "convnext")

# archc op -> the nn classes its modules are. group_norm is no archc op: torchvision's schemes
# reset nn.GroupNorm together with the batch norms, and the scheme file says so.
OP_CLASSES: dict[str, tuple[str, ...]] = {
    "conv": ("Conv2d",),
    "linear": ("Linear",),
    "batch_norm": ("BatchNorm2d", "BatchNorm1d"),
    "group_norm": ("GroupNorm",),
    "layer_norm": ("LayerNorm",),
}
TENSORS = ("weight", "bias")
MODES = ("fan_in", "fan_out")
NONLINEARITIES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu",
                  "leaky_relu", "selu")


@dataclass(frozen=True)
class Initialiser:
    """One kind of initialiser: its arguments (name -> kind: 'number', 'mode',
    'nonlinearity'), the required ones, and the ops whose modules it reads (computed ones)."""

    name: str
    doc: str
    args: tuple[tuple[str, str], ...] = ()
    required: tuple[str, ...] = ()
    ops: tuple[str, ...] | None = None


_KAIMING = (("a", "number"), ("mode", "mode"), ("nonlinearity", "nonlinearity"))
INITIALISERS: dict[str, Initialiser] = {i.name: i for i in (
    Initialiser("zeros", "nn.init.zeros_"),
    Initialiser("ones", "nn.init.ones_"),
    Initialiser("constant", "nn.init.constant_(value)", (("value", "number"),), ("value",)),
    Initialiser("normal", "nn.init.normal_(mean=0, std=1)",
                (("mean", "number"), ("std", "number"))),
    Initialiser("trunc_normal", "nn.init.trunc_normal_(mean=0, std=1, a=-2, b=2)",
                (("mean", "number"), ("std", "number"), ("a", "number"), ("b", "number"))),
    Initialiser("uniform", "nn.init.uniform_(a=0, b=1)", (("a", "number"), ("b", "number"))),
    Initialiser("kaiming_normal", "nn.init.kaiming_normal_(a=0, mode='fan_in', "
                "nonlinearity='leaky_relu')", _KAIMING),
    Initialiser("kaiming_uniform", "nn.init.kaiming_uniform_(a=0, mode='fan_in', "
                "nonlinearity='leaky_relu')", _KAIMING),
    Initialiser("xavier_uniform", "nn.init.xavier_uniform_(gain=1)", (("gain", "number"),)),
    Initialiser("xavier_normal", "nn.init.xavier_normal_(gain=1)", (("gain", "number"),)),
    Initialiser("uniform_out_features", "uniform in +-1/sqrt(out_features) (torchvision "
                "EfficientNet's classifier)", ops=("linear",)),
    Initialiser("goog_normal", "normal(0, sqrt(2 / (kh * kw * out_channels // groups))) "
                "(TensorFlow's and timm's conv init)", ops=("conv",)),
)}


@dataclass(frozen=True)
class Init:
    """An initialiser with the arguments the rule gave (in the order given)."""

    name: str
    kwargs: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Rule:
    """Modules of ``ops`` (only the last such module in module order with ``last``) and the
    initialiser of each of their tensors (None: left as constructed)."""

    ops: tuple[str, ...]
    last: bool = False
    weight: Init | None = None
    bias: Init | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(c for op in self.ops for c in OP_CLASSES[op])


def source(rules: tuple[Rule, ...], label: str | None = None, root: str = "self") -> list[str]:
    """The rules as loops over ``root``'s modules (unindented lines; the caller indents):
    the first rule whose modules match a module decides its tensors, like torchvision's
    ``if/elif`` chains."""
    if not rules:
        return []
    lines = [f"# weight initialisation: {label}"] if label else []
    finals = _finals(rules)
    for ops, var in finals.items():
        lines += [f"{var} = None", f"for m in {root}.modules():",
                  f"    if {_isinstance(_classes(ops))}:", f"        {var} = m"]
    lines.append(f"for m in {root}.modules():")
    for i, rule in enumerate(rules):
        test = f"m is {finals[rule.ops]}" if rule.last else _isinstance(rule.classes)
        # the last branch setting only the bias has no rule after it to fall through to: one
        # condition, as ruff (SIM102) and torchvision write it
        merged = rule.weight is None and i == len(rules) - 1
        if merged:
            test += " and m.bias is not None"
        lines.append(f"    {'if' if i == 0 else 'elif'} {test}:")
        for tensor in TENSORS:
            init = getattr(rule, tensor)
            if init is None:
                continue
            stmt = _call(init, f"m.{tensor}")
            if merged:
                lines += [f"        {s}" for s in stmt]
            elif tensor == "bias":
                lines.append("        if m.bias is not None:")
                lines += [f"            {s}" for s in stmt]
            else:
                lines += [f"        {s}" for s in stmt]
    return lines


def _finals(rules: tuple[Rule, ...]) -> dict[tuple[str, ...], str]:
    """A variable per op set that a ``last`` rule names: ``final_conv`` (torchvision
    SqueezeNet's name), ``final_layer`` for several ops."""
    out: dict[tuple[str, ...], str] = {}
    for rule in rules:
        if rule.last and rule.ops not in out:
            base = f"final_{rule.ops[0]}" if len(rule.ops) == 1 else "final_layer"
            name, i = base, 2
            while name in out.values():
                name, i = f"{base}_{i}", i + 1
            out[rule.ops] = name
    return out


def _classes(ops: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for op in ops for c in OP_CLASSES[op])


def _isinstance(classes: tuple[str, ...]) -> str:
    names = [f"nn.{c}" for c in classes]
    return f"isinstance(m, {names[0] if len(names) == 1 else '(' + ', '.join(names) + ')'})"


def _call(init: Init, target: str) -> list[str]:
    """The statements applying ``init`` to ``target``; every value printed by the literal
    emitter."""
    if init.name == "uniform_out_features":
        return ["bound = 1.0 / math.sqrt(m.out_features)",
                f"nn.init.uniform_({target}, -bound, bound)"]
    if init.name == "goog_normal":
        return ["fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels",
                "std = math.sqrt(2.0 / (fan_out // m.groups))",
                f"nn.init.normal_({target}, 0.0, std)"]
    args = [target]
    for key, value in init.kwargs:  # constant_'s argument is positional, as torchvision writes
        args.append(literal(value) if key == "value" else f"{key}={literal(value)}")
    return [f"nn.init.{init.name}_({', '.join(args)})"]
