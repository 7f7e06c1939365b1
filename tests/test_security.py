"""Specs are untrusted input: hostile strings cannot break out of generated code, generated
modules import only torch and the standard library and do nothing on import, and archc's own
source never evaluates, imports or unpickles anything named by spec data."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

import archc

from .conftest import ROOT

HOSTILE = [
    'x"""\nimport os; os.system("touch PWNED")\n"""',
    "line\nimport os\nos.system('touch PWNED')",
    "'''; import os #",
    '"; import os; os.system("touch PWNED"); "',
    "{{ config }} {% for x in y %}{{ x }}{% endfor %}",
    "# comment\r\nimport os",
    "\\\\\" \\n \\x00 trailing backslash \\",
    "unicode \u2028 line separator \u2029 para \x85 nel \u202e rtl",
    "\x00\x01\x1b[31m control \x7f",
    '"' * 7,
    "\\",
    "é中文🚀 ok",
]

TEMPLATE = {
    "name": "Hostile",
    "description": None,
    "paper": {"title": None, "authors": None, "url": None, "table": None},
    "reference": None,
    "input": [3, 16, 16],
    "params": {"note": None},
    "blocks": {
        "unit": {
            "doc": None,
            "paper": None,
            "params": {"c": {"type": "int", "doc": None}},
            "body": [{"name": "conv", "op": "conv", "c": "c", "k": 3, "step": None}],
        }
    },
    "layers": [
        {"name": "stem", "op": "unit", "c": 4, "step": None},
        {"name": "features", "seq": [{"op": "conv_norm_act", "c": 4, "step": None}]},
    ],
}


def _fill(node, value):
    if isinstance(node, dict):
        return {k: (value if v is None else _fill(v, value)) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, value) for v in node]
    return node


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_stay_inside_literals_and_comments(hostile, tmp_path):
    spec = tmp_path / "hostile.yaml"
    spec.write_text(yaml.safe_dump(_fill(TEMPLATE, hostile), allow_unicode=True),
                    encoding="utf-8")
    source = archc.generate(spec)
    tree = ast.parse(source)  # still valid Python
    imports = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imports.add(node.module.split(".")[0])
    assert imports <= {"torch", "math", "warnings"}, imports
    # top level holds only the docstring, imports, functions, classes and the weights table
    for node in tree.body:
        if isinstance(node, ast.Assign):  # _WEIGHTS = {...}: a literal, nothing it could run
            assert [ast.unparse(t) for t in node.targets] == ["_WEIGHTS"]
            ast.literal_eval(node.value)
            continue
        assert isinstance(node, (ast.Expr, ast.Import, ast.ImportFrom, ast.FunctionDef,
                                 ast.ClassDef)), ast.dump(node)[:80]
        if isinstance(node, ast.Expr):
            assert node is tree.body[0] and isinstance(node.value, ast.Constant)
    # the payload survives only as text: no code anywhere names os or system
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Name) and node.id in ("os", "PWNED"))
        assert not (isinstance(node, ast.Attribute) and node.attr == "system")
    # importing it creates nothing and prints nothing
    target = tmp_path / "hostile.py"
    target.write_text(source, encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", "import hostile"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("bad", ["Exception", "Tensor", "Class", "A b", "Ünicode", "__X"])
def test_class_names_are_validated(bad, write_spec):
    path = write_spec(f"name: {yaml.safe_dump(bad).splitlines()[0]}\ninput: [3, 8, 8]\n"
                      "layers:\n  - {name: c, op: conv, c: 4, k: 3}\n")
    if bad == "Class":
        archc.compile_spec(path)  # a valid CamelCase name
        return
    with pytest.raises(archc.SpecError):
        archc.compile_spec(path)


@pytest.mark.parametrize("bad", ["max", "print", "class", "__init__", "x", "torch", "Conv"])
def test_row_and_param_names_are_validated(bad, write_spec):
    as_row = write_spec(f"name: X\ninput: [3, 8, 8]\nlayers:\n  - {{name: {bad}, op: conv, "
                        "c: 4, k: 3}\n")
    if bad == "Conv":  # module names may carry capitals, as torchvision's do (Conv2d_1a_3x3)
        assert archc.compile_spec(as_row).params == 112
    else:
        with pytest.raises(archc.SpecError):
            archc.compile_spec(as_row)
    as_param = write_spec(f"name: X\ninput: [3, 8, 8]\nblocks:\n  u:\n    params: {{{bad}: "
                          "{type: int}}\n    body: [{name: c, op: conv, c: 4, k: 3}]\n"
                          "layers:\n  - {name: u, op: u}\n", "p.yaml")
    with pytest.raises(archc.SpecError):
        archc.compile_spec(as_param)


# --------------------------------------------------------------------------- source scan
SOURCE = sorted((ROOT / "archc").rglob("*.py"))
BANNED_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint", "input"}
BANNED_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}
UNSAFE_YAML = {"load", "load_all", "unsafe_load", "full_load", "Loader", "UnsafeLoader",
               "FullLoader"}


def _is_audited_exec(path: Path, tree: ast.Module, call: ast.Call) -> bool:
    """The one exec (and its compile) archc has: torch_backend.load_program runs generated
    source, and only after audit_source passed it in the same function."""
    if path.name != "torch_backend.py" or call.func.id not in ("exec", "compile"):
        return False
    [fn] = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "load_program"]
    inside = any(n is call for n in ast.walk(fn))
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    audit = [n.lineno for n in calls if n.func.id == "audit_source"]
    return inside and bool(audit) and min(audit) < call.lineno


@pytest.mark.parametrize("path", SOURCE, ids=lambda p: str(p.relative_to(ROOT)))
def test_source_has_no_dynamic_code_or_unsafe_loading(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if _is_audited_exec(path, tree, node):
                continue
            assert node.func.id not in BANNED_CALLS, where
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not any(n.split(".")[0] in BANNED_MODULES for n in names), where
            if any(n.split(".")[0] == "importlib" for n in names):
                # only entry points of installed packages, never a name from a spec
                assert path.name == "registry.py" and "metadata" in ast.unparse(node), where
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id == "yaml":
            assert node.attr not in UNSAFE_YAML, where
        if isinstance(node, ast.Call) and any(k.arg == "shell" for k in node.keywords):
            raise AssertionError(f"{where}: subprocess with shell=")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("import_module", "getattr") and path.name != "registry.py":
            raise AssertionError(where)


def test_getattr_only_on_fixed_tables():
    """getattr(nn, ...) picks classes from archc's own tables, never from spec text."""
    for path in SOURCE:
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if "getattr(nn" in line or "getattr(nn.init" in line:
                assert any(key in line for key in ("cls", "self.cls", "rule.fn", "c)")), line


def test_yaml_tags_cannot_construct_objects(write_spec):
    path = write_spec(textwrap.dedent("""
        name: X
        input: !!python/object/apply:os.system ["touch PWNED"]
        layers: []
    """))
    with pytest.raises(archc.SpecError, match="not allowed"):
        archc.compile_spec(path)
    assert not Path("PWNED").exists()


# --------------------------------------------------------------------------- expression strings
def _spell(value: str) -> str:
    """An archc-language literal for ``value`` without backslashes: implicitly concatenated
    pieces, each in the quote kind it does not contain (expressions reject backslashes)."""
    pieces, current, quote = [], "", None
    for ch in value:
        need = "'" if ch == '"' else '"' if ch == "'" else None
        if need and quote and quote != need:
            pieces.append(quote + current + quote)
            current = ""
        quote = need or quote
        current += ch
    pieces.append((quote or '"') + current + (quote or '"'))
    return " ".join(pieces)


def _chrs(text: str) -> str:
    return "+".join(f"chr({ord(c)})" for c in text)


# The string after the first constant ends, for a quote rewriter that mistakes `\'` for the end
# of a string, in code: `__import__("os").system("touch CANARY")`.
PAYLOAD = f"__import__({_chrs('os')}).system({_chrs('touch CANARY')})"
TRAP = (f"{_spell(chr(34) + 'x')} if k2 else "
        f"{_spell(chr(39) + chr(34) + '+' + PAYLOAD + '+' + chr(34) + chr(39))}")
PLACES = {
    "let": {"let": {"tag": TRAP}, "row": {}},
    "when": {"let": {}, "row": {"when": f"({TRAP}) != 'q'"}},
    "column": {"let": {}, "row": {"c": f"c if ({TRAP}) != 'q' else c"}},
}


def test_string_constants_in_expressions_cannot_end_their_string(tmp_path):
    """Issue 9.1: a string constant holding both quote kinds in a let, when or column
    expression stays one constant in the generated module: instantiating it runs nothing.
    (One subprocess for the three places: importing torch dominates.)"""
    for place, where in PLACES.items():
        row = {"name": "conv", "op": "conv", "c": "c", "k": 3, **where["row"]}
        spec = {"name": "Trap", "input": [3, 8, 8],
                "blocks": {"unit": {"params": {"c": {"type": "int"},
                                               "k2": {"type": "int", "default": 0}},
                                    **({"let": where["let"]} if where["let"] else {}),
                                    "body": [row, {"name": "bn", "op": "batch_norm"}]}},
                "layers": [{"name": "stem", "op": "unit", "c": 4}]}
        path = tmp_path / f"trap_{place}.yaml"
        path.write_text(yaml.safe_dump(spec, width=10_000), encoding="utf-8")
        (tmp_path / f"trap_{place}.py").write_text(archc.generate(path), encoding="utf-8")
    script = "; ".join(f"import trap_{p}; trap_{p}.trap_{p}()" for p in PLACES)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert not (tmp_path / "CANARY").exists()
    assert result.returncode == 0, result.stderr[-2000:]


# --------------------------------------------------------------------------- generated-code audit
GENERATED = sorted((ROOT / "generated").glob("*.py"))
CLEAN = (ROOT / "generated" / "lenet5.py").read_text(encoding="utf-8")
METHOD = "    def forward(self, x: Tensor) -> Tensor:\n"
MALICIOUS = {
    "import os": ("top", "import os"),
    "from os import": ("top", "from os import system"),
    "from torch import other": ("top", "from torch import hub"),
    "import as": ("top", "import torch as os"),
    "top-level call": ("top", "print(1)"),
    "top-level assign": ("top", "x = 1"),
    "__import__": ("body", '__import__("os").system("true")'),
    "eval": ("body", 'eval("1")'),
    "exec": ("body", 'exec("1")'),
    "compile": ("body", 'compile("1", "f", "exec")'),
    "open": ("body", 'open("/etc/passwd").read()'),
    "getattr": ("body", 'getattr(torch, "load")'),
    "setattr": ("body", 'setattr(self, "x", 1)'),
    "globals": ("body", "globals()"),
    "vars": ("body", "vars(self)"),
    "breakpoint": ("body", "breakpoint()"),
    "type": ("body", "type(self)"),
    "unknown name": ("body", "chr(111)"),
    "dunder attribute": ("body", "x.__class__.__bases__"),
    "dunder via self": ("body", "self.__dict__"),
    "dunder name": ("body", "__builtins__"),
    "attribute of a constant": ("body", '"{0.__class__}".format(x)'),
    "lambda": ("body", "(lambda: 0)()"),
    "comprehension": ("body", "[i for i in range(3)]"),
    "global": ("body", "global torch"),
    "import in a method": ("body", "import os"),
    "with": ("body", "with torch.no_grad():\n            pass"),
    "try": ("body", "try:\n            pass\n        except Exception:\n            pass"),
    "walrus": ("body", "(y := 1)"),
    "delete": ("body", "del x"),
    "nested def": ("body", "def f():\n            pass"),
    "banned local": ("body", "eval = 1"),
    "decorator": ("top", "@torch.no_grad()\ndef f() -> None:\n    pass"),
    "metaclass": ("top", "class A(nn.Module, metaclass=type):\n    pass"),
    "class attribute": ("top", "class A(nn.Module):\n    x = __import__('os')"),
    "spoofed helper": ("top", "def _replace(root, target, module):\n    getattr(root, target)"),
}


def _inject(where: str, code: str) -> str:
    if where == "top":
        return CLEAN + "\n\n" + code + "\n"
    assert METHOD in CLEAN
    return CLEAN.replace(METHOD, METHOD + "        " + code + "\n", 1)


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_audit_refuses_code_outside_the_allow_list(case):
    from archc.codegen.audit import AuditError
    from archc.codegen.audit import audit_source as audit

    audit(CLEAN)
    with pytest.raises(AuditError, match="not allowed|does not parse"):
        audit(_inject(*MALICIOUS[case]))


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.name)
def test_committed_generated_modules_pass_the_audit(path):
    from archc.codegen.audit import audit_source as audit

    audit(path.read_text(encoding="utf-8"))


def test_feature_and_inference_builds_pass_the_audit():
    from archc.codegen import generate_source

    for name in ("mobilenet_v3_large", "googlenet", "resnext50_32x4d"):
        model = archc.compile_spec(ROOT / "specs" / f"{name}.yaml")
        generate_source(model, features=True)  # audited inside: raises on a violation
        generate_source(model, inference=True)


def test_a_codegen_bug_is_an_internal_error_that_writes_nothing(cli, tmp_path, monkeypatch):
    """If an emitter ever let code through, the audit stops it: exit 3, no file."""
    import archc.codegen.blocks

    monkeypatch.setattr(archc.codegen.blocks, "pyexpr",
                        lambda text, rename: '__import__("os").getcwd()')
    spec = tmp_path / "bug.yaml"
    spec.write_text("name: Bug\ninput: [3, 8, 8]\nblocks:\n  unit:\n    params: {c: {type: int}}\n"
                    "    body: [{name: conv, op: conv, c: c, k: 3}]\n"
                    "layers:\n  - {name: stem, op: unit, c: 4}\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = cli("build", str(spec), "-o", str(out))
    assert code == 3 and "internal error" in err and "AuditError" in err, err
    assert not out.exists() or not any(out.iterdir())


# --------------------------------------------------------------------------- terminal output
NASTY = ["\x1b[2J", "\x1b]8;;http://evil.example/\x07link\x1b]8;;\x07", "\u202e", "\u2066",
         "\u2069", "\x9b31m", "\x00", "\x7f", "\u200b", "\ufeff", "\U000e0041", "\x0e"]


def _raw_controls(text: str) -> list[str]:
    import unicodedata

    return [ch for ch in text if ch != "\n" and unicodedata.category(ch) in
            ("Cc", "Cf", "Zl", "Zp")]


@pytest.mark.parametrize("nasty", NASTY, ids=ascii)
def test_code_frames_show_control_characters_escaped(nasty):
    """Issue 9.11: a code frame cannot clear the screen, plant a link or reorder text, and
    the caret still points at the character the diagnostic names."""
    from archc.diagnostics import Diagnostic, render_text

    line = f"  - {{name: a{nasty}b, op: conv, c: X}}"
    column = line.index("X") + 1
    diag = Diagnostic("s.yaml", 2, column, f"bad value {nasty!s} here", "E100",
                      hint=f"try {nasty}")
    text = render_text(diag, f"name: T\n{line}\n")
    assert _raw_controls(text) == [], ascii(text)
    frame, caret = text.splitlines()[2:4]
    assert frame[caret.index("^")] == "X", ascii(text)
    assert any(e in frame for e in ("\\x", "\\u", "\\U")), frame


def test_cli_diagnostics_print_no_escape_sequences(cli, write_spec):
    path = write_spec("name: T\ninput: [3, 8, 8]\nlayers:\n"
                      "  - {name: conv, op: conv, c: 8, k: 3, \u202eevil\x1b[2J: 1}\n")
    code, out, err = cli("check", str(path))
    assert code == 1 and "error[" in err
    assert _raw_controls(out + err) == [], ascii(err)
    assert "\\x1b" in err


# ----------------------------------------------------------------- hypothesis: every string
# Free text goes everywhere a spec carries a string; expression string constants (printable
# ASCII without backslash or ';', as expressions allow) hold every quote combination and a
# payload that the old quote rewriter turned into code.
FRAGMENTS = ['"', "'", '"""', "'''", "\\", "\\'", '\\"', "\r", "\n", "\r\n", "\u2028", "\u2029",
             "\x00", "\x85", "\x1b[2J", "\u202e", "{{ config }}", "{% for x in y %}", "#",
             "é", "中", "🚀", "\t", " ", "x"]
EXPR_FRAGMENTS = ['"', "'", '"""', "'''", "+", " ", "x", "#", "{{", "}}", "%s", f"+{PAYLOAD}+",
                  "'\"+", "+\"'"]


def _hostile_strategies():
    from hypothesis import strategies as st

    text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(
        st.characters(blacklist_categories=("Cs",)), max_size=4)), max_size=6).map("".join)
    ascii_text = st.lists(st.one_of(st.sampled_from(EXPR_FRAGMENTS), st.text(
        st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters="\\;"),
        max_size=4)), max_size=5).map("".join)
    return st, text, ascii_text


def _hostile_spec(draw, st, text, ascii_text) -> tuple[dict, dict]:
    t, e = (lambda: draw(text)), (lambda: _spell(draw(ascii_text)))
    tag, other = draw(text), draw(text)
    consts = {}

    def const() -> str:
        value = draw(ascii_text)
        consts[value] = True
        return _spell(value)

    unit = {
        "doc": t(), "paper": t(),
        "params": {"c": {"type": "int", "doc": t()},
                   "k2": {"type": "int", "default": 0, "doc": t()},
                   "tag": {"type": "str", "default": tag, "doc": t(),
                           **({"choices": [tag, other]} if tag != other else {})}},
        "let": {"word": f"{const()} if k2 else {const()}"},
        "body": [
            {"name": "conv", "op": "conv", "c": f"c if ({const()}) != ({const()}) else c",
             "k": 3, "step": t(), "when": f"tag != {const()} or ({e()}) == word"},
            {"name": "bn", "op": "batch_norm", "step": t()},
        ],
    }
    spec = {"name": "Hostile", "description": t(), "reference": t(),
            "paper": {"title": t(), "authors": t(), "url": t(), "table": t()},
            "input": [3, 8, 8], "params": {"note": t()}, "blocks": {"unit": unit},
            "layers": [{"name": "stem", "op": "unit", "c": 4, "tag": other, "step": t()},
                       {"name": "head", "seq": [{"op": "conv_norm_act", "c": 4, "step": t()}]}]}
    return spec, {"tag": tag, "other": other, "consts": sorted(consts)}


def test_hostile_strings_everywhere_stay_data(tmp_path):
    """Issue 9.1: arbitrary text in every string field, and every quote combination in
    expression string constants, builds a module that parses, keeps each value as a literal
    (defaults read back equal), and runs nothing when imported and instantiated."""
    import json

    from hypothesis import given

    from ._hypothesis import profile

    st, text, ascii_text = _hostile_strategies()
    built: list[tuple[str, dict]] = []
    rejected: list[str] = []

    @profile(ci=40, long=400)
    @given(st.data())
    def one(data):
        spec, expect = _hostile_spec(data.draw, st, text, ascii_text)
        name = f"hostile_{len(built) + len(rejected)}"
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, allow_unicode=True, width=10_000), encoding="utf-8")
        try:
            source = archc.generate(path)
        except archc.SpecError as exc:
            rejected.append(str(exc))
            return
        tree = ast.parse(source)
        constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
        assert set(expect["consts"]) <= constants, "an expression string lost its value"
        if expect["other"] != expect["tag"]:  # the row's value reaches the call as a literal
            assert any(isinstance(n, ast.keyword) and n.arg == "tag" and
                       isinstance(n.value, ast.Constant) and n.value.value == expect["other"]
                       for n in ast.walk(tree))
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
        built.append((name, expect))

    one()
    assert len(built) >= len(rejected), rejected[:3]  # the strategy mostly builds specs
    (tmp_path / "expect.json").write_text(json.dumps(built), encoding="utf-8")
    script = textwrap.dedent("""
        import importlib, inspect, json
        for name, expect in json.load(open("expect.json", encoding="utf-8")):
            module = importlib.import_module(name)
            model = getattr(module, name)()
            unit = inspect.signature(module.Unit).parameters["tag"].default
            assert unit == expect["tag"], (name, unit, expect["tag"])
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert not (tmp_path / "CANARY").exists()
    assert result.returncode == 0 and result.stdout == "", result.stderr[-3000:]
