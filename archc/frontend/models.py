"""Pydantic models of the spec language. Strict: unknown keys are errors, no type coercion.

A spec mirrors its paper's table: ``layers`` are the table's rows, each naming its operator with
an explicit ``op:`` tag and giving the paper's columns as keys (``t, c, n, s`` for a MobileNetV2
bottleneck). The columns an op accepts are declared by the op itself (see ``archc ops``), so they
are checked after this first structural pass, by :mod:`archc.frontend.validate`.
"""

from __future__ import annotations

import builtins
import keyword
import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ..ops.init import SCHEME_NAMES
from .names import (
    GENERATED_CLASSES,
    GENERATED_GLOBALS,
    MODEL_ATTRIBUTES,
    MODULE_ATTRIBUTES,
    PRIVATE,
    private,
)

IDENT = r"^[a-z_][a-z0-9_]*$"
BUILTINS = frozenset(dir(builtins))
CLASS_IDENT = r"^[A-Z][A-Za-z0-9_]*$"
# Row names become module attributes and state_dict keys: any ASCII identifier, capitals
# included (torchvision's Inception names modules Conv2d_1a_3x3).
ROW_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A row name may be a template inside a 'seq' group: denselayer{i + 1}, one name per repeat.
ROW_NAME = r"^[A-Za-z_]([A-Za-z0-9_-]|\{[^{}]+\})*$"
# A child of a 'seq' group is an OrderedDict key, never an attribute: it may also carry '-'
# (timm's Xception names blocks block1-0), as add_module allows (only '.' is refused).
KEY_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_-]*$"
Scalar = Union[bool, int, float, str]
RESERVED_ROW_KEYS = ("op", "name", "from", "when", "step", "seq", "n", "input_size", "init")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


def _class_ident(value: str) -> str:
    if value in BUILTINS or value in GENERATED_CLASSES:
        raise ValueError(f"{value!r} would shadow a name generated code uses")
    if not re.match(CLASS_IDENT, value) or not value.isascii() or keyword.iskeyword(value):
        suggestion = re.sub(r"[^0-9A-Za-z_]", "", value.title().replace(" ", ""))
        raise ValueError(f"{value!r} is not a class name: start with a capital letter, then "
                         "letters, digits or _" + (f" (e.g. {suggestion!r})" if re.match(
                             CLASS_IDENT, suggestion or "-") else ""))
    return value


def _check_ident(value: str | None) -> str | None:
    if value is not None and keyword.iskeyword(value):
        raise ValueError(f"{value!r} is a reserved word")
    if value is not None and private(value):
        raise ValueError(f"{value!r}: {PRIVATE}")
    if value is not None and value in BUILTINS:
        raise ValueError(f"{value!r} would shadow a Python builtin in generated code")
    if value is not None and value in MODULE_ATTRIBUTES:
        raise ValueError(f"{value!r} is an attribute of every torch.nn.Module; choose another "
                         "name")
    return value


def row_name_problem(value: str, key: bool = False) -> str | None:
    """Why ``value`` (a row name, or a template's rendered name) cannot name a module, or
    None. A module name is a Python identifier: one with '-' or '.' (``block1-0``) could only
    be registered with add_module and read back with getattr, which generated code never uses
    (the audit refuses getattr, the door to every attribute). With ``key``, a name inside a
    'seq' group, which is only an OrderedDict key, '-' is allowed too."""
    if key and "-" in value and re.match(KEY_NAME, value) and value.isascii():
        return None
    if not re.match(ROW_IDENT, value) or not value.isascii():
        fix = re.sub(r"[^0-9A-Za-z_]", "_", value)
        return (f"{value!r} is not a module name: use letters, digits and _ (not starting with "
                "a digit); generated code writes it as an attribute (self.NAME), which a name "
                "with '-' or '.' cannot be" + (f" (e.g. {fix!r})" if re.match(ROW_IDENT, fix)
                                                else ""))
    try:
        _check_row_name(value)
    except ValueError as exc:
        return str(exc)
    return None


def _check_row_name(value: str | None) -> str | None:
    if value is not None and (value in GENERATED_CLASSES or value in GENERATED_GLOBALS):
        raise ValueError(f"{value!r} is a name the generated module defines or imports; "
                         "choose another name")
    if value is not None and value in MODEL_ATTRIBUTES:
        raise ValueError(f"{value!r} is an attribute of archc's generated models (the "
                         "classifier and backbone API); choose another name")
    return _check_ident(value)


def _check_template(value: str) -> str:
    """A name template: identifier characters and ``{expression}`` parts (no nesting)."""
    if not re.match(ROW_NAME, value):
        raise ValueError(f"{value!r} is not a name template: letters, digits, _, - and "
                         "{expression} parts (e.g. 'denselayer{i + 1}'), starting with a letter")
    literal = re.sub(r"\{[^{}]+\}", "", value)
    if private(literal):
        raise ValueError(f"{value!r}: {PRIVATE}")
    return value


class Paper(_Strict):
    """Where the architecture comes from."""

    title: str = Field(description="Paper title.")
    authors: str = Field("", description="Authors, e.g. 'Sandler et al.'.")
    year: int | None = Field(None, description="Publication year.")
    url: str = Field("", description="Link to the paper (arXiv abstract page).")
    table: str = Field("", description="The table this spec transcribes, e.g. 'Table 2'.")


class Norm(_Strict):
    """Defaults for every batch_norm row (reference families differ)."""

    # A number, or an expression of the spec's params, width and depth (MNASNet's momentum is
    # `1 - 0.9997`): validation evaluates it, so later stages read plain floats.
    eps: Annotated[float, Field(gt=0, allow_inf_nan=False)] | str = Field(
        1e-5, description="BatchNorm epsilon (> 0): a number or an expression "
        "(e.g. '1e-3 * 1') of the spec's params, width and depth.")
    momentum: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | str = Field(
        0.1, description="BatchNorm running-stat momentum (0 to 1): a number or an expression "
        "(e.g. '1 - 0.9997') of the spec's params, width and depth.")


# An initialiser: its name (zeros, kaiming_uniform), or a one-key mapping of its name to its
# arguments ({normal: {std: 0.02}}); numbers may be expressions of the spec's params.
InitArgs = dict[str, Union[int, float, str]]
Initialiser = Union[str, dict[str, Union[InitArgs, None]]]
_INITIALISER_DOC = (
    "The {tensor}'s initialiser{note}: a name (zeros, ones, kaiming_uniform, ...) or a one-key "
    "mapping to its arguments, e.g. {{normal: {{std: 0.02}}}}. Initialisers: zeros, ones, constant "
    "{{value}}, normal {{mean, std}}, trunc_normal {{mean, std, a, b}}, uniform {{a, b}}, "
    "kaiming_normal / kaiming_uniform {{a, mode, nonlinearity}}, xavier_uniform / "
    "xavier_normal {{gain}}, uniform_out_features (linear only), goog_normal (conv only). "
    "Numbers may be expressions of the spec's params (std: sqrt(1 / 768)). Absent: left as "
    "constructed.")


class InitRule(_Strict):
    """One weight initialisation rule: which modules, and an initialiser per tensor. In a list,
    the first rule that matches a module decides its tensors (torchvision's if/elif loop)."""

    ops: list[str] = Field(
        min_length=1, description="The modules it applies to, by archc op: conv, linear, "
        "batch_norm, layer_norm, group_norm (nn.GroupNorm).")
    last: bool = Field(False, description="Only the last of those modules in module order "
                       "(torchvision SqueezeNet's final_conv).")
    weight: Initialiser | None = Field(None, description=_INITIALISER_DOC.format(
        tensor="weight", note=""))
    bias: Initialiser | None = Field(None, description=_INITIALISER_DOC.format(
        tensor="bias", note=" (skipped where a module has none)"))


class Row(BaseModel):
    """One row of a table: an operator with its columns, or a named group of rows (``seq``)."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=False)

    op: str | None = Field(None, description="Operator or block type of the row.")
    name: str | None = Field(
        None, pattern=ROW_NAME,
        description="Module name (an attribute of the parent, or a group's key). Needed for "
        "rows with weights outside a 'seq' group; with 'n', names a Sequential of the repeats; "
        "in a 'seq' group with 'n', a template such as 'denselayer{i + 1}' names each repeat.")
    from_: str | list[str] | None = Field(
        None, alias="from",
        description="Input(s) of this row by name ('input' = the block input); default: the "
        "previous row.")
    when: str | bool | None = Field(
        None, description="Condition (expression); when false the row is left out and its input "
        "passes through.")
    step: str | None = Field(None, description="Paper step, shown as a comment in generated code.")
    seq: list[Row] | None = Field(
        None, description="A group of rows run in order (becomes an nn.Sequential).")
    n: int | str | None = Field(
        None, description="Repeats (paper column n): the row is applied n times; stride-like "
        "columns apply to the first repeat only.")
    input_size: list[int] | None = Field(
        None, min_length=1, max_length=3,
        description="Input size stated by the paper for this row, as [C, H, W]; checked.")
    init: list[InitRule] | None = Field(
        None, description="Initialisation rules for the modules under this row, applied right "
        "after the row's module is built (torchvision's ViT MLPBlock re-initialises its own "
        "Linears so); top-level rows and named rows of a block body.")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value):
        if not isinstance(value, str):
            return value  # the type check says what is wrong
        if "{" in value or "}" in value:
            return _check_template(value)
        # a hyphenated name is checked where its place is known (validate: in a seq group)
        problem = row_name_problem(value, key="-" in value)
        if problem:
            raise ValueError(problem)
        return value

    @property
    def template(self) -> bool:
        """Whether the name is a template (``denselayer{i + 1}``), rendered per repeat."""
        return self.name is not None and "{" in self.name

    @model_validator(mode="after")
    def _op_or_seq(self):
        if (self.op is None) == (self.seq is None):
            raise ValueError("a row has either 'op' or 'seq'")
        return self

    _stage: bool = PrivateAttr(False)  # archc-made group for a named top-level row with n

    @property
    def args(self) -> dict:
        """The operator's columns: every key that is not reserved."""
        return dict(self.model_extra or {})


class ParamSpec(_Strict):
    """A parameter (table column) of a user-defined block."""

    type: Literal["int", "int2", "float", "bool", "str"] = Field(
        "int", description="Value type; 'int2': an integer or a [height, width] pair (kernel, "
        "stride, padding, dilation).")
    default: Scalar | None = Field(None, description="Default value; absent means required.")
    optional: bool = Field(False, description="Without a default, the parameter may be left out "
                           "and is then null (e.g. padding: automatic).")
    doc: str = Field("", description="What the parameter means (paper's wording).")
    py: str | None = Field(None, pattern=IDENT,
                           description="Argument name in generated code (e.g. s -> stride).")
    choices: list[str] | None = Field(None, description="Allowed values for a str parameter.")
    min: float | None = Field(None, description="Smallest allowed value.")
    max: float | None = Field(None, description="Largest allowed value.")
    first_only: bool = Field(False, description="With n repeats, only the first repeat takes the "
                             "row's value; later ones take the default (like stride).")
    scale: Literal["channels"] | None = Field(
        None, description="'channels': a number written in this column is scaled by the spec's "
        "width multiplier (scaling.width) with its rounding policy.")

    @field_validator("py")
    @classmethod
    def _py(cls, value):
        return _check_ident(value)


class BlockSpec(_Strict):
    """A block type defined in YAML: a small graph of rows with parameters and expressions."""

    doc: str = Field("", description="One-line description, shown as the class docstring.")
    paper: str = Field("", description="Citation for the block (paper, figure or table).")
    class_name: str | None = Field(None, description="Class name in generated code (default: "
                                   "CamelCase of the block name).")
    operator: str = Field("", max_length=80, description="The block's name in paper tables "
                          "('bottleneck' for MobileNetV2's inverted residual): the Operator "
                          "column of archc table (default: the block's name).")
    params: dict[str, ParamSpec] = Field(default_factory=dict,
                                         description="The block's columns.")
    let: dict[str, Scalar] = Field(
        default_factory=dict,
        description="Derived values, in order: name -> expression over params, 'in_channels' and "
        "earlier lets.")
    body: list[Row] = Field(min_length=1, description="The rows of the block.")
    out: str | None = Field(None, pattern=IDENT,
                            description="Row whose output is the block output (default: last).")

    @field_validator("class_name")
    @classmethod
    def _class_name(cls, value):
        return None if value is None else _class_ident(value)
    inline: bool = Field(False, description="Splice the rows into the enclosing 'seq' group "
                         "instead of making a module (VGG's conv-[bn]-relu unit). Inline blocks "
                         "are plain chains and cannot read 'in_channels'.")


class Scaling(_Strict):
    """Compound scaling (EfficientNet, MobileNet width multipliers) of the table's numbers.

    Channel columns written as numbers are multiplied by ``width`` and rounded by ``channels``;
    repeat counts ``n`` written as numbers by ``depth``, rounded by ``repeats``. Columns written
    as expressions are used as written (``width`` and ``depth`` are names they can use)."""

    # Bounded so that a column times its multiplier stays a float (1e308 overflowed); real
    # families use at most ~4 (EfficientNet-B7: width 2.0, depth 3.1).
    width: float = Field(1.0, gt=0, le=1000, allow_inf_nan=False,
                         description="Width multiplier for channel columns (at most 1000).")
    depth: float = Field(1.0, gt=0, le=1000, allow_inf_nan=False,
                         description="Depth multiplier for repeat counts (at most 1000).")
    channels: Literal["make_divisible_8", "round", "floor", "ceil"] = Field(
        "make_divisible_8", description="Channel rounding: make_divisible_8 is the reference "
        "implementations' rule (nearest multiple of 8, at least 8, never 10% below).")
    repeats: Literal["ceil", "round", "floor"] = Field(
        "ceil", description="Repeat-count rounding (EfficientNet: ceil).")


class InputTransform(_Strict):
    """A per-channel affine map applied to the input first: x * scale + shift (input whitening,
    e.g. GoogLeNet's transform_input)."""

    scale: list[float | str] = Field(min_length=1, description="Per-channel factor (numbers or "
                                     "expressions).")
    shift: list[float | str] = Field(min_length=1, description="Per-channel offset.")


class Weights(_Strict):
    """A published checkpoint of this architecture, loadable by name:
    ``factory(weights="IMAGENET1K_V1")`` downloads it through torch.hub (hash checked, into the
    torch hub cache) and loads it strictly."""

    url: str = Field(
        pattern=r"^(https?|file)://[^\s]+$",
        description="Where the state_dict is published (https://, http:// or file://). Its file "
        "name carries the hash prefix as torch.hub expects: NAME-<sha256 prefix>.pth.")
    sha256: str = Field(
        pattern=r"^[0-9a-f]{8,64}$",
        description="The file's sha256, or its first hex digits (at least 8): torchvision "
        "publishes only the prefix in the file name. Must equal the hash part of the url's file "
        "name; torch.hub checks the download against it.")
    params: int = Field(
        gt=0, description="Parameter count of the checkpoint (all of its tensors that are "
        "parameters). A variant whose count differs drops the entry, so it cannot load its "
        "base's weights by accident.")
    mean: list[float] = Field(
        [0.485, 0.456, 0.406], min_length=1, description="Per-channel mean the inputs were "
        "normalised with in training (default: ImageNet's, as torchvision's transforms).")
    std: list[float] = Field(
        [0.229, 0.224, 0.225], min_length=1, description="Per-channel standard deviation the "
        "inputs were normalised with (default: ImageNet's).")
    categories: str = Field("imagenet", description="The label set of the classifier: "
                            "'imagenet' (the 1,000 ImageNet-1k classes) or a name of your own.")
    license: str = Field("", description="Terms the weights are published under.")


INIT_SCHEMES = SCHEME_NAMES


class Spec(_Strict):
    """An architecture: metadata, input, and the rows of its table."""

    model_config = ConfigDict(extra="forbid", strict=True, title="archc spec")

    schema_: str | None = Field(None, alias="$schema", description="JSON Schema location.")
    name: str = Field(description="Model class name (CamelCase), e.g. MobileNetV2.")
    description: str = Field("", description="What this architecture is.")
    paper: Paper | None = Field(None, description="The paper the table comes from.")
    reference: str = Field("", description="Reference implementation this spec matches.")
    input: list[int] = Field(min_length=1, max_length=3,
                             description="Input shape without batch: [C, H, W].")
    params: dict[str, Scalar] = Field(default_factory=dict,
                                      description="Named values usable in row expressions.")
    norm: Norm = Field(default_factory=Norm, description="BatchNorm defaults.")
    scaling: Scaling = Field(default_factory=Scaling, description="Width/depth multipliers.")
    init: Literal[INIT_SCHEMES] | list[InitRule] = Field(
        "pytorch", description="Weight initialisation, applied after the whole model is built: "
        "a scheme (pytorch: module defaults; or a reference family's: mobilenet, efficientnet, "
        "resnet, vgg, googlenet, squeezenet, convnext, goog: TensorFlow/timm EfficientNet and "
        "MobileNetV1), or a list of rules.")
    input_transform: InputTransform | None = Field(None, description="Input whitening step.")
    aux_outputs: list[str] = Field(
        default_factory=list, description="Top-level rows computed only in training, whose "
        "outputs follow the main output (GoogLeNet's auxiliary classifiers). They read their "
        "input with 'from' and do not continue the chain.")
    features: list[str] | None = Field(
        None, description="Rows whose outputs a backbone build returns (archc build --features), "
        "by module path: a top-level row (layer2) or a row of a top-level group (features.6). "
        "Default: the last row at each of the strides 4, 8, 16 and 32.")
    extends: str | None = Field(None, description="Base spec (path relative to this file); this "
                                "file states only what differs.")
    patch: dict[str, dict[str, Scalar | list | None]] | None = Field(
        None, description="Column changes to rows of the base, keyed by row name (layer3), "
        "module path (features.17) or spec path (layers.0.seq.7).")
    blocks: dict[str, BlockSpec] = Field(default_factory=dict,
                                         description="Block types defined by this spec.")
    weights: dict[str, Weights] = Field(
        default_factory=dict, description="Published checkpoints by name (e.g. IMAGENET1K_V1), "
        "loadable with the factory's weights= argument.")
    layers: list[Row] = Field(min_length=1, description="The table's rows, in order.")

    @field_validator("name")
    @classmethod
    def _class_name(cls, value: str) -> str:
        return _class_ident(value)

    @field_validator("init", mode="before")
    @classmethod
    def _init(cls, value):
        if isinstance(value, str) and value not in SCHEME_NAMES:
            import difflib

            near = difflib.get_close_matches(value, SCHEME_NAMES, n=1)
            raise ValueError(f"unknown init scheme {value!r}" + (
                f" (did you mean {near[0]!r}?)" if near else "") + ": the schemes are "
                f"{', '.join(SCHEME_NAMES)}; or write a list of rules")
        return value

    @field_validator("input")
    @classmethod
    def _input(cls, value):
        if any(v < 1 for v in value):
            raise ValueError("input dimensions must be at least 1")
        return value


Row.model_rebuild()
