"""Non-square kernels, strides, padding and dilation (issue 11): ``k: [1, 7]`` means
(height, width) as torch does, on conv and pooling rows and as ``type: int2`` block parameters.
Shapes, parameters and MACs (pure Python) equal torch's; the generated module spells
``kernel_size=(1, 7)`` and loads a torch-built reference strictly."""

from __future__ import annotations

from collections import OrderedDict

import pytest

import archc
from archc.api import load_spec_text
from archc.diagnostics import SpecError

# Inception-style factorised 7x7: 1x7 then 7x1, as torchvision's InceptionC; a strided,
# dilated non-square conv and a non-square pooling window besides.
SPEC = """\
name: Factorised
input: [3, 17, 17]
layers:
  - {op: conv, name: a, c: 8, k: [1, 7], bias: false}
  - {op: conv, name: b, c: 8, k: [7, 1], p: [3, 0], bias: false}
  - {op: conv, name: c, c: 6, k: [3, 5], s: [2, 1], d: [1, 2], p: [1, 4]}
  - {op: max_pool, name: pool, k: [3, 2], s: [2, 1], p: [1, 0]}
  - {op: conv, name: d, c: 4, k: 3}
"""

BLOCK_SPEC = """\
name: FactorisedBlocks
input: [3, 17, 17]
blocks:
  factorised:
    params:
      c: {type: int}
      k: {type: int2}
      p: {type: int2, default: 0}
    body:
      - {op: conv, name: conv, c: c, k: k, p: p, bias: false}
      - {op: batch_norm, name: bn}
layers:
  - {op: factorised, name: a, c: 8, k: [1, 7], p: [0, 3]}
  - {op: factorised, name: b, c: 8, k: [7, 1], p: [3, 0]}
  - {op: factorised, name: c, c: 8, k: 3, p: 1}
"""


def _reference():
    nn = pytest.importorskip("torch").nn
    return nn.Sequential(OrderedDict(
        a=nn.Conv2d(3, 8, kernel_size=(1, 7), padding=(0, 3), bias=False),
        b=nn.Conv2d(8, 8, kernel_size=(7, 1), padding=(3, 0), bias=False),
        c=nn.Conv2d(8, 6, kernel_size=(3, 5), stride=(2, 1), padding=(1, 4), dilation=(1, 2)),
        pool=nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0)),
        d=nn.Conv2d(6, 4, 3, padding=1),
    ))


def _torch_macs(module, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


def test_shapes_params_and_macs_equal_torch():
    torch = pytest.importorskip("torch")
    model = archc.compile_spec(load_spec_text(SPEC))
    ref = _reference().eval()
    x = torch.randn(1, 3, 17, 17)
    shapes, y = [], x
    for layer in ref:
        y = layer(y)
        shapes.append(tuple(y.shape[1:]))
    assert [model.graph.members[n].out_shape for n in model.graph.order] == shapes
    assert model.params == sum(p.numel() for p in ref.parameters())
    with torch.no_grad():
        assert model.macs == _torch_macs(ref, x)


def test_generated_module_spells_tuples_and_loads_the_reference_strictly():
    torch = pytest.importorskip("torch")
    source = archc.generate(load_spec_text(SPEC))
    assert "nn.Conv2d(3, 8, (1, 7), padding=(0, 3), bias=False)" in source
    assert "nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0))" in source
    assert "nn.Conv2d(6, 4, 3, padding=1)" in source  # a plain int stays an int
    ref = _reference().eval()
    model = archc.build_model(load_spec_text(SPEC)).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 17, 17)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))


def test_int2_block_parameter_takes_an_int_or_a_pair():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    checked = load_spec_text(BLOCK_SPEC)
    model = archc.compile_spec(checked)
    source = archc.generate(checked)
    assert "k: int | tuple[int, int]" in source
    assert "Factorised(3, c=8, k=(1, 7), p=(0, 3))" in source
    assert "Factorised(8, c=8, k=3, p=1)" in source

    def unit(cin, k, p):
        return nn.Sequential(OrderedDict(conv=nn.Conv2d(cin, 8, k, padding=p, bias=False),
                                         bn=nn.BatchNorm2d(8)))

    ref = nn.Sequential(OrderedDict(a=unit(3, (1, 7), (0, 3)), b=unit(8, (7, 1), (3, 0)),
                                    c=unit(8, 3, 1))).eval()
    assert model.params == sum(p.numel() for p in ref.parameters())
    live = archc.build_model(checked).eval()
    live.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 17, 17)
    with torch.no_grad():
        torch.testing.assert_close(live(x), ref(x))
        assert model.macs == _torch_macs(ref, x)


def _errors(text: str) -> list:
    with pytest.raises(SpecError) as info:
        archc.compile_spec(load_spec_text(text))
    return info.value.diagnostics


@pytest.mark.parametrize("value, offset, code, words", [
    ("[1, 7, 3]", 0, "E210", "got 3 values"),  # at the list
    ("[0, 7]", 1, "E211", "at least 1"),  # at the bad element
    ("[1, 2.5]", 4, "E210", "width must be an integer"),
    ("[]", 0, "E210", "got 0 values"),
])
def test_bad_kernel_pair_is_a_located_error(value, offset, code, words):
    text = SPEC.replace("k: [1, 7]", f"k: {value}")
    col = text.splitlines()[3].index("k: [") + 4 + offset  # 1-based column of the '['
    (diag,) = _errors(text)
    assert (diag.line, diag.column, diag.code) == (4, col, code)
    assert words in diag.message


def test_negative_padding_in_a_pair_is_located_at_its_element():
    (diag,) = _errors(SPEC.replace("p: [3, 0]", "p: [3, -1]"))
    assert (diag.line, diag.code) == (5, "E211")
    assert diag.column == SPEC.splitlines()[4].index("[3, 0]") + 5
    assert "at least 0" in diag.message


def test_block_conv_reading_an_int2_kernel_states_its_padding():
    (diag,) = _errors(BLOCK_SPEC.replace(", p: p", ""))
    assert (diag.line, diag.code) == (10, "E226")
    assert "explicit 'p'" in diag.message


def test_doc_example_is_torchvision_inception_factorised_7x7(tmp_path):
    """docs/spec-language.md's 'Non-square kernels' example is torchvision's InceptionC
    branch7x7 (BasicConv2d: conv without bias, BN eps 0.001, ReLU): strict load, equal outputs."""
    import re

    from .conftest import ROOT

    torch = pytest.importorskip("torch")
    inception = pytest.importorskip("torchvision.models.inception")
    doc = (ROOT / "docs" / "spec-language.md").read_text(encoding="utf-8")
    section = re.split(r"\n#{2,3} ", doc.split("### Non-square kernels", 1)[1])[0]
    (text,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    path = tmp_path / "factorised.yaml"
    path.write_text(text, encoding="utf-8")
    basic = inception.BasicConv2d
    ref = torch.nn.Sequential(OrderedDict(
        branch7x7_1=basic(3, 64, kernel_size=1),
        branch7x7_2=basic(64, 64, kernel_size=(1, 7), padding=(0, 3)),
        branch7x7_3=basic(64, 96, kernel_size=(7, 1), padding=(3, 0)),
        pool=torch.nn.MaxPool2d((3, 1), stride=(2, 1), padding=(1, 0)),
    )).eval()
    assert archc.compile_spec(path).params == sum(p.numel() for p in ref.parameters())
    model = archc.build_model(path).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 17, 17)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))


def test_literal_spells_tuples_and_keeps_them_apart_from_lists():
    from archc.codegen_literals import literal

    assert literal((1, 7)) == "(1, 7)"
    assert literal((3,)) == "(3,)"  # a one-tuple, not a parenthesised int
    assert literal([1, 7]) == "[1, 7]"
    assert literal([(0, 3), -1]) == "[(0, 3), -1]"
