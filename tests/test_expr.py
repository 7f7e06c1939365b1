"""The expression language: whitelisted, evaluated without eval, printed back as Python."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archc.expr import ExprError, make_divisible, parse


@pytest.mark.parametrize("text, env, value", [
    ("round(in_channels * t)", {"in_channels": 32, "t": 6}, 192),
    ("s == 1 and in_channels == c", {"s": 1, "in_channels": 24, "c": 24}, True),
    ("s == 1 and in_channels == c", {"s": 2, "in_channels": 24, "c": 24}, False),
    ("make_divisible(32 * w)", {"w": 0.75}, 24),
    ("ceil(n * d)", {"n": 3, "d": 1.1}, 4),
    ("a if a > b else b", {"a": 2, "b": 5}, 5),
    ("act != 'none'", {"act": "relu"}, True),
    ("not true", {}, False),
    ("max(1, w) * 1280", {"w": 0.5}, 1280),
    ("2 ** 10 // 3 % 7", {}, 5),
])
def test_evaluate(text, env, value):
    assert parse(text).evaluate(env) == value


@pytest.mark.parametrize("text", [
    "__import__('os')", "open('x')", "x.y", "x[0]", "[1, 2]", "{1: 2}", "lambda: 1",
    "(x := 1)", "f'{x}'", "x if", "a; b", "print(1)", "round(x, ndigits=2)", "...", "b'x'",
    "exec('1')", "eval('1')", "getattr(x, 'y')",
])
def test_rejected(text):
    with pytest.raises(ExprError):
        parse(text)


def test_unknown_name_suggests():
    with pytest.raises(ExprError) as exc:
        parse("widht * 2").evaluate({"width": 1})
    assert exc.value.hint == "did you mean 'width'?"


def test_limits():
    with pytest.raises(ExprError):
        parse("1" + " + 1" * 400)
    with pytest.raises(ExprError):
        parse("10 ** 100").evaluate({})
    with pytest.raises(ExprError):
        parse("x / 0").evaluate({"x": 1})


def test_to_python_renames_and_maps_functions():
    e = parse("make_divisible(c * w) if ceil(t) > 1 else c")
    assert e.to_python({"c": "out_channels", "w": "width"}) == (
        "_make_divisible(out_channels * width) if math.ceil(t) > 1 else out_channels")
    assert e.helpers() == {"make_divisible", "math"}


def test_make_divisible_matches_reference_rule():
    # torchvision's _make_divisible: nearest multiple of 8, at least 8, +8 if below 90%
    assert [make_divisible(v) for v in (3, 16 * 0.5, 32 * 1.4, 1280 * 0.35, 100)] == [
        8, 8, 48, 448, 104]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(-1000, 1000), st.integers(1, 1000), st.floats(0.1, 4.0))
def test_python_spelling_evaluates_like_archc(a, b, w):
    text = "round(a * w) + a // b - max(a, b) % b + (1 if a > b else 2)"
    e = parse(text)
    env = {"a": a, "b": b, "w": w}
    python = e.to_python()
    assert "eval" not in python
    # compare against Python's own evaluation of the same text (test-only use of compile)
    expected = eval(compile(python, "<expr>", "eval"), {"math": math}, env)  # noqa: S307
    assert e.evaluate(env) == expected
