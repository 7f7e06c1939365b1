"""The generated model class as an API (issue 10, items 3, 6 and 10): the spec's params are
keyword arguments, classifiers have forward_features / forward_head / reset_classifier, backbones
expose feature_info, and the source carries no float noise nor names the file lacks."""

from __future__ import annotations

import inspect
import re
import sys
import types

import pytest
import torch
from torch import nn

from archc.api import compile_spec
from archc.codegen import generate_source
from archc.codegen.model import model_kwargs
from tests.conftest import SPECS

SPEC_FILES = sorted(SPECS.glob("*.yaml"))
_MODULES: dict[tuple, types.ModuleType] = {}


def module(stem: str, overrides: tuple[str, ...] = (), features: bool = False):
    """The generated module of a spec, compiled in memory (what the generator writes now)."""
    key = (stem, overrides, features)
    if key not in _MODULES:
        model = compile_spec(SPECS / f"{stem}.yaml", overrides=list(overrides))
        source = generate_source(model, list(overrides), features=features)
        mod = types.ModuleType(f"_api_{stem}_{len(_MODULES)}")
        mod.__dict__["__source__"] = source
        sys.modules[mod.__name__] = mod
        exec(compile(source, f"<{stem}>", "exec"), mod.__dict__)  # noqa: S102
        _MODULES[key] = mod
    return _MODULES[key]


def shapes(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


# Params that decide which layers exist stay fixed when generated (rebuild with --set).
FIXED = {"vgg16": {"batch_norm"}, "vgg16_bn": {"batch_norm"},
         # a ViT's patch size and width shape its tensors (its position embedding, token)
         **{f"vit_{v}": {"patch_size", "hidden_dim"} for v in ("b_16", "b_32", "l_16")}}


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.stem)
def test_every_param_is_a_keyword_argument(spec):
    checked = compile_spec(spec).checked
    mod = module(spec.stem)
    cls = getattr(mod, checked.spec.name)
    sig = inspect.signature(cls.__init__)
    kwargs = {k.name for k in model_kwargs(checked)}
    assert set(checked.spec.params) - kwargs == FIXED.get(spec.stem, set())
    for name, value in checked.spec.params.items():
        if name in kwargs:
            assert sig.parameters[name].default == value
            assert sig.parameters[name].annotation == type(value).__name__
        else:
            assert f"{name}={value!r}" in " ".join(cls.__doc__.split())


# A changed value per param; the class built with it equals the class generated with --set.
CHANGED = {"num_classes": 10, "dropout": 0.25, "stochastic_depth": 0.1, "act": "relu6",
           "cardinality": 16, "group_width": 8}


@pytest.mark.parametrize("stem", ["mobilenet_v1", "mobilenet_v2", "efficientnet_b0", "googlenet",
                                  "resnext50_32x4d", "squeezenet1_1", "lenet5", "alexnet"])
def test_keyword_arguments_build_what_set_builds(stem):
    checked = compile_spec(SPECS / f"{stem}.yaml").checked
    for kw in model_kwargs(checked):
        value = CHANGED[kw.name]
        ours = getattr(module(stem), checked.spec.name)
        theirs = getattr(module(stem, (f"{kw.name}={value}",)), checked.spec.name)
        torch.manual_seed(0)
        a = ours(**{kw.name: value})
        torch.manual_seed(0)
        b = theirs()
        assert shapes(a) == shapes(b), kw.name
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(x, y), (kw.name, name)
        assert repr(a) == repr(b), kw.name


def test_mobilenet_v2_num_classes_like_torchvision():
    from torchvision.models import mobilenet_v2

    model = module("mobilenet_v2").mobilenet_v2(num_classes=10).eval()
    ref = mobilenet_v2(num_classes=10)
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 10)
    assert shapes(model) == shapes(ref)
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in ref.parameters())


def test_resnet18_num_classes_like_torchvision():
    from torchvision.models import resnet18

    model = module("resnet18").resnet18(num_classes=10).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)
    assert shapes(model) == shapes(resnet18(num_classes=10))


def test_dropout_lands_in_the_dropout_layer():
    model = module("mobilenet_v2").MobileNetV2(dropout=0.5)
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5]


def test_a_wrong_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="num_clases"):
        module("mobilenet_v2").mobilenet_v2(num_clases=10)


def test_param_expressions_stay_expressions_in_the_source():
    source = module("mobilenet_v2").__source__
    assert "nn.Linear(1280, num_classes),  # (N, num_classes)" in source
    assert "nn.Dropout(p=dropout)," in source
    assert "def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:" in source


@pytest.mark.parametrize("stem", ["efficientnet_b0", "efficientnet_b3"])
def test_no_float_noise_and_the_same_values(stem):
    from torchvision import models

    source = module(stem).__source__
    assert not re.search(r"\d\.\d*0000000\d|\d\.\d*9999999\d", source)
    model = getattr(module(stem), stem)()
    ref = getattr(models, stem)()
    ours = [getattr(m, "stochastic_depth", None) for m in model.modules()
            if type(m).__name__ == "MBConv"]
    theirs = [m.stochastic_depth for m in ref.modules() if type(m).__name__ == "MBConv"]
    pairs = [(a.p, b.p) for a, b in zip(ours, theirs, strict=True) if a is not None]
    assert all(a == b for a, b in pairs) and len(pairs) > 8


def _identifiers(source: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", re.sub(r"#.*", "", source)))


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.stem)
def test_comments_name_only_what_the_file_has(spec):
    source = module(spec.stem).__source__
    known = _identifiers(source)
    rows = [m.group(1) for m in re.finditer(r"^ *# (?:[\w -]+: )?(\w+=.*)$", source, re.M)]
    for note in rows:  # the row comments: the paper's columns
        for _key, value in re.findall(r"(\w+)=([^,]+)", note):
            names = set(re.findall(r"[A-Za-z_]\w*", value)) - {"True", "False"}
            assert names <= known, (spec.stem, note)


@pytest.mark.parametrize("stem", ["mobilenet_v2", "resnet18", "efficientnet_b0",
                                  "googlenet", "squeezenet1_1", "lenet5"])
def test_classifier_api(stem):
    checked = compile_spec(SPECS / f"{stem}.yaml").checked
    cls = getattr(module(stem), checked.spec.name)
    torch.manual_seed(0)
    model = cls().eval()
    shape = (1, *checked.spec.input)
    x = torch.randn(shape)
    assert model.num_classes == checked.spec.params["num_classes"]
    if stem in ("googlenet", "squeezenet1_1", "lenet5"):  # no pool-then-classifier chain
        assert not hasattr(model, "forward_features")
    else:
        feats = model.forward_features(x)
        assert feats.dim() == 4
        assert torch.equal(model.forward_head(feats), model(x))
        assert model.forward_head(feats, pre_logits=True).dim() == 2
        torch.fx.symbolic_trace(model)
    if stem == "lenet5":
        return
    model.reset_classifier(7)
    assert model.num_classes == 7 and model(x).shape[-1] == 7
    model.reset_classifier(0)
    assert model(x).shape[-1] != 7
