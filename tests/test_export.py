"""ONNX export: the file onnxruntime runs computes what the live model computes, at any batch
size, with the weights it was given; failures are one-line ExportErrors that leave no file."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
tv = pytest.importorskip("torchvision.models")

import archc  # noqa: E402
from archc.tools.export import ExportError, export_onnx, parse_input_shape  # noqa: E402

from .conftest import SPECS  # noqa: E402
from .reference import assert_relative_close, parity_input, unit_scale_weights  # noqa: E402

SIZE = (3, 64, 64)  # smaller than the specs' 224x224: the export and the checks stay fast
FAST = ["mobilenet_v2", "resnet18", "googlenet", "efficientnet_b0"]


def as_if_trained(model, seed: int = 0):
    """Batch norms with non-trivial statistics and affine terms, as after training: freshly
    initialised ones (mean 0, variance 1, weight 1, bias 0) would leave the outputs tiny and
    would not show whether the statistics are exported."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model.eval()


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session, [torch.from_numpy(o) for o in session.run(None, {"input": x.numpy()})]


@pytest.fixture(scope="module", params=FAST)
def exported(request, tmp_path_factory):
    """(live model with trained-like weights, its ONNX file) exported from the spec with those
    weights as a state_dict file."""
    name = request.param
    tmp = tmp_path_factory.mktemp(name)
    torch.manual_seed(0)
    live = as_if_trained(archc.build_model(SPECS / f"{name}.yaml"))
    weights = tmp / "weights.pt"
    torch.save(live.state_dict(), weights)
    path = export_onnx(SPECS / f"{name}.yaml", tmp / f"{name}.onnx", weights=weights,
                       input_shape="x".join(map(str, SIZE)))
    return live, path


def test_onnxruntime_matches_the_live_model(exported):
    live, path = exported
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        ["weights.pt", path.name])  # one self-contained file, no temporaries left
    torch.manual_seed(1)
    x = torch.randn(2, *SIZE)
    with torch.no_grad():
        expected = live(x)
    session, outputs = run_onnx(path, x)
    assert len(outputs) == 1  # eval mode: GoogLeNet's auxiliary heads are not exported
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    assert expected.abs().max() > 0.01  # the weights make a difference to compare
    torch.testing.assert_close(outputs[0], expected, atol=1e-4, rtol=1e-4)


def test_the_batch_dimension_is_dynamic(exported):
    live, path = exported
    graph = onnx.load(str(path), load_external_data=False).graph
    for value in (graph.input[0], graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param and not dims[0].HasField("dim_value")
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:]] == list(SIZE)
    torch.manual_seed(2)
    for batch in (1, 3):
        x = torch.randn(batch, *SIZE)
        with torch.no_grad():
            expected = live(x)
        _, outputs = run_onnx(path, x)
        assert outputs[0].shape == expected.shape
        torch.testing.assert_close(outputs[0], expected, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.stem for p in SPECS.glob("*.yaml") if p.stem not in FAST))
def test_every_committed_spec_exports(name, tmp_path):
    """ONNX works for every committed spec (the four above run in the quick suite), under
    unit-scale weights: onnxruntime computes what the model computes."""
    size = (1, 32, 32) if name == "lenet5" else SIZE
    if name.startswith("shufflenet"):
        # at 64x64 stage4's maps are 2x2: batch norms calibrated on 8 values per channel
        # amplify float32 rounding to 2.4e-4 of the output in torch itself (vs float64)
        size = (3, 128, 128)
    if name.startswith("vit_"):  # the position embedding is made for 224x224
        size = (3, 224, 224)
    x = parity_input(size)
    model = unit_scale_weights(archc.build_model(SPECS / f"{name}.yaml"), batch=x)
    path = export_onnx(model, tmp_path / f"{name}.onnx", input_shape=size)
    with torch.no_grad():
        assert_relative_close(run_onnx(path, x)[1][0], model(x))


def test_layouts_attention_and_params_export(tmp_path):
    """The constructs of issue 11 in ONNX: permutes, layer norms (channels-last and the
    (N, C, H, W) form), a learned scale, a class token concatenated to tokens, attention and a
    token select; onnxruntime computes what the live model computes."""
    from archc.api import load_spec_text

    from .test_layouts import SPEC

    size = (3, 16, 16)
    x = parity_input(size)
    model = unit_scale_weights(archc.build_model(load_spec_text(SPEC)), batch=x)
    path = export_onnx(model, tmp_path / "layouts.onnx", input_shape=size)
    with torch.no_grad():
        assert_relative_close(run_onnx(path, x)[1][0], model(x))


def test_torchvision_weights_give_torchvision_outputs(tmp_path):
    torch.manual_seed(0)
    ref = as_if_trained(tv.resnet18())
    torch.save(ref.state_dict(), tmp_path / "resnet18.pt")
    path = export_onnx(SPECS / "resnet18.yaml", tmp_path / "resnet18.onnx",
                       weights=tmp_path / "resnet18.pt", input_shape=SIZE)
    x = torch.randn(2, *SIZE)
    with torch.no_grad():
        expected = ref(x)
    _, outputs = run_onnx(path, x)
    torch.testing.assert_close(outputs[0], expected, atol=1e-4, rtol=1e-4)


def test_the_spec_input_size_is_the_default(tmp_path):
    path = export_onnx(SPECS / "lenet5.yaml", tmp_path / "lenet5.onnx", opset=18,
                       overrides=["num_classes=7"])
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[1:]] == [1, 32, 32]
    assert any(o.domain in ("", "ai.onnx") and o.version == 18 for o in model.opset_import)
    _, outputs = run_onnx(path, torch.randn(1, 1, 32, 32))
    assert outputs[0].shape == (1, 7)


def test_a_module_exports_and_keeps_its_mode(tmp_path):
    model = archc.build_model(SPECS / "lenet5.yaml").train()
    with pytest.raises(ExportError, match="input_shape is required"):
        export_onnx(model, tmp_path / "m.onnx")
    export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 32, 32))
    assert model.training and all(m.training for m in model.modules())
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = model.eval()(x)
    torch.testing.assert_close(run_onnx(tmp_path / "m.onnx", x)[1][0], expected,
                               atol=1e-4, rtol=1e-4)


def _assert_nothing_left(directory, keep=()):
    assert sorted(p.name for p in directory.iterdir()) == sorted(keep)


def test_weights_that_do_not_fit_are_a_clear_error(tmp_path):
    torch.save(tv.resnet34().state_dict(), tmp_path / "resnet34.pt")
    out = tmp_path / "out"
    with pytest.raises(ExportError) as info:
        export_onnx(SPECS / "resnet18.yaml", out / "resnet18.onnx",
                    weights=tmp_path / "resnet34.pt", input_shape=SIZE)
    message = str(info.value)
    assert "\n" not in message
    assert "resnet34.pt: weights do not fit the model" in message
    assert "unexpected: layer1.2.conv1.weight" in message
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ExportError, match="no such weights file"):
        export_onnx(SPECS / "resnet18.yaml", out / "resnet18.onnx",
                    weights=tmp_path / "missing.pt", input_shape=SIZE)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ExportError, match="not a loadable state_dict"):
        export_onnx(SPECS / "resnet18.yaml", out / "resnet18.onnx",
                    weights=tmp_path / "junk.pt", input_shape=SIZE)


def test_an_input_the_model_rejects_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError, match=r"does not run on input 3x64x64") as info:
        export_onnx(SPECS / "lenet5.yaml", tmp_path / "lenet5.onnx", input_shape=SIZE)
    assert "\n" not in str(info.value)
    _assert_nothing_left(tmp_path)
    for bad in ("3x0x64", "3by64", ""):
        with pytest.raises(ExportError, match="bad input shape"):
            parse_input_shape(bad)
    assert parse_input_shape("3x224X224") == (3, 224, 224)


def test_a_failed_check_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "lenet5.onnx"
    target.write_bytes(b"previous export")

    def broken(*args, **kwargs):
        raise onnx.checker.ValidationError("Field 'type' of 'value_info' is required\nmore")

    monkeypatch.setattr(onnx.checker, "check_model", broken)
    with pytest.raises(ExportError, match="fails onnx.checker: Field 'type'") as info:
        export_onnx(SPECS / "lenet5.yaml", target, force=True)  # a file we did not write
    assert "\n" not in str(info.value)
    _assert_nothing_left(tmp_path, keep=["lenet5.onnx"])
    assert target.read_bytes() == b"previous export"


def test_spec_errors_are_spec_errors(tmp_path, write_spec):
    bad = write_spec("name: Bad\ninput: [3, 8, 8]\nlayers:\n  - {op: nope}\n")
    with pytest.raises(archc.SpecError):
        export_onnx(bad, tmp_path / "bad.onnx")
    with pytest.raises(archc.SpecError):
        export_onnx(SPECS / "lenet5.yaml", tmp_path / "bad.onnx", overrides=["num_classes=0"])
    _assert_nothing_left(tmp_path, keep=["spec.yaml"])


def test_an_opset_the_exporter_cannot_reach_is_an_error(tmp_path, capfd):
    """torch writes opset 18 or newer and converts down on request; LeNet-5 converts to 17,
    but when a conversion fails torch only logs it and keeps opset 18: that is our error."""
    path = export_onnx(SPECS / "lenet5.yaml", tmp_path / "lenet5.onnx", opset=17)
    assert [i.version for i in onnx.load(str(path)).opset_import if i.domain == ""] == [17]
    with pytest.raises(ExportError, match="opset 1 was asked for, but torch.onnx.export could "
                       "only produce opset 18"):
        export_onnx(SPECS / "lenet5.yaml", tmp_path / "old.onnx", opset=1)
    _assert_nothing_left(tmp_path, keep=["lenet5.onnx"])
    assert "Traceback" not in capfd.readouterr().err  # the exporter's fallback logs are muted
