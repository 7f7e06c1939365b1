"""Generated modules (and a few live models) go through PyTorch's graph capture unchanged:
``torch.compile(fullgraph=True)`` (a graph break is an error), ``torch.export.export`` and
``torch.fx.symbolic_trace``, each matching the eager outputs in eval mode. Training-mode code
(GoogLeNet's auxiliary heads, EfficientNet's stochastic depth) compiles without graph breaks too.

``backend="eager"`` keeps this quick: Dynamo captures the whole graph (which is what is under
test) and the graph runs in eager PyTorch, with no Inductor code generation."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402

from .conftest import GENERATED, SPECS, import_file  # noqa: E402

# Every seed architecture, one family member at least, and the two specs with their own blocks.
GENERATED_NAMES = [
    "lenet5", "alexnet", "vgg16", "vgg16_bn", "resnet18", "resnet50", "googlenet",
    "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "efficientnet_b0", "squeezenet1_1", "resnext50_32x4d",
]
# The bigger members of the same families: same generated code, more of it.
SLOW_NAMES = [
    "resnet34", "resnet101", "resnet152", "mobilenet_v2_x0_5", "mobilenet_v2_x1_4",
    "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
    "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
]
LIVE_NAMES = ["mobilenet_v2", "resnet18", "googlenet"]

ATOL = RTOL = 1e-5


def _input(name: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    shape = (2, 1, 32, 32) if name == "lenet5" else (2, 3, 64, 64)
    return torch.randn(shape, generator=gen)


def _generated(name: str) -> torch.nn.Module:
    return getattr(import_file(GENERATED / f"{name}.py"), name)()


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


@pytest.fixture(scope="module", params=GENERATED_NAMES
                + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW_NAMES])
def generated(request):
    torch.manual_seed(0)
    return Case(_generated(request.param), request.param)


@pytest.fixture(scope="module", params=LIVE_NAMES)
def live(request):
    torch.manual_seed(0)
    return Case(archc.build_model(SPECS / f"{request.param}.yaml"), request.param)


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


def test_generated_compiles_fullgraph(generated):
    generated.check(_compiled(generated))


def test_generated_exports(generated):
    generated.check(_exported(generated))


def test_generated_fx_traces(generated):
    generated.check(_traced(generated))


def test_live_compiles_fullgraph(live):
    live.check(_compiled(live))


def test_live_exports(live):
    live.check(_exported(live))


def _unregistered_calls(model: torch.nn.Module) -> list[str]:
    """Modules a live GraphBlock calls without holding them as submodules."""
    registered = {id(m) for m in model.modules()}
    return [f"{path or '<root>'}: {type(fn).__name__}"
            for path, block in model.named_modules()
            for fn, *_ in getattr(block, "_calls", ())
            if isinstance(fn, torch.nn.Module) and id(fn) not in registered]


def test_live_fx_traces(live, request):
    unregistered = _unregistered_calls(live.model)
    if unregistered:
        # archc/torch_backend.py: GraphBlock.__init__ registers a step's module only when the
        # step has a name, but GraphBlock.forward also calls the nn.Module instances that an
        # unnamed step's Primitive.function() returns (nn.Flatten, nn.ReLU, ... in
        # archc/blocks/). fx's Tracer.call_module needs every called module to be a submodule.
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=NameError,
            reason="live GraphBlock calls modules it does not register, so "
                   "fx.Tracer.path_of_module raises NameError('module is not installed as a "
                   f"submodule'): {', '.join(unregistered[:3])}"))
    live.check(_traced(live))


@pytest.mark.parametrize("name", ["googlenet", "efficientnet_b0"])
def test_training_mode_compiles_fullgraph(name):
    """Training-mode branches (auxiliary heads, stochastic depth, dropout, batch statistics)
    compile without graph breaks, forward and backward. Values are not compared: random."""
    torch.manual_seed(0)
    model = _generated(name).train()
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
