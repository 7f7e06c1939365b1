"""One readable class per block type, written from the block's definition (not from its
instances): parameters become arguments, ``let`` values locals, ``when`` conditions ``if``s.
Channel counts are tracked symbolically; where a condition makes them ambiguous, the instances
in the model decide which spelling is right for all of them."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from .. import expr
from ..codegen_literals import literal
from ..frontend import BlockDef, Row, init_rules
from ..frontend.names import MODULE_ATTRIBUTES
from ..ir.graph import Node, _may_overwrite, walk
from ..ops import ACTIVATIONS, Primitive, Val, init
from ..ops.base import channels, pair_val
from .pysrc import Call, List, Noted, Tuple, comment, pyexpr, render


class KeyedLayers(list):
    """Statements filling ``layers``, an OrderedDict of named modules: wrapped as
    ``nn.Sequential(layers)``, not ``nn.Sequential(*layers)``."""


def _key(parts: list[str], rename: dict[str, str], i: int | None) -> str:
    """Python source of a template's key: ``"encoder_layer_" + str(i)``; for ``i`` given,
    its value where only ``i`` is read (``"unit_1"``)."""
    if i is not None:
        try:
            return literal("".join(str(internal(p).evaluate({"i": i})) if k % 2 else p
                                   for k, p in enumerate(parts)))
        except expr.ExprError:  # it reads a parameter too
            rename = {**rename, "i": str(i)}
    return " + ".join((f"str({pyexpr(p, rename)})" if k % 2 else literal(p))
                      for k, p in enumerate(parts) if k % 2 or p)


def row_path_in(bdef: BlockDef, row: Row) -> tuple:
    """The spec path of a row of ``bdef``'s body, at any depth of its groups."""
    def find(rows, path):
        for j, r in enumerate(rows):
            if r is row:
                return (*path, j)
            if r.seq is not None:
                found = find(r.seq, (*path, j, "seq"))
                if found:
                    return found
        return None
    return find(bdef.body, (*bdef.path, "body")) or bdef.path


_PY_TYPES = {"int": "int", "int2": "int | tuple[int, int]", "float": "float", "bool": "bool",
             "str": "str"}
OUT_NAMES = ("out_channels", "out_features")


@dataclass
class Context:
    """What the generated file needs across classes."""

    ops: dict
    norm: dict
    instances: dict[str, list[Node]] = field(default_factory=dict)
    # activations a block parameter can name: the _activation helpers cover all of them
    activations: set[str] = field(default_factory=set)
    _out_cache: dict[str, str] = field(default_factory=dict)

    def def_out_channels(self, bdef: BlockDef) -> str:
        """The block's output channels in its own parameters (lets inlined)."""
        if bdef.op not in self._out_cache:
            text = track(bdef.body, "in_channels", self, _lets(bdef), bdef.out)[1]
            for name, parsed in reversed(bdef.lets):
                if text is not None:
                    text = internal(text).substitute({name: parsed.text})
            self._out_cache[bdef.op] = text
        return self._out_cache[bdef.op]


internal = expr.parse_trusted


def _lets(bdef: BlockDef) -> dict[str, str]:
    return {name: parsed.text for name, parsed in bdef.lets}


def channel_sum(parts: list[str]) -> str:
    """Channels of a concat, ``a + b + ...`` with like terms collected: a DenseNet-style chain
    gives ``in_channels + 3 * growth``, one term per distinct input, not one per row."""
    coefficients: dict[str, tuple[int, ast.expr]] = {}
    constant = 0
    for part in parts:
        for term in _terms(internal(part).tree.body):
            k, rest = _coefficient(term)
            if rest is None:
                constant += k
                continue
            key = ast.dump(rest)
            coefficients[key] = (coefficients.get(key, (0, rest))[0] + k, rest)
    total: ast.expr | None = None
    for k, rest in coefficients.values():
        term = rest if k == 1 else ast.BinOp(ast.Constant(k), ast.Mult(), rest)
        total = term if total is None else ast.BinOp(total, ast.Add(), term)
    if constant or total is None:
        total = ast.Constant(constant) if total is None else \
            ast.BinOp(total, ast.Add(), ast.Constant(constant))
    return ast.unparse(total)


def _terms(node: ast.expr) -> list[ast.expr]:
    """The terms of a sum, in order (iteratively: a long left-nested chain is deep)."""
    out, stack = [], [node]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            stack += [node.right, node.left]
        else:
            out.append(node)
    return out


def _coefficient(term: ast.expr) -> tuple[int, ast.expr | None]:
    """``3 * growth`` -> (3, growth); ``5`` -> (5, None); anything else -> (1, term)."""
    if _is_int(term):
        return term.value, None
    if isinstance(term, ast.BinOp) and isinstance(term.op, ast.Mult) and _is_int(term.left):
        return term.left.value, term.right
    return 1, term


def _is_int(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def arg_text(row: Row, param) -> str:
    """A row's value for ``param`` as an archc expression."""
    raw = row.args[param.name] if param.name in row.args else param.default
    if isinstance(raw, str):
        if param.type == "str" and (param.choices is None or raw in param.choices):
            return repr(raw)
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return repr(raw)


def row_out(row: Row, ins: list[str], ctx: Context, lets: dict[str, str] | None = None) -> str:
    """Output channels of a row (archc expression) given its inputs' channels."""
    """None when it cannot be written symbolically (after a flatten: it depends on H and W)."""
    if row.seq is not None:
        return track(row.seq, ins[0], ctx, lets)[1]
    impl = ctx.ops[row.op]
    if isinstance(impl, BlockDef):
        out = ctx.def_out_channels(impl)
        if out is None or (ins[0] is None and "in_channels" in internal(out).names):
            return None
        mapping = {p.name: f"({arg_text(row, p)})" for p in impl.params}
        if ins[0] is not None:
            mapping["in_channels"] = f"({ins[0]})"
        return internal(out).substitute(mapping)
    if row.op == "concat":
        if row.args.get("dim") is not None:
            return None  # a stated dimension (tokens, positions): the shapes decide
        return None if None in ins else channel_sum(ins)
    if impl.keeps_channels:
        return ins[0]
    return impl.out_channels({p.name: arg_text(row, p) for p in impl.params}, ins[0])


def choose(enabled: str | None, disabled: str | None, cond: str,
           lets: dict[str, str] | None = None) -> str | None:
    """Channels after a row under ``when: cond`` (``enabled``: the row's output, ``disabled``:
    its input), as one expression correct for every argument value. One spelling only where
    that is proven (both agree, the condition is a constant of the definition, or the condition
    is false exactly when they are equal); a growth is ``before + (growth if cond else 0)``;
    otherwise ``enabled if cond else disabled``. Never decided by the instances of a model."""
    if enabled is None or disabled is None:
        return enabled if enabled == disabled else None
    lets = lets or {}
    if _same(enabled, disabled, lets):
        return enabled
    test = internal(cond)
    if not test.names:  # a constant of the block definition itself
        try:
            return enabled if test.evaluate({}) else disabled
        except expr.ExprError:
            pass
    if _equal_unless(test.tree.body, enabled, disabled, lets):
        return enabled
    growth = _growth(enabled, disabled)
    if growth is not None:
        return internal(f"{disabled} + (({growth}) if ({cond}) else 0)").substitute({})
    body = _assume(internal(enabled).tree.body, test.tree.body, True)
    orelse = _assume(internal(disabled).tree.body, test.tree.body, False)
    if isinstance(test.tree.body, ast.UnaryOp) and isinstance(test.tree.body.op, ast.Not):
        return expr._unparse(ast.IfExp(test.tree.body.operand, orelse, body))
    return expr._unparse(ast.IfExp(test.tree.body, body, orelse))


def given(channels: str | None, row: Row) -> str | None:
    """Channels as seen by a row that exists only under its ``when``: decided there."""
    if channels is None or not _conditional(row) or not isinstance(row.when, str):
        return channels
    test = internal(row.when).tree.body
    return expr._unparse(_assume(internal(channels).tree.body, test, True))


def _dump(text: str, lets: dict[str, str], bind: dict[str, str] | None = None) -> str:
    """A canonical form of an expression with its ``let`` names written out (and the names
    in ``bind`` replaced, once). Memoised: the proofs of a class ask for the same forms."""
    key = (text, tuple(lets.items()), tuple(bind.items()) if bind else ())
    dumped = _DUMPS.get(key)
    if dumped is not None:
        return dumped
    parsed = internal(text)
    while parsed.names & lets.keys():
        parsed = internal(parsed.substitute({k: f"({v})" for k, v in lets.items()}))
    if bind:
        parsed = internal(parsed.substitute(bind))
    if len(_DUMPS) > 4096:
        _DUMPS.clear()
    dumped = _DUMPS[key] = ast.dump(_simplify(parsed.tree.body))
    return dumped


_DUMPS: dict[tuple, str] = {}


def _same(a: str, b: str, lets: dict[str, str], bind: dict[str, str] | None = None) -> bool:
    return _dump(a, lets, bind) == _dump(b, lets, bind)


def _equal_unless(test: ast.expr, a: str, b: str, lets: dict[str, str]) -> bool:
    """Whether ``a == b`` whenever ``test`` is false, for ``test`` of the form ``x != y``:
    ``{a, b}`` is ``{x, y}``, or substituting ``x`` by ``y`` (one of them a name) makes them
    the same. A proof, not a sample: anything else is answered False."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and
            isinstance(test.ops[0], ast.NotEq)):
        return False
    x, y = test.left, test.comparators[0]
    sides = {_dump(expr._unparse(x), lets), _dump(expr._unparse(y), lets)}
    if {_dump(a, lets), _dump(b, lets)} == sides:
        return True
    for name, value in ((x, y), (y, x)):
        if isinstance(name, ast.Name) and name.id not in lets and \
                _same(a, b, lets, {name.id: f"({expr._unparse(value)})"}):
            return True
    return False


def _is_int_expr(node: ast.expr) -> bool:
    """An expression whose value is surely an int: ``in_channels``, an int constant, and
    ``+ - * //`` or ``round``/``int``/``make_divisible`` of such."""
    if isinstance(node, ast.Name):
        return node.id == "in_channels"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult,
                                                            ast.FloorDiv)):
        return _is_int_expr(node.left) and _is_int_expr(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("round", "int", "make_divisible") and len(node.args) == 1 \
            or node.func.id == "make_divisible"
    return _is_int(node)


def _simplify(node: ast.expr) -> ast.expr:
    """``x * 1`` and ``1 * x`` are ``x``; ``round(x)`` and ``int(x)`` of an int are ``x``."""
    if isinstance(node, ast.BinOp):
        left, right = _simplify(node.left), _simplify(node.right)
        if isinstance(node.op, ast.Mult):
            for one, other in ((left, right), (right, left)):
                if isinstance(one, ast.Constant) and one.value == 1 and \
                        type(one.value) in (int, float) and _is_int_expr(other):
                    return other
        return ast.BinOp(left, node.op, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_simplify(a) for a in node.args]
        if node.func.id in ("round", "int") and len(args) == 1 and _is_int_expr(args[0]):
            return args[0]
        return ast.Call(node.func, args, [])
    return node


def _growth(enabled: str, disabled: str) -> str | None:
    """``enabled - disabled`` when ``enabled`` is ``disabled`` plus further terms."""
    more, less = _term_counts(enabled), _term_counts(disabled)
    if more is None or less is None:
        return None
    extra = []
    for key, (k, node) in more.items():
        left = k - less.get(key, (0, node))[0]
        if left < 0:
            return None
        if left and _is_int(node) and node.value == 1 and key == _ONE:
            extra.append(ast.Constant(left))
        elif left:
            extra.append(node if left == 1 else ast.BinOp(ast.Constant(left), ast.Mult(), node))
    if any(key not in more for key in less) or not extra:
        return None
    total = extra[0]
    for node in extra[1:]:
        total = ast.BinOp(total, ast.Add(), node)
    return expr._unparse(total)


_ONE = ast.dump(ast.Constant(1))


def _term_counts(text: str) -> dict | None:
    counts: dict[str, tuple[int, ast.expr]] = {}
    for term in _terms(internal(text).tree.body):
        k, rest = _coefficient(term)
        if rest is None:
            rest = ast.Constant(1)
        key = ast.dump(rest)
        counts[key] = (counts.get(key, (0, rest))[0] + k, rest)
    return counts


def _assume(node: ast.expr, test: ast.expr, value: bool) -> ast.expr:
    """``node`` with every ``a if test else b`` (or ``... if not test ...``) decided."""
    known = {ast.dump(test): value}
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        known[ast.dump(test.operand)] = not value
    else:
        known[ast.dump(ast.UnaryOp(ast.Not(), test))] = not value

    def decide(n: ast.AST) -> ast.AST:  # a new tree: ``node`` is shared (parse_trusted)
        if isinstance(n, ast.IfExp):
            decided = known.get(ast.dump(n.test))
            if decided is not None:
                return decide(n.body if decided else n.orelse)
        return expr.rebuilt(n, decide)

    return decide(node)


def track(rows: list[Row], in_ch: str, ctx: Context, lets: dict[str, str],
          out: str | None = None) -> tuple[dict[str, str], str]:
    """Channels of every named row and of the output, as archc expressions."""
    chans, prev = {"input": in_ch}, in_ch
    for row in rows:
        refs = [row.from_] if isinstance(row.from_, str) else (row.from_ or [])
        ins = [chans[r] for r in refs] or [prev]
        ch = row_out(row, ins, ctx, lets)
        if row.when is not None and row.when is not True:
            cond = row.when if isinstance(row.when, str) else "false"
            ch = choose(ch, ins[0], cond, lets)
        prev = ch
        if row.name:
            chans[row.name] = ch
    return chans, chans[out] if out else prev


class BlockWriter:
    """Writes the class of one block definition."""

    def __init__(self, bdef: BlockDef, ctx: Context) -> None:
        self.bdef, self.ctx = bdef, ctx
        self.lets = _lets(bdef)
        self.rename = {p.name: p.pyname for p in bdef.params}
        self.rename["in_channels"] = "in_channels"
        # Attributes codegen adds for forward() are named clear of the rows' modules, of
        # nn.Module's own attributes and of each other (a row 'k' and a stored parameter k).
        self.taken = {r.name for r in bdef.body if r.name} | MODULE_ATTRIBUTES
        # Conditions of functional rows are decided in __init__ and read in forward.
        self.hoisted: dict[int, str] = {}  # row index -> attribute
        self.own_attr: set[int] = set()  # hoisted conditions that are not already a let
        stored_lets: dict[str, str] = {}  # let -> attribute
        let_names = {n for n, _ in bdef.lets}
        for i, row in enumerate(bdef.body if not bdef.sequential else []):
            if _conditional(row) and not self._is_module(row):
                text = row.when.strip() if isinstance(row.when, str) else ""
                if text in let_names:
                    if text not in stored_lets:
                        stored_lets[text] = self.attribute(text)
                    self.hoisted[i] = f"self.{stored_lets[text]}"
                else:
                    self.hoisted[i] = f"self.{self.attribute(f'use_{row.name or row.op}')}"
                    self.own_attr.add(i)
        for name, _ in bdef.lets:
            self.rename[name] = f"self.{stored_lets[name]}" if name in stored_lets else name
        # Functional rows read their arguments in forward(): those values live on self.
        self.forward_rename = dict(self.rename)
        self.stored: list[tuple[str, str]] = []  # (attribute, local it is set from)
        if not bdef.sequential:
            for row in bdef.body:
                if row.op is None:
                    continue
                impl = ctx.ops[row.op]
                # a module row's columns are read in __init__, except those its call reads
                # in forward (a param's expand)
                reads = getattr(impl, "call_columns", ()) if self._is_module(row) else None
                for p in impl.params:
                    if reads is not None and p.name not in reads:
                        continue
                    value = row.args.get(p.name)
                    for name in sorted(set().union(*(expr.parse(v).names for v in
                                                     _expressions(p, value)))):
                        local = self.rename.get(name, name)
                        if not self.forward_rename.get(name, "").startswith("self."):
                            attr = self.attribute(local)
                            self.stored.append((attr, local))
                            self.forward_rename[name] = f"self.{attr}"

    def attribute(self, base: str) -> str:
        """A new attribute name: ``base``, or ``base_2``, ... when that is taken."""
        name, i = base, 2
        while name in self.taken:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name

    def _is_module(self, row: Row) -> bool:
        impl = self.ctx.ops.get(row.op) if row.op else None
        return row.name is not None and (not isinstance(impl, Primitive) or impl.has_module)

    # ----------------------------------------------------------------- pieces
    def vals(self, row: Row, impl, rename: dict[str, str] | None = None) -> dict[str, Val]:
        out = {}
        for p in impl.params:
            if p.name in row.args:
                raw = row.args[p.name]
                if _is_expression(p, raw):
                    out[p.name] = Val(src=pyexpr(raw, rename or self.rename))
                elif isinstance(raw, list) and any(isinstance(v, str) for v in raw):
                    items = tuple(pyexpr(v, rename or self.rename) if isinstance(v, str)
                                  else literal(v) for v in raw)
                    out[p.name] = Val(src=f"[{', '.join(items)}]", items=items)
                else:
                    out[p.name] = Val(raw)
            elif p.name in getattr(impl, "context_defaults", {}):
                out[p.name] = Val(self.ctx.norm[impl.context_defaults[p.name]])
            else:
                out[p.name] = Val(None if p.required else p.default)
        return out

    def construct(self, row: Row, in_ch: str, rows: list[Row], i: int, seq: bool, indent: int):
        """A Call building the row's module, or statements ending in ``nn.Sequential``."""
        ch = internal(in_ch).to_python(self.rename) if in_ch is not None else \
            self.concrete_in(row)
        if row.seq is not None:
            return self.sequential(row.seq, in_ch, indent)
        impl = self.ctx.ops[row.op]
        vals = self.vals(row, impl)
        if isinstance(impl, BlockDef):
            return block_call(impl, Val(src=ch), vals, list(row.args))
        if row.op == "act":
            self.note_activations(row)
            if "inplace" not in row.args:
                vals["inplace"] = Val(_may_overwrite(rows, i, 0, seq))
        shape, layout = self.shape_of(row)
        return impl.module_source(vals, Val(src=ch), shape, layout)

    def concrete_in(self, row: Row) -> str:
        """Input channels that only shapes decide (after a flatten): the same in every
        instance of this model, or the block cannot be written as one class."""
        seen = {channels(child.in_shapes[0], child.in_layouts[0])
                for node in self.ctx.instances.get(self.bdef.op, [])
                for child in walk(node.body.nodes()) if child.row is row and child.in_shapes}
        if len(seen) != 1:
            from ..diagnostics import SpecError

            raise SpecError([self.bdef.document.diag(
                self.bdef.path, f"block {self.bdef.op!r}: the input width of a row after a "
                "flatten differs between instances, so it cannot be one generated class",
                "E502")])
        return str(seen.pop())

    def shape_of(self, row: Row) -> tuple[tuple[int, ...], str]:
        # Only the rank and layout matter to sources (BatchNorm1d vs 2d, LayerNorm2d vs
        # LayerNorm), and a block's permutes fix its layouts for every instance: any tells it.
        for node in self.ctx.instances.get(self.bdef.op, []):
            for child in walk(node.body.nodes()):
                if child.row is row and child.in_shapes:
                    return child.in_shapes[0], child.in_layouts[0]
        return (1, 1, 1), "CHW"

    def sequential(self, rows: list[Row], in_ch: str, indent: int):
        """An nn.Sequential of rows: a Call, or (with conditions) statements building
        ``layers`` that the caller wraps."""
        if len(rows) == 1 and rows[0].template and rows[0].n is not None:
            return self.keyed_stage(rows[0], in_ch, indent)
        chans = self.chain_channels(rows, in_ch)
        items = [self.construct(r, given(chans[i], r), rows, i, True, indent + 4)
                 for i, r in enumerate(rows)]
        if not any(_conditional(r) for r in rows):
            if any(r.name for r in rows):  # keyed by name, unnamed rows by their index
                keyed = [Tuple([literal(r.name or str(i)), item])
                         for i, (r, item) in enumerate(zip(rows, items, strict=True))]
                return Call("nn.Sequential", [Call("OrderedDict", [List(keyed)])])
            return Call("nn.Sequential", [Noted(r.step, item) if r.step else item
                                          for r, item in zip(rows, items, strict=True)])
        lead = next(i for i, r in enumerate(rows) if _conditional(r))
        pad = " " * indent
        lines = [f"{pad}layers: list[nn.Module] = ["] if lead else \
            [f"{pad}layers: list[nn.Module] = []"]
        for i in range(lead):
            lines += _step(rows[i], indent + 4)
            lines += render(indent + 4, "", items[i], ",")
        if lead:
            lines.append(f"{pad}]")
        for i in range(lead, len(rows)):
            lines += _step(rows[i], indent)
            inner = indent
            if _conditional(rows[i]):
                lines.append(f"{pad}if {self.cond(rows[i])}:")
                inner += 4
            lines += render(inner, "", Call("layers.append", [items[i]]))
        return lines

    def keyed_stage(self, row: Row, in_ch: str, indent: int) -> KeyedLayers:
        """A group whose one row names its ``n`` repeats by a template (ViT's
        ``layers.encoder_layer_{i}``): an OrderedDict filled by a loop, as torchvision writes
        it, so ``n`` may be a block parameter. A first repeat that differs (a stride, new
        channels) is written before the loop, like a stage's."""
        out_ch = row_out(row, [in_ch], self.ctx, self.lets)
        later, firsts = self.later_repeats(row, out_ch, row_path_in(self.bdef, row))
        pad = " " * indent
        loop = "i" if "i" not in self.rename.values() else "index"
        parts = re.split(r"\{([^{}]+)\}", row.name)
        count = str(row.n) if isinstance(row.n, int) else pyexpr(row.n, self.rename)
        lines = [f"{pad}layers: OrderedDict[str, nn.Module] = OrderedDict()"]
        same = not (firsts & row.args.keys()) and _same(out_ch, in_ch, self.lets)
        if not same:  # the first repeat apart: its key for i = 0, the loop from 1
            first = self.construct(row, in_ch, [row], 0, True, indent)
            lines += render(indent, f"layers[{_key(parts, self.rename, 0)}] = ", first)
            count = f"1, {count}"
        module = self.construct(later if not same else row, out_ch if not same else in_ch,
                                [row], 0, True, indent + 4)
        key = _key(parts, {**self.rename, "i": loop}, None)
        return KeyedLayers([*lines, f"{pad}for {loop} in range({count}):",
                            *render(indent + 4, f"layers[{key}] = ", module)])

    def chain_channels(self, rows: list[Row], in_ch: str) -> list[str]:
        out, prev = [], in_ch
        for row in rows:
            out.append(prev)
            ch = row_out(row, [prev], self.ctx, self.lets)
            if _conditional(row):
                ch = choose(ch, prev, self.cond_text(row), self.lets)
            prev = ch
        return out

    def note_activations(self, row: Row) -> None:
        """Record every activation an ``act`` row's ``fn`` expression can name: the string
        constants it (and the lets it reads) spells and the choices of the parameters it reads;
        all of them where a parameter without choices is read."""
        value = row.args.get("fn")
        if not isinstance(value, str) or value in ACTIVATIONS:
            return
        text, lets = value, self.lets
        parsed = internal(text)
        while parsed.names & lets.keys():
            parsed = internal(parsed.substitute({k: f"({v})" for k, v in lets.items()}))
        names = {n.value for n in ast.walk(parsed.tree) if isinstance(n, ast.Constant)
                 and isinstance(n.value, str)}
        for name in parsed.names:
            param = self.bdef.param(name)
            if param is None or param.choices is None:
                names = set(ACTIVATIONS)
                break
            names.update(param.choices)
        self.ctx.activations.update(names & ACTIVATIONS.keys())

    def cond(self, row: Row) -> str:
        return pyexpr(row.when, self.rename) if isinstance(row.when, str) else "False"

    # ----------------------------------------------------------------- class
    def signature(self) -> list[str]:
        params = sorted(self.bdef.params, key=lambda p: (p.pyname not in OUT_NAMES,
                                                         not p.required))
        args = ["self", "in_channels: int"]
        for p in params:
            ann = _PY_TYPES[p.type] + (" | None" if p.default is None else "")
            args.append(f"{p.pyname}: {ann}" + ("" if p.required else f" = {literal(p.default)}"))
        return args

    def lines(self) -> list[str]:
        b = self.bdef
        base = "nn.Sequential" if b.sequential else "nn.Module"
        out = [f"class {b.class_name}({base}):"]
        doc = comment(b.doc or f"The {b.op} block.")
        out += docstring(doc, comment(b.paper), 4)
        out.append("")
        out += render(4, "", Call("def __init__", self.signature()), " -> None:")
        body: list[str] = []
        if not b.sequential:
            body.append("        super().__init__()")
        for name, parsed in b.lets:
            body.append(f"        {self.rename[name]} = {pyexpr(parsed.text, self.rename)}")
        for i, attr in self.hoisted.items():
            if i in self.own_attr:
                body.append(f"        {attr} = {self.cond(b.body[i])}")
        for attr, local in self.stored:
            body.append(f"        self.{attr} = {local}")
        if b.sequential:
            seq = self.sequential(b.body, "in_channels", 8)
            if isinstance(seq, Call):
                body += render(8, "", Call("super().__init__", seq.args))
            else:
                star = "" if isinstance(seq, KeyedLayers) else "*"
                body += [*seq, f"        super().__init__({star}layers)"]
        else:
            body += self.init_rows(8)
        out += body
        if not b.sequential:
            out.append("")
            out += self.forward()
        return out

    def init_rows(self, indent: int) -> list[str]:
        chans = track(self.bdef.body, "in_channels", self.ctx, self.lets)[0]
        lines, prev, pad = [], "in_channels", " " * indent
        for i, row in enumerate(self.bdef.body):
            refs = _refs(row)
            in_ch = chans[refs[0]] if refs else prev
            out_ch = row_out(row, [chans[r] for r in refs] or [in_ch], self.ctx, self.lets)
            if _conditional(row):
                out_ch = choose(out_ch, in_ch, self.cond_text(row), self.lets)
            prev = chans[row.name] if row.name else out_ch
            if not self._is_module(row):
                continue
            inner = indent + 4 if _conditional(row) else indent
            if _conditional(row):
                lines += [f"{pad}self.{row.name} = None", f"{pad}if {self.cond(row)}:"]
            if row.n is not None:  # a stage: an nn.Sequential of the row's repeats
                lines += self.stage(row, given(in_ch, row), out_ch, i, inner)
                continue
            code = self.construct(row, given(in_ch, row), self.bdef.body, i, False, inner)
            if isinstance(code, list):
                star = "" if isinstance(code, KeyedLayers) else "*"
                lines += code + [f"{' ' * inner}self.{row.name} = nn.Sequential({star}layers)"]
            else:
                lines += render(inner, f"self.{row.name} = ", code)
            if row.init:  # a block's rules read constants only: the class stays general
                rules = init_rules.resolve(row.init, {})
                lines += [" " * inner + ln for ln in init.source(rules, None, f"self.{row.name}")]
        return lines

    def later_repeats(self, row: Row, out_ch: str | None, path: tuple) -> tuple[Row, set]:
        """The row as its repeats after the first take it (first-only columns, the stride,
        left out) and those columns; E502 unless the later repeats keep ``out_ch``, so one
        loop of the generated class builds them all."""
        firsts = {p.name for p in self.ctx.ops[row.op].params if p.first_only}
        later = Row.model_validate({"op": row.op, "name": row.name, "n": row.n, **{
            k: v for k, v in row.args.items() if k not in firsts}})
        if out_ch is None or row_out(later, [out_ch], self.ctx, self.lets) != out_ch:
            from ..diagnostics import SpecError

            raise SpecError([self.bdef.document.diag(
                path, f"block {self.bdef.op!r}: the repeats of row {row.name!r} change their "
                "channels, so they cannot be one loop in the generated class", "E502",
                hint="write the repeats as rows of their own")])
        return later, firsts

    def stage(self, row: Row, in_ch: str | None, out_ch: str | None, i: int,
              indent: int) -> list[str]:
        """``self.NAME = nn.Sequential(*layers)`` of ``n`` repeats (ResNet's layer1 inside a
        block): first-only columns (stride) on the first; the rest read its output."""
        later, _ = self.later_repeats(row, out_ch, (*self.bdef.path, "body", i, "n"))
        body, pad = self.bdef.body, " " * indent
        first = self.construct(row, in_ch, body, i, False, indent)
        rest = self.construct(later, out_ch, body, i, False, indent + 4)
        count = f"{row.n - 1}" if isinstance(row.n, int) else pyexpr(f"({row.n}) - 1",
                                                                        self.rename)
        return [*render(indent, "layers: list[nn.Module] = ", List([first])),
                f"{pad}for _ in range({count}):",
                *render(indent + 4, "", Call("layers.append", [rest])),
                f"{pad}self.{row.name} = nn.Sequential(*layers)"]

    def cond_text(self, row: Row) -> str:
        return row.when if isinstance(row.when, str) else "false"

    def forward(self) -> list[str]:
        """forward(): a disabled row is skipped by the chain; a reference to it by name reads
        its first input (the semantics of :meth:`archc.graph.Expander.rows`)."""
        rows = self.bdef.body
        wanted = _needs_variable(rows, self.bdef.out)
        var = {"input": "x"}
        chain, lines = "x", []
        for i, row in enumerate(rows):
            if _inline_parameter(rows, i, self.bdef.out):
                var[row.name] = f"self.{row.name}"  # read where used: x + self.pos_embedding
                continue
            ins = [var[r] for r in _refs(row)] or [chain]
            named = row.name in wanted
            target = row.name if named else "out"
            if self._is_module(row):
                impl = self.ctx.ops[row.op] if row.op else None
                if isinstance(impl, Primitive):
                    call = impl.module_call(f"self.{row.name}",
                                            self.vals(row, impl, self.forward_rename), ins)
                else:
                    call = f"self.{row.name}({ins[0]})"
            else:
                impl = self.ctx.ops[row.op]
                vals = self.vals(row, impl, self.forward_rename)
                if row.op == "act":
                    self.note_activations(row)
                    if "inplace" not in row.args:
                        vals["inplace"] = Val(_may_overwrite(rows, i, 0, False))
                call = impl.call_source(vals, ins)
            lines += _step(row, 8)
            if not _conditional(row):
                lines += render(8, f"{target} = ", call)
                chain = target
            else:
                cond = (f"self.{row.name} is not None" if self._is_module(row)
                        else self.hoisted[i])
                start = ins[0] if named else chain
                if start != target:
                    lines.append(f"        {target} = {start}")
                follow = named and _chain_reads(rows, i, self.bdef.out) and target != chain
                if follow and chain != "out":
                    lines.append(f"        out = {chain}")
                lines.append(f"        if {cond}:")
                lines += render(12, f"{target} = ", call)
                if follow:
                    lines.append(f"            out = {target}")
                    chain = "out"
                else:
                    chain = target
            if row.name:
                var[row.name] = target
        result = var[self.bdef.out] if self.bdef.out else chain
        lines.append(f"        return {result}")
        return ["    def forward(self, x: Tensor) -> Tensor:", *lines]


def _inline_parameter(rows: list[Row], i: int, out: str | None) -> bool:
    """Whether row ``i`` is a learnable tensor read as it is (``self.layer_scale``): no
    condition, no expand, not the block's output, and the next row names its inputs (so no
    row reads it as the running value)."""
    row = rows[i]
    return (row.op == "param" and row.name is not None and not _conditional(row)
            and row.args.get("expand", False) is False and row.name != out
            and i + 1 < len(rows) and rows[i + 1].from_ is not None)


def _needs_variable(rows: list[Row], out: str | None) -> set[str]:
    """Rows whose value must outlive the chain variable: read by a row other than the next,
    or read by name while they branch off the chain (an explicit 'from'). Branches joined by
    one row keep their names, so the join reads symmetrically."""
    wanted = {out} if out else set()
    for i, row in enumerate(rows):
        if not row.name:
            continue
        readers = [j for j, r in enumerate(rows) if row.name in _refs(r)]
        joins = any(len([x for x in _refs(rows[j]) if x != "input"]) > 1 for j in readers)
        if any(j != i + 1 for j in readers) or (readers and row.from_ is not None) or joins:
            wanted.add(row.name)
    return wanted


def _is_expression(param, value) -> bool:
    """A column value written as an expression (not a number, nor a literal choice)."""
    return isinstance(value, str) and not (param.type == "str" and (
        param.choices is None or value in param.choices))


def _expressions(param, value) -> list[str]:
    """The expressions in a column value: itself, or the expression items of a list."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if _is_expression(param, value) else []


def _conditional(row: Row) -> bool:
    return row.when is not None and row.when is not True


def _refs(row: Row) -> list[str]:
    return [row.from_] if isinstance(row.from_, str) else list(row.from_ or [])


def _chain_reads(rows: list[Row], i: int, out: str | None) -> bool:
    """Whether the chain continues from row i (the next row reads it implicitly)."""
    if i + 1 < len(rows):
        return rows[i + 1].from_ is None
    return out is None


def _step(row: Row, indent: int) -> list[str]:
    return [f"{' ' * indent}# {comment(row.step)}"] if row.step else []


def docstring(text: str, extra: str, indent: int) -> list[str]:
    """A docstring wrapped to the line length; ``extra`` becomes a second paragraph."""
    import textwrap

    from .pysrc import LINE, docstring_text

    pad = " " * indent
    first = textwrap.wrap(docstring_text(text), LINE - indent - 6) or [""]
    if len(first) == 1 and not extra:
        return [f'{pad}"""{first[0]}"""']
    lines = [f'{pad}"""{first[0]}', *(pad + ln for ln in first[1:])]
    if extra:
        lines += ["", *(pad + ln for ln in textwrap.wrap(docstring_text(extra), LINE - indent))]
    return [*lines, f'{pad}"""']


def _doc(text: str) -> str:
    from .pysrc import docstring_text

    return docstring_text(text)


def block_call(bdef: BlockDef, in_ch: Val, vals: dict[str, Val], given: list[str]) -> Call:
    """``ClassName(in, out, key=value, ...)``: channels positional, given columns as keywords."""
    args = [str(in_ch)]
    for p in bdef.params:
        if p.pyname in OUT_NAMES:
            args.append(str(vals[p.name]))
    for p in bdef.params:
        if p.pyname not in OUT_NAMES and p.name in given:
            val = pair_val(vals[p.name]) if p.type == "int2" else vals[p.name]
            args.append(f"{p.pyname}={val}")
    return Call(bdef.class_name, args)
