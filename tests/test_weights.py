"""Porting weights by execution order between implementations whose module names differ."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision.models")

import archc  # noqa: E402
from archc.tools.weights import WeightPortError, port_weights, weight_layers  # noqa: E402

from .conftest import SPECS  # noqa: E402
from .reference import assert_relative_close, unit_scale_weights  # noqa: E402

nn = torch.nn


def x64(batch: int = 2, seed: int = 0):
    return torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def as_if_trained(model, seed: int = 0):
    """Random unit-scale weights and batch-norm statistics, as after training (see
    tests/reference.py). Fresh batch norms are the same in both models (mean 0, variance 1),
    so a port that forgot the buffers would go unnoticed, and fresh outputs are too small for
    a comparison to see a wrong port; with these neither is possible."""
    return unit_scale_weights(model, seed, batch=x64())


def timm_mobilenet_v1():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    return as_if_trained(timm.create_model("mobilenetv1_100", pretrained=False))


def test_timm_mobilenet_v1_into_the_relu6_spec_matches_timm():
    src = timm_mobilenet_v1()
    dst = archc.build_model(SPECS / "mobilenet_v1.yaml", overrides=["act=relu6"]).eval()
    mapping = port_weights(src, dst, x64(1))
    # conv_stem, bn1, 13 blocks of (conv_dw, bn1, conv_pw, bn2), classifier
    assert len(mapping) == 2 + 13 * 4 + 1
    # timm's batch norms are BatchNormAct2d (a BatchNorm2d subclass holding its activation)
    assert type(src.bn1).__name__ == "BatchNormAct2d"
    # The spec follows timm's module names, so execution order pairs each name with itself:
    # an independent check of the pairing.
    assert all(dst_name == src_name for dst_name, src_name in mapping.items())
    assert list(mapping)[:3] == ["conv_stem", "bn1", "blocks.0.0.conv_dw"]
    assert torch.equal(dst.bn1.running_var, src.bn1.running_var)
    x = x64()
    with torch.no_grad():
        assert_relative_close(dst(x), src(x))


def test_activations_are_not_weights():
    """The paper's MobileNetV1 (our default) uses ReLU; timm's uses ReLU6. Every weight fits
    (the port succeeds), but the functions differ wherever an activation exceeds 6."""
    src = timm_mobilenet_v1()
    dst = archc.build_model(SPECS / "mobilenet_v1.yaml").eval()
    assert len(port_weights(src, dst, x64(1))) == 55
    x = 4 * x64()  # large enough that ReLU6 clips
    with torch.no_grad():
        assert not torch.allclose(dst(x), src(x), atol=1e-3, rtol=1e-3)
    relu6 = archc.build_model(SPECS / "mobilenet_v1.yaml", overrides=["act=relu6"]).eval()
    relu6.load_state_dict(dst.state_dict(), strict=True)  # same weights, other activation
    with torch.no_grad():
        assert_relative_close(relu6(x), src(x))


def test_torchvision_mobilenet_v2_round_trips():
    torch.manual_seed(0)
    src = as_if_trained(tv.mobilenet_v2())
    dst = archc.build_model(SPECS / "mobilenet_v2.yaml").eval()
    mapping = port_weights(src, dst, x64(1))
    assert len(mapping) == 105 and all(k == v for k, v in mapping.items())
    assert dst.training is False and src.training is False
    x = x64()
    with torch.no_grad():
        assert_relative_close(dst(x), src(x))
    # and back, into a torchvision model with other weights
    back = tv.mobilenet_v2().eval()
    port_weights(dst, back, x64(1))
    for key, value in src.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def test_resnet18_into_resnet34_names_the_first_mismatch():
    src = tv.resnet18()
    dst = archc.build_model(SPECS / "resnet34.yaml")
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(WeightPortError) as info:
        port_weights(src, dst, x64(1))
    message = str(info.value)
    # stem conv + bn, then layer1's 2 blocks of 4 layers: pair 10 is where resnet34's third
    # layer1 block meets resnet18's first layer2 block
    assert message.startswith("layer pair 10: src 'layer2.0.conv1' Conv2d [weight 128x64x3x3]"
                              " does not match dst 'layer1.2.conv1' Conv2d [weight 64x64x3x3]")
    assert "weight shapes 128x64x3x3 and 64x64x3x3 differ" in message
    assert isinstance(info.value, ValueError)
    for key, value in dst.state_dict().items():  # nothing copied
        assert torch.equal(value, before[key]), key


def test_mobilenet_v2_into_mobilenet_v3_small_fails_at_the_stem():
    with pytest.raises(WeightPortError, match=r"^layer pair 0: src 'features\.0\.0' Conv2d "
                       r"\[weight 32x3x3x3\] does not match dst 'features\.0\.0' Conv2d "
                       r"\[weight 16x3x3x3\]"):
        port_weights(tv.mobilenet_v2(), archc.build_model(SPECS / "mobilenet_v3_small.yaml"),
                     x64(1))


def small(*layers):
    return nn.Sequential(nn.Conv2d(3, 8, 3), *layers).eval()


def test_types_compare_on_the_torch_nn_class():
    class MyNorm(nn.BatchNorm2d):  # a subclass, as timm's BatchNormAct2d
        pass

    x = x64(1)
    port_weights(small(nn.BatchNorm2d(8)), small(MyNorm(8)), x)
    with pytest.raises(WeightPortError, match=r"layer pair 1: src '1' BatchNorm2d \[weight 8, "
                       r"bias 8, running_mean 8, running_var 8\] does not match dst '1' "
                       r"GroupNorm \[weight 8, bias 8\] \(types BatchNorm2d and GroupNorm"):
        port_weights(small(nn.BatchNorm2d(8)), small(nn.GroupNorm(2, 8)), x)
    with pytest.raises(WeightPortError, match=r"src '1' MyNorm \(BatchNorm2d\)"):
        port_weights(small(MyNorm(8)), small(nn.GroupNorm(2, 8)), x)
    with pytest.raises(WeightPortError, match=r"only src has \['bias'\], only dst has \[\]"):
        port_weights(nn.Conv2d(3, 8, 3), nn.Conv2d(3, 8, 3, bias=False), x)


def test_a_different_number_of_layers():
    x = x64(1)
    src, dst = small(nn.BatchNorm2d(8)), small(nn.BatchNorm2d(8), nn.Conv2d(8, 4, 1))
    with pytest.raises(WeightPortError, match=r"src has 2 layers with weights, dst has 3: the "
                       r"first unmatched is dst '2' Conv2d \[weight 4x8x1x1, bias 4\] "
                       r"\(layer 2\)"):
        port_weights(src, dst, x)
    with pytest.raises(WeightPortError, match="the first unmatched is src '2'"):
        port_weights(dst, src, x)
    # strict=False: the common prefix is ported, the rest left as it was
    extra = dst[2].weight.clone()
    assert port_weights(as_if_trained(src), dst, x, strict=False) == {"0": "0", "1": "1"}
    assert torch.equal(dst[1].running_mean, src[1].running_mean)
    assert torch.equal(dst[2].weight, extra)


def test_order_is_execution_order_not_registration_order():
    class Reversed(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Conv2d(8, 4, 1)  # registered first, runs last
            self.stem = nn.Conv2d(3, 8, 3)

        def forward(self, x):
            return self.head(self.stem(self.stem(x)[:, :3]))  # stem twice: recorded once

    src = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 4, 1))
    dst = Reversed().train()
    assert [name for name, _ in weight_layers(dst, x64(1))] == ["stem", "head"]
    assert port_weights(src, dst, x64(1)) == {"stem": "0", "head": "1"}
    assert dst.training  # modes are restored
    assert torch.equal(dst.head.weight, src[1].weight)


def test_layers_the_input_does_not_reach_are_left_alone():
    """GoogLeNet's auxiliary heads run only in training; the port runs in eval mode."""
    torch.manual_seed(0)
    src = as_if_trained(tv.googlenet(aux_logits=True, init_weights=True))
    dst = archc.build_model(SPECS / "googlenet.yaml")
    aux_before = dst.aux1.conv.conv.weight.clone()
    mapping = port_weights(src, dst, x64(1))
    assert not any(name.startswith(("aux1.", "aux2.")) for name in mapping)
    assert torch.equal(dst.aux1.conv.conv.weight, aux_before)
    x = x64()
    with torch.no_grad():
        assert_relative_close(dst.eval()(x), src(x))
