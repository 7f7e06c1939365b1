"""archc: a declarative YAML architecture compiler for convolutional networks.

``load_spec``, ``generate`` and the CLI's check/build/summary never import torch; ``build_model``
does (lazily), since it returns an ``nn.Module``.
"""

from __future__ import annotations

from pathlib import Path

from .api import compile_spec, load_spec
from .diagnostics import Diagnostic, SpecError
from .frontend import CheckedSpec
from .frontend.loader import Budget
from .ir.shapes import Model
from .tools.registry import create_model, list_models

__version__ = "0.1.0"


def generate(spec: str | Path | CheckedSpec | Model, overrides: list[str] | None = None,
             spec_root: str | Path | None = None) -> str:
    """Source text of the standalone PyTorch module for a spec (``overrides``: ``--set``;
    ``spec_root``: the folder ``extends`` may reach, see :func:`load_spec`)."""
    from .codegen import generate_source

    return generate_source(compile_spec(spec, overrides=overrides, spec_root=spec_root),
                           overrides)


def build_model(spec: str | Path | CheckedSpec | Model, *, overrides: list[str] | None = None,
                features: bool = False, budget: Budget | None = None,
                spec_root: str | Path | None = None, **params):
    """The spec's model (imports torch): its generated module (see :func:`generate`), executed,
    and its factory called with ``params`` (the spec's ``params`` as keywords, ``weights=``).
    The model's class is the spec's ``name``; its source is the generated file's.
    ``features=True`` builds the backbone: the model up to its last feature map, returning the
    feature maps. ``budget`` caps layers, parameters and activations before torch allocates
    anything (default: :class:`archc.Budget`'s). ``overrides``: ``--set`` values;
    ``spec_root``: the folder ``extends`` may reach, see :func:`load_spec`."""
    from .torch_backend import build_module

    model = compile_spec(spec, budget, overrides, spec_root)
    return build_module(model, overrides, features=features, **params)


def optimize_for_inference(model, channels_last: bool = True):
    """BatchNorm folded, dropout/stochastic depth removed, channels_last (imports torch)."""
    from .tools.inference import optimize_for_inference as optimize

    return optimize(model, channels_last)


def __getattr__(name: str):  # PEP 562: the torch-importing parts load on first use
    if name in ("export_onnx", "ExportError"):
        from .tools import export

        return getattr(export, name)
    if name in ("port_weights", "WeightPortError"):
        from .tools import weights

        return getattr(weights, name)
    raise AttributeError(f"module 'archc' has no attribute {name!r}")


__all__ = ["Budget", "ExportError", "WeightPortError", "export_onnx", "port_weights",
           "optimize_for_inference", "CheckedSpec", "Diagnostic", "Model", "SpecError",
           "build_model", "compile_spec", "create_model", "list_models",
           "generate", "load_spec"]
