"""Hypothesis profiles and spec strategies shared by the property and fuzz suites.

Profiles: ``ci`` (the default: derandomized, bounded example counts) and ``long`` (many more
examples, random seeds, the example database on). Pick one with ``ARCHC_HYPOTHESIS_PROFILE``::

    ARCHC_HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py

The profiles are only applied to the tests that ask for them (``profile(...)``), so loading this
module changes nothing for the rest of the suite.

``valid_specs()`` draws spec dicts that are valid by construction as far as a simple model of the
shape rules can tell: it tracks channels exactly (so ``groups`` divide them) and predicts spatial
sizes, and says so in ``GeneratedSpec.predicted``. Shapes can still shrink below 1 (a small
fraction on purpose), which archc must report as a :class:`archc.SpecError`.
"""

from __future__ import annotations

import builtins
import keyword
import math
import os
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

# --------------------------------------------------------------------------- profiles
PROFILE = os.environ.get("ARCHC_HYPOTHESIS_PROFILE", "ci")
_COMMON = {
    "deadline": None,
    # no explain phase: it traces every line, and the fuzz tests time each case
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much, HealthCheck.large_base_example],
}
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=2000, derandomize=False, **_COMMON)


def profile(ci: int | None = None, long: int | None = None) -> settings:
    """Settings for one test under the selected profile: ``ci`` examples in the ci profile,
    ``long`` in the long one (default: the profile's own count)."""
    base = settings.get_profile(PROFILE)
    count = long if PROFILE == "long" else ci
    return settings(base, max_examples=count or base.max_examples)


# --------------------------------------------------------------------------- names
# Names archc reserves or that cannot be Python identifiers in generated code; Python's
# builtins would be shadowed in generated code, and archc rejects them as names.
BUILTINS = frozenset(dir(builtins))
RESERVED = {"input", "in_channels", "self", "x", "out", "torch", "nn", "math", "super",
            "round", "int", "float", "min", "max", "abs", "ceil", "floor", "make_divisible",
            "width", "depth", "block_index", "block_count"}


def _module_attributes() -> frozenset[str]:
    try:
        import torch.nn
    except ImportError:  # pragma: no cover - torch is a dependency
        return frozenset()
    names = set(dir(torch.nn.Module))
    names |= set(vars(torch.nn.Module()))  # training, _parameters, ...
    return frozenset(names)


# Row names cannot be nn.Module attributes (forward, training, ...): they would break the live
# and generated modules (test_properties.py::test_row_named_like_a_module_attribute).
MODULE_ATTRIBUTES = _module_attributes()


def good_name(name: str) -> bool:
    return (name.isidentifier() and name.isascii() and name == name.lower()
            and not keyword.iskeyword(name) and not name.startswith("__")
            and name not in RESERVED and name not in MODULE_ATTRIBUTES
            and name not in BUILTINS)


_WORDS = ["conv", "stem", "layer", "stage", "head", "fc", "bn", "pool", "proj", "skip",
          "branch", "mix", "a", "b", "z9", "x_1", "gate", "features", "classifier", "block"]
NAMES = st.one_of(
    st.sampled_from(_WORDS),
    st.from_regex(r"\A[a-z][a-z0-9_]{0,9}\Z", fullmatch=True),
).map(lambda n: n if good_name(n) else f"n_{n}")

ACTS = ["relu", "relu6", "hardswish", "silu", "sigmoid", "tanh", "gelu"]


# --------------------------------------------------------------------------- shape model
def window_out(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """PyTorch's output size of a convolution or pooling window (its documented formula)."""
    span = size + 2 * p - d * (k - 1) - 1
    if ceil:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
        return out
    return span // s + 1


def same_out(size: int, s: int) -> int:
    """Output size of an odd-kernel 'same'-padded window with stride s."""
    return (size - 1) // s + 1


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """The reference implementations' channel rounding (as documented for the spec language)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass
class GeneratedSpec:
    """A drawn spec: its dict, and what the generator predicts archc infers."""

    data: dict
    predicted: tuple | None  # predicted output shape; None: predicted to shrink below 1
    kinds: list[str] = field(default_factory=list)  # row kinds used (for events)


class _SpecGen:
    """Draws rows while tracking the shape they produce."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.names: set[str] = set()
        self.valid = True
        self.kinds: list[str] = []
        self.params: dict[str, int] = {}
        self.user_blocks: dict[str, dict] = {}  # op name -> {"kind": ..., ...}
        self.class_names = set(_LIBRARY_CLASSES)
        self.width, self.depth = 1.0, 1.0
        self.channel_policy, self.repeat_policy = "make_divisible_8", "ceil"
        self.aux: list[str] = []

    # ----------------------------------------------------------------- helpers
    def name(self) -> str:
        name = self.draw(NAMES)
        if name in self.names or name in self.params or name in self.user_blocks:
            name = f"{name}_{len(self.names)}"  # unique without filtering
        self.names.add(name)
        return name

    def num(self, value: int, exprs: bool = True, force: bool = False):
        """An int column: the number, or (sometimes) an expression that evaluates to it.
        ``force``: always an expression (expressions are not scaled by ``scaling.width``)."""
        if not exprs:
            return value
        styles = ["expr", "param"] if force else ["plain"] * 8 + ["expr", "param"]
        style = self.draw(st.sampled_from(styles))
        if style == "param" and self.params:
            pname = self.draw(st.sampled_from(sorted(self.params)))
            pval = self.params[pname]
            if value % pval == 0:
                return f"{pname} * {value // pval}"
            return f"{pname} + {value - pval}" if value >= pval else f"{value} - {pname} + {pval}"
        if style != "plain" or force:
            return self.draw(st.sampled_from([f"{value}", f"({value} * 2) // 2",
                                              f"max(1, {value})", f"{value} + 0",
                                              f"int({value}.0)", f"min({value}, 1000)"]))
        return value

    def chan(self, value: int, exprs: bool = True, force: bool = False):
        """A channel column: (what to write, what archc should make of it after scaling)."""
        col = self.num(value, exprs, force)
        scaled = value if isinstance(col, str) else self.scale_channels(value)
        if scaled < 1:  # e.g. floor(1 * 0.5): archc must reject the column
            self.valid = False
        return col, max(scaled, 1)

    def scale_channels(self, value: int) -> int:
        if self.width == 1.0:
            return value
        if self.channel_policy == "make_divisible_8":
            return make_divisible(value * self.width, 8)
        return int({"round": round, "floor": math.floor,
                    "ceil": math.ceil}[self.channel_policy](value * self.width))

    def repeats(self, exprs: bool = True):
        """(repeats archc should make, what to write as 'n' or None)."""
        n = self.draw(st.sampled_from([None, None, None, 1, 2, 3]))
        if n is None:
            return 1, None
        if exprs and self.draw(st.booleans()):
            return n, self.num(n, force=True)
        if self.depth == 1.0:
            return n, n
        scaled = int({"round": round, "floor": math.floor,
                      "ceil": math.ceil}[self.repeat_policy](n * self.depth))
        if scaled < 1:
            self.valid = False
        return max(scaled, 1), n

    def channels(self, hi: int = 32) -> int:
        return self.draw(st.integers(1, hi))

    def stride(self) -> int:
        return self.draw(st.sampled_from([1, 1, 2]))

    def check(self, shape: tuple) -> tuple:
        """Note a shape below 1 (archc must reject the spec); go on with a clamped one."""
        if min(shape) < 1:
            self.valid = False
        return tuple(max(1, v) for v in shape)

    # ----------------------------------------------------------------- primitives
    def conv(self, shape, exprs=True):
        cin, h, w = shape
        k = self.draw(st.sampled_from([1, 3, 5]))
        s = self.stride()
        if self.draw(st.booleans()):
            g = self.draw(st.sampled_from(divisors(cin)))
            c = g * self.draw(st.integers(1, max(1, 32 // g)))
            # groups are not scaled: keep c as written (an expression) under a width multiplier
            c_col, c = self.chan(c, exprs, force=self.width != 1.0)
        else:
            g = 1
            c_col, c = self.chan(self.channels(), exprs)
        d = self.draw(st.sampled_from([1, 1, 1, 2]))
        p = self.draw(st.none() | st.integers(0, k // 2 + 1))
        bias = self.draw(st.none() | st.booleans())
        n, n_col = self.repeats(exprs)
        row = {"op": "conv", "c": c_col, "k": k}
        if s != 1 or self.draw(st.booleans()):
            row["s"] = s
        if p is not None:
            row["p"] = p
        if d != 1:
            row["d"] = d
        if g != 1 or self.draw(st.integers(0, 9)) == 9:
            row["groups"] = self.num(g, exprs)
        if bias is not None:
            row["bias"] = bias
        if n_col is not None:
            row["n"] = n_col
        pad = (k - 1) // 2 * d if p is None else p
        for i in range(n):
            h = window_out(h, k, s if i == 0 else 1, pad, d)
            w = window_out(w, k, s if i == 0 else 1, pad, d)
            self.check((c, h, w))
        self.kinds.append("conv")
        return row, self.check((c, h, w))

    def batch_norm(self, shape, exprs=True):
        row = {"op": "batch_norm"}
        if self.draw(st.integers(0, 3)) == 3:
            row["eps"] = self.draw(st.sampled_from([1e-3, 1e-5, 0.01]))
        if self.draw(st.integers(0, 3)) == 3:
            row["momentum"] = self.draw(st.sampled_from([0.01, 0.1, 0.5]))
        self.kinds.append("batch_norm")
        return row, shape

    def act(self, shape, exprs=True):
        row = {"op": "act", "fn": self.draw(st.sampled_from([*ACTS, "hardsigmoid", "identity"]))}
        n, n_col = self.repeats(exprs)
        if n_col is not None:
            row["n"] = n_col
        self.kinds.append("act")
        return row, shape

    def pool(self, shape, exprs=True):
        c, h, w = shape
        op = self.draw(st.sampled_from(["max_pool", "avg_pool"]))
        k = self.draw(st.integers(2, 3))
        s = self.draw(st.none() | st.integers(1, 3))
        p = self.draw(st.integers(0, k // 2))
        ceil = self.draw(st.booleans())
        n, n_col = self.repeats(exprs)
        row = {"op": op, "k": k}
        if s is not None:
            row["s"] = s
        if p or self.draw(st.booleans()):
            row["p"] = p
        if ceil or self.draw(st.booleans()):
            row["ceil"] = ceil
        if n_col is not None:
            row["n"] = n_col
        for i in range(n):
            stride = k if (s is None or i > 0) else s
            h = window_out(h, k, stride, p, 1, ceil)
            w = window_out(w, k, stride, p, 1, ceil)
            self.check((c, h, w))
        self.kinds.append("pool")
        return row, self.check((c, h, w))

    def misc(self, shape, exprs=True):
        """identity, channel_shuffle, adaptive_avg_pool, stochastic_depth, split."""
        c, h, w = shape
        op = self.draw(st.sampled_from(["identity", "channel_shuffle", "adaptive_avg_pool",
                                        "stochastic_depth", "split"]))
        self.kinds.append(op)
        row: dict = {"op": op}
        if op == "split":
            if c > 1 and self.draw(st.booleans()):
                cut = self.draw(st.integers(1, c - 1))
                row["sizes"], row["take"] = [cut, c - cut], self.draw(st.integers(0, 1))
                return row, (row["sizes"][row["take"]], h, w)
            row["chunks"] = self.draw(st.sampled_from(divisors(c)))
            row["take"] = self.draw(st.integers(0, row["chunks"] - 1))
            return row, (c // row["chunks"], h, w)
        if op == "channel_shuffle":
            row["groups"] = self.draw(st.sampled_from(divisors(c)))
        elif op == "adaptive_avg_pool":
            size = self.draw(st.integers(1, 4))
            row["size"] = size
            return row, (c, size, size)
        elif op == "stochastic_depth":
            row["p"] = self.draw(st.sampled_from([0.0, 0.1, 0.5]))
            if self.draw(st.booleans()):
                row["mode"] = self.draw(st.sampled_from(["row", "batch"]))
        return row, shape

    # ----------------------------------------------------------------- library blocks
    def library_block(self, shape, exprs=True, inline_ok=False):
        cin, h, w = shape
        choices = ["conv_norm_act", "inverted_residual", "bneck", "mbconv", "basic_block",
                   "bottleneck", "dw_separable", "basic_conv", "squeeze_excitation", "inception"]
        if inline_ok:
            choices.append("conv_act")
        # bneck and inverted_residual are both generated as class InvertedResidual: a spec
        # cannot use both (test_properties.py::test_two_blocks_with_one_class_name)
        if "bneck" in self.kinds:
            choices.remove("inverted_residual")
        if "inverted_residual" in self.kinds:
            choices.remove("bneck")
        op = self.draw(st.sampled_from(choices))
        self.kinds.append(op)
        row: dict = {"op": op}
        n, n_col = self.repeats(exprs)
        s = self.stride()
        strided = op not in ("squeeze_excitation", "inception")
        if strided and (s != 1 or self.draw(st.booleans())):
            row["s"] = s
        # one draw of the channel column (a draw that is not used could mark the spec invalid)
        g = 1
        if op == "conv_norm_act" and self.draw(st.booleans()):
            g = row["groups"] = self.draw(st.sampled_from(divisors(cin)))
            # groups are not scaled: keep c as written (an expression) under a width multiplier
            c_col, c = self.chan(g * self.draw(st.integers(1, max(1, 32 // g))), exprs,
                                 force=self.width != 1.0)
        elif op in ("squeeze_excitation", "inception"):  # no 'c' column
            c_col, c = None, cin
        else:
            c_col, c = self.chan(self.channels(12 if op == "bottleneck" else 32), exprs)
        if op == "conv_norm_act":
            k = self.draw(st.sampled_from([1, 3, 5]))
            row.update(c=c_col, k=k)
            if self.draw(st.integers(0, 3)) == 3:
                row["d"] = 2
            if self.draw(st.booleans()):
                row["act"] = self.draw(st.sampled_from([*ACTS, "hardsigmoid", "none"]))
            out = c
        elif op == "inverted_residual":
            t = self.draw(st.sampled_from([1, 2, 6, 0.5, 1.5, 1.0]))
            row.update(t=t, c=c_col)
            for i in range(n):  # hidden = round(in_channels * t) must be at least 1
                if round((cin if i == 0 else c) * t) < 1:
                    self.valid = False
            out = c
        elif op == "bneck":
            exp_col, _ = self.chan(self.channels(), exprs)
            row.update(k=self.draw(st.sampled_from([3, 5])), exp=exp_col, c=c_col,
                       se=self.draw(st.booleans()),
                       nl=self.draw(st.sampled_from(["RE", "HS"])))
            out = c
        elif op == "mbconv":
            row.update(t=self.draw(st.sampled_from([1, 4, 6])),
                       k=self.draw(st.sampled_from([3, 5])), c=c_col)
            if self.draw(st.booleans()):
                row["sd"] = self.draw(st.sampled_from([0.0, 0.1, 0.2]))
            out = c
        elif op == "basic_block":
            row["c"] = c_col
            out = c
        elif op == "bottleneck":
            row["c"] = c_col
            e = self.draw(st.none() | st.integers(1, 4))
            if e is not None:
                row["expansion"] = e
            out = c * (4 if e is None else e)
        elif op == "dw_separable":
            row["c"] = c_col
            if self.draw(st.booleans()):
                row["act"] = self.draw(st.sampled_from(["relu", "relu6"]))
            out = c
        elif op == "basic_conv":
            row.update(c=c_col, k=self.draw(st.sampled_from([1, 3, 5])))
            out = c
        elif op == "squeeze_excitation":
            row["squeeze"] = self.draw(st.integers(1, 8))
            if self.draw(st.booleans()):
                row["act"] = self.draw(st.sampled_from(["relu", "silu"]))
            if self.draw(st.booleans()):
                row["gate"] = self.draw(st.sampled_from(["hardsigmoid", "sigmoid"]))
            out = cin
        elif op == "inception":
            out = 0
            for key in ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj"):
                row[key], value = self.chan(self.draw(st.integers(1, 8)), exprs)
                if key in ("ch1x1", "ch3x3", "ch5x5", "pool_proj"):
                    out += value
            if self.draw(st.booleans()):
                row["k5"] = self.draw(st.sampled_from([3, 5]))
        else:  # conv_act (inline)
            k = self.draw(st.sampled_from([1, 3, 5]))
            p = self.draw(st.none() | st.integers(0, k // 2))
            row.update(c=c_col, k=k)
            if p is not None:
                row["p"] = p
            if self.draw(st.booleans()):
                row["bn"] = self.draw(st.booleans())
            if self.draw(st.booleans()):
                row["act"] = self.draw(st.sampled_from(ACTS))
            out = c
            pad = (k - 1) // 2 if p is None else p
            for i in range(n):
                h = window_out(h, k, s if i == 0 else 1, pad)
                w = window_out(w, k, s if i == 0 else 1, pad)
                self.check((c, h, w))
            if n_col is not None:
                row["n"] = n_col
            return row, self.check((c, h, w))
        if strided:
            h, w = same_out(h, s), same_out(w, s)
        if n_col is not None:
            row["n"] = n_col
        return row, self.check((out, h, w))

    # ----------------------------------------------------------------- user blocks
    def define_blocks(self) -> dict:
        """Zero to two block definitions of the spec's own, from a few templates."""
        blocks = {}
        for _ in range(self.draw(st.integers(0, 2))):
            kind = self.draw(st.sampled_from(["residual", "branches", "chain", "merge",
                                              "inline"]))
            op = self.draw(NAMES)
            if op in self.user_blocks or op in _LIBRARY or op in _PRIMITIVES:
                op = f"{op}_{len(self.user_blocks)}_blk"
            defn, info = getattr(self, f"_block_{kind}")()
            # class names must not clash (archc reports a clash only when generating code)
            class_name = defn.get("class_name") or _camel(op)
            if class_name in self.class_names:
                defn["class_name"] = class_name = f"Own{len(self.user_blocks)}{class_name}"
            self.class_names.add(class_name)
            self.user_blocks[op] = info
            blocks[op] = defn
        return blocks

    def _body_names(self, count: int) -> list[str]:
        return self.draw(st.lists(NAMES, min_size=count, max_size=count, unique=True))

    def _block_residual(self):
        """A module block: 1x1 expand (let: hidden from in_channels), optional norm (when),
        strided depthwise, 1x1 projection, and a residual add when the shapes allow it."""
        e = self.draw(st.sampled_from([1.0, 2.0, 0.5, 4.0]))
        scaled = self.draw(st.booleans())
        expand, norm, act, dw, project = self._body_names(5)
        c_param = {"type": "int", "min": 1, "py": "out_channels"}
        if scaled:
            c_param["scale"] = "channels"
        defn = {
            "doc": "expand, depthwise, project, add",
            "params": {
                "c": c_param,
                "e": {"type": "float", "default": e, "min": 0},
                "s": {"type": "int", "default": 1, "min": 1, "first_only": True,
                      "py": "stride"},
                "act": {"type": "str", "default": "relu", "choices": ACTS},
                "bn": {"type": "bool", "default": True},
            },
            "let": {"hidden": "max(1, round(in_channels * e))",
                    "use_res": "s == 1 and in_channels == c"},
            "body": [
                {"name": expand, "op": "conv", "c": "hidden", "k": 1, "bias": False},
                {"name": norm, "op": "batch_norm", "when": "bn"},
                {"name": act, "op": "act", "fn": "act"},
                {"name": dw, "op": "conv", "c": "hidden", "k": 3, "s": "s", "groups": "hidden",
                 "bias": False},
                {"name": project, "op": "conv", "c": "c", "k": 1},
                {"op": "add", "from": ["input", project], "when": "use_res"},
            ],
        }
        if self.draw(st.booleans()):
            defn["class_name"] = "Res" + self.draw(st.from_regex(r"\A[A-Z][a-z0-9]{0,5}\Z",
                                                                 fullmatch=True))
        return defn, {"kind": "residual", "scaled": scaled}

    def _block_branches(self):
        """Parallel branches read from input (one a seq group, one left out by a condition),
        concatenated; out channels a + b + in_channels."""
        left, right, pooled = self._body_names(3)
        defn = {
            "params": {
                "a": {"type": "int", "min": 1},
                "b": {"type": "int", "min": 1},
                "pool": {"type": "bool", "default": False},
            },
            "let": {"half": "max(1, in_channels // 2)"},
            "body": [
                {"name": left, "op": "conv", "c": "a", "k": 1, "from": "input"},
                {"name": right, "from": "input", "seq": [
                    {"op": "conv", "c": "half", "k": 1},
                    {"op": "act", "fn": "relu"},
                    {"op": "conv", "c": "b", "k": 3},
                ]},
                {"name": pooled, "op": "max_pool", "k": 3, "s": 1, "p": 1, "from": "input",
                 "when": "pool"},
                {"op": "concat", "from": [left, right, pooled]},
            ],
        }
        return defn, {"kind": "branches"}

    def _block_chain(self):
        """A plain chain (an nn.Sequential subclass) using a library block inside."""
        defn = {
            "params": {
                "c": {"type": "int", "min": 1},
                "k": {"type": "int", "default": 3, "min": 1},
                "norm": {"type": "bool", "default": False},
            },
            "body": [
                {"op": "conv", "c": "c", "k": "k"},
                {"op": "batch_norm", "when": "norm"},
                {"op": "act", "fn": "relu"},
                {"op": "conv_norm_act", "c": "c", "k": 1, "act": "none"},
            ],
        }
        return defn, {"kind": "chain"}

    def _block_merge(self):
        """A module block whose output is a named row ('out'), with a row after it."""
        stem, side, merged, tail = self._body_names(4)
        defn = {
            "params": {"c": {"type": "int", "min": 1}},
            "body": [
                {"name": stem, "op": "conv_norm_act", "c": "c", "k": 3},
                {"name": side, "op": "conv", "c": "c", "k": 1, "from": "input"},
                {"name": merged, "op": "add", "from": [stem, side]},
                {"name": tail, "op": "act", "fn": "sigmoid"},
            ],
            "out": merged,
        }
        return defn, {"kind": "merge"}

    def _block_inline(self):
        """An inline block: its rows are spliced into the enclosing seq group."""
        defn = {
            "inline": True,
            "params": {"c": {"type": "int", "min": 1},
                       "act": {"type": "str", "default": "relu", "choices": ACTS}},
            "body": [
                {"op": "conv", "c": "c", "k": 3},
                {"op": "batch_norm"},
                {"op": "act", "fn": "act"},
            ],
        }
        return defn, {"kind": "inline"}

    def user_block(self, shape, exprs=True, in_seq=False):
        ops = [op for op, info in self.user_blocks.items() if in_seq or info["kind"] != "inline"]
        op = self.draw(st.sampled_from(sorted(ops)))
        info = self.user_blocks[op]
        cin, h, w = shape
        n, n_col = self.repeats(exprs)
        row: dict = {"op": op}
        self.kinds.append("user_" + info["kind"])
        if info["kind"] == "residual":
            if info["scaled"]:
                row["c"], c = self.chan(self.channels(), exprs)
            else:
                c = self.channels()
                row["c"] = self.num(c, exprs)
            s = self.stride()
            if s != 1 or self.draw(st.booleans()):
                row["s"] = s
            if self.draw(st.booleans()):
                row["e"] = self.draw(st.sampled_from([1, 2, 0.25, 3.0]))
            if self.draw(st.booleans()):
                row["act"] = self.draw(st.sampled_from(ACTS))
            if self.draw(st.booleans()):
                row["bn"] = self.draw(st.booleans())
            h, w = same_out(h, s), same_out(w, s)
            out = c
        elif info["kind"] == "branches":
            a, b = self.draw(st.integers(1, 8)), self.draw(st.integers(1, 8))
            row.update(a=a, b=b)
            if self.draw(st.booleans()):
                row["pool"] = self.draw(st.booleans())
            out = cin + n * (a + b)  # each repeat adds a + b channels to its input
        elif info["kind"] in ("merge", "inline"):
            c = self.channels()
            row["c"] = self.num(c, exprs)
            if info["kind"] == "inline" and self.draw(st.booleans()):
                row["act"] = self.draw(st.sampled_from(ACTS))
            out = c
        else:
            c = self.channels()
            k = self.draw(st.sampled_from([1, 3, 5]))
            row["c"] = self.num(c, exprs)
            if k != 3 or self.draw(st.booleans()):
                row["k"] = k
            if self.draw(st.booleans()):
                row["norm"] = self.draw(st.booleans())
            out = c
        if n_col is not None:
            row["n"] = n_col
        return row, self.check((out, h, w))

    # ----------------------------------------------------------------- containers
    def seq_child(self, shape, depth: int):
        kinds = ["conv", "batch_norm", "act", "pool", "misc", "library", "library"]
        if self.user_blocks:
            kinds += ["user", "user"]
        if depth < 2:
            kinds.append("seq")
        kind = self.draw(st.sampled_from(kinds))
        if kind == "seq":
            rows, shape = self.seq_rows(shape, depth + 1)
            self.kinds.append("nested_seq")
            return {"seq": rows}, shape
        if kind == "library":
            row, shape = self.library_block(shape, inline_ok=True)
        elif kind == "user":
            row, shape = self.user_block(shape, in_seq=True)
        else:
            row, shape = getattr(self, kind)(shape)
        if self.draw(st.integers(0, 5)) == 5:  # a name inside a seq group: allowed, unused
            row = {"name": self.name(), **row}
        return row, shape

    def seq_rows(self, shape, depth: int):
        rows = []
        for _ in range(self.draw(st.integers(1, 4))):
            row, shape = self.seq_child(shape, depth)
            rows.append(row)
        return rows, shape

    def top_row(self, shape):
        """One or more top-level rows; rows with weights (and sometimes others) are named."""
        kinds = ["conv", "conv", "batch_norm", "act", "pool", "misc", "seq", "seq", "library",
                 "library", "skip", "gate", "channels_last"]
        if any(info["kind"] != "inline" for info in self.user_blocks.values()):
            kinds += ["user", "user"]
        kind = self.draw(st.sampled_from(kinds))
        if kind == "seq":
            rows, out = self.seq_rows(shape, 0)
            self.kinds.append("seq")
            return [{"name": self.name(), "seq": rows}], out
        if kind in ("skip", "gate", "channels_last"):
            return getattr(self, kind)(shape)
        if kind == "library":
            row, out = self.library_block(shape)
        elif kind == "user":
            row, out = self.user_block(shape)
        else:
            row, out = getattr(self, kind)(shape)
        # only weight-free rows with a functional form may go unnamed at the top level
        functional = row["op"] in ("act", "identity")
        if not functional or self.draw(st.booleans()):
            row = {"name": self.name(), **row}
        if functional and self.params and self.draw(st.integers(0, 4)) == 4:
            pname = self.draw(st.sampled_from(sorted(self.params)))
            threshold = self.draw(st.integers(0, 9))
            row["when"] = f"{pname} > {threshold}"
            if not self.params[pname] > threshold:
                out = shape  # left out
        rows = [row]
        if "name" in row and not self.aux and self.draw(st.integers(0, 5)) == 5:
            rows.append(self.aux_head(row["name"]))
        return rows, out

    def aux_head(self, source: str) -> dict:
        """An auxiliary classifier off a named row (training only; not in the chain)."""
        name = self.name()
        self.aux.append(name)
        self.kinds.append("aux")
        return {"name": name, "from": source, "seq": [
            {"op": "global_avg_pool"}, {"op": "flatten"},
            {"op": "linear", "c": self.draw(st.integers(1, 8))}]}

    def skip(self, shape):
        """A named identity, a same-size conv branch, and an add or a concat of the two."""
        cin, h, w = shape
        src, branch = self.name(), self.name()
        merge = self.draw(st.sampled_from(["add", "concat"]))
        if merge == "add":  # an expression: not scaled by the width multiplier
            c_col, c = self.num(cin, force=True), cin
        else:
            c_col, c = self.chan(self.channels())
        self.kinds.append(merge)
        rows = [{"name": src, "op": "identity"},
                {"name": branch, "op": "conv", "c": c_col,
                 "k": self.draw(st.sampled_from([1, 3]))},
                {"op": merge, "from": [src, branch]}]
        if self.draw(st.booleans()):
            rows[2]["name"] = self.name()
        return rows, (cin if merge == "add" else cin + c, h, w)

    def channels_last(self, shape):
        """ConvNeXt-style: permute to (N, H, W, C), layer norm, linear, [GELU], a learned
        per-channel scale, back to (N, C, H, W); or a layer norm on the map itself."""
        cin, h, w = shape
        self.kinds.append("channels_last")
        if self.draw(st.booleans()):
            return [{"name": self.name(), "op": "layer_norm",
                     "eps": self.draw(st.sampled_from([1e-5, 1e-6]))}], shape
        c = self.channels()
        lin, scale, scaled = self.name(), self.name(), self.name()
        rows = [{"op": "permute", "dims": [0, 2, 3, 1]},
                {"name": self.name(), "op": "layer_norm"},
                {"name": lin, "op": "linear", "c": self.num(c, force=True)}]
        if self.draw(st.booleans()):
            rows.append({"op": "act", "fn": "gelu"})
            lin = None
        if self.draw(st.booleans()):
            rows.append({"name": scale, "op": "param", "shape": [c],
                         "fill": self.draw(st.sampled_from(["ones", "constant", "normal"])),
                         "value": 0.5})
            rows.append({"name": scaled, "op": "mul",
                         "from": [scale, lin] if lin else [scale, rows[-2].get("name", scale)]})
            if lin is None:  # the act row needs a name to be read
                rows[-3]["name"] = self.name()
                rows[-1]["from"] = [scale, rows[-3]["name"]]
        rows.append({"op": "permute", "dims": [0, 3, 1, 2]})
        return rows, (c, h, w)

    def gate(self, shape):
        """Squeeze-and-excitation written out: a pooled 1x1 gate multiplied into its input."""
        cin = shape[0]
        src, gate = self.name(), self.name()
        self.kinds.append("mul")
        sources = [src, gate] if self.draw(st.booleans()) else [gate, src]
        rows = [{"name": src, "op": "identity"},
                {"name": gate, "seq": [
                    {"op": "global_avg_pool"},
                    {"op": "conv", "c": self.num(cin, force=True), "k": 1},
                    {"op": "act", "fn": self.draw(st.sampled_from(["sigmoid", "hardsigmoid"]))},
                ]},
                {"op": "mul", "from": sources}]
        return rows, shape

    def head(self, shape):
        """global_avg_pool (or flatten alone) + flatten + [batch_norm] + linear (+ dropout)."""
        rows = []
        c, h, w = shape
        if self.draw(st.integers(0, 3)):
            rows.append({"op": "global_avg_pool"})
            features = c
        else:
            features = c * h * w
        rows.append({"op": "flatten"})
        if self.draw(st.integers(0, 3)) == 3:
            rows.append({"name": self.name(), "op": "batch_norm"})
        if self.draw(st.booleans()):
            rows.append({"name": self.name(), "op": "dropout",  # a module: it needs a name
                         "p": self.draw(st.sampled_from([0.0, 0.2, 0.5]))})
        out = self.channels(16)
        linear = {"name": self.name(), "op": "linear", "c": self.num(out)}
        if self.draw(st.booleans()):
            linear["bias"] = self.draw(st.booleans())
        rows.append(linear)
        if self.draw(st.integers(0, 3)) == 3:
            rows.append({"op": "act", "fn": self.draw(st.sampled_from(ACTS))})
        self.kinds.append("head" if features == c else "head_flat")
        return rows, (out,)


def _camel(op: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in op.split("_"))


_LIBRARY_CLASSES = {"ConvNormAct", "InvertedResidual", "DepthwiseSeparableConv",
                    "SqueezeExcitation", "MBConv", "BasicBlock", "Bottleneck", "BasicConv2d",
                    "Inception", "InceptionAux", "ConvAct", "Tensor"}
_PRIMITIVES = {"conv", "batch_norm", "act", "linear", "dropout", "max_pool", "avg_pool",
               "global_avg_pool", "adaptive_avg_pool", "flatten", "add", "mul", "concat",
               "identity", "stochastic_depth", "channel_shuffle", "channel_affine", "split"}
_LIBRARY = {"conv_norm_act", "inverted_residual", "bneck", "squeeze_excitation", "mbconv",
            "dw_separable", "basic_block", "bottleneck", "basic_conv", "inception",
            "inception_aux", "conv_act", "shuffle_unit"}


@st.composite
def valid_specs(draw, max_rows: int = 5) -> GeneratedSpec:
    """A spec dict that archc should accept (see the module docstring)."""
    gen = _SpecGen(draw)
    shape = (draw(st.integers(1, 8)), draw(st.integers(8, 40)), draw(st.integers(8, 40)))
    data: dict = {"name": draw(st.sampled_from(["Fuzz", "TinyNet", "Net2", "My_Net"])),
                  "input": list(shape)}
    if draw(st.booleans()):
        gen.params = draw(st.dictionaries(NAMES, st.integers(1, 8), min_size=1, max_size=2))
        data["params"] = dict(gen.params)
    if draw(st.integers(0, 4)) == 4:
        data["norm"] = {"eps": draw(st.sampled_from([1e-3, 1e-5])),
                        "momentum": draw(st.sampled_from([0.01, 0.1]))}
    if draw(st.integers(0, 3)) == 3:
        data["init"] = draw(st.sampled_from(["pytorch", "mobilenet", "efficientnet", "resnet",
                                             "vgg", "googlenet", "squeezenet", "goog"]))
    if draw(st.integers(0, 3)) == 3:
        gen.width = draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0]))
        gen.depth = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0]))
        scaling: dict = {"width": gen.width, "depth": gen.depth}
        if draw(st.booleans()):
            gen.channel_policy = scaling["channels"] = draw(st.sampled_from(
                ["make_divisible_8", "round", "floor", "ceil"]))
        if draw(st.booleans()):
            gen.repeat_policy = scaling["repeats"] = draw(st.sampled_from(
                ["ceil", "round", "floor"]))
        data["scaling"] = scaling
    if draw(st.integers(0, 5)) == 5:
        data["input_transform"] = {
            "scale": [draw(st.sampled_from([0.5, 2.0, "1 / 3", 1])) for _ in range(shape[0])],
            "shift": [draw(st.sampled_from([0.0, -0.25, "(0.5 - 1) / 2"]))
                      for _ in range(shape[0])]}
    gen.class_names.add(data["name"])
    blocks = gen.define_blocks()
    if blocks:
        data["blocks"] = blocks
    layers: list[dict] = []
    state_sizes = draw(st.integers(0, 3)) == 3  # input_size on every top-level row
    for _ in range(draw(st.integers(1, max_rows))):
        before = shape
        rows, shape = gen.top_row(shape)
        if state_sizes and gen.valid:
            rows[0]["input_size"] = list(before)
        layers.extend(rows)
    if draw(st.booleans()) and gen.valid:
        rows, shape = gen.head(shape)
        layers.extend(rows)
    data["layers"] = layers
    if gen.aux:
        data["aux_outputs"] = list(gen.aux)
    return GeneratedSpec(data, tuple(shape) if gen.valid else None, gen.kinds)
