"""Published weights by name (issue 10.4): the spec's ``weights:`` table, the generated factory's
``weights=`` argument (torch.hub download with hash check into the hub cache, strict load, head
swap, local files, backbones), the variant rule, and the audit's hold on torch's file access.
Offline: checkpoints are served through file:// URLs from a temporary folder."""

from __future__ import annotations

import ast
import hashlib
import shutil
import warnings

import pytest
import torch
import torchvision

from archc import SpecError, compile_spec, generate
from archc.codegen import generate_source
from archc.codegen.audit import AuditError, audit_source

from .conftest import SPECS
from .reference import assert_outputs_match, parity_input, unit_scale_weights

SQUEEZENET_PARAMS = 1_235_496
IMAGENET_STATS = "mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A torchvision SqueezeNet 1.1 under random unit-scale weights, its state_dict saved as
    torch.hub names checkpoints (NAME-<sha256 prefix>.pth), TORCH_HOME in tmp_path, and a spec
    folder holding specs/squeezenet1_1.yaml as the base of the test's variants."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # no set_dir() of another test applies
    ref = unit_scale_weights(torchvision.models.squeezenet1_1(), seed=3,
                             batch=parity_input((3, 64, 64)))
    served = tmp_path / "served"
    served.mkdir()
    raw = served / "raw.pth"
    torch.save(ref.state_dict(), raw)
    sha = hashlib.sha256(raw.read_bytes()).hexdigest()
    checkpoint = served / f"squeezenet_local-{sha[:10]}.pth"
    raw.rename(checkpoint)
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(SPECS / "squeezenet1_1.yaml", specs / "base.yaml")

    class Hub:
        def __init__(self):
            self.ref, self.checkpoint, self.sha = ref, checkpoint, sha[:10]
            self.cache = tmp_path / "torch_home" / "hub" / "checkpoints"

        def spec(self, url: str, sha: str, params: int = SQUEEZENET_PARAMS,
                 extra: str = "") -> str:
            path = specs / "variant.yaml"
            path.write_text(f"extends: base.yaml\nname: SqueezeVariant\n{extra}weights:\n"
                            f"  LOCAL_V1: {{url: '{url}', sha256: '{sha}', params: {params}, "
                            f"{IMAGENET_STATS}}}\n", encoding="utf-8")
            return str(path)

        def factory(self, url: str | None = None, sha: str | None = None, extra: str = "",
                    **kw):
            spec = self.spec(url or checkpoint.as_uri(), sha or self.sha, extra=extra)
            return factory_of(generate_source(compile_spec(spec), **kw))

    return Hub()


def factory_of(source: str):
    """The factory function a generated module defines (its last function)."""
    namespace = {"__name__": "generated_for_test"}
    exec(compile(source, "<generated>", "exec"), namespace)  # audited by generate_source
    name = [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)][-1]
    return namespace[name]


def test_weights_by_name_download_into_the_hub_cache_and_load_strictly(hub):
    model = hub.factory()(weights="LOCAL_V1", progress=False)
    assert [p.name for p in hub.cache.iterdir()] == [hub.checkpoint.name]
    state, expected = model.state_dict(), hub.ref.state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    assert_outputs_match(hub.ref, model, parity_input((3, 64, 64)))
    again = hub.factory()(weights="LOCAL_V1", progress=False)  # from the cache now
    assert all(torch.equal(again.state_dict()[k], expected[k]) for k in expected)


def test_a_wrong_hash_fails_and_leaves_nothing_in_the_cache(hub):
    wrong = "0123abcd" if not hub.sha.startswith("0123abcd") else "4567abcd"
    bad = hub.checkpoint.with_name(f"squeezenet_bad-{wrong}.pth")
    shutil.copy(hub.checkpoint, bad)
    factory = hub.factory(url=bad.as_uri(), sha=wrong)
    with pytest.raises(RuntimeError, match="invalid hash value"):
        factory(weights="LOCAL_V1", progress=False)
    assert not hub.cache.exists() or list(hub.cache.iterdir()) == []


def test_another_num_classes_keeps_a_fresh_classifier_and_loads_the_rest(hub):
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match=r"1000 classes, the model 10; classifier\.1\.weight, "
                      r"classifier\.1\.bias left freshly initialised"):
        model = hub.factory()(weights="LOCAL_V1", progress=False, num_classes=10)
    state, expected = model.state_dict(), hub.ref.state_dict()
    head = {"classifier.1.weight", "classifier.1.bias"}
    assert all(torch.equal(state[k], expected[k]) for k in expected if k not in head)
    assert state["classifier.1.weight"].shape == (10, 512, 1, 1)
    torch.manual_seed(0)
    fresh = hub.factory()(num_classes=10)  # the same seed draws the same fresh classifier
    assert all(torch.equal(state[k], fresh.state_dict()[k]) for k in head)


def test_a_head_swap_also_applies_to_a_local_file_and_a_set_num_classes(hub):
    spec = hub.spec(hub.checkpoint.as_uri(), hub.sha)
    factory = factory_of(generate_source(compile_spec(spec, overrides=["num_classes=7"]),
                                         ["num_classes=7"]))
    with pytest.warns(UserWarning, match="the checkpoint has 1000 classes, the model 7"):
        model = factory(weights=str(hub.checkpoint))
    expected = hub.ref.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items()
               if not k.startswith("classifier.1."))
    with pytest.raises(ValueError, match="published are none"):
        factory(weights="LOCAL_V1")  # --set num_classes changed the count: the entry is dropped


def test_a_local_file_loads_and_a_mismatch_is_torchs_strict_error(hub, tmp_path):
    factory = hub.factory()
    model = factory(weights=str(hub.checkpoint))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in hub.ref.state_dict().items())
    other = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), other)
    with pytest.raises(RuntimeError, match="Missing key"):
        factory(weights=other)  # a PathLike works too, and loads strictly


def test_an_unknown_name_lists_the_published_ones(hub):
    with pytest.raises(ValueError, match=r"unknown weights 'IMAGENET1K_V3' for SqueezeVariant: "
                       r"published are IMAGENET1K_V1, LOCAL_V1"):
        hub.factory()(weights="IMAGENET1K_V3")


def test_a_backbone_loads_its_tensors_from_the_whole_models_checkpoint(hub):
    backbone = hub.factory(features=True, extra="features: [features.4, features.7, "
                           "features.12]\n")(weights="LOCAL_V1", progress=False)
    expected = hub.ref.state_dict()
    state = backbone.state_dict()
    assert state and state.keys() < expected.keys()
    assert all(torch.equal(v, expected[k]) for k, v in state.items())


def test_a_variant_drops_inherited_weights_whose_parameter_count_differs(tmp_path):
    variant = tmp_path / "specs" / "narrow.yaml"
    variant.parent.mkdir()
    for name in ("mobilenet_v2.yaml", "mobilenet_v2_x0_5.yaml"):
        shutil.copy(SPECS / name, variant.parent / name)
    (variant.parent / "narrow.yaml").write_text(
        "extends: mobilenet_v2.yaml\nname: Narrow\nscaling: {width: 0.75}\n", encoding="utf-8")
    assert '"IMAGENET1K_V1"' in generate(variant.parent / "mobilenet_v2.yaml")
    for spec, overrides in ((variant, None), (variant.parent / "mobilenet_v2_x0_5.yaml", None),
                            (variant.parent / "mobilenet_v2.yaml", ["scaling.width=1.4"])):
        source = generate(spec, overrides)
        assert "_WEIGHTS = {}" in source and "IMAGENET1K" not in source, spec


def test_an_entry_of_the_spec_itself_states_its_parameter_count(write_spec):
    spec = write_spec((SPECS / "squeezenet1_1.yaml").read_text(encoding="utf-8").replace(
        "params: 1235496", "params: 1235497"))
    with pytest.raises(SpecError) as err:
        compile_spec(spec)  # archc check reports it: check ok implies build ok
    [d] = err.value.diagnostics
    assert d.code == "E230" and d.spec_path == "weights.IMAGENET1K_V1.params"
    assert "1,235,497 parameters; this spec has 1,235,496" in d.message


@pytest.mark.parametrize(("entry", "where", "message"), [
    ("url: 'https://example.com/w.pth', sha256: 'b8a52dc0'", "weights.V1.url",
     "does not carry the hash 'b8a52dc0'"),
    ("url: 'https://example.com/w-b8a52dc1.pth', sha256: 'b8a52dc0'", "weights.V1.url",
     "does not carry the hash 'b8a52dc0'"),
    ("url: 'ftp://example.com/w-b8a52dc0.pth', sha256: 'b8a52dc0'", "weights.V1.url",
     "should match pattern"),
    ("url: 'https://example.com/w-b8a5.pth', sha256: 'b8a5'", "weights.V1.sha256",
     "should match pattern"),
])
def test_weights_entries_are_checked_where_they_are_written(write_spec, entry, where, message):
    text = (SPECS / "lenet5.yaml").read_text(encoding="utf-8")
    spec = write_spec(f"{text}\nweights:\n  V1: {{{entry}, params: 61706, mean: [0.5], "
                      "std: [0.5]}\n")
    with pytest.raises(SpecError) as err:
        compile_spec(spec)
    [d] = err.value.diagnostics
    assert d.spec_path == where and message in d.message, d
    assert d.line == text.count("\n") + 3


def test_a_weights_name_is_an_identifier(write_spec):
    text = (SPECS / "lenet5.yaml").read_text(encoding="utf-8")
    spec = write_spec(f"{text}\nweights:\n  ./w.pth: {{url: 'https://e.com/w-b8a52dc0.pth', "
                      "sha256: 'b8a52dc0', params: 61706, mean: [0.5], std: [0.5]}\n")
    with pytest.raises(SpecError) as err:
        compile_spec(spec)
    assert [d.code for d in err.value.diagnostics] == ["E230"]


def test_the_audit_keeps_torchs_file_access_to_archcs_own_helper():
    source = generate(SPECS / "squeezenet1_1.yaml")
    audit_source(source)
    for bad in ('        x = torch.hub.load("evil/repo", "m")\n',
                '        x = torch.load("/etc/passwd")\n', "        torch.save(self, 'x')\n"):
        tampered = source.replace("    def forward(self, x: Tensor) -> Tensor:\n",
                                  "    def forward(self, x: Tensor) -> Tensor:\n" + bad, 1)
        with pytest.raises(AuditError, match=r"torch\.(hub|load|save)"):
            audit_source(tampered)
    for bad, what in (("_WEIGHTS = {'a': open('x')}", "not a literal"),
                      ("_WEIGHTS = {'a': 1}\nOTHER = 1", "top-level assignment")):
        with pytest.raises(AuditError, match=what):
            audit_source(source.replace("_WEIGHTS = {", bad + "\n_UNUSED = {", 1))


def test_the_seed_specs_list_torchvisions_published_checkpoints():
    """Every classification checkpoint torchvision publishes for a spec's reference, as
    torchvision publishes it (url, its hash prefix, parameter count, transforms' mean/std)."""
    from archc.ir.shapes import published

    listed = 0
    for path in sorted(SPECS.glob("*.yaml")):
        model = compile_spec(path)
        entries = published(model)
        ref = model.checked.spec.reference.removeprefix("torchvision.models.").split("(")[0]
        if not model.checked.spec.reference.startswith("torchvision.models."):
            assert not entries, path.name
            continue
        # A width variant has none; GoogLeNet's checkpoint holds the auxiliary heads that
        # torchvision's num_params leaves out. Not vgg16's FEATURES weights: no classifier.
        published_by_torchvision = {
            w.name: w for w in torchvision.models.get_model_weights(ref)
            if w.meta.get("categories") and (w.meta["num_params"] == model.params
                                             or ref == "googlenet")}
        assert entries.keys() == published_by_torchvision.keys(), path.name
        for name, entry in entries.items():
            w, t = published_by_torchvision[name], published_by_torchvision[name].transforms()
            assert entry.url == w.url and f"-{entry.sha256}." in w.url
            assert (entry.mean, entry.std) == (list(t.mean), list(t.std))
            assert len(w.meta["categories"]) == 1000 and entry.categories == "imagenet"
            assert entry.params == model.params
            listed += 1
    assert listed == 42  # all of them: 33 specs, 7 with a V2, 2 ViTs with SWAG linear


def test_a_spec_file_cannot_be_named_like_the_weights_helper(cli, tmp_path):
    """A factory _load_weights() would replace the helper every factory calls."""
    path = tmp_path / "_load_weights.yaml"
    shutil.copy(SPECS / "lenet5.yaml", path)
    code, _, err = cli("check", str(path))
    assert code == 1 and "replaces a name the generated module uses" in err


def test_a_generated_module_with_weights_stays_standalone():
    tree = ast.parse(generate(SPECS / "mobilenet_v2.yaml"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names} | {n.module for n in ast.walk(tree)
                                     if isinstance(n, ast.ImportFrom)}
    assert imported <= {"warnings", "math", "torch", "Tensor", "nn"}, imported
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        factory_of(generate(SPECS / "mobilenet_v2.yaml"))(num_classes=10)
