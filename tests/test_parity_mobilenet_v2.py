"""MobileNetV2 is exactly torchvision's mobilenet_v2: counts, weights, outputs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archc  # noqa: E402

from .conftest import GENERATED, SPECS, import_file  # noqa: E402
from .reference import (  # noqa: E402
    assert_relative_close,
    assert_same_tree,
    assert_unit_scale_parity,
    count_macs,
    count_params,
    load_same_weights,
    unit_scale_weights,
)

SPEC = SPECS / "mobilenet_v2.yaml"


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return torchvision.models.mobilenet_v2()


def test_counts_match_torchvision_without_torch_in_the_pipeline(reference):
    model = archc.compile_spec(SPEC)
    assert model.params == count_params(reference) == 3_504_872
    assert model.macs == count_macs(reference, (3, 224, 224)) == 300_774_272


def test_live_and_generated_load_torchvision_weights_and_match_at_224():
    live = archc.build_model(SPEC)
    gen = import_file(GENERATED / "mobilenet_v2.py").mobilenet_v2()
    assert_unit_scale_parity(torchvision.models.mobilenet_v2(), [live, gen], (3, 224, 224))


def test_live_and_generated_have_the_same_module_tree_and_outputs():
    live = archc.build_model(SPEC)
    gen = import_file(GENERATED / "mobilenet_v2.py").mobilenet_v2()
    assert_same_tree(live, gen)
    torch.manual_seed(1)
    x = torch.randn(4, 3, 96, 96)
    unit_scale_weights(live, batch=x)
    load_same_weights(live, gen)
    live.train()  # batch statistics path too
    gen.train()
    torch.manual_seed(2)
    a = live(x)
    torch.manual_seed(2)
    b = gen(x)
    assert_relative_close(b, a)


def test_other_input_sizes_follow_the_reference():
    live = archc.build_model(SPEC)
    assert_unit_scale_parity(torchvision.models.mobilenet_v2(), live, (3, 64, 64), batch=3)
