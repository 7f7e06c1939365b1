"""Fuzzing the diagnostics: random malformed specs never crash archc.

Cases are mutations of valid specs (the committed ``specs/*.yaml`` and small generated ones):
keys (typos, random strings, unicode), values (wrong types, out-of-range and huge numbers, NaN,
hostile or broken expressions, very long strings), structure (dropped keys, lists and mappings
swapped, deep nesting, aliases, duplicate keys) and raw bytes (truncation, inserted bytes and
control characters, flipped characters, tabs). For each case the CLI, run in-process, must exit
0 (the mutation happened to stay valid) or 1, never 3 (internal error) nor raise; on exit 1 it
prints at least one ``PATH:LINE:COL: error[Ennn]: `` line inside the file, and no traceback; and
it finishes in under two seconds.

The ci profile runs at least 500 cases (derandomized); ``ARCHC_HYPOTHESIS_PROFILE=long`` runs
many more with random seeds. Bugs found here have plain regression tests at the end of this
file, marked ``xfail(strict=True)`` until they are fixed.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import re
import shutil
import signal
import time
import warnings
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from archc.cli import main

from ._hypothesis import profile, valid_specs
from .conftest import SPECS

HEADER = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): error\[E\d{3}\]: ",
                    re.MULTILINE)
TIME_LIMIT = 2.0  # seconds per case
HANG_LIMIT = 20  # seconds: a case still running then is stopped (and fails)
SEED_TEXTS = {p.name: p.read_text(encoding="utf-8") for p in sorted(SPECS.glob("*.yaml"))}
BASES = {name for name, text in SEED_TEXTS.items()
         if not re.search(r"^extends:", text, re.MULTILINE)}

# Small valid specs that exercise what the committed ones do not: user blocks with let/when/out,
# expressions over params, aux outputs, input whitening, scaling, a variant with a patch.
SMALL_SPECS = [
    """\
name: Tiny
input: [3, 32, 32]
params: {width_mult: 2, num_classes: 10}
norm: {eps: 0.001, momentum: 0.01}
blocks:
  res:
    doc: a residual unit
    params:
      c: {type: int, min: 1, scale: channels, py: out_channels}
      s: {type: int, default: 1, min: 1, first_only: true}
      e: {type: float, default: 2.0, min: 0}
      act: {type: str, default: relu, choices: [relu, silu]}
    let:
      hidden: max(1, round(in_channels * e))
      use_res: s == 1 and in_channels == c
    body:
      - {name: expand, op: conv, c: hidden, k: 1, bias: false}
      - {name: bn1, op: batch_norm}
      - {name: act1, op: act, fn: act}
      - {name: dw, op: conv, c: hidden, k: 3, s: s, groups: hidden, bias: false, when: e > 0}
      - {name: project, op: conv, c: c, k: 1}
      - {op: add, from: [input, project], when: use_res}
layers:
  - {name: stem, op: conv_norm_act, c: "8 * width_mult", s: 2, input_size: [3, 32, 32]}
  - name: features
    seq:
      - {op: res, c: 16, n: 2}
      - {op: res, c: 24, s: 2, act: silu}
      - seq: [{op: max_pool, k: 2, ceil: true}, {op: batch_norm}]
  - {op: global_avg_pool}
  - {op: flatten}
  - {name: classifier, op: linear, c: num_classes}
""",
    """\
name: Branchy
input: [4, 24, 24]
aux_outputs: [aux]
input_transform:
  scale: [0.5, 0.5, 0.5, 0.5]
  shift: [0.1, -0.1, "1 / 4", 0]
blocks:
  fork:
    params: {a: {type: int, min: 1}, b: {type: int, min: 1}, pool: {type: bool, default: false}}
    let: {half: "max(1, in_channels // 2)"}
    body:
      - {name: left, op: conv, c: a, k: 1, from: input}
      - name: right
        from: input
        seq: [{op: conv, c: half, k: 1}, {op: act, fn: relu}, {op: conv, c: b, k: 3}]
      - {name: pooled, op: max_pool, k: 3, s: 1, p: 1, from: input, when: pool}
      - {name: merged, op: concat, from: [left, right, pooled]}
      - {name: tail, op: act, fn: sigmoid, from: merged}
    out: merged
layers:
  - {name: stem, op: conv, c: 8, k: 3, s: 2}
  - {name: aux, from: stem, seq: [{op: global_avg_pool}, {op: flatten}, {op: linear, c: 3}]}
  - {name: fork1, op: fork, a: 4, b: 4, pool: true}
  - {name: skip, op: identity}
  - {name: branch, op: conv, c: 16, k: 3}
  - {op: add, from: [skip, branch]}
  - {name: gate, seq: [{op: global_avg_pool}, {op: conv, c: 16, k: 1}, {op: act, fn: sigmoid}]}
  - {op: mul, from: [skip, gate]}
  - {name: shuffle, op: channel_shuffle, groups: 4}
  - {name: drop, op: stochastic_depth, p: 0.1}
""",
    """\
name: Scaled
input: [3, 40, 40]
scaling: {width: 0.5, depth: 2.0, channels: make_divisible_8, repeats: ceil}
init: mobilenet
layers:
  - name: features
    seq:
      - {op: conv_norm_act, c: 32, s: 2, act: relu6}
      - {op: inverted_residual, t: 1, c: 16, n: 1}
      - {op: inverted_residual, t: 6, c: 24, n: 2, s: 2}
      - {op: mbconv, t: 6, k: 5, c: 40, s: 2, sd: "0.2 * block_index / block_count"}
      - {op: conv_act, c: 64, k: 3, bn: true, act: hardswish}
      - {op: dw_separable, c: 64, s: 2}
  - name: head
    seq:
      - {op: adaptive_avg_pool, size: 2}
      - {op: flatten}
      - {op: dropout, p: 0.2}
      - {op: linear, c: 10}
""",
    """\
extends: resnet18.yaml
name: ResNet18Tiny
input: [3, 64, 64]
params: {num_classes: 7}
patch:
  layer4: {n: 1}
  layer3: {c: 128}
""",
]

# Values a mutation can put anywhere: wrong types, out-of-range, huge, non-finite, hostile
# expressions and strings that are not expressions at all.
JUNK_EXPRESSIONS = [
    "__import__('os')", "__import__('os').system('true')", "1/0", "1 // 0", "1 % 0", "0 ** -1",
    "x.y", "a[0]", "lambda: 1", "(1,)", "[1, 2]", "{1: 2}", "10**100", "9**9**9", "2**64",
    "(-8) ** 0.5", "1j", "1e308 * 10", "nan", "inf", "float('nan')", "float('inf')",
    "int(float('nan'))", "round(float('inf'))", "ceil(1e400)", "make_divisible(1, 0)",
    "make_divisible(float('nan'))", "make_divisible(-5)", "max()", "min(1)", "'a' * 10**10",
    "'a' + 1", "1 if x else", "not", "1 <", "c.__class__", "open('x')", "print(1)", "eval('1')",
    "__builtins__", "in_channels", "block_index / block_count", "width * depth", "(a := 1)",
    "*a", "@", "`", "\\", "f'{1}'", "b'x'", "...", "1 < 'a'", "round(1, 10**10)", "x" * 600,
    "+".join(["1"] * 300), "(" * 100 + "1" + ")" * 100, "-" * 300 + "1", "not " * 200 + "true",
    "1 if 1 else " * 60 + "1", "int('1' * 5000)", "float('1' * 400)", "10 ** -400",
    "2.0 ** 1024", "'%s' % 1", "'{}'.format(1)", "num_classes * 1e20", "make_divisible(1e300)",
]
JUNK_STRINGS = ["", " ", "\t", "~", "null", "yes", "NaN", ".nan", "-.inf", "0x10", "1_000",
                "１２", "ｃ", "é", "\u200b", "\u202e", "\ufeff", "\x00", "\x1b[31m", "💥" * 3,
                "a" * 10_000, "line\nbreak", "\"quoted\"", "'", "{", "}", "[", "]", "&a", "*a",
                "!!python/object/apply:os.system ['true']", "<<", "%YAML 1.1", "---", "...",
                "relu6 ", "Relu", "None", "True", "conv\u0000"]
JUNK_NUMBERS = [0, -1, -7, 1, 2, 3, 10**6, 10**9, 10**15, 10**16, 2**63, -(2**63) - 1, 10**30,
                10**400, 0.5, -0.0, 1e-320, 1e308, float("nan"), float("inf"), float("-inf"),
                True, False, None]


OPS = ["conv", "batch_norm", "act", "linear", "dropout", "max_pool", "avg_pool", "global_avg_pool",
       "adaptive_avg_pool", "flatten", "add", "mul", "concat", "identity", "stochastic_depth",
       "channel_shuffle", "channel_affine", "conv_norm_act", "inverted_residual", "bneck",
       "squeeze_excitation", "mbconv", "dw_separable", "basic_block", "bottleneck", "basic_conv",
       "inception", "inception_aux", "conv_act", "split", "shuffle_unit", "res", "fork", "fire",
       "convv", "Conv", ""]


def _deep(value, depth: int, as_list: bool):
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


JUNK_VALUES = st.one_of(
    st.sampled_from(JUNK_NUMBERS),
    st.sampled_from(JUNK_EXPRESSIONS),
    st.sampled_from(JUNK_STRINGS),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.sampled_from([0, 1, -1, "a", None, 3.5, [1]]), max_size=4),
    st.dictionaries(st.sampled_from(["op", "c", "k", "name", "seq", "x", "", "1"]),
                    st.sampled_from([0, 8, "conv", None, [], {}]), max_size=3),
    st.builds(_deep, st.sampled_from([0, 8, "x"]), st.integers(2, 80), st.booleans()),
)
TYPO_CHARS = "abcdefghijklmnopqrstuvwxyz_0123456789-. :ｃéÅß\u200b\u0301"
YAML_CHARS = list(":-[]{}&*!,'\"\n #|>?%@`\t\\~<=") + ["\r", "\x00", "\x07", "\x1b", "\x7f",
                                                      "\x85", "\u2028", "\ufeff", "\u00a0"]


def event(message: str) -> None:
    """hypothesis.event, also callable from the plain regression tests."""
    if currently_in_test_context():
        _event(message)


# --------------------------------------------------------------------------- mutations
def _paths(node, prefix=()):
    """Every path to a mapping value or list item, with the node itself at the root ()."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _get(node, path):
    for seg in path:
        node = node[seg]
    return node


def _typo(draw, key: str) -> str:
    key = str(key)
    how = draw(st.sampled_from(["drop", "swap", "insert", "upper", "replace", "random"]))
    i = draw(st.integers(0, max(0, len(key) - 1)))
    if how == "drop" and key:
        return key[:i] + key[i + 1:]
    if how == "swap" and len(key) > 1:
        i = min(i, len(key) - 2)
        return key[:i] + key[i + 1] + key[i] + key[i + 2:]
    if how == "upper":
        return key.upper()
    if how == "replace" and key:
        return key[:i] + draw(st.sampled_from(TYPO_CHARS)) + key[i + 1:]
    if how == "random":
        return draw(st.text(min_size=0, max_size=12))
    return key[:i] + draw(st.sampled_from(TYPO_CHARS)) + key[i:]


@st.composite
def mutate_data(draw, data):
    """One structural mutation of a parsed spec (a deep copy)."""
    data = copy.deepcopy(data)
    paths = list(_paths(data))
    path = draw(st.sampled_from(paths))
    how = draw(st.sampled_from(["rename", "delete", "value", "value", "value", "swap_kind",
                                "nest", "alias", "wrap_root", "duplicate_item", "plausible",
                                "plausible", "plausible", "op"]))
    event(f"structural mutation: {how}")
    if how == "wrap_root":
        return draw(st.sampled_from([[data], {"spec": data}, data.get("layers", [])
                                     if isinstance(data, dict) else None, "just text", 3]))
    if not path:
        return draw(JUNK_VALUES)
    parent, last = _get(data, path[:-1]), path[-1]
    if how == "rename" and isinstance(parent, dict):
        value = parent.pop(last)
        parent[_typo(draw, last)] = value
    elif how == "delete":
        del parent[last]
    elif how == "swap_kind":
        value = parent[last]
        if isinstance(value, list):
            parent[last] = {str(i): v for i, v in enumerate(value)}
        elif isinstance(value, dict):
            parent[last] = draw(st.sampled_from([list(value.values()), list(value.items()),
                                                 list(value)]))
        else:
            parent[last] = [value]
    elif how == "nest":
        parent[last] = _deep(parent[last], draw(st.integers(1, 80)), draw(st.booleans()))
    elif how == "alias":  # the same object twice: yaml.safe_dump writes an anchor and an alias
        target = draw(st.sampled_from(paths))
        if path[:len(target)] != target:  # not an ancestor: no cycles
            parent[last] = _get(data, target)
    elif how == "duplicate_item" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    elif how == "plausible":  # a number that looks right: errors past the first stages
        numbers = [p for p in paths if p and isinstance(_get(data, p), (int, float))]
        if numbers:
            where = draw(st.sampled_from(numbers))
            _get(data, where[:-1])[where[-1]] = draw(st.one_of(
                st.integers(-2, 12), st.integers(0, 4096 if where[-1] != "n" else 64),
                st.sampled_from([0.0, 0.5, 1.5, 7.0]), st.booleans()))
    elif how == "op":  # another op, keeping the columns: unknown and missing columns
        rows = [p for p in paths if p and p[-1] == "op"]
        if rows:
            where = draw(st.sampled_from(rows))
            _get(data, where[:-1])[where[-1]] = draw(st.sampled_from(OPS))
    else:
        parent[last] = draw(JUNK_VALUES)
    return data


def _dump(data) -> str:
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    except (yaml.YAMLError, RecursionError, ValueError):
        return yaml.safe_dump(str(data)[:1000])


@st.composite
def mutate_text(draw, text: str) -> bytes:
    """One textual mutation of a spec's text, as bytes."""
    lines = text.splitlines(keepends=True) or [""]
    how = draw(st.sampled_from(["truncate", "insert", "insert_bytes", "flip", "tabs",
                                "delete_line", "duplicate_line", "swap_lines", "indent",
                                "yaml_construct", "number"]))
    event(f"text mutation: {how}")
    pos = draw(st.integers(0, len(text)))
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines) - 1))
    if how == "truncate":
        return text[:pos].encode("utf-8")
    if how == "insert":
        junk = draw(st.text(st.sampled_from(YAML_CHARS), min_size=1, max_size=6))
        return (text[:pos] + junk + text[pos:]).encode("utf-8")
    if how == "insert_bytes":
        raw = text.encode("utf-8")
        pos = min(pos, len(raw))
        return raw[:pos] + draw(st.binary(min_size=1, max_size=6)) + raw[pos:]
    if how == "flip" and text:
        pos = min(pos, len(text) - 1)
        return (text[:pos] + draw(st.sampled_from(YAML_CHARS + list(TYPO_CHARS)))
                + text[pos + 1:]).encode("utf-8")
    if how == "tabs":
        stripped = lines[i].lstrip(" ")
        lines[i] = "\t" * draw(st.integers(1, 2)) + stripped
    elif how == "delete_line":
        del lines[i]
    elif how == "duplicate_line":  # duplicate keys, in mappings
        lines.insert(i, lines[i])
    elif how == "swap_lines":
        lines[i], lines[j] = lines[j], lines[i]
    elif how == "indent":
        lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
    elif how == "yaml_construct":
        lines.insert(i, draw(st.sampled_from([
            "<<: *base\n", "base: &base {c: 8}\n", "x: *undefined\n", "--- \n", "...\n",
            "%YAML 1.2\n", "!!python/object/apply:os.system ['true']\n", "? [a, b]\n: 1\n",
            "a: !!binary aGVsbG8=\n", "a: &a [*a]\n", "  - &row {op: conv, c: 8, k: 3}\n",
            "  - *row\n", "a: |\n  text\n", "a: >-\n  folded\n", "'k': 1\n", "\"k\": 1\n",
            "k: 1 # comment\n", "{\n", "[\n", "name: Twice\n", "layers: []\n", "input: 3\n",
        ])))
    else:  # number: replace a digit run with a huge, negative or fractional number
        match = list(re.finditer(r"\d+", text))
        if match:
            m = draw(st.sampled_from(match))
            new = draw(st.sampled_from(["0", "-1", "99999999999999999999", "1e999", "0.5",
                                        "1_0", "0x1F", "+3", ".5", "1e-999", "٣"]))
            return (text[:m.start()] + new + text[m.end():]).encode("utf-8")
    return "".join(lines).encode("utf-8")


# --------------------------------------------------------------------------- running a case
class _Hang(BaseException):
    """Raised by the alarm in a case that runs too long (not an Exception: archc's catch-all
    cannot swallow it)."""


def run_cli(args: list[str]) -> tuple[int, str, str, float]:
    """archc's CLI in-process, under an alarm: (exit code, stdout, stderr, seconds)."""

    def on_alarm(signum, frame):
        raise _Hang()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_LIMIT, 1.0)  # again every second, if swallowed
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    except _Hang:
        pytest.fail(f"archc {' '.join(args)} still running after {HANG_LIMIT} s (a hang)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - start


def _lines(path: str) -> list[list[str]] | None:
    """The file's lines, as YAML 1.2 counts them (CR, LF, CRLF end a line) and as YAML 1.1 and
    PyYAML do (NEL, LS and PS too)."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    return [re.split("\r\n|[\r\n]", text), re.split("\r\n|[\r\n\x85\u2028\u2029]", text)]


def _slow_case(args: list[str], code: int, output: str, seconds: float) -> None:
    """Slow is a failure, but for big models: within the default budget (200,000 layers) a
    model can take seconds to check (efficientnet_b0 with scaling.depth 574: 138,000 layers,
    12 s, then E005 for its activations). A case is slow only because it is big when it is
    fast under a small layer budget."""
    small = run_cli([*args, "--max-layers", "5000"])
    if small[3] < TIME_LIMIT and (small[0] == code or "E005" in small[1] + small[2]):
        event("slow: a model of more than 5,000 layers")
        return
    pytest.fail(f"archc {' '.join(args)} took {seconds:.2f} s (exit {code})")


def check_outcome(args: list[str], code: int, out: str, err: str, seconds: float,
                  json_format: bool = False) -> None:
    """The properties every case must have (see the module docstring)."""
    known = [bug for parts, bug in KNOWN_INTERNAL_ERRORS if all(p in err for p in parts)]
    if code == 3 and known:
        event(f"known bug: {known[0]}")
        return
    assert code in (0, 1), f"exit {code} (3 is an internal error):\n{err}"
    assert "Traceback" not in err and "Traceback" not in out, err
    assert "internal error" not in err, err
    if seconds >= TIME_LIMIT:
        _slow_case(args, code, out + err, seconds)
    event(f"exit {code}")
    if code == 0:
        return
    if json_format:
        diags = json.loads(out)
        assert diags, "exit 1 without diagnostics"
        located = [(d["file"], d["line"], d["column"]) for d in diags]
    else:
        located = [(m.group("path"), int(m.group("line")), int(m.group("col")))
                   for m in HEADER.finditer(err)]
        assert located, f"exit 1 without a located 'PATH:LINE:COL: error[Ennn]: ' line:\n{err}"
    for path, line, col in located:
        assert line >= 1 and col >= 1, (path, line, col, err)
        readings = _lines(path)
        assert readings is not None, f"diagnostic names {path!r}, which is not a file"
        if any(_within(lines, line, col) for lines in readings):
            continue
        lines = readings[1]
        assert line <= len(lines) + 1, f"{path}:{line}:{col} is past the end ({len(lines)} lines)"
        pytest.fail(f"{path}:{line}:{col} is past the end of its line:\n{err}")


# Internal errors of known bugs (parts of the message), with their regression tests at the end
# of this file.
KNOWN_INTERNAL_ERRORS: list[tuple[tuple[str, ...], str]] = []


def _within(lines: list[str], line: int, col: int) -> bool:
    """LINE:COL is in the file: at most one past the last line, one past a line's end."""
    if line > len(lines):
        return line == len(lines) + 1 and col == 1
    return col <= len(lines[line - 1]) + 2


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of the committed specs, so variants find their bases; cases are written here."""
    root = tmp_path_factory.mktemp("fuzz")
    for name in SEED_TEXTS:
        shutil.copy(SPECS / name, root / name)
    # warm up: the first compile imports and builds what later cases reuse
    run_cli(["check", str(root / "lenet5.yaml")])
    return root


def check_case(workdir: Path, data: bytes, command: str = "check",
               extra: tuple[str, ...] = ()) -> None:
    path = workdir / "case.yaml"
    path.write_bytes(data)
    args = {"check": ["check", str(path)],
            "summary": ["summary", str(path)],
            "build": ["build", str(path), "-o", str(workdir / "out"), "--force"],
            "diff": ["diff", str(workdir / "resnet18.yaml"), str(path)]}[command]
    args += list(extra)
    code, out, err, seconds = run_cli(args)
    check_outcome(args, code, out, err, seconds, json_format="json" in extra)
    if command == "build" and code == 0:  # what it wrote is Python
        ast.parse((workdir / "out" / "case.py").read_text(encoding="utf-8"))


COMMANDS = st.sampled_from(["check", "check", "check", "summary", "build", "diff"])
SEED_NAMES = st.sampled_from(sorted(SEED_TEXTS))


# --------------------------------------------------------------------------- the fuzz tests
@profile(ci=400, long=8000)
@given(name=SEED_NAMES, data=st.data(), command=COMMANDS)
def test_structural_mutations_of_committed_specs(workdir, name, data, command):
    spec = yaml.safe_load(SEED_TEXTS[name])
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        spec = data.draw(mutate_data(spec), label="structural")
    check_case(workdir, _dump(spec).encode("utf-8"), command)


@profile(ci=300, long=8000)
@given(name=SEED_NAMES, data=st.data(), command=COMMANDS)
def test_text_mutations_of_committed_specs(workdir, name, data, command):
    raw = SEED_TEXTS[name].encode("utf-8")
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        raw = data.draw(mutate_text(raw.decode("utf-8", errors="replace")), label="text")
    check_case(workdir, raw, command)


@profile(ci=200, long=5000)
@given(data=st.data(), json_format=st.booleans())
def test_mutations_of_small_specs(workdir, data, json_format):
    if data.draw(st.booleans(), label="generated seed"):
        spec = data.draw(valid_specs(max_rows=3), label="seed").data
    else:
        spec = yaml.safe_load(data.draw(st.sampled_from(SMALL_SPECS), label="seed"))
    if data.draw(st.booleans(), label="structural"):
        spec = data.draw(mutate_data(spec), label="structural mutation")
    raw = _dump(spec)
    if data.draw(st.booleans(), label="textual"):
        out = data.draw(mutate_text(raw), label="text mutation")
    else:
        out = raw.encode("utf-8")
    check_case(workdir, out, extra=("--format", "json") if json_format else ())


@profile(ci=100, long=3000)
@given(data=st.data(), expression=st.one_of(st.sampled_from(JUNK_EXPRESSIONS),
                                            st.text(st.sampled_from(list(
                                                "0123456789+-*/%().<>=! abcxin_'e")),
                                                max_size=30)))
def test_junk_expressions_in_every_expression_position(workdir, data, expression):
    """A junk expression as a column, a repeat count, a condition, a let or a param default."""
    spec = yaml.safe_load(SMALL_SPECS[0])
    targets = [("layers", 0, "c"), ("layers", 1, "seq", 0, "n"), ("layers", 1, "seq", 1, "s"),
               ("layers", 4, "c"), ("blocks", "res", "let", "hidden"),
               ("blocks", "res", "let", "use_res"), ("blocks", "res", "body", 3, "when"),
               ("blocks", "res", "body", 0, "c"), ("blocks", "res", "params", "e", "default"),
               ("layers", 1, "seq", 2, "seq", 0, "k"), ("params", "width_mult")]
    path = data.draw(st.sampled_from(targets), label="where")
    _get(spec, path[:-1])[path[-1]] = expression
    check_case(workdir, _dump(spec).encode("utf-8"))


SETTINGS = [("input",), ("input", 0), ("input", 1), ("name",), ("init",), ("params",),
            ("params", "num_classes"), ("params", "width_mult"), ("norm",), ("norm", "eps"),
            ("norm", "momentum"), ("scaling",), ("scaling", "width"), ("scaling", "depth"),
            ("scaling", "channels"), ("scaling", "repeats"), ("aux_outputs",),
            ("input_transform",), ("input_transform", "scale"), ("input_transform", "shift", 1),
            ("blocks",), ("blocks", "res", "params", "c", "min"), ("blocks", "res", "let"),
            ("blocks", "res", "out"), ("blocks", "res", "inline"), ("blocks", "res", "class_name"),
            ("layers",), ("layers", 0), ("layers", 0, "input_size"), ("layers", 1, "seq"),
            ("features",), ("extends",), ("patch",), ("description",), ("paper",)]


@profile(ci=100, long=3000)
@given(data=st.data(), where=st.sampled_from(SETTINGS), value=JUNK_VALUES)
def test_junk_in_every_setting(workdir, data, where, value):
    """A junk value for each top-level setting and block field of a small valid spec."""
    spec = yaml.safe_load(data.draw(st.sampled_from(SMALL_SPECS[:3]), label="seed"))
    parent = spec
    for seg in where[:-1]:
        if isinstance(parent, dict):
            parent = parent.setdefault(seg, {})
        elif isinstance(parent, list) and isinstance(seg, int) and seg < len(parent):
            parent = parent[seg]
    if isinstance(parent, dict) or (isinstance(parent, list) and where[-1] < len(parent)):
        parent[where[-1]] = value
    check_case(workdir, _dump(spec).encode("utf-8"))


# Every primitive column a block param can flow into, with the row around it (for spatial ops
# the input is [8, 8, 8]; linear and batch_norm after flatten get a flat input).
COLUMNS = [("conv", c, "{op: conv, c: 8, k: 3, COL}") for c in ("c", "k", "s", "p", "d", "groups",
                                                                "bias")] + [
    ("batch_norm", "eps", "{op: batch_norm, COL}"),
    ("batch_norm", "momentum", "{op: batch_norm, COL}"),
    ("act", "fn", "{op: act, COL}"),
    ("dropout", "p", "{op: dropout, COL}"),
    ("max_pool", "k", "{op: max_pool, k: 2, COL}"), ("max_pool", "s", "{op: max_pool, k: 2, COL}"),
    ("avg_pool", "p", "{op: avg_pool, k: 2, COL}"),
    ("avg_pool", "ceil", "{op: avg_pool, k: 2, COL}"),
    ("adaptive_avg_pool", "size", "{op: adaptive_avg_pool, COL}"),
    ("channel_shuffle", "groups", "{op: channel_shuffle, COL}"),
    ("stochastic_depth", "p", "{op: stochastic_depth, COL}"),
    ("stochastic_depth", "mode", "{op: stochastic_depth, p: 0.1, COL}"),
    ("conv_norm_act", "act", "{op: conv_norm_act, c: 8, COL}"),
    ("conv_norm_act", "k", "{op: conv_norm_act, c: 8, COL}"),
    ("inverted_residual", "t", "{op: inverted_residual, c: 8, COL}"),
    ("squeeze_excitation", "squeeze", "{op: squeeze_excitation, COL}"),
]
PARAM_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 12),
                         st.sampled_from([0.0, 0.5, 2.5, -1.0, float("inf"), "relu", "row",
                                          "x", "", "in_channels", "1 + 1"]))


@profile(ci=100, long=3000)
@given(column=st.sampled_from(COLUMNS), kind=st.sampled_from(["int", "float", "bool", "str"]),
       default=st.one_of(st.just("absent"), PARAM_VALUES), optional=st.booleans(),
       first_only=st.booleans(), given_value=st.one_of(st.just("absent"), PARAM_VALUES),
       repeats=st.sampled_from([None, 1, 2]), extras=st.dictionaries(
           st.sampled_from(["min", "max", "choices", "scale"]),
           st.sampled_from([0, 1, -1, 0.5, [1, 2], ["relu"], "channels", None]), max_size=2))
def test_block_params_into_every_column(workdir, column, kind, default, optional, first_only,
                                        given_value, repeats, extras):
    """A block param of any type, default, bounds and optionality, used as a primitive's (or a
    library block's) column, given or not by the row, repeated or not."""
    _, col, body = column
    param: dict = {"type": kind, **extras}
    if default != "absent":
        param["default"] = default
    if optional:
        param["optional"] = True
    if first_only:
        param["first_only"] = True
    row: dict = {"name": "b", "op": "blk"}
    if given_value != "absent":
        row["v"] = given_value
    if repeats is not None:
        row["n"] = repeats
    text = (f"name: T\ninput: [8, 8, 8]\nblocks:\n  blk:\n    params:\n"
            f"      v: {json.dumps(param)}\n    body:\n"
            f"      - {body.replace('COL', f'{col}: v')}\n"
            f"layers:\n  - {json.dumps(row)}\n")
    check_case(workdir, text.encode("utf-8"), "build")


@profile(ci=60, long=2000)
@given(data=st.data())
def test_mutated_base_of_a_variant(workdir, data):
    """Errors in a base file are reported in the base file, inside it."""
    variant, base = data.draw(st.sampled_from([("resnet101.yaml", "resnet50.yaml"),
                                               ("efficientnet_b3.yaml", "efficientnet_b0.yaml"),
                                               ("mobilenet_v2_x0_5.yaml",
                                                "mobilenet_v2.yaml")]), label="variant")
    text = SEED_TEXTS[base]
    if data.draw(st.booleans(), label="structural"):
        raw = _dump(data.draw(mutate_data(yaml.safe_load(text)), label="mutation")).encode()
    else:
        raw = data.draw(mutate_text(text), label="mutation")
    (workdir / "base_case.yaml").write_bytes(raw)
    variant_text = SEED_TEXTS[variant].replace(f"extends: {base}", "extends: base_case.yaml")
    check_case(workdir, variant_text.encode("utf-8"))


OVERRIDE_KEYS = ["num_classes", "dropout", "width", "scaling.width", "scaling.depth",
                 "norm.eps", "norm.momentum", "input", "name", "init", "layers", "layers.0",
                 "layers.0.c", "params", "params.x", "scaling", "a..b", ".", "", " ", "x.y.z",
                 "blocks", "patch", "extends", "aux_outputs", "input_transform.scale", "ｃ"]


@profile(ci=60, long=2000)
@given(name=st.sampled_from(["mobilenet_v2.yaml", "resnet18.yaml", "lenet5.yaml",
                             "efficientnet_b1.yaml"]),
       key=st.one_of(st.sampled_from(OVERRIDE_KEYS), st.text(max_size=10)),
       value=st.one_of(st.sampled_from([str(v) for v in JUNK_NUMBERS] + JUNK_STRINGS[:30]
                                       + JUNK_EXPRESSIONS[:20]), st.text(max_size=10)),
       separator=st.sampled_from(["=", "=", ":", "=="]))
def test_junk_overrides(workdir, name, key, value, separator):
    """--set KEY=VALUE with junk keys and values: a located error or a valid spec."""
    assume("\x00" not in key + value)  # not representable in a command line
    args = ["check", str(workdir / name), f"--set={key}{separator}{value}"]
    code, out, err, seconds = run_cli(args)
    assert code in (0, 1), f"exit {code}:\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert seconds < TIME_LIMIT
    if code == 1:
        assert HEADER.search(err), err


# --------------------------------------------------------------------------- regression tests
# Minimal cases of bugs the fuzzing found. Fixed ones are plain tests; those still open are
# marked xfail(strict=True) with the bug in their reason.


def _check_file(path: Path, *extra: str) -> tuple[int, str]:
    args = ["check", str(path), *extra]
    code, out, err, seconds = run_cli(args)
    check_outcome(args, code, out, err, seconds)
    return code, err


@pytest.mark.parametrize("name", ["[a]", "{x: 1}"])
def test_patch_over_a_row_with_a_list_name(tmp_path, name):
    """Was: exit 3, internal error: TypeError: unhashable type: 'list'."""
    (tmp_path / "base.yaml").write_text("name: Base\ninput: [3, 8, 8]\nlayers:\n"
                                        f"  - {{name: {name}, op: conv, c: 4, k: 3}}\n",
                                        encoding="utf-8")
    variant = tmp_path / "variant.yaml"
    variant.write_text("extends: base.yaml\npatch:\n  a: {c: 8}\n", encoding="utf-8")
    assert _check_file(variant)[0] == 1


def test_layer_budget_fails_fast(tmp_path):
    """Was: repeats of a block under --max-layers whose rows expand past it were found only
    while expanding: 5 s for this row (21 s for an mbconv row in efficientnet_b0)."""
    path = tmp_path / "spec.yaml"
    path.write_text("name: T\ninput: [16, 8, 8]\nlayers:\n"
                    "  - {name: f, op: basic_block, c: 16, n: 100000}\n", encoding="utf-8")
    code, _, err, seconds = run_cli(["check", str(path)])
    assert code == 1 and "E005" in err
    assert seconds < TIME_LIMIT, f"took {seconds:.2f} s"


def test_layer_budget_error_is_located_in_the_spec(tmp_path):
    """Was: located in archc's own library file (archc/ops/library/classic.yaml:38:9)."""
    path = tmp_path / "spec.yaml"
    path.write_text("name: T\ninput: [16, 8, 8]\nlayers:\n"
                    "  - {name: f, op: basic_block, c: 16, n: 10}\n", encoding="utf-8")
    code, err = _check_file(path, "--max-layers", "50")
    header = HEADER.search(err)
    assert code == 1 and header, err
    assert header.group("path") == str(path) and header.group("line") == "4", err


def _first_location(path: Path) -> tuple[int, int]:
    code, _, err, _ = run_cli(["check", str(path)])
    header = HEADER.search(err)
    assert code == 1 and header, err
    return int(header.group("line")), int(header.group("col"))


@pytest.mark.parametrize("raw, where", [
    ('name: "\u00e9\u00e9\u00e9\x07"\n'.encode(), {(1, 11)}),
    (b"a: 1\rb: \x07\n", {(2, 4)}),
    ("\x85\x07name: T\n".encode(), {(2, 1), (1, 2)}),  # NEL: a line break in YAML 1.1 only
])
def test_control_characters_are_located_where_they_are(tmp_path, raw, where):
    """Was: located from the reader's position with only '\\n' as a line break: 2:1 (past the
    end) for the first case, 1:9 and 1:3 (past the end of the line shown) for the others."""
    path = tmp_path / "spec.yaml"
    path.write_bytes(raw)
    assert _first_location(path) in where


def test_bytes_that_are_not_utf8_are_located_where_they_are(tmp_path):
    """Was: located counting only '\\n' as a line break: 1:9, past the end of line 1."""
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"a: 1\rb: \x80\n")
    assert _first_location(path) == (2, 4)


@pytest.mark.parametrize("base", ['"' + "x" * 300 + '.yaml"', '"a\\0b.yaml"'])
def test_extends_names_an_impossible_file(tmp_path, base):
    """Was: exit 3, internal error: OSError: [Errno 36] File name too long / ValueError:
    embedded null byte."""
    path = tmp_path / "spec.yaml"
    path.write_text(f"extends: {base}\nname: T\n", encoding="utf-8")
    args = ["check", str(path)]
    code, out, err, seconds = run_cli(args)
    assert code == 1 and "internal error" not in err, err
    check_outcome(args, code, out, err, seconds)


@pytest.mark.parametrize("scaling", ["{width: .inf}", "{depth: .inf}", "{width: 1e999}",
                                     "{depth: .inf, repeats: floor}"])
def test_infinite_scaling_is_a_located_error(tmp_path, scaling):
    """Was: exit 3, internal error: OverflowError: cannot convert float infinity to integer."""
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: T\ninput: [3, 8, 8]\nscaling: {scaling}\nlayers:\n"
                    "  - {name: c, op: conv, c: 8, k: 3, n: 2}\n", encoding="utf-8")
    code, err = _check_file(path)
    assert code == 1 and ":3:" in err.splitlines()[0], err


@pytest.mark.parametrize("scaling", ["{width: 1e308}", "{depth: 1e308}",
                                     "{width: 1e308, channels: round}"])
def test_huge_scaling_is_a_located_error(tmp_path, scaling):
    """Was: exit 3, internal error: OverflowError: cannot convert float infinity to integer
    (c * width or n * depth overflowed to infinity)."""
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: T\ninput: [3, 8, 8]\nscaling: {scaling}\nlayers:\n"
                    "  - {name: c, op: conv, c: 8, k: 3, n: 2}\n", encoding="utf-8")
    code, err = _check_file(path)
    assert code == 1 and ":3:" in err.splitlines()[0], err


def test_infinite_norm_eps_is_rejected_like_the_column(tmp_path):
    """Was: accepted (every batch_norm then gave zeros), unlike a batch_norm row's eps: .inf."""
    path = tmp_path / "spec.yaml"
    path.write_text("name: T\ninput: [3, 8, 8]\nnorm: {eps: .inf}\nlayers:\n"
                    "  - {name: bn, op: batch_norm}\n", encoding="utf-8")
    code, err = _check_file(path)
    assert code == 1 and ":3:" in err.splitlines()[0], err


@pytest.mark.parametrize("param, body, row", [
    ("{type: int, optional: true}", "{op: conv, c: 8, k: v}", "{name: l, op: b}"),
    ("{type: int, optional: true}", "{op: conv, c: 8, k: 3, d: v}", "{name: l, op: b}"),
    ("{type: int, optional: true}", "{op: conv, c: 8, k: 3, groups: v}", "{name: l, op: b}"),
    ("{type: int, default: null, first_only: true}", "{op: conv, c: 8, k: 3, s: v}",
     "{name: l, op: b, v: 1, n: 2}"),
    ("{type: str, optional: true}", "{op: act, fn: v}", "{name: l, op: b}"),
    ("{type: float, optional: true}", "{op: dropout, p: v}", "{name: l, op: b}"),
    ("{type: bool, optional: true}", "{op: avg_pool, k: 2, ceil: v}", "{name: l, op: b}"),
    ("{type: float, optional: true}", "{op: batch_norm, eps: v}", "{name: l, op: b}"),
])
def test_null_block_param_in_a_primitive_column(tmp_path, param, body, row):
    """A located error, or a live model and a generated module that both build and run.
    Was: exit 3 for conv k, s, d, groups (TypeError: unsupported operand type(s) ...
    'NoneType') and act fn (KeyError: None); check exit 0 but no model for dropout p and
    avg_pool ceil; for batch_norm eps the generated module passed eps=None and failed."""
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: T\ninput: [8, 8, 8]\nblocks:\n  b:\n    params:\n      v: {param}\n"
                    f"    body:\n      - {body}\nlayers:\n  - {row}\n", encoding="utf-8")
    code, err = _check_file(path)
    if code == 1:
        return
    torch = pytest.importorskip("torch")
    import archc

    namespace: dict = {}
    exec(compile(archc.generate(path), str(path), "exec"), namespace)
    for model in (archc.build_model(path).eval(), namespace["T"]().eval()):
        with torch.no_grad():
            model(torch.zeros(1, 8, 8, 8))


def test_expressions_raise_no_python_warnings(tmp_path):
    """'1if 1 else 2' made 'archc check' print Python's '<unknown>:1: SyntaxWarning: invalid
    decimal literal' to stderr, unlocated, beside the diagnostics (fixed: expr.parse)."""
    path = tmp_path / "spec.yaml"
    path.write_text('name: T\ninput: [3, 8, 8]\nlayers:\n'
                    '  - {name: a, op: conv, c: "1if 1 else 2", k: 3}\n', encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err, _ = run_cli(["check", str(path)])
    assert code in (0, 1) and "internal error" not in err
    assert not [str(w.message) for w in caught if issubclass(w.category, SyntaxWarning)]
