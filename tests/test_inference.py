"""Inference builds: BatchNorm folded, dropout and stochastic depth removed, channels_last,
outputs within 1e-3 relative of the eval-mode model; also as a generated module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision.models")

import archc  # noqa: E402

from .conftest import SPECS, import_file  # noqa: E402

REFS = {"mobilenet_v2": tv.mobilenet_v2, "resnet50": tv.resnet50,
        "efficientnet_b0": tv.efficientnet_b0, "googlenet": lambda: tv.googlenet(
            aux_logits=True, init_weights=True), "vgg16_bn": tv.vgg16_bn}


def _relative(a, b) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("name", sorted(REFS))
def test_optimized_live_model_matches_eval(name):
    ref = REFS[name]().eval()
    _randomize_bn(ref)
    live = archc.build_model(SPECS / f"{name}.yaml")
    live.load_state_dict(ref.state_dict())
    fast = archc.optimize_for_inference(live)
    kinds = {type(m).__name__ for m in fast.modules()}
    assert not kinds & {"BatchNorm2d", "Dropout", "StochasticDepth"}, kinds
    x = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        assert _relative(fast(x), ref(x)) < 1e-3


def test_generated_inference_module_loads_training_weights(cli, tmp_path):
    ref = tv.efficientnet_b0().eval()
    _randomize_bn(ref)
    code, _, err = cli("build", str(SPECS / "efficientnet_b0.yaml"), "--inference", "-o",
                       str(tmp_path))
    assert code == 0, err
    path = tmp_path / "efficientnet_b0_inference.py"
    module = import_file(path)
    fast = module.efficientnet_b0_inference(ref.state_dict())
    x = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        assert _relative(fast(x), ref(x)) < 1e-3
    ruff = Path(sys.executable).parent / "ruff"
    if ruff.exists():
        assert subprocess.run([str(ruff), "format", "--isolated", "--check", str(path)],
                              capture_output=True).returncode == 0


def _randomize_bn(model):
    """Running statistics away from their defaults, so folding has something to fold."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
