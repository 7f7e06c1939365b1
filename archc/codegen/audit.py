"""Defence in depth for generated modules: the finished source is parsed and its syntax tree
checked against an allow-list before it is returned, written or executed.

The emitters should make a hostile spec harmless on their own (every literal comes from
:func:`archc.codegen_literals.literal`, every expression is printed from its checked tree); this
audit is what still holds if one of them has a bug. A generated module may import only torch and
math (and warnings, and collections' OrderedDict for a group with named children), call only
what it defines, what it imported, its arguments and locals, and a short list of builtins; it
may not touch dunder attributes (``super().__init__`` aside), torch's file and network access
(``torch.hub``, ``torch.load``, ``torch.save``) nor name ``eval``,
``getattr``, ``open`` and the like; its one top-level assignment is the ``_WEIGHTS`` table, a
plain literal. Definitions copied verbatim from archc's own helper files (``runtime.py``,
``inference.py``, ``codegen/weights_source.py``) are archc's code, not the spec's, and are
recognised by their exact text. A violation raises :class:`AuditError`: an internal error,
nothing written.
"""

from __future__ import annotations

import ast
from functools import lru_cache

from ..codegen_literals import UnsafeSourceError
from ..ops.runtime_source import class_source, inference_sources, runtime_names
from .hub import TABLE, helper_source


class AuditError(UnsafeSourceError):
    """Generated source outside the allow-list (a bug in archc's code generator)."""


IMPORTS = {"math", "torch", "torch.nn.functional", "warnings"}
FROM = {"torch": frozenset({"Tensor", "nn"}), "collections": frozenset({"OrderedDict"})}
IMPORTS_NAMES = {"math", "torch", "Tensor", "nn", "F", "warnings"}
# torch's file and network access: only archc's own _load_weights may use them.
TORCH_IO = frozenset({"hub", "load", "save", "serialization"})
BUILTINS = frozenset({
    "abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "isinstance", "len",
    "list", "max", "min", "range", "round", "str", "sum", "super", "tuple", "zip",
    "NotImplementedError", "RuntimeError", "TypeError", "ValueError",
})
BANNED = frozenset({
    "__import__", "__builtins__", "__loader__", "__spec__", "breakpoint", "compile", "delattr",
    "eval", "exec", "exit", "getattr", "globals", "hasattr", "help", "input", "locals", "open",
    "quit", "setattr", "type", "vars", "memoryview", "object", "classmethod", "staticmethod",
    "property",
})
_NODES = tuple(getattr(ast, name) for name in (
    # statements
    "Module", "Expr", "ClassDef", "FunctionDef", "Return", "Assign", "AnnAssign", "AugAssign",
    "If", "For", "Continue", "Break", "Pass", "Raise", "Import", "ImportFrom", "alias",
    "arguments", "arg", "keyword",
    # expressions
    "Call", "Attribute", "Name", "Constant", "Subscript", "Slice", "Starred", "Tuple", "List",
    "BinOp", "UnaryOp", "BoolOp", "Compare", "IfExp", "JoinedStr", "FormattedValue",
    "Load", "Store",
    # operators
    "Add", "Sub", "Mult", "Div", "FloorDiv", "Mod", "Pow", "BitOr", "USub", "UAdd", "Not",
    "And", "Or", "Eq", "NotEq", "Lt", "LtE", "Gt", "GtE", "Is", "IsNot", "In", "NotIn",
))
_NESTED = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef)
# Exact types, looked up in a set: ast.parse makes no subclasses, and a node of any other type
# (or a value that is no node at all) fails.
_NODE_TYPES = frozenset(_NODES)
_NESTED_TYPES = frozenset(_NESTED)


@lru_cache(maxsize=1)
def _trusted() -> dict[str, str]:
    """name -> source of every helper definition archc copies into generated modules."""
    out = {}
    for text in [class_source(n) for n in runtime_names()] + inference_sources() + \
            [helper_source()]:
        out[ast.parse(text).body[0].name] = text
    return out


def audit_source(source: str) -> None:
    """Raise :class:`AuditError` unless ``source`` is a module archc may write."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise AuditError(f"generated module does not parse: {exc}") from None
    defined = set(IMPORTS_NAMES)
    for i, node in enumerate(tree.body):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Import):
            _check_import(node)
        elif isinstance(node, ast.ImportFrom):
            _check_from(node)
            defined |= {a.name for a in node.names}
        elif isinstance(node, ast.Assign):
            _check_table(node)
            defined.add(TABLE)
        elif not (i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                  and isinstance(node.value.value, str)):
            _fail(node, f"a top-level {type(node).__name__}")
    trusted, lines = _trusted(), source.splitlines()
    checker = _Checker(defined)
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            # A verbatim copy of archc's own definition: whole lines, equal text.
            if node.name in trusted and not node.decorator_list and \
                    "\n".join(lines[node.lineno - 1:node.end_lineno]) == trusted[node.name]:
                continue
            checker.check(node)


def _check_table(node: ast.Assign) -> None:
    """``_WEIGHTS = {...}``: one name, a value made of literals only."""
    if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name) or \
            node.targets[0].id != TABLE:
        _fail(node, "a top-level assignment")
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        _fail(node, f"a {TABLE} that is not a literal")


def _check_from(node: ast.ImportFrom) -> None:
    """``from torch import Tensor, nn`` and ``from collections import OrderedDict`` (a
    Sequential with named children), nothing else, never renamed."""
    allowed = FROM.get(node.module) if not node.level else None
    if allowed is None or not {a.name for a in node.names} <= allowed or \
            any(a.asname for a in node.names):
        _fail(node, "imports only torch's Tensor and nn and collections' OrderedDict")


def _check_import(node: ast.Import) -> None:
    for alias in node.names:
        if alias.name not in IMPORTS or alias.asname not in (None, "F") or \
                (alias.asname == "F") != (alias.name == "torch.nn.functional"):
            _fail(node, f"import {alias.name!r}")


def _fail(node: ast.AST, what: str) -> None:
    raise AuditError(f"generated module line {getattr(node, 'lineno', '?')}: {what} is not "
                     "allowed in generated code")


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class _Checker:
    """Walks one class or function: node types, names and attributes against the lists."""

    def __init__(self, defined: set[str]) -> None:
        self.defined = defined

    def check(self, top: ast.AST) -> None:
        if isinstance(top, ast.ClassDef):
            if top.decorator_list or top.keywords:
                _fail(top, "a class decorator or keyword")
            for base in top.bases:
                for node in ast.walk(base):
                    if not isinstance(node, (ast.Name, ast.Attribute, ast.Load)):
                        _fail(node, "a class base that is not a name")
                    if isinstance(node, ast.Name):
                        self.name(node, set())
            for stmt in top.body:
                if isinstance(stmt, ast.FunctionDef):
                    self.function(stmt)
                elif not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
                    _fail(stmt, f"a {type(stmt).__name__} in a class body")
        else:
            self.function(top)

    def function(self, fn: ast.FunctionDef) -> None:
        """One method or function, in one walk: node types, attributes, then every name it
        reads is a parameter, a local, a module-level definition or an allowed builtin."""
        if fn.decorator_list:
            _fail(fn, "a decorator")
        args = fn.args
        local = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        local |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        loads = []
        for node in _walk(fn):
            kind = type(node)
            if kind not in _NODE_TYPES or kind in _NESTED_TYPES and node is not fn:
                _fail(node, f"a {kind.__name__}")
            if kind is ast.Name:
                if type(node.ctx) is ast.Load:
                    loads.append(node)
                else:
                    local.add(node.id)
            elif kind is ast.Attribute:
                if _dunder(node.attr) and not _super_init(node):
                    _fail(node, f"the attribute {node.attr!r}")
                if isinstance(node.value, ast.Constant):
                    _fail(node, "an attribute of a constant")
                if node.attr in TORCH_IO and isinstance(node.value, ast.Name) and \
                        node.value.id == "torch":
                    _fail(node, f"torch.{node.attr}")
        for name in local:
            if name in BANNED or _dunder(name):
                _fail(fn, f"the name {name!r}")
        for node in loads:
            self.name(node, local)

    def name(self, node: ast.Name, local: set[str]) -> None:
        name = node.id
        if name in BANNED or _dunder(name):
            _fail(node, f"the name {name!r}")
        if name not in local and name not in self.defined and name not in BUILTINS:
            _fail(node, f"the unknown name {name!r}")


def _walk(root: ast.AST):
    """Every node under ``root`` (as :func:`ast.walk`, in another order, twice as fast). The
    reader fails each before its children are pushed, so only the allowed types' fields are
    read; an entry of a list that is no node is yielded too, and fails (only a missing
    default, None, is skipped)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        yield node
        for field in node._fields:
            value = getattr(node, field, None)
            if type(value) is list:
                stack += value
            elif isinstance(value, ast.AST):
                stack.append(value)


def _super_init(node: ast.Attribute) -> bool:
    value = node.value
    return node.attr == "__init__" and isinstance(value, ast.Call) and \
        isinstance(value.func, ast.Name) and value.func.id == "super" and not value.args
