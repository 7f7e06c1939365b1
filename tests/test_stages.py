"""The folders mirror the compiler's stages and data flows one way (issue 10, item 9): no module
imports from a later stage, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "archc"

# Modules every stage reads: they import nothing of archc's but each other.
SHARED = {"archc.diagnostics", "archc.expr", "archc.codegen_literals", "archc.writer"}
# Stage of each module, by its package or its own name; a module may import its own stage and
# earlier ones. ops sits under the frontend: validation reads an op's parameters, the IR its
# shape rule, codegen its source form.
STAGES = [
    ("shared", SHARED),
    ("ops", {"archc.ops"}),
    ("frontend", {"archc.frontend"}),
    ("ir", {"archc.ir", "archc.api"}),
    ("codegen", {"archc.codegen", "archc.torch_backend"}),
    ("tools", {"archc.tools"}),
    ("api", {"archc", "archc.cli", "archc.__main__"}),
]
# Imports allowed against the flow: (importer, imported) -> why. None today; a lazy import
# that needs one is listed here with its reason.
DOCUMENTED_EXCEPTIONS: dict[tuple[str, str], str] = {}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> int:
    best = None
    for rank, (_, members) in enumerate(STAGES):
        for m in members:
            if (module == m or module.startswith(m + ".")) and (best is None or len(m) > best[1]):
                best = (rank, len(m))
    assert best is not None, f"{module} belongs to no stage: add it to STAGES"
    return best[0]


def _imports(path: Path, module: str):
    """Every archc module ``path`` imports (``from . import x`` names x when x is a module)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target]
            if node.module is None or (ROOT.parent / target.replace(".", "/")).is_dir():
                targets = [f"{target}.{a.name}" if (ROOT.parent / target.replace(".", "/")
                           / f"{a.name}.py").exists() or (ROOT.parent / target.replace(".", "/")
                           / a.name / "__init__.py").exists() else target for a in node.names]
        else:
            continue
        for target in targets:
            if target == "archc" or target.startswith("archc."):
                yield node.lineno, target


def _sources():
    return [p for p in sorted(ROOT.rglob("*.py")) if "specs" not in p.relative_to(ROOT).parts]


def test_every_module_has_a_stage():
    for path in _sources():
        _stage(_module(path))


def test_no_module_imports_from_a_later_stage():
    wrong = []
    for path in _sources():
        module = _module(path)
        rank = _stage(module)
        for line, target in _imports(path, module):
            if _stage(target) > rank and (module, target) not in DOCUMENTED_EXCEPTIONS:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {module} "
                             f"({STAGES[rank][0]}) imports {target} "
                             f"({STAGES[_stage(target)][0]})")
    assert not wrong, "\n".join(wrong)


def test_shared_modules_import_only_shared_modules():
    for path in _sources():
        module = _module(path)
        if module in SHARED:
            for line, target in _imports(path, module):
                assert target in SHARED, f"{module}:{line} imports {target}"


def test_the_check_finds_a_backward_import(tmp_path):
    """The scan sees relative imports inside functions (what a lazy import looks like)."""
    path = ROOT / "ir" / "graph.py"
    found = dict((t, n) for n, t in _imports(path, "archc.ir.graph"))
    assert "archc.frontend.loader" in found and "archc.expr" in found
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from ..codegen import generate_source\n")
    found = [t for _, t in _imports(fake, "archc.ir.x")]
    assert found == ["archc.codegen"] and _stage(found[0]) > _stage("archc.ir.x")



def _recursive_node_walks():
    """Generators that yield a node and recurse into ``.body``: hand-written walks."""
    for path in _sources():
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef):
                continue
            recursive = any(isinstance(n, ast.YieldFrom) and isinstance(n.value, ast.Call)
                            and isinstance(n.value.func, ast.Name) and n.value.func.id == fn.name
                            and "body" in ast.unparse(n.value) for n in ast.walk(fn))
            yields_node = any(isinstance(n, ast.Yield) and isinstance(n.value, ast.Name)
                              for n in ast.walk(fn))
            if recursive and yields_node:
                yield f"{path.relative_to(ROOT.parent)}:{fn.lineno}: {fn.name}"


def test_one_walk_over_the_ir():
    """archc.ir.walk is the one depth-first walk over nodes and their bodies."""
    assert list(_recursive_node_walks()) == []
