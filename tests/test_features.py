"""Backbone builds (archc build --features): the feature maps at strides 4-32, equal to the
intermediate outputs of the reference model, from the live and the generated module."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision.models")

import archc  # noqa: E402

from .conftest import SPECS, import_file  # noqa: E402
from .reference import assert_relative_close, unit_scale_weights  # noqa: E402

CASES = {
    # spec: (reference, modules whose outputs are the features, expected shapes at 224)
    "resnet50": (tv.resnet50, ["layer1", "layer2", "layer3", "layer4"],
                 [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]),
    "mobilenet_v3_large": (tv.mobilenet_v3_large,
                           ["features.3", "features.6", "features.12", "features.16"],
                           [(24, 56, 56), (40, 28, 28), (112, 14, 14), (960, 7, 7)]),
    "shufflenet_v2_x1_0": (tv.shufflenet_v2_x1_0, ["maxpool", "stage2", "stage3", "conv5"],
                           [(24, 56, 56), (116, 28, 28), (232, 14, 14), (1024, 7, 7)]),
}


def _reference_features(ref, names, x):
    found = {}
    hooks = [ref.get_submodule(n).register_forward_hook(
        lambda m, i, o, n=n: found.__setitem__(n, o)) for n in names]
    with torch.no_grad():
        ref(x)
    for h in hooks:
        h.remove()
    return [found[n] for n in names]


@pytest.mark.parametrize("name", sorted(CASES))
def test_backbone_returns_reference_feature_maps(name, cli, tmp_path, monkeypatch):
    factory, names, shapes = CASES[name]
    model = archc.compile_spec(SPECS / f"{name}.yaml")
    from archc.tools.summary import summary_dict

    assert [tuple(f["shape"]) for f in summary_dict(model)["features"]] == shapes
    x = torch.randn(2, 3, 96, 96)
    ref = unit_scale_weights(factory(), batch=x)  # fresh weights: too small to compare
    expected = _reference_features(ref, names, x)
    live = archc.build_model(SPECS / f"{name}.yaml", features=True).eval()
    result = live.load_state_dict(ref.state_dict(), strict=False)
    assert not result.missing_keys  # the backbone is a strict subset of the model
    assert all(k.startswith(("fc.", "classifier.")) for k in result.unexpected_keys)
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("build", str(SPECS / f"{name}.yaml"), "--features", "-o", "out")
    assert code == 0, err
    gen = getattr(import_file(tmp_path / "out" / f"{name}_features.py"), f"{name}_features")()
    gen.load_state_dict(live.state_dict(), strict=True)
    gen.eval()
    with torch.no_grad():
        for model_ in (live, gen):
            got = model_(x)
            assert len(got) == 4
            for a, b in zip(got, expected, strict=True):
                assert_relative_close(a, b)
        full = archc.build_model(SPECS / f"{name}.yaml")
        assert [tuple(t.shape[1:]) for t in live(torch.zeros(1, 3, 224, 224))] == shapes
        del full


def test_features_listed_in_the_spec(write_spec):
    write_spec((SPECS / "resnet18.yaml").read_text(), "resnet18.yaml")  # inside the spec root
    path = write_spec("extends: resnet18.yaml\nname: R18\n"
                      "features: [layer2, layer4]\n")
    live = archc.build_model(path, features=True).eval()
    outs = live(torch.zeros(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(128, 8, 8), (512, 2, 2)]
    bad = write_spec("extends: resnet18.yaml\nfeatures: [layer9]\n",
                     "bad.yaml")
    with pytest.raises(archc.SpecError, match="no row 'layer9'") as exc:
        archc.build_model(bad, features=True)
    assert exc.value.diagnostics[0].hint.startswith("did you mean 'layer")


@pytest.mark.parametrize("name", sorted(CASES))
def test_backbone_feature_info_describes_the_returned_maps(name):
    """feature_info (timm's features_only API), emitted as a literal at build time, names each
    returned map's channels, reduction (input size / map size) and module, in order."""
    from archc.codegen import generate_source

    model = archc.compile_spec(SPECS / f"{name}.yaml")
    source = generate_source(model, features=True)  # audited
    assert "self.feature_info = [" in source
    backbone = archc.build_model(SPECS / f"{name}.yaml", features=True).eval()
    info = backbone.feature_info
    modules = dict(backbone.named_modules())
    found = {}
    for i in info:  # each named module's output is the map it describes
        modules[i["module"]].register_forward_hook(
            lambda m, a, out, key=i["module"]: found.__setitem__(key, out))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        maps = backbone(x)
    assert len(info) == len(maps) == 4
    assert [i["num_chs"] for i in info] == [m.shape[1] for m in maps]
    assert [i["reduction"] for i in info] == [64 // m.shape[-1] for m in maps] == [4, 8, 16, 32]
    assert all(torch.equal(found[i["module"]], m) for i, m in zip(info, maps, strict=True))


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "efficientnet_b0"])
def test_backbones_that_run_slices_trace_with_fx(name):
    """A backbone returning maps from inside one group runs the group's layers in slices; it
    traces with torch.fx (calling a slice built an unregistered nn.Sequential fx could not
    trace) and the traced module computes the same maps."""
    torch = pytest.importorskip("torch")
    model = archc.build_model(SPECS / f"{name}.yaml", features=True).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), traced(x), strict=True):
            assert torch.equal(a, b)
