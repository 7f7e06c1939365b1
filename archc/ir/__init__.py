"""The IR: one elaboration pass from a checked spec to a graph of frozen nodes with shapes,
parameters and MACs (pure Python, no torch)."""

from .graph import walk

__all__ = ["walk"]
