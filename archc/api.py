"""The pipeline in one call per stage, for the CLI and the public API (no torch here)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .diagnostics import Diagnostic, SpecError
from .frontend import CheckedSpec, validate
from .frontend.extends import apply_overrides, resolve
from .frontend.loader import Budget, Document, inside, load_file, load_text
from .frontend.loader import spec_root as find_spec_root
from .frontend.patch import Module
from .ir.graph import Graph, build_graph
from .ir.shapes import Model, infer, published


def load_spec(path: str | Path, budget: Budget | None = None,
              overrides: list[str] | None = None,
              spec_root: str | Path | None = None) -> CheckedSpec:
    """Load (following ``extends``), apply ``--set`` overrides, and validate a spec file;
    raises :class:`archc.SpecError`. ``spec_root``: the folder the spec and its ``extends``
    bases must lie in (default: the nearest folder above the spec with ``pyproject.toml`` or
    ``.git``, else the spec's own folder)."""
    root = spec_root if spec_root is not None else find_spec_root(path)
    if not inside(path, root):  # a symlink to a file elsewhere: neither read nor quoted
        raise SpecError([Diagnostic(str(path), 1, 1, "the spec resolves to a file outside the "
                                    "spec root", "E006", hint=f"the spec root is {root}; "
                                    "--spec-root DIR widens it")])
    doc = resolve(load_file(path, budget), budget, root=root, modules=modules)
    if overrides:
        doc = apply_overrides(doc, overrides)
    try:
        return validate(doc)
    except SpecError as exc:
        raise SpecError([_blame_override(d, overrides or []) for d in exc.diagnostics]) from None


def _blame_override(diag: Diagnostic, overrides: list[str]) -> Diagnostic:
    """An error in a value that ``--set`` wrote names the override: the file's line is only
    where the value would have been (``--set scaling.width=abc: expected a number``)."""
    for item in reversed(overrides):  # the last override of a key wins
        key = item.partition("=")[0].strip()
        dotted = key if "." in key or key in ("name", "input", "init", "description") \
            else f"params.{key}"
        if diag.spec_path == dotted or diag.spec_path.startswith(dotted + "."):
            return replace(diag, message=f"--set {item.strip()}: {diag.message}")
    return diag


def load_spec_text(text: str, path: str = "<string>") -> CheckedSpec:
    """Validate spec text (for tools and tests)."""
    return validate(load_text(text, path))


def compile_spec(spec: str | Path | CheckedSpec | Model, budget: Budget | None = None,
                 overrides: list[str] | None = None,
                 spec_root: str | Path | None = None) -> Model:
    """Load, validate, expand and shape-check: everything but code generation
    (``spec_root``: see :func:`load_spec`)."""
    if isinstance(spec, Model):
        return spec
    if not isinstance(spec, CheckedSpec):
        spec = load_spec(spec, budget, overrides, spec_root)
    model = infer(spec, budget)
    published(model, overrides)  # a spec's own weights entry must fit its architecture
    return model


def modules(doc: Document) -> list[Module]:
    """Every module of the model ``doc`` describes, by module path, with the spec row it is
    an instance of: what ``patch: {features.17: ...}`` looks up (expansion only, no shapes)."""
    checked = validate(doc)
    out: list[Module] = []

    def visit(graph: Graph, block: tuple | None) -> None:
        for node in graph.nodes():
            if node.name is None:  # applied as a function: no module to patch
                continue
            inline = node.inline_row is not None
            doc_, row = (node.inline_doc, node.inline_path) if inline else (node.doc,
                                                                              node.row_path)
            own = doc_ is checked.document and row[:1] == ("layers",)
            out.append(Module(node.path, node.op or "seq", node.kind,
                              row if own and block is None else None, node.repeat,
                              node.repeats, block, node.inline_row.op if inline else None))
            if node.body is not None:
                inner = block or ((node.op, node.path, row if own else None)
                                  if node.kind == "block" else None)
                visit(node.body, inner)

    visit(build_graph(checked), None)
    return out
