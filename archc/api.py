"""The pipeline in one call per stage, for the CLI and the public API (no torch here)."""

from __future__ import annotations

from pathlib import Path

from .loader import Budget, load_file, load_text
from .shapes import Model, infer
from .spec import CheckedSpec, validate
from .spec.extends import apply_overrides, resolve


def load_spec(path: str | Path, budget: Budget | None = None,
              overrides: list[str] | None = None) -> CheckedSpec:
    """Load (following ``extends``), apply ``--set`` overrides, and validate a spec file;
    raises :class:`archc.SpecError`."""
    doc = resolve(load_file(path, budget), budget)
    if overrides:
        doc = apply_overrides(doc, overrides)
    return validate(doc)


def load_spec_text(text: str, path: str = "<string>") -> CheckedSpec:
    """Validate spec text (for tools and tests)."""
    return validate(load_text(text, path))


def compile_spec(spec: str | Path | CheckedSpec | Model, budget: Budget | None = None,
                 overrides: list[str] | None = None) -> Model:
    """Load, validate, expand and shape-check: everything but code generation."""
    if isinstance(spec, Model):
        return spec
    if not isinstance(spec, CheckedSpec):
        spec = load_spec(spec, budget, overrides)
    return infer(spec, budget)
