"""The spec language: pydantic models, the block registry, and validation. Never imports torch."""

from .models import BlockSpec, Norm, Paper, Row, Spec
from .registry import BlockDef, builtin_ops, library
from .validate import CheckedSpec, validate

__all__ = ["BlockDef", "BlockSpec", "CheckedSpec", "Norm", "Paper", "Row", "Spec",
           "builtin_ops", "library", "validate"]
