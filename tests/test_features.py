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
    from archc.summary import summary_dict

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
