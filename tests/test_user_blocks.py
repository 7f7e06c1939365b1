"""Architectures whose blocks are defined in the spec file itself (``blocks:``), not in the
built-in library: SqueezeNet 1.1 (Fire) and ResNeXt-50 32x4d (a grouped bottleneck). Each is
exactly its torchvision reference; test_parity.py checks that with every other spec."""

from __future__ import annotations

import pytest

import archc
from archc.frontend.registry import library

from .conftest import GENERATED, SPECS

# spec -> (user block name, its class name)
BLOCKS = {
    "squeezenet1_1": ("fire", "Fire"),
    "resnext50_32x4d": ("grouped_bottleneck", "GroupedBottleneck"),
}
NAMES = sorted(BLOCKS)


@pytest.mark.parametrize("name", NAMES)
def test_block_is_defined_in_the_spec_and_generated_once(name):
    block, class_name = BLOCKS[name]
    checked = archc.load_spec(SPECS / f"{name}.yaml")
    assert block in checked.spec.blocks
    assert block not in library()  # the spec's own, not a built-in block
    assert checked.spec.blocks[block].class_name == class_name
    text = (GENERATED / f"{name}.py").read_text(encoding="utf-8")
    assert text.count(f"class {class_name}(nn.Module):") == 1
