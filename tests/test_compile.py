"""Every committed spec's model (the generated module, which build_model runs) goes through
PyTorch's graph capture unchanged: ``torch.fx.symbolic_trace``, ``torch.export.export`` and
``torch.compile(fullgraph=True)`` (a graph break is an error), each matching the eager outputs
in eval mode. Training-mode code (GoogLeNet's auxiliary heads, EfficientNet's stochastic depth)
compiles without graph breaks too. ONNX: tests/test_export.py; TorchScript:
tests/test_one_program.py.

``backend="eager"`` keeps this quick: Dynamo captures the whole graph (which is what is under
test) and the graph runs in eager PyTorch, with no Inductor code generation."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402

from .conftest import SPECS  # noqa: E402

# Every seed architecture, one family member at least, and the two specs with their own blocks.
FAST_NAMES = [
    "lenet5", "alexnet", "vgg16", "vgg16_bn", "resnet18", "resnet50", "googlenet",
    "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "efficientnet_b0", "squeezenet1_1", "resnext50_32x4d",
]
# The bigger members of the same families: same generated code, more of it.
SLOW_NAMES = sorted(p.stem for p in SPECS.glob("*.yaml") if p.stem not in FAST_NAMES)

ATOL = RTOL = 1e-5


def _input(name: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    shape = (2, 1, 32, 32) if name == "lenet5" else (2, 3, 64, 64)
    return torch.randn(shape, generator=gen)


def _model(name: str) -> torch.nn.Module:
    return archc.build_model(SPECS / f"{name}.yaml")


class Case:
    """An eval-mode model, its input and its eager output (built once per model)."""

    def __init__(self, model: torch.nn.Module, name: str) -> None:
        self.model = model.eval()
        self.x = _input(name)
        with torch.no_grad():
            self.expected = self.model(self.x)

    def check(self, out) -> None:
        assert isinstance(out, torch.Tensor), type(out)
        torch.testing.assert_close(out, self.expected, atol=ATOL, rtol=RTOL)


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()  # no cache limits or guards carried over from other models
    yield
    torch._dynamo.reset()


@pytest.fixture(scope="module", params=FAST_NAMES
                + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW_NAMES])
def case(request):
    torch.manual_seed(0)
    return Case(_model(request.param), request.param)


def _compiled(case: Case):
    compiled = torch.compile(case.model, fullgraph=True, backend="eager")
    with torch.no_grad():
        return compiled(case.x)


def _exported(case: Case):
    program = torch.export.export(case.model, (case.x,))
    with torch.no_grad():
        return program.module()(case.x)


def _traced(case: Case):
    traced = torch.fx.symbolic_trace(case.model)
    with torch.no_grad():
        return traced(case.x)


def test_compiles_fullgraph(case):
    case.check(_compiled(case))


def test_exports(case):
    case.check(_exported(case))


def test_fx_traces(case):
    case.check(_traced(case))


@pytest.mark.parametrize("name", ["googlenet", "efficientnet_b0"])
def test_training_mode_compiles_fullgraph(name):
    """Training-mode branches (auxiliary heads, stochastic depth, dropout, batch statistics)
    compile without graph breaks, forward and backward. Values are not compared: random."""
    torch.manual_seed(0)
    model = _model(name).train()
    x = _input(name)
    out = torch.compile(model, fullgraph=True, backend="eager")(x)
    if name == "googlenet":  # (main, aux2, aux1), as torchvision in training
        assert isinstance(out, tuple) and len(out) == 3
        assert all(o.shape == (2, 1000) for o in out)
        loss = out[0].sum() + 0.3 * (out[1].sum() + out[2].sum())
    else:
        assert isinstance(out, torch.Tensor) and out.shape == (2, 1000)
        loss = out.sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
