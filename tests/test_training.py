"""Training-mode behaviour: dropout, stochastic depth and auxiliary heads act only in training,
exactly as in the references (same random numbers under the same seed)."""

from __future__ import annotations

import time

import pytest

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision.models")

import archc  # noqa: E402

from .conftest import GENERATED, SPECS, import_file  # noqa: E402
from .reference import (  # noqa: E402
    assert_relative_close,
    assert_unit_scale_parity,
    load_same_weights,
    unit_scale_weights,
)


def _pair(name, factory, x):
    """Reference, live model and generated module with the same random unit-scale weights
    (see tests/reference.py: fresh weights give outputs too small to compare)."""
    ref = unit_scale_weights(factory(), batch=x)
    live = archc.build_model(SPECS / f"{name}.yaml")
    gen = getattr(import_file(GENERATED / f"{name}.py"), name)()
    load_same_weights(ref, live, gen)
    return ref, live, gen


def _run(model, x, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("name, factory", [
    ("mobilenet_v2", tv.mobilenet_v2),            # dropout
    ("efficientnet_b0", tv.efficientnet_b0),      # dropout and stochastic depth
    ("mobilenet_v3_small", tv.mobilenet_v3_small),
])
def test_randomness_only_in_training_and_same_as_reference(name, factory):
    x = torch.randn(4, 3, 64, 64)
    ref, live, gen = _pair(name, factory, x)
    saved = {k: v.clone() for k, v in ref.state_dict().items()}
    for m in (ref, live, gen):
        m.train()
    expected = _run(ref, x, 7)
    for model in (live, gen):
        out = _run(model, x, 7)
        assert_relative_close(out, expected)
        assert not torch.allclose(_run(model, x, 8), out)  # training draws new masks
    for m in (ref, live, gen):  # training moved the running statistics: start from ref's again
        m.load_state_dict(saved)
    for m in (ref, live, gen):
        m.eval()
    a, b = _run(live, x, 1), _run(live, x, 2)
    torch.testing.assert_close(a, b)  # eval: deterministic
    assert_relative_close(a, _run(ref, x, 3))


def test_stochastic_depth_rates_grow_with_block_index():
    model = archc.compile_spec(SPECS / "efficientnet_b0.yaml")
    rates = [n.args["sd"] for stage in model.graph.nodes()[0].body.nodes()[1:8]
             for n in stage.body.nodes()]
    assert len(rates) == 16
    assert rates == pytest.approx([0.2 * i / 16 for i in range(16)])


def test_googlenet_aux_outputs_only_in_training():
    x = torch.randn(2, 3, 96, 96)
    ref, live, gen = _pair("googlenet", lambda: tv.googlenet(aux_logits=True,
                                                             init_weights=True), x)
    for m in (ref, live, gen):
        m.train()
    expected = _run(ref, x, 5)
    for model in (live, gen):
        out = _run(model, x, 5)
        assert isinstance(out, tuple) and len(out) == 3
        for got, want in zip(out, (expected.logits, expected.aux_logits2,
                                   expected.aux_logits1), strict=True):
            assert_relative_close(got, want)
        model.eval()
        out = _run(model, x, 5)
        assert isinstance(out, torch.Tensor) and out.shape == (2, 1000)


def test_googlenet_input_transform_matches_transform_input(tmp_path):
    (tmp_path / "googlenet.yaml").write_text((SPECS / "googlenet.yaml").read_text())
    variant = tmp_path / "googlenet_ti.yaml"  # and its base, inside the spec root
    variant.write_text(
        "extends: googlenet.yaml\n"
        "name: GoogLeNetTI\n"
        "input_transform:\n"
        "  scale: [0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5]\n"
        "  shift: [(0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5]\n")
    ref = tv.googlenet(aux_logits=True, init_weights=True, transform_input=True)
    live = archc.build_model(variant)
    path = tmp_path / "googlenet_ti.py"
    path.write_text(archc.generate(variant))
    gen = import_file(path).googlenet_ti()
    assert_unit_scale_parity(ref, [live, gen], (3, 64, 64))


def test_lenet5_generated_module_trains_on_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    start = time.process_time()  # CPU time: a loaded shared machine does not inflate it
    threads = torch.get_num_threads()
    # ...unless idle threads spin waiting for cores that others hold: 4.8 s on one thread,
    # 115 s of CPU time measured with two threads on a loaded 2-core machine
    torch.set_num_threads(1)
    try:
        _train_and_test_lenet5(datasets, start)
    finally:
        torch.set_num_threads(threads)


def _train_and_test_lenet5(datasets, start):
    torch.manual_seed(0)
    digits = datasets.load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32) / 16.0
    # 8x8 digits scaled 3x (nearest) and padded to 32x32, as MNIST's 28x28 were for LeNet-5
    x = torch.nn.functional.interpolate(x.unsqueeze(1), scale_factor=3, mode="nearest")
    x = torch.nn.functional.pad(x, (4, 4, 4, 4))
    y = torch.tensor(digits.target)
    perm = torch.randperm(len(x))
    train, test = perm[:1400], perm[1400:]
    model = import_file(GENERATED / "lenet5.py").lenet5()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(20):
        model.train()
        for idx in train[torch.randperm(len(train))].split(32):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x[test]).argmax(1) == y[test]).float().mean().item()
    assert accuracy >= 0.95, accuracy
    assert time.process_time() - start < 60
