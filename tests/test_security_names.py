"""Names a spec chooses become Python names in the generated module and the live model: row
names are attributes of nn.Module subclasses and locals of forward(), block parameters and
'let' values are arguments, locals and attributes, block names become classes, and the spec's
file name becomes a module and its factory. A name that collides with nn.Module's internals,
with the generated module's own helpers, or with a module users import is a located error that
'archc check' reports (issue 9, item 8), so that check ok implies build ok.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

import archc
from archc import SpecError
from archc.frontend.names import GENERATED_CLASSES, GENERATED_GLOBALS, MODULE_ATTRIBUTES

HEADER = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): error\[(?P<code>E\d{3})\]: "
                    r"(?P<message>.*)$", re.MULTILINE)


def _check(cli, path: Path) -> list[tuple[int, int, str]]:
    """'archc check' must fail with located errors: their (line, column, message)."""
    code, out, err = cli("check", str(path))
    assert code == 1, f"check accepted it:\n{out}{err}"
    assert "internal error" not in err and "Traceback" not in err, err
    found = [(int(m["line"]), int(m["col"]), m["message"]) for m in HEADER.finditer(err)
             if m["path"] == str(path)]
    assert found, err
    return found


def _at(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based line and column of the n-th occurrence of ``needle`` in ``text``."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# --------------------------------------------------------------------------- row names
@pytest.mark.parametrize("name", ["_modules", "_parameters", "_buffers", "_apply", "_call_impl",
                                  "_version", "_forward_hooks", "_calls", "_out",
                                  "_apply_activation", "_make_divisible"])
def test_row_named_like_a_private_module_attribute(cli, write_spec, name):
    """Was: check ok, then the live model raised KeyError ("attribute '_parameters' already
    exists") and the generated module failed to instantiate (no attribute '_modules')."""
    text = f"name: T\ninput: [3, 8, 8]\nlayers:\n  - {{name: {name}, op: conv, c: 4, k: 1}}\n"
    path = write_spec(text)
    [(line, col, message)] = _check(cli, path)
    assert (line, col) == _at(text, name) and name in message


def test_every_attribute_of_a_module_is_refused_as_a_row_name():
    """Every attribute torch gives nn.Module and nn.Sequential (methods, flags, the private
    state) is refused, one located error each (the live model is the generated module)."""
    torch = pytest.importorskip("torch")

    names = set(dir(torch.nn.Module)) | set(vars(torch.nn.Module())) | set(dir(torch.nn.Sequential))
    names = sorted(n for n in names if re.fullmatch(r"[a-z_][a-z0-9_]*", n))
    assert set(n for n in names if not n.startswith("_")) <= MODULE_ATTRIBUTES, \
        "torch has new Module attributes: add them to archc/frontend/names.py"
    rows = "".join(f"  - {{name: {n}, op: conv, c: 4, k: 1}}\n" for n in names)
    with pytest.raises(SpecError) as caught:
        archc.api.load_spec_text(f"name: T\ninput: [3, 8, 8]\nlayers:\n{rows}")
    lines = {d.line for d in caught.value.diagnostics}
    assert lines == set(range(4, 4 + len(names)))


def test_row_named_inputs_keeps_the_input(tmp_path):
    """A row may be named 'inputs' (the generated forward's name for a late-read input): the
    generated module still reads the model's input where the spec says 'input'."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "spec.yaml"
    path.write_text("name: T\ninput: [4, 8, 8]\nlayers:\n"
                    "  - {name: inputs, op: conv, c: 4, k: 1}\n"
                    "  - {name: b, op: conv, c: 4, k: 1}\n"
                    "  - {op: add, from: [input, inputs]}\n", encoding="utf-8")
    _same_model(tmp_path, path, torch)


# --------------------------------------------------------------------------- block names
_BLOCK = """name: T
input: [4, 8, 8]
blocks:
  blk:
    params: {{c: {{type: int}}{params}}}
    let: {{{lets}}}
    body:
      - {{name: cv, op: conv, c: c, k: 1}}
{rows}layers:
  - {{name: a, op: blk, c: 4{args}}}
"""


@pytest.mark.parametrize("params, lets, rows, args, needle", [
    ("", "_modules: c > 2", "      - {op: act, fn: relu, when: _modules}\n", "", "_modules"),
    (", torch: {type: int}", "", "      - {name: x1, op: conv, c: torch, k: 1}\n",
     ", torch: 4", "torch"),
    # 'layers' is the list a block with conditional rows builds in __init__
    (", layers: {type: int}, u: {type: bool}", "",
     "      - {name: x1, op: conv, c: layers, k: 1, when: u}\n", ", layers: 4, u: true",
     "layers"),
    (", p: {type: float, py: _apply}", "", "      - {name: d, op: dropout, p: p}\n", ", p: 0.1",
     "_apply"),
    (", _p: {type: float}", "", "      - {name: d, op: dropout, p: _p}\n", ", _p: 0.1", "_p"),
])
def test_block_parameter_and_let_names(cli, write_spec, params, lets, rows, args, needle):
    """Was: check ok; then a module that failed to build (a parameter 'layers' replaced by
    the list of layers __init__ builds)."""
    text = _BLOCK.format(params=params, lets=lets, rows=rows, args=args)
    path = write_spec(text)
    found = _check(cli, path)
    assert _at(text, needle) in [(line, col) for line, col, _ in found], found


@pytest.mark.parametrize("block, extra", [
    ("channels_last", ""),  # camel() gives ChannelsLast, the inference helper's class
    ("type_error", ""),  # TypeError, a builtin
    ("mine", "    class_name: StochasticDepth\n"),
    ("mine", "    class_name: ChannelAffine\n"),
    ("mine", "    class_name: TFeatures\n"),  # the backbone class of model T
])
def test_block_class_names(cli, write_spec, block, extra):
    """Was: check ok; the block's class replaced a class the generated module defines (its
    rows then built the wrong module: StochasticDepth() missing argument 'c')."""
    text = (f"name: T\ninput: [4, 8, 8]\nblocks:\n  {block}:\n{extra}"
            "    params: {c: {type: int}}\n    body:\n      - {name: cv, op: conv, c: c, k: 1}\n"
            f"layers:\n  - {{name: a, op: {block}, c: 4}}\n"
            "  - {name: s, op: stochastic_depth, p: 0.1}\n  - {name: n, op: channel_shuffle, "
            "groups: 2}\n")
    path = write_spec(text)
    found = _check(cli, path)
    where = _at(text, "class_name") if extra else _at(text, block)
    assert where[0] in [line for line, _, _ in found], found


@pytest.mark.parametrize("name", ["StochasticDepth", "ChannelShuffle", "ChannelsLast", "Tensor"])
def test_model_class_names(cli, write_spec, name):
    """Was: check ok; 'name: StochasticDepth' replaced the helper class its own rows use."""
    text = (f"name: {name}\ninput: [4, 8, 8]\nlayers:\n  - {{name: a, op: conv, c: 4, k: 1}}\n"
            "  - {name: s, op: stochastic_depth, p: 0.1}\n")
    path = write_spec(text)
    found = _check(cli, path)
    assert (1, 7) in [(line, col) for line, col, _ in found], found


def test_generated_names_are_what_codegen_defines():
    """The committed lists match what a generated module can define at its top level."""
    from archc.ops.runtime_source import _INFERENCE, _definitions, runtime_names

    defined = set(runtime_names()) | set(_definitions(_INFERENCE))
    assert {n for n in defined if n[0].isupper()} | {"Tensor"} == GENERATED_CLASSES
    assert {n for n in defined if not n[0].isupper()} <= GENERATED_GLOBALS
    assert {"torch", "nn", "math", "_make_divisible", "_activation",
            "_apply_activation"} <= GENERATED_GLOBALS


# --------------------------------------------------------------------------- file names
@pytest.mark.parametrize("stem", ["torch", "math", "typing", "os", "random", "numpy", "timm",
                                  "torchvision", "archc", "_make_divisible", "optimize_for",
                                  "__init__", "Torch"])
def test_spec_file_named_like_a_module(cli, tmp_path, stem):
    """Was: check ok and 'archc build' wrote generated/torch.py, which shadows torch for every
    script in that folder (and _make_divisible.yaml replaced the helper its model calls)."""
    path = tmp_path / f"{stem}.yaml"
    path.write_text("name: T\ninput: [3, 8, 8]\nlayers:\n  - {name: a, op: conv, c: 4, k: 1}\n",
                    encoding="utf-8")
    [(line, col, message)] = _check(cli, path)
    assert (line, col) == (1, 1) and "file name" in message


def test_spec_file_named_like_nothing_is_fine(cli, tmp_path):
    path = tmp_path / "torch_net.yaml"
    path.write_text("name: T\ninput: [3, 8, 8]\nlayers:\n  - {name: a, op: conv, c: 4, k: 1}\n",
                    encoding="utf-8")
    assert cli("check", str(path))[0] == 0


# --------------------------------------------------------------------------- generated attributes
@pytest.mark.parametrize("body", [
    # a row named like a parameter that forward() reads: self.k = k, then self.k = nn.ReLU()
    "      - {op: adaptive_avg_pool, size: k}\n      - {name: k, op: act, fn: relu}\n",
    # a 'let' named like a Module flag, read by forward(): stored as self.training, eval()
    # switched the condition off
    "      - {op: act, fn: tanh, when: training}\n",
    # two unnamed conditional functional rows of one op: both were hoisted to self.use_act
    "      - {op: act, fn: relu, when: u}\n      - {op: act, fn: tanh, when: v}\n",
    # a parameter stored for forward() under the name of a conditional row's attribute
    "      - {op: act, fn: relu, when: u}\n      - {op: adaptive_avg_pool, size: use_act}\n",
])
def test_attributes_for_forward_do_not_collide(tmp_path, body):
    """Values forward() reads live on self under names codegen picks clear of the rows, of
    nn.Module's attributes and of each other. Was: check ok, then a generated module that
    failed or computed something else than the live model."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "spec.yaml"
    path.write_text("name: T\ninput: [4, 8, 8]\nblocks:\n  blk:\n"
                    "    params: {u: {type: bool}, v: {type: bool}, use_act: {type: int, "
                    "default: 8}, k: {type: int, default: 8}}\n    let: {training: u or v}\n"
                    "    body:\n      - {name: cv, op: conv, c: 4, k: 1}\n"
                    f"{body}layers:\n  - {{name: a, op: blk, u: false, v: true}}\n"
                    "  - {name: b, op: blk, u: true, v: false}\n", encoding="utf-8")
    _same_model(tmp_path, path, torch)


def _same_model(tmp_path: Path, path: Path, torch) -> None:
    """The generated module builds and computes what the live model computes."""
    from .conftest import import_file

    model = archc.compile_spec(path)
    out = tmp_path / "gen_module.py"
    out.write_text(archc.generate(model), encoding="utf-8")
    try:
        cls = getattr(import_file(out, "_archc_names_gen"), model.name)
    finally:
        sys.modules.pop("_archc_names_gen", None)
    torch.manual_seed(0)
    live = archc.build_model(model).eval()
    gen = cls().eval()
    gen.load_state_dict(live.state_dict(), strict=True)
    x = torch.randn(2, *model.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(gen(x.clone()), live(x.clone()))


# --------------------------------------------------------------------------- library blocks
# Issue 9, item 10: an error in a row of archc's own block library is the user's error at the
# row that uses the block; the library's line is a note (the hint), not the location.
_LIBRARY_LINE = re.compile(r"= hint: .*archc/ops/library/(?P<file>\w+\.yaml):(?P<line>\d+)")


def _library_line(block: str) -> tuple[str, int]:
    """File and line of the first body row of a library block."""
    from archc.frontend.registry import LIBRARY_DIR

    for path in sorted(LIBRARY_DIR.glob("*.yaml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if f"  {block}:" in lines:
            start = lines.index(f"  {block}:")
            body = next(i for i in range(start, len(lines)) if lines[i].strip() == "body:")
            return path.name, body + 2
    raise AssertionError(block)


@pytest.mark.parametrize("rows, block", [
    # an inline block (spliced into the group): was located in classic.yaml itself
    ("  - name: f\n    seq:\n      - {op: conv_act, c: 8}\n", "conv_act"),
    ("  - {name: f, op: conv_norm_act, c: 8}\n", "conv_norm_act"),
])
def test_library_block_errors_are_located_at_the_row_using_it(cli, write_spec, rows, block):
    text = f"name: T\ninput: [3, 8, 8]\nlayers:\n  - {{op: flatten}}\n{rows}"
    path = write_spec(text)
    code, _, err = cli("check", str(path))
    assert code == 1, err
    [header] = HEADER.finditer(err)
    assert header["path"] == str(path), err
    assert int(header["line"]) == _at(text, block)[0], err
    assert f"block {block!r}" in header["message"], err
    note = _LIBRARY_LINE.search(err)
    assert note and (note["file"], int(note["line"])) == _library_line(block), err


def test_user_inline_block_error_mentions_the_use_site(cli, write_spec):
    """A user's own inline block keeps pointing at its body row (the user's file), and says
    which row used it."""
    text = ("name: T\ninput: [3, 8, 8]\nblocks:\n  unit:\n    inline: true\n"
            "    params: {c: {type: int}}\n    body:\n      - {op: conv, c: c, k: 3}\n"
            "layers:\n  - {op: flatten}\n  - name: f\n    seq:\n      - {op: unit, c: 8}\n")
    path = write_spec(text)
    code, _, err = cli("check", str(path))
    assert code == 1, err
    [header] = HEADER.finditer(err)
    assert (header["path"], int(header["line"])) == (str(path), 8), err
    assert f"line {_at(text, 'op: unit')[0]}" in err, err


def test_block_arguments_no_expression_could_spell_still_build(tmp_path):
    """check ok implies build ok: a str block argument with non-ASCII characters and both
    quote kinds reaches a nested block's channel arithmetic (it was an internal error)."""
    from archc import generate

    spec = tmp_path / "tagged.yaml"
    spec.write_text(textwrap.dedent('''\
        name: TaggedNet
        input: [3, 8, 8]
        blocks:
          tagged:
            params: {c: {type: int}, tag: {type: str, default: "x"}}
            let: {k: "1 if tag == 'a' else 2"}
            body:
              - {op: conv, c: c * k, k: 1}
          outer:
            params: {c: {type: int}}
            body:
              - {name: t1, op: tagged, c: c, tag: "\\u00e9\\"'\\\\"}
              - {name: t2, op: tagged, c: c, tag: "a"}
              - {name: t3, op: conv, c: c, k: 1}
        layers:
          - {name: a, op: outer, c: 4}
        '''), encoding="utf-8")
    module_file = tmp_path / "tagged_module.py"
    module_file.write_text(generate(spec), encoding="utf-8")
    import torch

    from .conftest import import_file

    out = import_file(module_file).tagged()(torch.zeros(1, 3, 8, 8))
    assert out.shape == (1, 4, 8, 8)


@pytest.mark.parametrize("name", ["num_classes", "forward_features", "forward_head",
                                  "reset_classifier", "feature_info"])
def test_rows_cannot_replace_the_generated_model_api(name):
    """The generated classifier and backbone API (timm's names) cannot be replaced by a row."""
    with pytest.raises(SpecError, match="generated models"):
        archc.api.load_spec_text(f"name: T\ninput: [3, 8, 8]\nlayers:\n"
                                 f"  - {{name: {name}, op: conv, c: 4, k: 1}}\n")
