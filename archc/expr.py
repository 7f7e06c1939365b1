"""A small, whitelisted expression language for spec values (``round(in_channels * t)``).

Expressions are parsed with :mod:`ast` into a syntax tree and only a fixed set of node types is
accepted; they are evaluated here by walking that tree, never by ``eval``. The same tree is printed
back as Python source for generated modules, with identifiers renamed through a validated map.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import operator
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from .codegen_literals import UnsafeSourceError, literal

MAX_LENGTH = 512
MAX_NODES = 256
MAX_MAGNITUDE = 10**15


class ExprError(ValueError):
    """A problem in an expression; ``column`` is 1-based within the expression text."""

    def __init__(self, message: str, column: int = 1, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.column, self.hint = message, column, hint


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``v`` to a multiple of ``divisor`` (at least ``min_value``) without losing over 10%.

    The channel-rounding rule of the MobileNet/EfficientNet reference implementations.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


# name -> (callable, Python spelling in generated code, helper that spelling needs)
FUNCTIONS: dict[str, tuple[Callable, str, str | None]] = {
    "round": (round, "round", None),
    "int": (int, "int", None),
    "float": (float, "float", None),
    "min": (min, "min", None),
    "max": (max, "max", None),
    "abs": (abs, "abs", None),
    "ceil": (math.ceil, "math.ceil", "math"),
    "floor": (math.floor, "math.floor", "math"),
    "make_divisible": (make_divisible, "_make_divisible", "make_divisible"),
    # RegNet's width rule (log/pow), MNASNet's rates: domains checked first, in _math_call
    "log": (math.log, "math.log", "math"),
    "log2": (math.log2, "math.log2", "math"),
    "exp": (math.exp, "math.exp", "math"),
    "sqrt": (math.sqrt, "math.sqrt", "math"),
    "pow": (math.pow, "math.pow", "math"),
}

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_ALLOWED = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.IfExp, ast.Call, ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or,
    *_BINOPS, *_CMPOPS,
)


# (text, rename) -> verified Python source: codegen prints the same expressions many times.
_PRINTED: dict[tuple, str] = {}


@dataclass(frozen=True)
class Expr:
    """A parsed expression. ``names`` are the free identifiers it reads."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, env: dict[str, object]) -> object:
        """Value of the expression with identifiers bound by ``env``."""
        try:
            return _eval(self.tree.body, env)
        except ExprError:
            raise
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
        except (TypeError, ValueError, OverflowError, MemoryError) as exc:
            raise ExprError(f"cannot evaluate it: {exc}") from None

    def to_python(self, rename: dict[str, str] | None = None) -> str:
        """Python source for the expression, identifiers renamed through ``rename`` (each a
        name or a dotted attribute path): printed from the renamed tree with every constant
        spelled by :func:`archc.codegen_literals.literal`, and proven by parsing it back."""
        key = (self.text, tuple(sorted((rename or {}).items())))
        if key in _PRINTED:
            return _PRINTED[key]
        tree = _Renamer(rename or {}).visit(self.tree.body)  # a new tree; self's is shared
        source = _unparse(tree, literal)
        try:
            back = ast.parse(source, mode="eval").body
        except SyntaxError:
            back = None
        if back is None or ast.dump(back) != ast.dump(tree):
            raise UnsafeSourceError(f"expression {shorten(self.text)!r} does not print as "
                                    "itself")
        if len(_PRINTED) > 4096:
            _PRINTED.clear()
        _PRINTED[key] = source
        return source

    def substitute(self, mapping: dict[str, str]) -> str:
        """Expression text with names replaced by other expressions (in this language)."""
        trees = {k: parse_trusted(v).tree.body for k, v in mapping.items()}

        def sub(node: ast.AST) -> ast.AST:
            if isinstance(node, ast.Name):
                return trees.get(node.id, node)
            if isinstance(node, ast.Call):  # the function's name is not a variable
                return ast.Call(node.func, [sub(a) for a in node.args], [])
            return rebuilt(node, sub)

        # the trees are shared, never edited: the result is a new tree over their parts
        return _unparse(sub(self.tree.body))

    def helpers(self) -> set[str]:
        """Helper definitions/imports the generated spelling of this expression needs."""
        out = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                helper = FUNCTIONS[node.func.id][2]
                if helper:
                    out.add(helper)
        return out


def parse(text: str) -> Expr:
    """Parse ``text``; raises :class:`ExprError` for anything outside the whitelist. Memoised:
    the result is shared, its tree never edited."""
    parsed = _PARSED.get(text)
    if parsed is not None:
        return parsed
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    if not all(" " <= ch <= "~" for ch in text) or any(ch in text for ch in "\\;"):
        raise ExprError("expressions may contain printable ASCII on one line only")
    try:
        with warnings.catch_warnings():  # "1if x else 2": Python warns on stderr, unlocated
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"invalid expression: {exc.msg}", exc.offset or 1) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExprError("invalid expression") from None
    count, names = 0, set()
    for node in ast.walk(tree):
        count += 1
        col = getattr(node, "col_offset", 0) + 1
        if count > MAX_NODES:
            raise ExprError("expression is too complex")
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"'{type(node).__name__}' is not allowed in expressions", col,
                            hint="use numbers, names, + - * / // % **, comparisons, "
                            "and/or/not, 'a if c else b' and the functions "
                            + ", ".join(sorted(FUNCTIONS)))
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            raise ExprError("only numbers, strings and true/false are allowed as constants", col)
        if isinstance(node, ast.Constant) and isinstance(node.value, float) and \
                not math.isfinite(node.value):
            raise ExprError("number out of range", col)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ExprError(f"cannot call {ast.unparse(node.func)!r}: only the functions "
                                f"{', '.join(sorted(FUNCTIONS))} may be called", col)
            if node.func.id not in FUNCTIONS:
                raise ExprError(f"unknown function {node.func.id!r}", col, hint=did_you_mean(
                    node.func.id, FUNCTIONS) or "functions: " + ", ".join(sorted(FUNCTIONS)))
            if node.keywords:
                raise ExprError("functions take positional arguments only", col)
        if isinstance(node, ast.Name) and not (
            isinstance(node, ast.Name) and _is_call_target(tree, node)
        ):
            names.add(node.id)
    names -= {"true", "false"}
    if len(_PARSED) > 4096:
        _PARSED.clear()
    parsed = _PARSED[text] = Expr(text.strip(), tree, frozenset(names))
    return parsed


# Codegen parses the same texts many times; the trees are shared, never edited.
_PARSED: dict[str, Expr] = {}
_TRUSTED: dict[str, Expr] = {}


def rebuilt(node: ast.AST, visit: Callable[[ast.AST], ast.AST]) -> ast.AST:
    """A new ``node`` of the same type whose child nodes are ``visit(child)``: a transformer
    that leaves the (shared) input tree alone, without copying it first."""
    if not node._fields:  # operators and contexts carry nothing
        return node
    fields = {}
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            value = [visit(v) if isinstance(v, ast.AST) else v for v in value]
        elif isinstance(value, ast.AST):
            value = visit(value)
        fields[name] = value
    return type(node)(**fields)


def parse_trusted(text: str) -> Expr:
    """An expression archc composed from checked pieces (channel counts, conditions, values a
    check accepted): parsed without the length, size and character limits of expressions a user
    writes, which a DenseNet-style concat chain or a non-ASCII block argument outgrows. Only
    the whitelisted node types can occur in it: it is built from trees that passed
    :func:`parse` and from constants spelled by the literal emitter. Memoised: the result
    is shared, its tree is never edited (``substitute`` and ``to_python`` build new trees)."""
    parsed = _TRUSTED.get(text) or _PARSED.get(text)  # a user's expression passed more checks
    if parsed is not None:
        return parsed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(text.strip(), mode="eval")
    names, called = set(), set()
    for n in ast.walk(tree):
        if not isinstance(n, _ALLOWED):
            raise UnsafeSourceError(f"composed expression holds {type(n).__name__}")
        if isinstance(n, ast.Call):
            called.add(id(n.func))
        elif isinstance(n, ast.Name):
            names.add(n)
    names = {n.id for n in names if id(n) not in called}
    if len(_TRUSTED) > 4096:
        _TRUSTED.clear()
    parsed = _TRUSTED[text] = Expr(text.strip(), tree, frozenset(names - {"true", "false"}))
    return parsed


def _is_call_target(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


def shorten(text: str, limit: int = 60) -> str:
    """An expression for echoing in a message: cut to ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word: str, choices, cutoff: float = 0.6) -> str | None:
    """A "did you mean" hint for a misspelled name, or None. ``cutoff`` is difflib's
    similarity (0.8: a typo, not another word sharing a suffix like layer_norm/batch_norm)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"did you mean {close[0]!r}?" if close else None


MAX_STRING = 1000


def _check(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or abs(value) > MAX_MAGNITUDE:  # NaN or too large
            raise ExprError("value out of range")
    elif isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ExprError("string value too long")
    elif not isinstance(value, bool):  # e.g. a complex number from (-8) ** 0.5
        raise ExprError(f"value {type(value).__name__} is not a number, string or boolean")
    return value


def _binop(op: ast.operator, left: object, right: object) -> object:
    """Apply a binary operator, refusing before it runs anything whose result could be huge
    (the results are checked afterwards too, but by then a string or an int is allocated)."""
    if isinstance(op, ast.Mod) and (isinstance(left, str) or isinstance(right, str)):
        # '%.2147483640f' % 1.0 allocates gigabytes before any length check could run
        raise ExprError("% formats strings: not allowed", hint="% is numeric modulo only")
    if isinstance(op, ast.Pow):
        if abs(right) > 64:
            raise ExprError("exponent too large")
        if isinstance(left, (int, float)) and abs(left) > MAX_MAGNITUDE:
            raise ExprError("value out of range")
    if isinstance(op, ast.Mult) and (isinstance(left, str) or isinstance(right, str)):
        text, times = (left, right) if isinstance(left, str) else (right, left)
        if not isinstance(times, int) or len(text) * max(times, 0) > MAX_STRING:
            raise ExprError("string value too long")
    if isinstance(op, ast.Add) and isinstance(left, str) and isinstance(right, str) and \
            len(left) + len(right) > MAX_STRING:
        raise ExprError("string value too long")
    return _check(_BINOPS[type(op)](left, right))


def _round(value, ndigits=None):
    # round(12345, -10**15) computes 10 ** 10**15 (it never ends); beyond 64 digits either way
    # the answer is the value itself or zero for every value within MAX_MAGNITUDE
    if ndigits is not None and not isinstance(ndigits, bool) and isinstance(ndigits, int) \
            and abs(ndigits) > 64:
        raise ExprError("round() to more than 64 digits")
    return round(value, ndigits) if ndigits is not None else round(value)


# exp(x) above this is beyond MAX_MAGNITUDE: refused before math.exp allocates or overflows
_EXP_LIMIT = math.log(MAX_MAGNITUDE)
_ARITY = {"log": (1, 2), "log2": (1, 1), "exp": (1, 1), "sqrt": (1, 1), "pow": (2, 2)}


def _math_call(name: str, args: list) -> float:
    """``log``/``log2``/``exp``/``sqrt``/``pow``, their domain and size checked before they
    run: a spec's mistake is a located error, never a math exception or a huge number."""
    low, high = _ARITY[name]
    if not low <= len(args) <= high:
        count = str(low) if low == high else f"{low} or {high}"
        raise ExprError(f"{name}() takes {count} argument{'s' if high > 1 else ''}, "
                        f"got {len(args)}")
    if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise ExprError(f"{name}() takes numbers")
    x = args[0]
    if name in ("log", "log2") and x <= 0:
        raise ExprError(f"{name}() of {_number(x)}: the argument must be > 0")
    if name == "log" and len(args) == 2 and (args[1] <= 0 or args[1] == 1):
        raise ExprError(f"log() to base {_number(args[1])}: the base must be > 0 and not 1")
    if name == "sqrt" and x < 0:
        raise ExprError(f"sqrt() of {_number(x)}: the argument must be >= 0")
    if name == "exp" and x > _EXP_LIMIT:
        raise ExprError(f"exp() of {_number(x)} is beyond {MAX_MAGNITUDE:.0e} (the argument "
                        f"must be <= {_EXP_LIMIT:.4g})")
    if name == "pow":
        base, exponent = args
        if abs(exponent) > 64:
            raise ExprError("pow() exponent too large (at most 64 either way)")
        if abs(base) > MAX_MAGNITUDE:
            raise ExprError("value out of range")
        if base == 0 and exponent < 0:
            raise ExprError("pow() of 0 to a negative exponent: division by zero")
        if base < 0 and exponent != int(exponent):
            raise ExprError("pow() of a negative number to a fractional exponent")
        if base != 0 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
            raise ExprError("value out of range")
    return _check(FUNCTIONS[name][0](*args))


def _eval(node: ast.AST, env: dict[str, object]) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in ("true", "false"):
            return node.id == "true"
        if node.id not in env:
            raise ExprError(f"unknown name {node.id!r}", node.col_offset + 1,
                            hint=did_you_mean(node.id, env))
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return _binop(node.op, _eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env)
        if isinstance(node.op, ast.Not):
            return not value
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BoolOp):
        result = _eval(node.values[0], env)
        for value in node.values[1:]:
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
            result = _eval(value, env)
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, env) else node.orelse, env)
    if isinstance(node, ast.Call):
        args = [_eval(a, env) for a in node.args]
        if node.func.id in _ARITY:
            try:
                return _math_call(node.func.id, args)
            except ExprError as exc:  # point at the call, not the expression's start
                if exc.column == 1:
                    exc.column = node.col_offset + 1
                raise
        fn = _round if node.func.id == "round" else FUNCTIONS[node.func.id][0]
        return _check(fn(*args))
    raise ExprError(f"unsupported expression node {type(node).__name__}")


class _Renamer(ast.NodeTransformer):
    """Python's spelling of a tree: renamed identifiers, functions and true/false."""

    def __init__(self, rename: dict[str, str]) -> None:
        self.rename = rename

    def visit_Call(self, node: ast.Call) -> ast.AST:
        return ast.Call(_reference(FUNCTIONS[node.func.id][1]),
                        [self.visit(a) for a in node.args], [])

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in ("true", "false"):
            return ast.Constant(node.id == "true")
        return _reference(self.rename.get(node.id, node.id))

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant(node.value)  # drops a u"" prefix's kind

    def generic_visit(self, node: ast.AST) -> ast.AST:
        return rebuilt(node, self.visit)  # never edits the input: parsed trees are shared


def _reference(dotted: str) -> ast.expr:
    """``a.b.c`` as Name/Attribute nodes; anything that is not a dotted identifier is refused."""
    parts = dotted.split(".")
    if not all(p.isidentifier() and p.isascii() and not keyword.iskeyword(p) for p in parts):
        raise UnsafeSourceError(f"cannot rename to {dotted[:60]!r}")
    node: ast.expr = ast.Name(parts[0], ast.Load())
    for part in parts[1:]:
        node = ast.Attribute(node, part, ast.Load())
    return node


def quote(value: str) -> str:
    """A string constant in the expression language: no backslashes (expressions reject
    them), so a value holding both quote kinds is written as adjacent pieces (``'a"' "'b"``).
    Raises :class:`ExprError` for text an expression cannot hold."""
    if not all(" " <= ch <= "~" for ch in value):
        raise ExprError("expressions may contain printable ASCII on one line only")
    pieces, current, mark = [], "", None
    for ch in value:
        need = "'" if ch == '"' else '"' if ch == "'" else None
        if need and mark and need != mark:
            pieces.append(mark + current + mark)
            current = ""
        mark = need or mark
        current += ch
    pieces.append((mark or "'") + current + (mark or "'"))
    return " ".join(pieces)


def _number(value: object) -> str:
    """A constant in the expression language (``ast.unparse`` spells infinity so, too)."""
    if isinstance(value, str):
        try:
            return quote(value)
        except ExprError:  # a block argument no user expression could spell: only archc's
            return literal(value)  # composed text (read by parse_trusted) carries it
    return repr(value) if not isinstance(value, float) or math.isfinite(value) else "1e309"


# Operator precedence as Python's own ast.unparse ranks it (higher binds tighter).
_TEST, _OR, _AND, _NOT, _CMP, _ARITH, _TERM, _FACTOR, _POWER, _ATOM = 4, 5, 6, 7, 8, 13, 14, 15, \
    16, 18
_BIN = {ast.Add: ("+", _ARITH), ast.Sub: ("-", _ARITH), ast.Mult: ("*", _TERM),
        ast.Div: ("/", _TERM), ast.FloorDiv: ("//", _TERM), ast.Mod: ("%", _TERM),
        ast.Pow: ("**", _POWER)}
_UNARY = {ast.Not: ("not ", _NOT), ast.USub: ("-", _FACTOR), ast.UAdd: ("+", _FACTOR)}
_CMP_TEXT = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
             ast.GtE: ">="}


def _unparse(node: ast.AST, constant: Callable[[object], str] = _number,
             context: int = _TEST) -> str:
    """Source for a (renamed) expression tree, parenthesised exactly where ``ast.unparse``
    would; constants are spelled by ``constant`` and nothing else is copied as text."""
    def show(child: ast.AST, level: int) -> str:
        return _unparse(child, constant, level)

    def wrap(own: int, text: str) -> str:
        return f"({text})" if context > own else text

    if isinstance(node, ast.Constant):
        return constant(node.value)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{show(node.value, _ATOM)}.{node.attr}"
    if isinstance(node, ast.BinOp):
        op, own = _BIN[type(node.op)]
        left, right = (own + 1, own) if op == "**" else (own, own + 1)
        return wrap(own, f"{show(node.left, left)} {op} {show(node.right, right)}")
    if isinstance(node, ast.UnaryOp):
        op, own = _UNARY[type(node.op)]
        return wrap(own, op + show(node.operand, own))
    if isinstance(node, ast.BoolOp):
        word, own = (" and ", _AND) if isinstance(node.op, ast.And) else (" or ", _OR)
        # ast.unparse asks one level more of each further operand
        return wrap(own, word.join(show(v, own + 1 + i) for i, v in enumerate(node.values)))
    if isinstance(node, ast.Compare):
        parts = [show(node.left, _CMP + 1)]
        for op, comp in zip(node.ops, node.comparators, strict=True):
            parts.append(f"{_CMP_TEXT[type(op)]} {show(comp, _CMP + 1)}")
        return wrap(_CMP, " ".join(parts))
    if isinstance(node, ast.IfExp):
        return wrap(_TEST, f"{show(node.body, _TEST + 1)} if {show(node.test, _TEST + 1)} "
                    f"else {show(node.orelse, _TEST)}")
    if isinstance(node, ast.Call):
        args = ", ".join(show(a, _TEST) for a in node.args)
        return f"{show(node.func, _ATOM)}({args})"
    raise UnsafeSourceError(f"cannot print a {type(node).__name__} node")
