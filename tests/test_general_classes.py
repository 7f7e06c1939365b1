"""Generated block classes are general: correct for every argument value their signature
accepts, not only for the values the spec happened to use (issue 10, item 2). Each check builds
the class with some arguments, runs it, and compares its output shape and parameter count with
what archc infers, without torch, for a one-row spec using the block with the same arguments."""

from __future__ import annotations

import sys
import types
from functools import cache
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

import archc
from archc.api import load_spec_text
from archc.diagnostics import SpecError
from archc.frontend import BlockDef
from archc.frontend.registry import used_ops

from ._hypothesis import profile, valid_specs
from .conftest import GENERATED, SPECS

SIZE = 16  # input height and width: enough for every library block's strides and pools


def _module(source: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    sys.modules[name] = module  # the generated classes' annotations resolve through it
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # audited by archc.generate
    return module


def _generate(text: str, tmp: Path) -> types.ModuleType:
    path = tmp / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return _module(archc.generate(path), f"_general_{abs(hash(text))}")


def _class_args(bdef: BlockDef, args: dict) -> dict:
    """Row columns -> keyword arguments of the generated class."""
    return {bdef.param(k).pyname: v for k, v in args.items()}


def _sample(in_channels: int, tokens: int | None) -> list[int]:
    """A per-sample input: an (N, C, H, W) map, or (N, L, C) tokens for a token block."""
    return [in_channels, SIZE, SIZE] if tokens is None else [tokens, in_channels]


def _inferred(blocks: dict, op: str, in_channels: int, args: dict, tokens: int | None = None):
    """(output shape, parameters) archc infers for one row of ``op``; None if it rejects it."""
    spec = {"name": "OneRow", "input": _sample(in_channels, tokens), "blocks": blocks,
            "layers": [{"name": "block", "op": op, **args}]}
    try:
        model = archc.compile_spec(load_spec_text(yaml.safe_dump(spec), "one_row.yaml"))
    except SpecError:
        return None
    return model.output_shape, model.params


def _check(cls, bdef: BlockDef, blocks: dict, in_channels: int, args: dict,
           tokens: int | None = None) -> bool:
    """The class agrees with the compiler; False when the compiler rejects the arguments."""
    inferred = _inferred(blocks, bdef.op, in_channels, args, tokens)
    if inferred is None:
        return False
    shape, params = inferred
    torch.manual_seed(0)
    module = cls(in_channels, **_class_args(bdef, args)).eval()
    with torch.no_grad():
        out = module(torch.randn(1, *_sample(in_channels, tokens)))
    assert tuple(out.shape[1:]) == tuple(shape), (bdef.op, in_channels, args)
    assert sum(p.numel() for p in module.parameters()) == params, (bdef.op, in_channels, args)
    return True


def _value(draw, param):
    if param.type == "bool":
        return draw(st.booleans())
    if param.type == "str":
        assume(param.choices)
        return draw(st.sampled_from(list(param.choices)))
    low = 0 if param.minimum is None else param.minimum
    top = param.maximum
    if param.type == "int":
        high = min(low + 12, top if top is not None else low + 12)
        return draw(st.integers(int(low), int(high)))
    high = min(float(low) + 4.0, top if top is not None else float(low) + 4.0)
    return draw(st.sampled_from(sorted({float(low), float(high), 1.0 if low <= 1 <= high
                                        else float(low), round((low + high) / 2, 2)})))


def _draw_args(draw, bdef: BlockDef) -> dict:
    args = {}
    for p in bdef.params:
        if p.required or draw(st.booleans()):
            value = _value(draw, p)
            if value is not None:
                args[p.name] = value
    return args


# --------------------------------------------------------------- the two examples
EITHER = """
name: EitherNet
input: [3, 8, 8]
blocks:
  either:
    params:
      c: {type: int, min: 1}
      wide: {type: bool, default: false}
    body:
      - {name: wide_conv, op: conv, c: c * 2, k: 3, when: wide}
      - {name: narrow_conv, op: conv, c: c, k: 1, when: not wide}
      - {name: proj, op: conv, c: c, k: 1}
layers:
  - {name: b, op: either, c: 16}
"""

GROW = """
name: GrowNet
input: [3, 8, 8]
blocks:
  grow:
    params:
      g: {type: int, min: 1}
    body:
      - {name: conv, op: conv, c: g, k: 3}
      - {op: concat, from: [input, conv]}
  stack:
    params:
      m: {type: int, min: 1, max: 4}
      g: {type: int, min: 1}
    body:
      - {name: g1, op: grow, g: g}
      - {name: g2, op: grow, g: g, when: m >= 2}
      - {name: g3, op: grow, g: g, when: m >= 3}
      - {name: g4, op: grow, g: g, when: m >= 4}
layers:
  - {name: b, op: stack, m: 2, g: 4}
"""


def test_when_branches_not_used_by_the_spec_still_build(tmp_path):
    """Used only with wide: false, Either(3, c=16, wide=True) still has matching channels."""
    module = _generate(EITHER, tmp_path)
    bdef = load_spec_text(EITHER, "either.yaml").ops["either"]
    blocks = yaml.safe_load(EITHER)["blocks"]
    for wide in (True, False):
        assert _check(module.Either, bdef, blocks, 3, {"c": 16, "wide": wide})


def test_concat_growth_follows_the_parameter_not_the_instances(tmp_path):
    """Used only with m: 2, Stack(8, m=4, g=4) has the channels of four grow steps."""
    module = _generate(GROW, tmp_path)
    bdef = load_spec_text(GROW, "grow.yaml").ops["stack"]
    blocks = yaml.safe_load(GROW)["blocks"]
    for m in (1, 2, 3, 4):
        assert _check(module.Stack, bdef, blocks, 8, {"m": m, "g": 4})
    out = module.Stack(8, m=4, g=4)(torch.randn(1, 8, 8, 8))
    assert out.shape[1] == 8 + 4 * 4


# --------------------------------------------------------------- committed specs
def _own_blocks(path: Path) -> dict:
    """The ``blocks:`` a spec file defines, following ``extends``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    base = _own_blocks(path.parent / data["extends"]) if "extends" in data else {}
    return {**base, **data.get("blocks", {})}


def _committed_classes() -> list[tuple[str, str]]:
    out = []
    for path in sorted(SPECS.glob("*.yaml")):
        checked = archc.load_spec(path)
        text = (GENERATED / f"{path.stem}.py").read_text(encoding="utf-8")
        used = set(used_ops(checked.spec)) | set(checked.spec.blocks)
        todo = list(used)
        while todo:  # the blocks those use, too
            impl = checked.ops.get(todo.pop())
            for op in getattr(impl, "uses", ()):
                if op not in used:
                    used.add(op)
                    todo.append(op)
        for op in sorted(used):
            impl = checked.ops.get(op)
            if isinstance(impl, BlockDef) and not impl.inline and \
                    f"class {impl.class_name}(" in text:
                out.append((path.stem, op))
    # one spec per block definition: the library blocks read the same in every module
    seen, unique = set(), []
    for stem, op in out:
        key = op if op in _library() else (stem, op)
        if key not in seen:
            seen.add(key)
            unique.append((stem, op))
    return unique


def _library() -> set[str]:
    from archc.frontend.registry import library

    return set(library())


COMMITTED = _committed_classes()


@cache
def _committed_module(stem: str) -> types.ModuleType:
    """The spec's module as archc generates it now (generated/ may be regenerated later)."""
    return _module(archc.generate(SPECS / f"{stem}.yaml"), f"_general_{stem}")


@pytest.mark.parametrize(("stem", "op"), COMMITTED, ids=[f"{s}-{o}" for s, o in COMMITTED])
@profile(ci=8)
@given(data=st.data())
def test_committed_block_classes_match_inference(stem, op, data):
    checked = archc.load_spec(SPECS / f"{stem}.yaml")
    bdef = checked.ops[op]
    cls = getattr(_committed_module(stem), bdef.class_name)
    in_channels = data.draw(st.integers(1, 24), label="in_channels")
    args = _draw_args(data.draw, bdef)
    tokens = None
    if _input_layout(stem, op) == "LC":  # a token block (ViT's): (N, L, C) input
        in_channels = data.draw(st.sampled_from([4, 6, 8, 12]), label="in_channels")
        tokens = data.draw(st.integers(1, 6), label="tokens")
        if "heads" in args:  # heads divide the width: draw a divisor
            args["heads"] = data.draw(st.sampled_from([h for h in (1, 2, 3, 4, 6)
                                                       if in_channels % h == 0]))
        if bdef.param("tokens") is not None:  # the encoder's position embedding: L rows
            args["tokens"] = tokens
    assume(_check(cls, bdef, _own_blocks(SPECS / f"{stem}.yaml"), in_channels, args, tokens))


@cache
def _input_layout(stem: str, op: str) -> str:
    """The layout of the input of ``op``'s instances in the committed spec."""
    from archc.ir.graph import walk

    model = archc.compile_spec(SPECS / f"{stem}.yaml")
    return next((n.in_layouts[0] for n in walk(model.graph.nodes()) if n.op == op), "CHW")


# --------------------------------------------------------------- hypothesis-generated specs
@profile(ci=25)
@given(gen=valid_specs(max_rows=2), data=st.data())
def test_generated_spec_block_classes_match_inference(gen, data, tmp_path_factory):
    blocks = gen.data.get("blocks", {})
    assume(blocks)
    text = yaml.safe_dump(gen.data)
    try:
        checked = load_spec_text(text, "fuzz.yaml")
        source = archc.generate(archc.compile_spec(checked))
    except SpecError:
        assume(False)
    module = _module(source, f"_general_fuzz_{abs(hash(text))}")
    for op in sorted(blocks):
        bdef = checked.ops[op]
        if bdef.inline:
            continue
        cls = getattr(module, bdef.class_name, None)
        if cls is None:  # a block no row uses has no class
            continue
        in_channels = data.draw(st.integers(1, 12), label="in_channels")
        _check(cls, bdef, blocks, in_channels, _draw_args(data.draw, bdef))
