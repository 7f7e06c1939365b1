"""The YAML loader: safe, strict, positioned, budgeted."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archc.diagnostics import SpecError
from archc.frontend.loader import Budget, load_text


def test_core_schema_scalars():
    doc = load_text("a: 1e-3\nb: no\nc: on\nd: 0x10\ne: ~\nf: true\ng: '3'\nh: -2\ni: 1.5\n")
    assert doc.data == {"a": 0.001, "b": "no", "c": "on", "d": "0x10", "e": None, "f": True,
                        "g": "3", "h": -2, "i": 1.5}


def test_positions_of_values_and_keys():
    doc = load_text("name: X\nlayers:\n  - {op: conv, c: 8}\n")
    assert doc.loc(("layers", 0, "c")) == (3, 19, 3, 20)
    assert doc.loc(("layers", 0, "c"), key=True) == (3, 16, 3, 17)
    assert doc.loc(("layers", 0, "missing"))[:2] == (3, 5)  # nearest parent


def test_duplicate_keys_are_errors():
    with pytest.raises(SpecError) as exc:
        load_text("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert (exc.value.line, exc.value.column) == (4, 3)
    assert "duplicate key 'c'" in exc.value.message


@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['true']\n",
    "a: !!python/name:os.system\n",
    "a: !custom 3\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x}\n",
])
def test_non_core_tags_are_rejected(text):
    with pytest.raises(SpecError) as exc:
        load_text(text)
    assert exc.value.diagnostics[0].code == "E004"


def test_merge_keys_are_rejected():
    with pytest.raises(SpecError, match="merge keys"):
        load_text("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")


def test_alias_bomb_is_rejected_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    start = time.process_time()  # CPU time: robust on a loaded machine
    with pytest.raises(SpecError, match="more than"):
        load_text("\n".join(lines))
    assert time.process_time() - start < 1.0


def test_budgets_are_configurable():
    with pytest.raises(SpecError, match="nesting deeper"):
        load_text("a: " + "[" * 10 + "]" * 10, budget=Budget(max_depth=5))
    with pytest.raises(SpecError, match="larger than"):
        load_text("a: 1\n" * 100, budget=Budget(max_bytes=50))


def test_recursive_alias_hits_depth_budget():
    with pytest.raises(SpecError):
        load_text("a: &a [*a]\n")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!,'\"\n #|>?%@`\t\\01.e~<")),
               max_size=80))
def test_arbitrary_text_loads_or_gives_a_located_error(text):
    try:
        load_text(text)
    except SpecError as exc:
        for d in exc.diagnostics:
            assert d.line >= 1 and d.column >= 1 and d.message
