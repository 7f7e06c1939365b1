"""From a loaded YAML document to a checked spec: structural validation with pydantic, then the
checks pydantic cannot do alone (each row's columns against its op, expressions, names, block
definitions). Every problem becomes a located diagnostic; all of a file's problems are reported."""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .. import expr
from ..diagnostics import Diagnostic, SpecError
from ..ops import ACTIVATIONS, REQUIRED, Param, Primitive
from . import init_rules
from .loader import Document, PathT, load_file
from .models import BUILTINS, IDENT, RESERVED_ROW_KEYS, BlockSpec, Row, Spec, row_name_problem
from .names import (
    BLOCK_LOCALS,
    GENERATED_CLASSES,
    GENERATED_GLOBALS,
    PRIVATE,
    private,
    stem_problem,
)
from .registry import BlockDef, Op, builtin_ops, camel, used_ops
from .salvage import ANY_ROW, BROKEN, salvage

RESERVED_NAMES = {"input", "in_channels", "self", "x", "out", "torch", "nn", "math", "super"}
RESERVED_REASONS = {
    "input": "'from: input' reads the model's (or block's) input",
    "in_channels": "it is the block's input channel count, bound by archc",
    "self": "'self' is the module in every generated method",
    "x": "'x' is the input variable of forward()",
    "out": "'out' is the running output variable of forward()",
    "torch": "the generated module imports torch", "nn": "the generated module imports torch.nn",
    "math": "the generated module imports math", "super": "every generated __init__ calls super()",
}
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}
_TYPE_NAMES = {"ints": "a list of integers",
               "int": "an integer", "int2": "an integer or a [height, width] pair",
               "float": "a number", "bool": "true or false", "str": "a string"}


@dataclass
class CheckedSpec:
    """A spec that passed validation, with the ops its rows may use."""

    document: Document
    spec: Spec
    ops: dict[str, Op]

    @property
    def path(self) -> str:
        return self.document.path


# --------------------------------------------------------------------------- pydantic errors
def pydantic_diagnostics(exc: ValidationError, doc: Document, base: PathT,
                         model: type[BaseModel]) -> list[Diagnostic]:
    """Map pydantic error locations back to YAML nodes (union-member segments are skipped, a
    missing field points at its parent mapping); errors at one node are merged."""
    grouped: dict[PathT, list[dict]] = {}
    for err in exc.errors():
        path, node = list(base), _get(doc.data, base)
        for seg in err["loc"]:
            if isinstance(node, dict) and seg in node:
                path.append(seg)
                node = node[seg]
            elif isinstance(node, list) and isinstance(seg, int) and seg < len(node):
                path.append(seg)
                node = node[seg]
            elif err["type"] in ("missing", "extra_forbidden") and seg == err["loc"][-1]:
                path.append(seg)
        grouped.setdefault(tuple(path), []).append(err)
    diags = []
    for path, errs in grouped.items():
        diags.append(_one_diag(doc, path, errs, base, model))
    return diags


def _one_diag(doc, path, errs, base, model) -> Diagnostic:
    err = errs[0]
    kind = err["type"]
    field = path[-1] if path else ""
    if kind == "missing":
        return doc.diag(path[:-1], f"missing required key {field!r}", "E102")
    if kind == "extra_forbidden":
        allowed = _fields_at(model, err["loc"][:-1])
        return doc.diag(path, f"unknown key {field!r}", "E101", key=True,
                        hint=expr.did_you_mean(str(field), allowed) or (
                            "allowed keys: " + ", ".join(sorted(allowed)) if allowed else None))
    if all(e["type"].endswith("_type") or e["type"] == "model_type" for e in errs):
        wanted = sorted({_expected(e["type"]) for e in errs})
        got = type(_get(doc.data, path)).__name__
        got = {"dict": "a mapping", "list": "a list", "str": "a string", "NoneType": "null",
               "int": "an integer", "float": "a number", "bool": "a boolean"}.get(got, got)
        return doc.diag(path, f"expected {' or '.join(wanted)}, got {got}", "E103")
    msg = err["msg"].removeprefix("Value error, ")
    return doc.diag(path, msg[:1].lower() + msg[1:], "E104")


def _expected(kind: str) -> str:
    return {
        "string_type": "a string", "int_type": "an integer", "float_type": "a number",
        "bool_type": "true or false", "list_type": "a list", "dict_type": "a mapping",
        "model_type": "a mapping", "literal_error": "one of the allowed values",
    }.get(kind, kind.removesuffix("_type"))


def _fields_at(model: type[BaseModel], loc) -> list[str]:
    """Field aliases of the model reached by following ``loc`` from ``model``."""
    current = model
    for seg in loc:
        if isinstance(seg, int) or current is None:
            continue
        field = _field(current, seg)
        if field is None:  # a mapping key (block name) or a union member tag
            continue
        current = _model_in(field.annotation)
    if current is None:
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _field(model, name):
    for n, f in model.model_fields.items():
        if (f.alias or n) == name:
            return f
    return None


def _model_in(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found:
            return found
    return None


def _get(data, path):
    for seg in path:
        data = data[seg]
    return data


# --------------------------------------------------------------------------- rows
class _Checker:
    def __init__(self, doc: Document, ops: dict[str, Op], broken_blocks: frozenset[str] = (),
                 broken_rows: frozenset[str] = ()) -> None:
        self.doc, self.ops, self.diags = doc, ops, []
        # Parts of a salvaged document (see salvage.py) whose structural errors are reported:
        # rows using a broken block, and references to a broken row's name, are not checked.
        self.broken_blocks, self.broken_rows = broken_blocks, broken_rows
        self.init_env: dict = {}  # names init rules' numbers may read (a spec's layers only)

    def error(self, path: PathT, message: str, code: str, hint: str | None = None,
              key: bool = False) -> None:
        self.diags.append(self.doc.diag(path, message, code, hint=hint, key=key))

    def rows(self, rows: list[Row], path: PathT, scope: set[str], in_block: bool,
             in_seq: bool) -> set[str]:
        """Check a list of rows; returns the names they define."""
        names: set[str] = set()
        for i, row in enumerate(rows):
            rpath = (*path, i)
            if row.name is not None:
                if "-" in row.name and not row.template and not in_seq:
                    self.error((*rpath, "name"), row_name_problem(row.name), "E201",
                               hint="a name with '-' can only name a child of a 'seq' group "
                               "(an OrderedDict key, as torch registers it)")
                if row.name in names:
                    self.error((*rpath, "name"), f"duplicate row name {row.name!r}", "E201")
                if row.name in RESERVED_NAMES:
                    self.error((*rpath, "name"), f"{row.name!r} is reserved: "
                               f"{RESERVED_REASONS[row.name]}", "E201")
            if row.template:
                self.template(row, rpath, scope, in_seq)
            self.refs(row, rpath, names, in_seq)
            if row.when is not None and isinstance(row.when, str):
                self.expression(row.when, (*rpath, "when"), scope)
            # A group of one templated row is a keyed stage (ViT's layers.encoder_layer_{i}).
            keyed = in_seq and row.template and len(rows) == 1 and row.seq is None
            if in_block and row.n is not None and not keyed and (
                    in_seq or row.name is None or row.template or row.seq is not None):
                self.error((*rpath, "n"), "repeats ('n') in a block body need a plain 'name' "
                           "and no 'seq' group around them (the row becomes a Sequential "
                           "of its repeats), or a name template as the only row of a 'seq' "
                           "group (its repeats are the group's named children)", "E202")
            if in_block and row.input_size is not None:
                self.error((*rpath, "input_size"), "'input_size' is only allowed in a spec's "
                           "layers", "E202")
            if isinstance(row.n, str):
                self.expression(row.n, (*rpath, "n"), scope)
            elif row.n is not None and row.n < 1:
                self.error((*rpath, "n"), f"repeats must be at least 1, got {row.n}", "E203")
            elif row.n is not None and row.n > expr.MAX_MAGNITUDE:
                self.error((*rpath, "n"), "repeats must be at most 10**15, got "
                           f"{expr.shorten(str(row.n), 24)}", "E203")
            if row.seq is not None and row.name is None and not in_seq and not in_block:
                self.error(rpath, "a 'seq' group at the top level needs a 'name'", "E214")
            if row.seq is not None:
                extra = row.args
                for key in extra:
                    self.error((*rpath, key), f"unknown key {key!r} on a 'seq' group", "E101",
                               key=True)
                self.rows(row.seq, (*rpath, "seq"), scope, in_block, True)
                if in_block:
                    self.keyed_conditions(row.seq, (*rpath, "seq"))
            else:
                self.op_row(row, rpath, scope)
                op = self.ops.get(row.op)
                if isinstance(op, BlockDef) and op.inline and (in_block or not in_seq):
                    self.error((*rpath, "op"), f"inline block {row.op!r} can only be used "
                               "inside a 'seq' group of a spec's layers", "E215")
            if row.init is not None:
                self.row_init(row, rpath, in_block, in_seq)
            if row.name is not None:
                names.add(row.name)
        return names

    def template(self, row: Row, rpath: PathT, scope: set[str], in_seq: bool) -> None:
        """A name template (``denselayer{i + 1}``) names the repeats of a row in a 'seq'
        group; its parts are expressions of ``i``, the repeat index from 0."""
        path = (*rpath, "name")
        if not in_seq or row.n is None:
            where = "has no 'n'" if in_seq else "is not in a 'seq' group"
            self.error(path, f"name template {row.name!r} names each repeat of a row in a "
                       f"'seq' group, but this row {where}", "E240", hint="outside a 'seq' "
                       "group a name with 'n' names one Sequential of the repeats: write a "
                       "plain name" if not in_seq else "add 'n', or write a plain name")
            return
        for part in re.findall(r"\{([^{}]+)\}", row.name):
            self.expression(part, path, scope | {"i"})

    def keyed_conditions(self, rows: list[Row], path: PathT) -> None:
        """A block's group whose rows have conditions is built from a list at run time: its
        children can only be numbered, not named."""
        if not any(r.when is not None and r.when is not True for r in rows):
            return
        for j, r in enumerate(rows):
            if r.name is not None:
                self.error((*path, j, "name"), f"row {r.name!r}: a 'seq' group in a block "
                           "whose rows have 'when' conditions numbers its children; it "
                           "cannot name them", "E242", hint="drop the name, or the condition")
    def row_init(self, row: Row, rpath: PathT, in_block: bool, in_seq: bool) -> None:
        """A row's ``init:`` rules: applied right after the row's own module is built, so the
        row must be one statement of an ``__init__`` (a top-level row, a named block row)."""
        path = (*rpath, "init")
        op = self.ops.get(row.op) if row.op else None
        if in_seq:
            self.error(path, "'init' on a row inside a 'seq' group: put it on the group (its "
                       "rules pick modules by op)", "E255", key=True)
        elif in_block and row.name is None:
            self.error(path, "'init' on a block row needs the row to have a 'name' (its "
                       "module is initialised right after the block builds it)", "E255",
                       key=True)
        elif isinstance(op, Primitive) and not op.has_weights:
            self.error(path, f"op {row.op!r} has no weights to initialise", "E255", key=True)
        for p in init_rules.check(row.init, self.init_env)[1]:
            self.error((*path, *p.path), p.message, p.code, p.hint, p.key)

    def refs(self, row: Row, rpath: PathT, names: set[str], in_seq: bool) -> None:
        if row.from_ is None:
            return
        if in_seq:
            self.error((*rpath, "from"), "rows inside a 'seq' group take the previous row's "
                       "output; 'from' is not allowed there", "E204")
            return
        refs = [row.from_] if isinstance(row.from_, str) else row.from_
        for j, ref in enumerate(refs):
            rp = (*rpath, "from") if isinstance(row.from_, str) else (*rpath, "from", j)
            if ref != "input" and ref not in names and ref not in self.broken_rows \
                    and ANY_ROW not in self.broken_rows:
                self.error(rp, f"unknown row {ref!r} in 'from' (rows can read 'input' or an "
                           "earlier named row)", "E205", hint=expr.did_you_mean(ref, names))

    def op_row(self, row: Row, rpath: PathT, scope: set[str]) -> None:
        if row.op == BROKEN or row.op in self.broken_blocks:
            return
        op = self.ops.get(row.op)
        if op is None:
            self.error((*rpath, "op"), f"unknown op {row.op!r}", "E206",
                       hint=op_hint(row.op, self.ops))
            return
        declared = {p.name: p for p in op.params}
        args = row.args
        tails = _split_expressions(args)
        for key, value in args.items():
            param = declared.get(key)
            if param is None:
                by_py = next((p for p in op.params if p.pyname == key), None)
                hint = (f"write it as {by_py.name!r} (the paper's column; generated code calls "
                        f"it {key!r})" if by_py else expr.did_you_mean(
                            key, [*declared, *RESERVED_ROW_KEYS]))
                hint = tails.get(key, hint)
                self.error((*rpath, key), f"unknown column {key!r} for op {row.op!r}", "E207",
                           key=True, hint=hint or ("columns: " + ", ".join(declared) if declared
                                                   else f"{row.op!r} takes no columns"))
                continue
            before = len(self.diags)
            self.value(param, value, (*rpath, key), scope)
            if key in tails:  # its expression lost its tail to a comma: say how to keep it
                self.diags[before:] = [replace(d, hint=tails[key]) for d in self.diags[before:]]
        for name, param in declared.items():
            if param.default is REQUIRED and name not in args:
                self.error(rpath, f"op {row.op!r} needs column {name!r}", "E208",
                           hint=param.doc or None)

    def value(self, param: Param, value: object, path: PathT, scope: set[str]) -> None:
        if param.type == "str" and isinstance(value, str):
            if param.choices is None or value in param.choices:
                return
            if not re.match(IDENT, value) or value not in scope:
                self.error(path, f"{value!r} is not one of {', '.join(param.choices)}", "E209",
                           hint=expr.did_you_mean(value, param.choices))
                return
        if param.type in ("floats", "ints"):
            what = "numbers" if param.type == "floats" else "integers"
            if value is None and param.default is None:
                return
            if not isinstance(value, list) or not value:
                self.error(path, f"column {param.name!r} must be a list of {what}", "E210")
                return
            if len(value) > 64:
                self.error(path, f"column {param.name!r} has {len(value)} items, more than 64",
                           "E210")
                return
            kinds = (int, float) if param.type == "floats" else (int,)
            for i, item in enumerate(value):
                if isinstance(item, str):
                    self.expression(item, (*path, i), scope)
                elif isinstance(item, bool) or not isinstance(item, kinds):
                    kind = "an integer" if kinds == (int,) else "a number"
                    self.error((*path, i), f"expected {kind}, got {_yaml_repr(item)}", "E210")
                elif param.type == "ints":
                    where = (*path, i)
                    check_range(param, item, lambda msg, at=where: self.error(at, msg, "E211"))
            return
        if param.type == "int2" and isinstance(value, list):
            self.pair(param, value, path)
            return
        if param.type == "bool" and isinstance(value, str) and value.lower() in _YAML11_BOOLS:
            self.error(path, f"column {param.name!r} must be true or false, got the string "
                       f"{value!r}", "E210", hint="specs use YAML 1.2: only true/false are "
                       "booleans")
            return
        if isinstance(value, str):
            self.expression(value, path, scope)
            return
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "int2": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "str": False,
        }[param.type]
        if value is None and param.default is None:
            return
        if not ok:
            self.error(path, f"column {param.name!r} must be {_TYPE_NAMES[param.type]}, got "
                       f"{_yaml_repr(value)}", "E210")
            return
        check_range(param, value, lambda msg: self.error(path, msg, "E211"))

    def pair(self, param: Param, value: list, path: PathT) -> None:
        """An int2 column written as [height, width]: two integers, each in range."""
        if len(value) != 2:
            self.error(path, f"column {param.name!r} must be an integer or a [height, width] "
                       f"pair, got {len(value)} values", "E210")
            return
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int):
                self.error((*path, i), f"column {param.name!r}: the {('height', 'width')[i]} "
                           f"must be an integer, got {_yaml_repr(item)}", "E210")
            else:
                check_range(param, item, lambda msg, at=(*path, i): self.error(at, msg, "E211"))

    def expression(self, text: str, path: PathT, scope: set[str]) -> None:
        try:
            parsed = expr.parse(text)
        except expr.ExprError as exc:
            self.error(path, f"in expression {expr.shorten(text)!r}: {exc.message}", "E212",
                       hint=exc.hint)
            return
        for name in sorted(parsed.names - scope):
            hint = expr.did_you_mean(name, scope)
            if name == "in_channels" and not hint:
                hint = "in_channels exists inside block definitions only"
            self.error(path, f"unknown name {name!r} in expression {expr.shorten(text)!r}",
                       "E213", hint=hint)


# Ops users reach for that archc does not have: a near spelling of another op
# (layer_norm -> batch_norm) would build a different model without a word.
FUTURE_OPS = {
    "group_norm": "GroupNorm", "instance_norm": "InstanceNorm2d", "reshape": "reshape",
}


# Words that make an op another op: a name and a suggestion must carry the same ones
# (adaptive_max_pool is not a typo of adaptive_avg_pool, nor conv3d of conv, which is 2-d).
_KIND_WORDS = ("max", "avg", "mean", "min", "sum", "1d", "3d", "dropout2d", "layer", "group",
               "instance", "rms", "transpose", "global", "adaptive", "depthwise", "separable")


def _kinds(name: str) -> set[str]:
    low = name.lower()
    return {w for w in _KIND_WORDS if w in low}


def op_hint(name: str, ops) -> str:
    """The hint for an unknown op: a plain typo of an op (difflib 0.8, or two neighbouring
    letters swapped), never a different op for a name that is an op of another kind; an
    activation's name points at the 'act' row."""
    if name in FUTURE_OPS:
        return (f"{name} ({FUTURE_OPS[name]}) is not an archc op yet (a Python plugin can "
                "add it); run 'archc ops' to list the available ops")
    if name.lower() in ACTIVATIONS and "act" in ops:
        return f"activations are rows of op 'act': {{op: act, fn: {name.lower()}}}"
    same = [op for op in ops if _kinds(op) == _kinds(name)]
    swapped = [op for op in same if len(op) == len(name) >= 4 and _one_swap(op, name)]  # cnov
    return expr.did_you_mean(name, same, cutoff=0.8) or (
        f"did you mean {swapped[0]!r}?" if swapped else "run 'archc ops' to list the "
        "available ops")


def _one_swap(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with two neighbouring letters swapped."""
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] \
        and a[diff[1]] == b[diff[0]]


def _yaml_repr(value) -> str:
    """A value as YAML would spell it (true, not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else repr(value)


def bad_name(name: str) -> bool:
    """Names that cannot become Python identifiers in generated code."""
    return (not re.match(IDENT, name) or keyword.iskeyword(name) or name in RESERVED_NAMES
            or _shadows_function(name) or name.startswith("__") or name in BUILTINS)


def _shadows_function(name: str) -> bool:
    """A local named like a function the generated code spells bare (``round``) would hide
    it; ``exp``, MobileNetV3's column, is fine: generated code calls ``math.exp``."""
    return name in expr.FUNCTIONS and expr.FUNCTIONS[name][1] == name


def python_name_problem(name: str) -> str | None:
    """Why a block parameter or 'let' name cannot be a local of its block class's __init__
    (attributes that forward() reads are named by codegen, clear of rows and nn.Module)."""
    if private(name):
        return PRIVATE
    if name in BLOCK_LOCALS or name in GENERATED_GLOBALS:
        return "the generated block class uses that name itself"
    return None


def _split_expressions(args: dict) -> dict[str, str]:
    """In a flow mapping (``{op: conv, c: make_divisible(x * r, 4)}``) a comma inside an
    expression ends the column: YAML reads ``c: make_divisible(x * r`` and a key ``4)`` with no
    value. Both the cut column and the bogus key map to a hint quoting the whole expression."""
    out, prev = {}, None
    for key, value in args.items():
        if value is None and prev is not None and isinstance(args[prev], str) and \
                not re.match(IDENT, str(key)):
            whole = f"{args[prev]}, {key}"
            quoted = f'"{whole}"' if '"' not in whole else repr(whole)
            hint = f"a comma inside {{...}} ends a column: quote the expression, {prev}: {quoted}"
            out[prev] = out[str(key)] = hint
        prev = key
    return out


def check_range(param: Param, value, report) -> bool:
    """Report ``value`` outside the param's bounds; True when in range."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        report(f"column {param.name!r} must be a finite number, got {value}")
        return False
    if abs(value) > expr.MAX_MAGNITUDE:  # YAML integers are unbounded; scaling makes floats
        report(f"column {param.name!r} must be at most 10**15 in magnitude, got "
               f"{expr.shorten(str(value), 24)}")
        return False
    if param.minimum is not None and value < param.minimum:
        report(f"column {param.name!r} must be at least {_num(param.minimum)}, got {value}")
        return False
    if param.maximum is not None and value > param.maximum:
        report(f"column {param.name!r} must be at most {_num(param.maximum)}, got {value}")
        return False
    return True


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


# --------------------------------------------------------------------------- blocks
def _block_def(name: str, spec: BlockSpec, path: PathT, checker: _Checker,
               builtin: bool) -> BlockDef:
    """The block at ``path`` of ``checker``'s document, its parameters' names checked."""
    params, pynames = [], set()
    for pname, p in spec.params.items():
        ppath = (*path, "params", pname)
        why = python_name_problem(pname)
        if bad_name(pname) or pname in RESERVED_ROW_KEYS or why:
            why = RESERVED_REASONS.get(pname) or why
            checker.error(ppath, f"{pname!r} cannot be a parameter name" + (
                f": {why}" if why else ""), "E220", key=True)
        pyname = p.py or pname
        why = python_name_problem(pyname) if p.py else None
        if pyname in pynames or pyname in RESERVED_NAMES or why:
            checker.error(ppath, f"generated argument name {pyname!r} is taken" + (
                f": {why}" if why else ""), "E220", key=True)
        pynames.add(pyname)
        if p.default is not None and p.type != "str" and isinstance(p.default, str):
            checker.error((*ppath, "default"), "defaults are values, not expressions", "E221")
        elif p.choices and p.default is not None and p.default not in p.choices:
            checker.error((*ppath, "default"), f"default {p.default!r} is not one of its "
                          f"choices ({', '.join(p.choices)})", "E221")
        default = (None if p.optional else REQUIRED) if p.default is None else p.default
        params.append(Param(pname, p.type, default, p.doc,
                            p.py, tuple(p.choices) if p.choices else None, p.min, p.max,
                            p.first_only, p.scale))
    scope = {p.name for p in params} | {"in_channels"}
    lets = []
    for lname, value in spec.let.items():
        lpath = (*path, "let", lname)
        why = python_name_problem(lname)
        if bad_name(lname) or lname in scope or why:
            why = RESERVED_REASONS.get(lname) or why
            checker.error(lpath, f"{lname!r} cannot be a 'let' name" + (f": {why}" if why else ""),
                          "E220", key=True)
        text = value if isinstance(value, str) else repr(value).lower() if isinstance(
            value, bool) else repr(value)
        try:
            parsed = expr.parse(text)
            for unknown in sorted(parsed.names - scope):
                checker.error(lpath, f"unknown name {unknown!r} in {text!r}", "E213",
                              hint=expr.did_you_mean(unknown, scope))
            lets.append((lname, parsed))
        except expr.ExprError as exc:
            checker.error(lpath, f"in expression {expr.shorten(text)!r}: {exc.message}", "E212",
                          hint=exc.hint)
        scope.add(lname)
    return BlockDef(name, spec.class_name or camel(name), spec.doc, spec.paper, tuple(params),
                    lets, spec.body, spec.out, checker.doc, path, builtin, inline=spec.inline,
                    operator=spec.operator)


def _check_pair_padding(bdef: BlockDef, path: PathT, rows, checker: _Checker) -> None:
    """A conv whose kernel or dilation reads an int2 parameter states its padding: the default
    (k - 1) // 2 * d has no one spelling in the generated class for an int and for a pair."""
    pairs = {p.name for p in bdef.params if p.type == "int2"}
    for i, row in enumerate(rows or []):
        if row.seq is not None:
            _check_pair_padding(bdef, (*path, i, "seq"), row.seq, checker)
        if row.op != "conv" or not pairs or "p" in row.args:
            continue
        for key in ("k", "d"):
            value = row.args.get(key)
            if isinstance(value, str) and _names(value) & pairs:
                checker.error((*path, i, key), f"column {key!r} reads an int2 parameter, so "
                              "the conv needs an explicit 'p'", "E226", hint="add a padding "
                              "parameter (type: int2) to the block and pass it as p")
                break


def _check_block_bodies(defs: dict[str, BlockDef], checker: _Checker) -> None:
    for bdef in defs.values():
        scope = {p.name for p in bdef.params} | {"in_channels"} | {n for n, _ in bdef.lets}
        names = checker.rows(bdef.body, (*bdef.path, "body"), scope, in_block=True, in_seq=False)
        if bdef.out is not None and bdef.out not in names:
            checker.error((*bdef.path, "out"), f"'out' names no row: {bdef.out!r}", "E205",
                          hint=expr.did_you_mean(bdef.out, names))
        _check_pair_padding(bdef, (*bdef.path, "body"), bdef.body, checker)
        bdef.uses = set(_ops_used(bdef.body))
        if bdef.inline:
            for i, r in enumerate(bdef.body):
                for key, v in r.args.items():
                    if isinstance(v, str) and "in_channels" in _names(v):
                        checker.error((*bdef.path, "body", i, key), "inline blocks cannot read "
                                      "'in_channels'", "E225")
            for lname, e in bdef.lets:
                if "in_channels" in e.names:
                    checker.error((*bdef.path, "let", lname), "inline blocks cannot read "
                                  "'in_channels'", "E225")
            if any(r.name or r.from_ or r.seq is not None for r in bdef.body):
                checker.error((*bdef.path, "inline"), "inline blocks are plain chains of "
                              "unnamed rows", "E225")
        bdef.sequential = bdef.out is None and all(
            r.name is None and r.from_ is None and (r.op is None or getattr(
                checker.ops.get(r.op), "arity", 1) == 1) for r in bdef.body)
        if not bdef.sequential:
            for i, row in enumerate(bdef.body):
                op = checker.ops.get(row.op) if row.op else None
                weighted = row.op is None or not isinstance(op, Primitive) or op.has_weights \
                    or not op.functional
                if row.name is None and weighted and (op is not None or row.seq is not None):
                    checker.error((*bdef.path, "body", i), f"row {row.op!r} needs a 'name' (it "
                                  "becomes an attribute of the block's class)", "E224")
    _check_cycles(defs, checker)


def _names(text: str) -> set[str]:
    try:
        return set(expr.parse(text).names)
    except expr.ExprError:
        return set()


def _ops_used(rows: list[Row]):
    for row in rows:
        if row.seq is not None:
            yield from _ops_used(row.seq)
        else:
            yield row.op


def _rows_using(rows: list[Row], path: PathT, op: str):
    for i, row in enumerate(rows):
        if row.op == op:
            yield (*path, i)
        if row.seq is not None:
            yield from _rows_using(row.seq, (*path, i, "seq"), op)


def _check_cycles(defs: dict[str, BlockDef], checker: _Checker) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for used in sorted(defs[name].uses):
            if used in defs and state.get(used) == 1:
                cycle = " -> ".join([*trail[trail.index(used):], used]) if used in trail else used
                where = next(_rows_using(defs[name].body, (*defs[name].path, "body"), used))
                checker.error((*where, "op"), f"block {name!r} uses itself: {cycle}", "E222")
            elif used in defs and used not in state:
                visit(used, [*trail, used])
        state[name] = 2

    for name in defs:
        if name not in state:
            visit(name, [name])


class _Library(BaseModel):
    model_config = Spec.model_config | {"title": "archc block library"}
    blocks: dict[str, BlockSpec]


def load_library(path: Path, known: dict[str, BlockDef]) -> dict[str, BlockDef]:
    """Validate one YAML file of built-in blocks."""
    from ..ops import PRIMITIVES

    doc = load_file(path)
    try:
        lib = _Library.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError(pydantic_diagnostics(exc, doc, (), _Library)) from None
    ops: dict[str, Op] = {**PRIMITIVES, **known}
    checker = _Checker(doc, ops)
    defs = {name: _block_def(name, b, ("blocks", name), checker, True)
            for name, b in lib.blocks.items()}
    ops.update(defs)
    _check_block_bodies(defs, checker)
    if checker.diags:
        raise SpecError(checker.diags)
    return defs


# --------------------------------------------------------------------------- spec
def _stem_diagnostics(doc: Document) -> list[Diagnostic]:
    """The spec's file name becomes the generated module's: one that would shadow a module
    users import (torch.yaml -> torch.py) is an error at the top of the file."""
    if doc.path.startswith("<"):  # text without a file (load_spec_text)
        return []
    problem = stem_problem(doc.path)
    if problem is None:
        return []
    return [Diagnostic(file=doc.path, line=1, column=1, message=problem, code="E226",
                       hint="rename the spec file")]


def validate(doc: Document) -> CheckedSpec:
    """Check a loaded document; raises :class:`SpecError` with every problem found."""
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else f"{type(doc.data).__name__!s}"
        raise SpecError([doc.diag((), f"a spec must be a mapping of keys (name, input, layers, "
                                  f"...), not {kind}", "E100")])
    stem = _stem_diagnostics(doc)
    broken: tuple[set[str], set[str]] = (set(), set())
    try:
        spec = Spec.model_validate(doc.data)
    except ValidationError as exc:
        stem += pydantic_diagnostics(exc, doc, (), Spec)
        salvaged = salvage(doc.data, exc.errors())
        try:
            spec = Spec.model_validate(salvaged[0]) if salvaged else None
        except ValidationError:
            spec = None
        if spec is None:
            raise SpecError(stem) from None
        broken = salvaged[1:]
    ops: dict[str, Op] = dict(builtin_ops(
        [n for n in used_ops(spec) if n != BROKEN and n not in broken[0]]))
    checker = _Checker(doc, ops, *broken)
    checker.diags += stem
    defs = {}
    for name, bspec in spec.blocks.items():
        bpath = ("blocks", name)
        if bad_name(name):
            checker.error(bpath, f"{name!r} cannot be a block name (use snake_case)", "E220",
                          key=True)
        cls = bspec.class_name or camel(name)
        if cls in BUILTINS or cls in GENERATED_CLASSES or cls == f"{spec.name}Features":
            where = "the model's backbone class" if cls == f"{spec.name}Features" else \
                "a name the generated module uses"
            checker.error((*bpath, "class_name") if bspec.class_name else bpath,
                          f"block {name!r} would be generated as class {cls!r}, {where}", "E220",
                          key=True, hint="give the block another name or class_name")
        if isinstance(ops.get(name), Primitive):
            checker.error(bpath, f"{name!r} is a built-in op and cannot be redefined", "E223",
                          key=True)
        defs[name] = _block_def(name, bspec, bpath, checker, False)
    ops.update(defs)
    _check_block_bodies(defs, checker)
    for pname in spec.params:
        if not re.match(IDENT, pname):
            checker.error(("params", pname), f"{pname!r} is not a valid parameter name", "E220",
                          key=True)
        elif pname in ("width", "depth", "block_index", "block_count"):
            checker.error(("params", pname), f"{pname!r} is provided by archc", "E220",
                          key=True, hint="set it under 'scaling:'" if pname in (
                              "width", "depth") else "rows read it; it cannot be set")
    scope = set(spec.params) | {"width", "depth", "block_index", "block_count"}
    checker.init_env = {**spec.params, "width": spec.scaling.width, "depth": spec.scaling.depth}
    if not isinstance(spec.init, str):
        for p in init_rules.check(spec.init, checker.init_env)[1]:
            checker.error(("init", *p.path), p.message, p.code, p.hint, p.key)
    top = checker.rows(spec.layers, ("layers",), scope, in_block=False, in_seq=False)
    for i, name in enumerate(spec.aux_outputs):
        if name not in top:
            checker.error(("aux_outputs", i), f"aux output {name!r} names no top-level row",
                          "E205", hint=expr.did_you_mean(name, top))
    for i, row in enumerate(spec.layers):
        refs = [row.from_] if isinstance(row.from_, str) else (row.from_ or [])
        if row.name not in spec.aux_outputs and any(r in spec.aux_outputs for r in refs):
            checker.error(("layers", i, "from"), "only auxiliary rows may read an auxiliary "
                          "row", "E216")
    _check_weights(spec, checker)
    spec = _evaluate_norm(spec, checker)
    if checker.diags:
        raise SpecError(ordered(checker.diags))
    return CheckedSpec(doc, spec, ops)


def ordered(diags: list[Diagnostic]) -> list[Diagnostic]:
    """A file's errors in order of position, each once (the CLI shows the first ones of a
    long list: see ``archc.cli.MAX_SHOWN``)."""
    seen, unique = set(), []
    for d in sorted(diags, key=lambda d: (d.file, d.line, d.column)):
        key = (d.file, d.line, d.column, d.code, d.message)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


_NORM_RANGE = {"eps": (lambda v: v > 0, "greater than 0"),
               "momentum": (lambda v: 0 <= v <= 1, "between 0 and 1")}


def _evaluate_norm(spec: Spec, checker: _Checker) -> Spec:
    """The spec with ``norm:`` expressions (``momentum: 1 - 0.9997``) evaluated to floats with
    its params, width and depth; a value out of range is a located error."""
    env = {**spec.params, "width": spec.scaling.width, "depth": spec.scaling.depth}
    values = {}
    for field, (ok, wanted) in _NORM_RANGE.items():
        text, path = getattr(spec.norm, field), ("norm", field)
        if not isinstance(text, str):
            continue
        try:
            parsed = expr.parse(text)
            unknown = sorted(parsed.names - set(env))
            if unknown:
                checker.error(path, f"unknown name {unknown[0]!r} in expression "
                              f"{expr.shorten(text)!r}", "E213",
                              hint=expr.did_you_mean(unknown[0], env))
                continue
            value = parsed.evaluate(env)
        except expr.ExprError as exc:
            checker.error(path, f"in expression {expr.shorten(text)!r}: {exc.message}", "E212",
                          hint=exc.hint)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or not ok(value):
            checker.error(path, f"norm.{field} must be a finite number {wanted}; "
                          f"{expr.shorten(text)!r} gives {expr.shorten(repr(value), 24)}", "E211")
            continue
        values[field] = float(value)
    return spec.model_copy(update={"norm": spec.norm.model_copy(update=values)}) if values \
        else spec


# torch.hub's check_hash reads the expected hash from the file name: the first -HEX. in it.
_HUB_HASH = re.compile(r"-([a-f0-9]*)\.")
_WEIGHTS_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"


def _check_weights(spec: Spec, checker: _Checker) -> None:
    """Names of ``weights:`` entries are identifiers (``IMAGENET1K_V1``), so a name is never
    mistaken for a file path; each url's file name carries the entry's hash as torch.hub reads
    it, so the download is checked against exactly that hash."""
    for name, entry in spec.weights.items():
        path = ("weights", name)
        if not re.match(_WEIGHTS_NAME, name):
            checker.error(path, f"{name!r} cannot name weights: use letters, digits and _, "
                          "starting with a letter (e.g. IMAGENET1K_V1)", "E230", key=True)
        file_name = entry.url.split("?")[0].rsplit("/", 1)[-1]
        found = _HUB_HASH.search(file_name)
        if found is None or found.group(1) != entry.sha256:
            checker.error((*path, "url"), f"the url's file name {file_name!r} does not carry "
                          f"the hash {entry.sha256!r}", "E230",
                          hint=f"torch.hub checks a download against the hex digits after the "
                          f"first '-' of its file name: name it like NAME-{entry.sha256}.pth")
