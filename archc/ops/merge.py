"""Rows that join branches: residual add, channel concat, gating multiply."""

from __future__ import annotations

from .base import Primitive, ShapeError
from .conv import fmt


class Add(Primitive):
    op = "add"
    doc = "Element-wise sum of its inputs (residual connection)."
    arity = 0

    def infer(self, args, shapes):
        if len(shapes) < 2:
            raise ShapeError("add needs at least two inputs ('from: [a, b]')")
        if any(s != shapes[0] for s in shapes):
            raise ShapeError("add inputs differ in shape: " + " vs ".join(map(fmt, shapes)))
        return shapes[0], 0, 0

    def call_source(self, args, inputs):
        return " + ".join(inputs)


class Mul(Primitive):
    op = "mul"
    doc = "Element-wise product of two inputs, broadcasting (C, 1, 1) gates over (C, H, W)."
    arity = 0

    def infer(self, args, shapes):
        if len(shapes) != 2:
            raise ShapeError("mul needs exactly two inputs ('from: [a, b]')")
        a, b = shapes
        if len(a) != len(b) or any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
            raise ShapeError(f"mul inputs do not broadcast: {fmt(a)} vs {fmt(b)}")
        return tuple(max(x, y) for x, y in zip(a, b)), 0, 0

    def call_source(self, args, inputs):
        return " * ".join(inputs)


class Concat(Primitive):
    op = "concat"
    doc = "Concatenate inputs along channels (inception branches)."
    arity = 0
    keeps_channels = False

    def out_channels(self, args, in_channels):
        raise NotImplementedError  # handled by the channel tracker: sum of inputs

    def infer(self, args, shapes):
        if len(shapes) < 2:
            raise ShapeError("concat needs at least two inputs ('from: [a, b]')")
        if any(s[1:] != shapes[0][1:] for s in shapes):
            raise ShapeError("concat inputs differ in spatial size: " + ", ".join(map(fmt, shapes)))
        return (sum(s[0] for s in shapes), *shapes[0][1:]), 0, 0

    def call_source(self, args, inputs):
        return f"torch.cat([{', '.join(inputs)}], 1)"
