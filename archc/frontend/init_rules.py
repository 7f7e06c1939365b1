"""Weight initialisation rules: a spec's ``init:`` list, a row's ``init:`` and the named schemes
(``archc/ops/init_schemes.yaml``) are checked and resolved here, by one function, into the
:class:`archc.ops.init.Rule` tuples that code generation prints.

Numbers may be expressions of the spec's params, width and depth (``std: sqrt(1 / 768)``); they
are evaluated here, so the generated call carries a plain literal."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, ValidationError

from .. import expr
from ..diagnostics import SpecError
from ..ops.init import (
    INITIALISERS,
    MODES,
    NONLINEARITIES,
    OP_CLASSES,
    SCHEME_NAMES,
    SCHEMES_FILE,
    Init,
    Rule,
)
from .loader import PathT, load_file
from .models import InitRule


@dataclass(frozen=True)
class Problem:
    """A problem at ``path`` (relative to the rule list)."""

    path: PathT
    message: str
    code: str
    hint: str | None = None
    key: bool = False


def check(rules: list[InitRule], env: dict) -> tuple[tuple[Rule, ...], list[Problem]]:
    """The rules resolved (numbers evaluated with ``env``) and every problem found."""
    out, problems = [], []
    for i, rule in enumerate(rules):
        for j, op in enumerate(rule.ops):
            if op not in OP_CLASSES:
                problems.append(Problem((i, "ops", j), f"init rules pick modules by op: "
                                        f"{op!r} is none of {', '.join(OP_CLASSES)}", "E250",
                                        expr.did_you_mean(op, OP_CLASSES)))
        if rule.weight is None and rule.bias is None:
            problems.append(Problem((i,), "an init rule sets 'weight', 'bias' or both", "E251"))
        tensors = {}
        for tensor in ("weight", "bias"):
            value = getattr(rule, tensor)
            if value is not None:
                tensors[tensor] = _initialiser(value, rule, (i, tensor), env, problems)
        out.append(Rule(tuple(rule.ops), rule.last, tensors.get("weight"), tensors.get("bias")))
    return tuple(out), problems


def resolve(rules: list[InitRule], env: dict) -> tuple[Rule, ...]:
    """Checked rules (a spec that passed validation) resolved with ``env``."""
    out, problems = check(rules, env)
    if problems:
        raise ValueError(f"unchecked init rules: {problems[0].message}")
    return out


def _initialiser(value, rule: InitRule, path: PathT, env: dict,
                 problems: list[Problem]) -> Init | None:
    if isinstance(value, dict):
        if len(value) != 1:
            problems.append(Problem(path, "an initialiser is a name or a mapping of one name "
                                    f"to its arguments, got {len(value)} keys", "E252",
                                    "e.g. {normal: {std: 0.02}}"))
            return None
        name, args = next(iter(value.items()))
        apath = (*path, name)
    else:
        name, args, apath = value, None, path
    kind = INITIALISERS.get(name)
    if kind is None:
        problems.append(Problem(path if apath is path else apath, f"unknown initialiser "
                                f"{name!r}", "E252", expr.did_you_mean(name, INITIALISERS) or
                                "initialisers: " + ", ".join(INITIALISERS), key=apath is not path))
        return None
    if kind.ops is not None and not set(rule.ops) <= set(kind.ops):
        problems.append(Problem(apath, f"initialiser {name!r} reads attributes of "
                                f"{' or '.join(kind.ops)} modules only; the rule picks "
                                f"{', '.join(rule.ops)}", "E253"))
    declared = dict(kind.args)
    kwargs = []
    for key, raw in (args or {}).items():
        at = (*apath, key)
        if key not in declared:
            problems.append(Problem(at, f"unknown argument {key!r} of initialiser {name!r}",
                                    "E253", expr.did_you_mean(key, declared) or (
                                        "arguments: " + ", ".join(declared) if declared
                                        else f"{name!r} takes no arguments"), key=True))
            continue
        got = _argument(declared[key], key, raw, at, env, problems)
        if got is not None:
            kwargs.append((key, got))
    for key in kind.required:
        if key not in (args or {}):
            problems.append(Problem(apath, f"initialiser {name!r} needs {key!r}", "E253",
                                    f"e.g. {{{name}: {{{key}: 0}}}}"))
    values = dict(kwargs)
    if values.get("std", 0) < 0:
        problems.append(Problem((*apath, "std"), f"std must be at least 0, got "
                                f"{values['std']!r}", "E253"))
    if name in ("uniform", "trunc_normal") and "a" in values and "b" in values and \
            values["a"] > values["b"]:
        problems.append(Problem(apath, f"the interval [a, b] is empty: a={values['a']!r} > "
                                f"b={values['b']!r}", "E253"))
    return Init(name, tuple(kwargs))


def _argument(kind: str, key: str, raw, path: PathT, env: dict, problems: list[Problem]):
    """One argument's value: a choice (mode, nonlinearity) or a finite number."""
    if kind != "number":
        choices = MODES if kind == "mode" else NONLINEARITIES
        if raw not in choices:
            problems.append(Problem(path, f"{key} must be one of {', '.join(choices)}, got "
                                    f"{raw!r}", "E253", expr.did_you_mean(str(raw), choices)))
            return None
        return raw
    value = raw
    if isinstance(raw, str):
        try:
            parsed = expr.parse(raw)
            unknown = sorted(parsed.names - set(env))
            if unknown:
                problems.append(Problem(path, f"unknown name {unknown[0]!r} in expression "
                                        f"{expr.shorten(raw)!r}", "E213",
                                        expr.did_you_mean(unknown[0], env) or (
                                            "names: " + ", ".join(sorted(env)) if env else
                                            "only constants here")))
                return None
            value = parsed.evaluate(env)
        except expr.ExprError as exc:
            problems.append(Problem(path, f"in expression {expr.shorten(raw)!r}: "
                                    f"{exc.message}", "E212", exc.hint))
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        problems.append(Problem(path, f"{key} must be a finite number, got "
                                f"{expr.shorten(repr(value), 24)}", "E253"))
        return None
    return value


def names_read(rules: list[InitRule] | None) -> set[str]:
    """The names the rules' expressions read (the spec params they fix at build time)."""
    out: set[str] = set()
    for rule in rules or []:
        for value in (rule.weight, rule.bias):
            if isinstance(value, dict):
                for args in value.values():
                    for raw in (args or {}).values() if isinstance(args, dict) else ():
                        if isinstance(raw, str):
                            try:
                                out |= expr.parse(raw).names
                            except expr.ExprError:
                                pass
    return out


# --------------------------------------------------------------------------- named schemes
class _Scheme(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    label: str
    rules: list[InitRule]


class _Schemes(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="archc init schemes")
    schemes: dict[str, _Scheme]


@lru_cache(maxsize=1)
def schemes() -> dict[str, tuple[str, tuple[Rule, ...]]]:
    """name -> (label, rules) of every named scheme, read once with the safe loader and
    checked exactly as a spec's rule list is."""
    from .validate import pydantic_diagnostics

    doc = load_file(SCHEMES_FILE)
    try:
        data = _Schemes.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError(pydantic_diagnostics(exc, doc, (), _Schemes)) from None
    out, diags = {}, []
    for name, scheme in data.schemes.items():
        rules, problems = check(scheme.rules, {})
        base = ("schemes", name, "rules")
        diags += [doc.diag((*base, *p.path), p.message, p.code, hint=p.hint, key=p.key)
                  for p in problems]
        out[name] = (scheme.label, rules)
    if tuple(out) != SCHEME_NAMES:
        diags.append(doc.diag(("schemes",), "the schemes must be archc.ops.init.SCHEME_NAMES, "
                              "in order", "E254"))
    if diags:
        raise SpecError(diags)
    return out


def model_rules(init, env: dict) -> tuple[str | None, tuple[Rule, ...]]:
    """(comment label, rules) of a spec's ``init:``: a named scheme or a checked rule list."""
    if isinstance(init, str):
        return schemes()[init]
    return "the spec's rules", resolve(init, env)
