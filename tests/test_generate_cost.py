"""The cost of generating a module: ``build_model`` generates, audits and compiles the source on
every call, so generation must not redo work. Composed expressions are parsed once and their
trees shared (never edited), and no proof re-derives a form it already has."""

from __future__ import annotations

import ast
import collections
import contextlib
import gc
import sys
from pathlib import Path

import pytest

from archc import expr
from archc.api import compile_spec
from archc.codegen import blocks, generate_source

SPECS = ["efficientnet_b0", "mobilenet_v3_large", "googlenet", "resnet50"]


def _cold() -> None:
    for module, memo in ((expr, "_PARSED"), (expr, "_TRUSTED"), (expr, "_PRINTED"),
                         (blocks, "_DUMPS")):
        getattr(module, memo, {}).clear()


@pytest.mark.parametrize("name", SPECS)
def test_generation_parses_each_expression_once(name, monkeypatch):
    model = compile_spec(f"specs/{name}.yaml")
    parses = collections.Counter()
    parse, readers = ast.parse, {expr.parse.__code__, expr.parse_trusted.__code__}

    def counting(source, *args, **kwargs):
        if sys._getframe(1).f_code in readers:  # the expression language's readers
            parses[source.strip()] += 1
        return parse(source, *args, **kwargs)

    _cold()
    monkeypatch.setattr(ast, "parse", counting)
    generate_source(model)
    again = {text: n for text, n in parses.items() if n > 1}
    assert sum(parses.values()) > 0 and not again, f"{len(again)} texts parsed again"


def test_shared_trees_are_never_edited():
    """The memoised trees are shared by every caller: substitute, to_python and the channel
    proofs build new trees and leave them as parsed."""
    _cold()
    for name in SPECS:
        generate_source(compile_spec(f"specs/{name}.yaml"))
    memo = {**getattr(expr, "_PARSED", {}), **getattr(expr, "_TRUSTED", {})}
    assert len(memo) > 100
    for text, parsed in memo.items():
        assert ast.dump(parsed.tree) == ast.dump(ast.parse(text.strip(), mode="eval")), text


@contextlib.contextmanager
def collections_seen():
    """Garbage collections started inside, with a threshold that makes every hundredth
    allocation of a tracked object start one (where the collector is enabled)."""
    seen: list[int] = []

    def note(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    threshold = gc.get_threshold()
    gc.collect()  # counts from zero
    gc.set_threshold(100, 1, 1)
    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*threshold)


def test_build_runs_no_collection():
    """Generating, executing and instantiating a module allocates many short-lived objects;
    a full collection they set off would walk every object torch holds (~0.1 s)."""
    import archc

    archc.build_model("specs/lenet5.yaml")
    model = compile_spec("specs/mobilenet_v2.yaml")
    with collections_seen() as seen:
        archc.build_model(model, num_classes=10)
    assert seen == [] and gc.isenabled()


def test_build_restores_the_collector():
    import archc

    model = compile_spec("specs/lenet5.yaml")
    with pytest.raises(TypeError):
        archc.build_model(model, no_such_param=1)
    assert gc.isenabled()
    gc.disable()
    try:
        archc.build_model(model)
        assert not gc.isenabled()  # left as the caller set it
    finally:
        gc.enable()
    before = len(gc.get_objects())
    for _ in range(5):
        archc.build_model(model)
    gc.collect()
    assert len(gc.get_objects()) < before + 2000  # the programs are cached: nothing piles up


def test_the_cli_compiles_without_collections(capsys):
    """``archc check``/``build`` allocate many short-lived objects; the collector walking
    them cost ~15% of a build of every committed spec."""
    from archc.cli import main

    specs = sorted(str(p) for p in Path("specs").glob("*.yaml"))[:6]
    with collections_seen() as seen:
        rc = main(["check", *specs])
    assert rc == 0 and seen == [] and gc.isenabled()
