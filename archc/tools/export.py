"""ONNX export of a spec's live model: optional state_dict, eval mode, a dynamic batch dimension
(input ``input``, output ``output``), checked with ``onnx.checker`` and written atomically.

Needs the ``onnx`` extra (``pip install 'archc[onnx]'``: onnx, onnxscript; onnxruntime to run
the file). onnx and onnxscript are imported on first use, so a missing extra is a clear
:class:`ExportError`, not an import failure of this module.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..frontend.loader import Budget
from ..writer import WriteRefused, check, write_produced

__all__ = ["ExportError", "export_onnx", "parse_input_shape"]

_BATCH = 2  # example batch: torch.export specialises a dimension of size 0 or 1, so not 1


class ExportError(RuntimeError):
    """An ONNX export failed; the message is one line, fit for the command line."""


class MissingDependency(ExportError):
    """The onnx extra is not installed (an environment problem, not the spec's)."""


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"3x224x224"`` (the CLI's ``--input CxHxW``) -> ``(3, 224, 224)``."""
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        shape = ()
    if not shape or any(n <= 0 for n in shape):
        raise ExportError(f"bad input shape {text!r}: expected positive sizes like 3x224x224")
    return shape


def export_onnx(spec_or_model, path: str | os.PathLike, weights: str | os.PathLike | None = None,
                input_shape: Sequence[int] | str | None = None, opset: int | None = None, *,
                overrides: list[str] | None = None, force: bool = False,
                budget: Budget | None = None) -> Path:
    """Export a spec's model (or any ``nn.Module``) to the ONNX file ``path``; returns its path.

    ``spec_or_model``: a spec path, :class:`archc.CheckedSpec`, :class:`archc.Model` (these are
    built with :func:`archc.build_model`, ``overrides`` being ``--set`` values) or an
    ``nn.Module`` (put in eval mode for the export, its mode restored afterwards).
    ``weights``: a state_dict file, loaded strictly. ``input_shape``: ``(C, H, W)`` without the
    batch dimension (default: the spec's ``input``; required for a bare module); the batch
    dimension is dynamic. ``opset``: the ONNX opset (default: the exporter's). ``force``:
    replace an existing ``path`` (never a link, or a path through one, or a non-regular file).
    ``budget``: the layer, parameter and activation caps (:class:`archc.Budget`), checked at
    the input size exported, before the model is built.

    Raises :class:`archc.SpecError` for spec errors and :class:`ExportError` for everything
    else (weights that do not fit, an input the model rejects, the exporter or the ONNX checker
    failing). A failed export leaves no file behind, and an existing ``path`` untouched.
    """
    target = Path(path)
    if why := check(target, force=force):  # before any work
        raise ExportError(why)
    if isinstance(input_shape, str):
        input_shape = parse_input_shape(input_shape)
    budget = budget or Budget()
    model, spec_shape = _model(spec_or_model, overrides, input_shape, budget)
    shape = tuple(int(n) for n in (input_shape or spec_shape or ()))
    if not shape:
        raise ExportError("input_shape is required to export an nn.Module: e.g. (3, 224, 224)")
    if 4 * _BATCH * math.prod(shape) > budget.max_activation_bytes:  # a bare module's input
        raise ExportError(f"an input of {_fmt((_BATCH, *shape))} floats is more than the limit "
                          f"of {budget.max_activation_bytes:,} activation bytes "
                          "(raise it with --max-activation-bytes)")
    if weights is not None:
        _load_weights(model, Path(weights))

    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's exporter needs it; say so up front)
    except ImportError as exc:
        raise MissingDependency(f"ONNX export needs onnx and onnxscript (pip install onnx "
                                f"onnxscript onnxruntime, or pip install -e '.[onnx]' in a "
                                f"checkout): {exc}") from None

    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        x = torch.randn(_BATCH, *shape, device=device)
        try:
            with torch.no_grad():
                out = model(x)
        except Exception as exc:
            raise ExportError(f"the model does not run on input {_fmt(shape)}: "
                              f"{_one_line(exc)}") from exc
        n_out = len(out) if isinstance(out, (tuple, list)) else 1
        names = ["output"] + [f"output_{i}" for i in range(1, n_out)]
        try:
            write_produced(target, lambda tmp: _export_to(model, x, tmp, names, opset, onnx),
                           force=force)
        except WriteRefused as exc:
            raise ExportError(str(exc)) from None
        except OSError as exc:
            raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        for m, training in modes:  # each module's own mode (a frozen batch norm stays frozen)
            m.training = training
    return target


def _model(spec_or_model, overrides, input_shape, budget: Budget
           ) -> tuple[nn.Module, tuple[int, ...] | None]:
    if isinstance(spec_or_model, nn.Module):
        if overrides:
            raise ExportError("overrides apply to specs, not to an nn.Module")
        return spec_or_model, None
    from ..api import compile_spec
    from ..ir.shapes import at_input
    from ..torch_backend import build_module

    # SpecError propagates; the budget holds at the input exported, not only the spec's
    compiled = compile_spec(spec_or_model, budget, overrides)
    shape = tuple(compiled.input_shape)
    if input_shape:
        # The model is the spec's; only the activation budget is re-checked at the input size
        # exported (a spec whose layers do not fit that input fails its test run, clearly).
        shape = tuple(at_input(compiled, tuple(int(n) for n in input_shape), budget).input_shape)
    return build_module(compiled, overrides), shape


def _load_weights(model: nn.Module, weights: Path) -> None:
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ExportError(f"{weights}: no such weights file") from None
    except Exception as exc:
        raise ExportError(f"{weights}: not a loadable state_dict: {_one_line(exc)}") from exc
    if not isinstance(state, dict):
        raise ExportError(f"{weights}: expected a state_dict (a dict of tensors), "
                          f"got {type(state).__name__}")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {_fmt(state[k].shape)} vs {_fmt(own[k].shape)}" for k in own
             if k in state and hasattr(state[k], "shape") and state[k].shape != own[k].shape]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected),
                        ("shape mismatch", wrong)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            problems.append(f"{len(keys)} {label}: {', '.join(keys[:3])}{more}")
    if problems:
        raise ExportError(f"{weights}: weights do not fit the model: {'; '.join(problems)}")
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ExportError(f"{weights}: {_one_line(exc)}") from exc


def _export_to(model: nn.Module, x: torch.Tensor, tmp: Path, output_names: list[str],
               opset: int | None, onnx) -> None:
    # torch 2.14 has two exporters, and both export every spec here with the same numerics
    # (onnxruntime within 1e-6 relative of the live model). We use the torch.export-based one
    # (dynamo=True, torch's default since 2.9, needs onnxscript): the TorchScript one
    # (dynamo=False) warns that it is deprecated and will be removed, and it cannot export
    # adaptive_avg_pool2d when the output size does not divide the input size (VGG-16 and
    # AlexNet below 224x224 fail). The cost is time: 2-8 s per model against 0.2-3 s.
    #
    # archc.writer hands us a path in a fresh folder next to the target, under the target's
    # name: any external-data file the exporter writes (models over its 1.5 GB threshold) is
    # then named and referenced as it will be next to the target. The writer moves those
    # first and the .onnx last, so a reader never sees a partial model and a failure leaves
    # nothing behind.
    try:
        with _quiet("torch.onnx", "onnxscript"):
            torch.onnx.export(
                model, (x,), str(tmp), dynamo=True, external_data=False, verbose=False,
                input_names=["input"], output_names=output_names, opset_version=opset,
                dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as exc:
        raise ExportError(f"torch.onnx.export failed: {type(exc).__name__}: "
                          f"{_one_line(exc)}") from exc
    if not tmp.is_file():
        raise ExportError("torch.onnx.export wrote no file")
    if opset is not None:
        # The exporter writes opset 18 or newer and converts to an older one when asked;
        # when that conversion fails it only logs, and keeps its own opset.
        imports = onnx.load(str(tmp), load_external_data=False).opset_import
        got = next((i.version for i in imports if i.domain in ("", "ai.onnx")), None)
        if got != opset:
            raise ExportError(f"opset {opset} was asked for, but torch.onnx.export could "
                              f"only produce opset {got} for this model")
    try:
        onnx.checker.check_model(str(tmp), full_check=True)
    except Exception as exc:
        raise ExportError(f"the exported model fails onnx.checker: {_one_line(exc)}") from exc


@contextlib.contextmanager
def _quiet(*loggers: str):
    """Silence the exporter's progress and fallback logging (its failures are raised, and we
    report them as one line)."""
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _fmt(shape) -> str:
    return "x".join(str(int(n)) for n in shape) if len(shape) else "scalar"


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
