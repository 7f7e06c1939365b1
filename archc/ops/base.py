"""What every block type provides: declared parameters, a shape/params/MACs rule (pure Python)
and its source spelling in generated code, which is also the live model (no torch here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..codegen_literals import literal

REQUIRED = object()

Shape = tuple[int, ...]  # per-sample shape: (C, H, W), (H, W, C), (L, C) or (F,)

# A layout names the per-sample dimensions, one letter each: C channels (features), H and W
# spatial, L tokens. The batch dimension N is implied. Every row's input and output have one.
CHW, HWC, LC, CL, FEATURES = "CHW", "HWC", "LC", "CL", "C"
_DEFAULT_LAYOUTS = {1: FEATURES, 2: LC, 3: CHW}


def default_layout(shape: Shape) -> str:
    """The layout a spec's ``input`` (or a plugin op's output) has by its rank."""
    return _DEFAULT_LAYOUTS.get(len(shape), "".join("D" * len(shape)))


def layout_name(layout: str) -> str:
    """``(N, C, H, W)``; the flat feature vector is ``(N, F)`` as torch's docs write it."""
    return "(N, F)" if layout == FEATURES else "(N, " + ", ".join(layout) + ")"


def channel_dim(layout: str) -> int:
    """Index of the channel (feature) dimension in a per-sample shape: the first in (C, H, W),
    the last in (H, W, C) and (L, C)."""
    return layout.index("C") if "C" in layout else 0


def channels(shape: Shape, layout: str) -> int:
    return shape[channel_dim(layout)] if shape else 1


class ShapeError(ValueError):
    """An impossible shape; the caller locates it at the spec row."""


@dataclass(frozen=True)
class Param:
    """One column of a block's row: name as written in the paper table, type, default."""

    name: str
    type: str = "int"  # int | int2 | float | bool | str | floats | ints
    default: object = REQUIRED
    doc: str = ""
    py: str | None = None  # keyword name in generated code (e.g. s -> stride)
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    first_only: bool = False  # with n repeats, only the first repeat takes the row's value
    scale: str | None = None  # "channels": scaled by the spec's width multiplier

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def pyname(self) -> str:
        return self.py or self.name


@dataclass
class Call:
    """Source of a call, ``func(arg, ...)``, kept structured so it can be line-wrapped."""

    func: str
    args: list

    def flat(self) -> str:
        return f"{self.func}({', '.join(a if isinstance(a, str) else a.flat() for a in self.args)})"

    def __str__(self) -> str:
        return self.flat()


@dataclass(frozen=True)
class Val:
    """A value in generated code: a known constant, or Python source computing it."""

    value: object = None
    src: str | None = None
    items: tuple[str, ...] | None = None  # a list column with expressions: each item's source

    @property
    def known(self) -> bool:
        return self.src is None

    def __str__(self) -> str:
        return self.src if self.src is not None else literal(self.value)


def derive(fn: Callable, fmt: str, *vals: Val) -> Val:
    """Combine Vals: fold to a constant when all are known, else format Python source."""
    if all(v.known for v in vals):
        return Val(fn(*(v.value for v in vals)))
    return Val(src=fmt.format(*(str(v) for v in vals)))


class Primitive:
    """A leaf operation (conv, norm, activation, ...). Subclasses fill the class attributes."""

    op: str = ""
    doc: str = ""
    params: tuple[Param, ...] = ()
    has_weights: bool = False  # needs a named module (state_dict entries)
    arity: int = 1  # 0 = any number of inputs (add, concat, ...)
    keeps_channels: bool = True  # output channels == input channels
    # layouts the input may have (None: any); checked before infer, with a located message
    expects: tuple[str, ...] | None = None
    layout_aware: bool = False  # infer/source/out_layout take the input layouts
    in_sequential: bool = True  # can be an entry of an nn.Sequential (one input, a module)
    operator: str = ""  # its name in paper tables (archc table), when it differs from op
    call_columns: tuple[str, ...] = ()  # columns module_call reads in forward

    @property
    def has_module(self) -> bool:
        """Whether the op has a module form (nn.Conv2d, nn.ReLU, ...)."""
        return type(self).source is not Primitive.source

    @property
    def functional(self) -> bool:
        """Whether the op can run without a module (it has a functional spelling)."""
        return type(self).call_source is not Primitive.call_source

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def infer(self, args: dict, shapes: list[Shape]) -> tuple[Shape, int, int]:
        """Output shape, parameter count, MACs for one sample."""
        raise NotImplementedError

    def out_layout(self, args: dict, layouts: list[str], shapes: list[Shape]) -> str:
        """The output's layout (most ops keep their input's)."""
        return layouts[0] if layouts else CHW

    def module_call(self, attr: str, args: dict[str, Val], inputs: list[str]) -> str:
        """Python source applying the module ``attr`` (``self.conv1``) in forward."""
        return f"{attr}({inputs[0]})"

    def out_channels(self, args: dict[str, str], in_channels: str | None) -> str | None:
        """Output channels as an expression (archc language) of the arguments; None when
        only the input's shape decides (flatten)."""
        return in_channels

    def source(self, args: dict[str, Val], in_channels: Val, shape: Shape) -> str:
        """Python source constructing the module in generated code."""
        raise NotImplementedError

    def module_source(self, args: dict[str, Val], in_channels: Val, shape: Shape,
                      layout: str) -> str:
        """:meth:`source`, given the input's layout too when the op reads it."""
        if self.layout_aware:
            return self.source(args, in_channels, shape, layout=layout)
        return self.source(args, in_channels, shape)

    def call_source(self, args: dict[str, Val], inputs: list[str]) -> str | None:
        """Python source of the functional form applied to ``inputs`` (or None: needs a module)."""
        return None


def list_items(val: Val) -> list[str]:
    """The items of a list column (``ints``, ``floats``) as Python source each."""
    if val.items is not None:
        return list(val.items)
    return [literal(v) for v in val.value]


def pair(value) -> tuple[int, int]:
    """An ``int2`` column as (height, width): an int stands for both (torch's ``_pair``)."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return value, value


def pair_val(val: Val) -> Val:
    """An ``int2`` value for generated code: a known pair spelled as a tuple, ``(1, 7)``,
    as torchvision writes it (an int stays an int)."""
    if val.known and isinstance(val.value, list):
        return Val(tuple(val.value))
    return val


def conv_out(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """Spatial output size of a convolution or pooling window (PyTorch's formula)."""
    span = size + 2 * p - d * (k - 1) - 1
    if ceil:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + p:  # PyTorch: last window must start inside the input
            out -= 1
        return out
    return span // s + 1
