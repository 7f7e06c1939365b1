"""The spec-language documentation's examples are real: full specs in it compile, and its
worked example matches its reference."""

from __future__ import annotations

import re

import pytest

import archc

from .conftest import ROOT

DOC = (ROOT / "docs" / "spec-language.md").read_text(encoding="utf-8")
FULL_SPECS = [b for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S)
              if b.startswith("name:") and "layers:" in b]


def test_doc_has_full_examples():
    assert FULL_SPECS


@pytest.mark.parametrize("text", FULL_SPECS)
def test_full_examples_compile(text, write_spec):
    archc.compile_spec(write_spec(text))


def test_worked_example_matches_torchvision(write_spec):
    pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision.models")
    path = write_spec(FULL_SPECS[-1])
    from .reference import assert_unit_scale_parity

    ref = tv.squeezenet1_1()
    assert archc.compile_spec(path).params == sum(p.numel() for p in ref.parameters())
    assert_unit_scale_parity(ref, archc.build_model(path), (3, 64, 64))


def test_every_op_is_documented():
    from archc.frontend.registry import builtin_ops

    for name in builtin_ops():
        assert f"`{name}`" in DOC, name
