"""Architectures whose blocks are defined in the spec file itself (``blocks:``), not in the
built-in library: SqueezeNet 1.1 (Fire) and ResNeXt-50 32x4d (a grouped bottleneck). Each is
exactly its torchvision reference: parameter count and MACs, strict state_dict loading into
the live model and the generated module, and equal eval outputs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision.models")

import archc  # noqa: E402
from archc.spec.registry import library  # noqa: E402

from .conftest import GENERATED, SPECS, import_file  # noqa: E402
from .reference import count_macs, count_params  # noqa: E402

# spec -> (reference factory, documented parameter count, user block name, its class name)
REFERENCES = {
    "squeezenet1_1": (tv.squeezenet1_1, 1_235_496, "fire", "Fire"),
    "resnext50_32x4d": (tv.resnext50_32x4d, 25_028_904, "grouped_bottleneck",
                        "GroupedBottleneck"),
}
NAMES = sorted(REFERENCES)


@pytest.mark.parametrize("name", NAMES)
def test_params_and_macs_match_the_reference(name):
    factory, documented, _, _ = REFERENCES[name]
    model = archc.compile_spec(SPECS / f"{name}.yaml")
    with torch.device("meta"):  # count on the meta device: no memory, no arithmetic
        ref = factory()
    assert model.params == count_params(ref) == documented
    assert model.macs == count_macs(ref, tuple(model.input_shape), device="meta")


@pytest.mark.parametrize("name", NAMES)
def test_weights_load_strictly_and_outputs_match(name):
    factory, _, _, _ = REFERENCES[name]
    torch.manual_seed(0)
    ref = factory().eval()
    live = archc.build_model(SPECS / f"{name}.yaml").eval()
    gen = getattr(import_file(GENERATED / f"{name}.py"), name)().eval()
    state = ref.state_dict()
    live.load_state_dict(state, strict=True)
    gen.load_state_dict(state, strict=True)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = ref(x)
        torch.testing.assert_close(live(x), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(gen(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_block_is_defined_in_the_spec_and_generated_once(name):
    _, _, block, class_name = REFERENCES[name]
    checked = archc.load_spec(SPECS / f"{name}.yaml")
    assert block in checked.spec.blocks
    assert block not in library()  # the spec's own, not a built-in block
    assert checked.spec.blocks[block].class_name == class_name
    text = (GENERATED / f"{name}.py").read_text(encoding="utf-8")
    assert text.count(f"class {class_name}(nn.Module):") == 1
