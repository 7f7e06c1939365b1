"""Property tests: random valid specs compile, and what archc infers without torch (output and
per-module shapes, parameters, MACs) is what torch measures on the built model; the generated
module is the live model (same state_dict, same initial weights under a seed, same outputs).

Specs come from ``tests/_hypothesis.valid_specs``; the example count follows the hypothesis
profile (``ARCHC_HYPOTHESIS_PROFILE=long`` for a long run). Bugs found this way have plain
regression tests at the end of this file, marked ``xfail(strict=True)`` until they are fixed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, event, given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archc  # noqa: E402
from archc import SpecError  # noqa: E402
from archc.api import load_spec_text  # noqa: E402

from ._hypothesis import GeneratedSpec, profile, valid_specs  # noqa: E402
from .conftest import ROOT, import_file  # noqa: E402

_COUNTER = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("properties")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: one intra-op thread is many times faster than several, on a
    loaded machine above all."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _walk(nodes):
    """Every node of the model, depth first (seq groups and block bodies included)."""
    for node in nodes:
        yield node
        if node.body is not None:
            yield from _walk(node.body.nodes())


def _randomise_norms(module: torch.nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affine parameters, so eval outputs depend on them."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                if m.affine:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)


def _import_generated(workdir: Path, source: str, class_name: str):
    index = next(_COUNTER)
    path = workdir / f"generated_{index}.py"
    path.write_text(source, encoding="utf-8")
    name = f"_archc_property_{index}"
    try:
        return getattr(import_file(path, name), class_name)
    finally:
        sys.modules.pop(name, None)


def check_against_torch(model: archc.Model, workdir: Path) -> None:
    """archc's inferred shapes, parameters and MACs against torch, and the generated module
    against the live one; neither overwrites the caller's input tensor."""
    shape = tuple(model.input_shape)
    torch.manual_seed(0)
    live = archc.build_model(model).eval()

    # parameters
    assert sum(p.numel() for p in live.parameters()) == model.params

    # output shape, per-module shapes (forward hooks) and MACs in one eval forward
    seen: dict[str, tuple] = {}
    handles = []
    expected: dict[str, tuple] = {}
    for node in _walk(model.graph.nodes()):
        if node.name is None or not node.out_shape:
            continue
        try:
            module = live.get_submodule(node.path)
        except AttributeError:
            continue  # spliced or functional: no module of its own
        expected[node.path] = (1, *node.out_shape)

        def hook(_module, _inputs, output, path=node.path) -> None:  # None: output unchanged
            seen.setdefault(path, tuple(output.shape))

        handles.append(module.register_forward_hook(hook))
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            out = live(torch.zeros(1, *shape))
    finally:
        for handle in handles:
            handle.remove()
    assert tuple(out.shape) == (1, *model.output_shape)
    assert counter.get_total_flops() // 2 == model.macs
    mismatched = {path: (expected[path], got) for path, got in seen.items()
                  if expected[path] != got}
    assert not mismatched, f"inferred vs measured module output shapes: {mismatched}"

    # the generated module: same tree, same initial weights under a seed, same outputs
    cls = _import_generated(workdir, archc.generate(model), model.name)
    torch.manual_seed(0)
    gen = cls().eval()
    live_state, gen_state = live.state_dict(), gen.state_dict()
    assert {k: tuple(v.shape) for k, v in gen_state.items()} == \
        {k: tuple(v.shape) for k, v in live_state.items()}
    different = [k for k in live_state if not torch.equal(live_state[k], gen_state[k])]
    assert not different, f"initial weights differ under the same seed: {different}"
    _randomise_norms(live)
    gen.load_state_dict(live.state_dict(), strict=True)
    torch.manual_seed(1)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        x_live, x_gen = x.clone(), x.clone()
        torch.testing.assert_close(gen(x_gen), live(x_live), atol=1e-5, rtol=1e-5)
    assert torch.equal(x_live, x), "the live model overwrote its input tensor"
    assert torch.equal(x_gen, x), "the generated module overwrote its input tensor"

    # training mode, same seed: dropout, stochastic depth, batch statistics and auxiliary heads
    # (returned after the main output) agree too
    live.train()
    gen.train()
    outputs = []
    for module in (live, gen):
        torch.manual_seed(2)
        with torch.no_grad():
            outputs.append(module(x.clone()))
    if model.checked.spec.aux_outputs:
        assert isinstance(outputs[0], tuple)
        assert len(outputs[0]) == 1 + len(model.checked.spec.aux_outputs)
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)


@profile(ci=200, long=2000)
@given(valid_specs())
def test_valid_specs_match_torch(workdir, drawn: GeneratedSpec):
    path = workdir / "spec.yaml"
    path.write_text(yaml.safe_dump(drawn.data, sort_keys=False), encoding="utf-8")
    for kind in set(drawn.kinds):
        event(f"row kind: {kind}")
    try:
        model = archc.compile_spec(path)
    except SpecError as exc:
        event("outcome: SpecError")
        assert drawn.predicted is None, f"archc rejected a valid spec: {exc}"
        assert exc.diagnostics and all(d.line >= 1 and d.column >= 1 for d in exc.diagnostics)
        return
    event("outcome: compiled")
    assert drawn.predicted is not None, "archc accepted a spec whose shapes shrink below 1"
    assert tuple(model.output_shape) == drawn.predicted
    check_against_torch(model, workdir)


def _cli(*args: str) -> tuple[int, str, str]:
    from archc.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@profile(ci=40, long=1000)
@given(valid_specs())
def test_cli_agrees_with_the_model(workdir, drawn: GeneratedSpec):
    """check, summary, diff, graph and build succeed on valid specs and report the model's
    totals; the text of a spec and of its re-dump compile alike."""
    text = yaml.safe_dump(drawn.data, sort_keys=False)
    path = workdir / "cli_spec.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        model = archc.compile_spec(path)
    except SpecError:
        return
    again = archc.compile_spec(load_spec_text(yaml.safe_dump(yaml.safe_load(text))))
    assert (again.params, again.macs, again.output_shape) == \
        (model.params, model.macs, model.output_shape)
    assert model.params == sum(n.params for n in model.graph.nodes())
    assert model.macs + model.aux_macs == sum(n.macs for n in model.graph.nodes())

    code, out, err = _cli("check", str(path))
    assert code == 0 and f"({model.params:,} params, {model.macs:,} MACs)" in out, err
    code, out, err = _cli("summary", "--json", str(path))
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["params"], summary["macs"]) == (model.params, model.macs)
    assert tuple(summary["output_shape"]) == tuple(model.output_shape)
    code, out, err = _cli("summary", str(path))
    assert code == 0, err
    code, out, err = _cli("diff", str(path), str(path))
    assert code == 0, err
    for fmt in ("dot", "mermaid", "json"):
        code, out, err = _cli("graph", "--format", fmt, "--depth", "3", str(path))
        assert code == 0 and out, err
    code, out, err = _cli("build", str(path), "-o", str(workdir / "out"), "--force")
    assert code == 0, err
    written = (workdir / "out" / "cli_spec.py").read_text(encoding="utf-8")
    assert written == archc.generate(path)


def _named_rows(rows):
    for row in rows:
        if isinstance(row, dict):
            if isinstance(row.get("name"), str):
                yield row
            yield from _named_rows(row.get("seq") or [])


def _outcome(spec, overrides=None):
    try:
        model = archc.compile_spec(spec, overrides=overrides)
    except SpecError as exc:
        return ("SpecError", sorted({d.code for d in exc.diagnostics}))
    return (model.params, model.macs, tuple(model.output_shape))


@profile(ci=40, long=1000)
@given(drawn=valid_specs(), data=st.data())
def test_variants_and_overrides_equal_their_edited_base(workdir, drawn, data):
    """A variant (extends + patch + params) and --set compile exactly like the base spec with
    the same edits written into it."""
    base = drawn.data
    rows = [r for r in _named_rows(base["layers"]) if "seq" not in r]
    assume(rows)
    row = data.draw(st.sampled_from(rows), label="patched row")
    edits = {}
    if "c" in row and isinstance(row["c"], int):
        edits["c"] = data.draw(st.integers(1, 16), label="c")
    if not edits or data.draw(st.booleans(), label="edit n"):
        edits["n"] = data.draw(st.integers(1, 3), label="n")
    variant: dict = {"extends": "base.yaml", "patch": {row["name"]: edits}}
    edited = copy.deepcopy(base)
    next(r for r in _named_rows(edited["layers"]) if r["name"] == row["name"]).update(edits)
    overrides = []
    if base.get("params"):
        pname = data.draw(st.sampled_from(sorted(base["params"])), label="param")
        value = data.draw(st.integers(1, 8), label="value")
        variant["params"] = {pname: value}
        edited["params"][pname] = value
        overrides = [f"{pname}={value}"]
    (workdir / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    (workdir / "variant.yaml").write_text(yaml.safe_dump(variant, sort_keys=False),
                                          encoding="utf-8")
    (workdir / "edited.yaml").write_text(yaml.safe_dump(edited, sort_keys=False),
                                         encoding="utf-8")
    expected = _outcome(workdir / "edited.yaml")
    event(f"outcome: {'SpecError' if expected[0] == 'SpecError' else 'compiled'}")
    assert _outcome(workdir / "variant.yaml") == expected
    if overrides:
        patched = copy.deepcopy(edited)
        patched["params"] = base["params"]
        (workdir / "patched.yaml").write_text(yaml.safe_dump(patched, sort_keys=False),
                                              encoding="utf-8")
        assert _outcome(workdir / "patched.yaml", overrides) == expected


# --------------------------------------------------------------------------- regression tests
# Minimal specs of bugs the properties found. Fixed ones are plain tests; any still open is
# marked xfail(strict=True) with the bug in its reason.


def _compile(tmp_path: Path, text: str, name: str = "spec.yaml") -> archc.Model:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return archc.compile_spec(path)


def _build_and_run(tmp_path: Path, text: str) -> None:
    """Either a located SpecError, or a live and a generated model that run and agree."""
    try:
        model = _compile(tmp_path, text)
    except SpecError as exc:
        assert all(d.line >= 1 and d.column >= 1 for d in exc.diagnostics)
        return
    check_against_torch(model, tmp_path)


@pytest.mark.parametrize("name", ["forward", "training", "state_dict"])
def test_row_named_like_a_module_attribute(tmp_path, name):
    """Was: 'archc check' accepted the name, build_model raised KeyError ("attribute 'forward'
    already exists") and the generated module recursed forever."""
    _build_and_run(tmp_path, "name: T\ninput: [3, 16, 16]\nlayers:\n"
                             f"  - {{name: {name}, op: conv, c: 8, k: 3}}\n")


def test_two_blocks_with_one_class_name(tmp_path):
    """Was: bneck and inverted_residual, both generated as class InvertedResidual, passed
    'archc check' and failed 'archc build' with E501 blaming the model's name."""
    _build_and_run(tmp_path, "name: T\ninput: [8, 16, 16]\nlayers:\n"
                             "  - {name: a, op: inverted_residual, t: 1, c: 8}\n"
                             "  - {name: b, op: bneck, k: 3, exp: 16, c: 8, se: false, nl: RE}\n")


def test_class_name_clash_is_found_by_check_and_not_blamed_on_the_name(tmp_path):
    """Was: a spec block whose class_name is a library block's class passed 'archc check'
    (exit 0) and failed 'archc build' (exit 1) with E501 at the model's 'name:' (line 1)."""
    path = tmp_path / "spec.yaml"
    path.write_text("name: Net\ninput: [8, 16, 16]\nblocks:\n  mine:\n"
                    "    class_name: InvertedResidual\n    params: {c: {type: int}}\n"
                    "    body:\n      - {op: conv, c: c, k: 3}\nlayers:\n"
                    "  - {name: a, op: mine, c: 8}\n"
                    "  - {name: b, op: inverted_residual, t: 1, c: 8}\n", encoding="utf-8")
    check = _cli("check", str(path))
    build = _cli("build", str(path), "-o", str(tmp_path / "out"))
    assert check[0] == build[0]
    if check[0] == 1:
        first = re.match(r"[^\n]*?:(\d+):(\d+): error\[E\d{3}\]", check[2])
        assert first and first.group(1) != "1", check[2]


@pytest.mark.parametrize("first", ["{op: identity}", "{op: act, fn: identity}",
                                   "{name: d, op: dropout, p: 0.1}",
                                   "{name: s, op: stochastic_depth, p: 0.1}"])
def test_inplace_activation_after_identity_keeps_a_residual_input(tmp_path, first):
    """Was: an in-place activation right after a row that hands back its input overwrote the
    container's input, so the residual gave relu(x) + relu(x) instead of x + relu(x)."""
    model = _compile(tmp_path, "name: T\ninput: [2, 4, 4]\nlayers:\n"
                               f"  - {first}\n"
                               "  - {name: r, op: act, fn: relu}\n"
                               "  - {op: add, from: [input, r]}\n")
    live = archc.build_model(model).eval()
    gen = _import_generated(tmp_path, archc.generate(model), "T")().eval()
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 4)
    with torch.no_grad():
        expected = x + torch.relu(x)
        torch.testing.assert_close(live(x.clone()), expected)
        torch.testing.assert_close(gen(x.clone()), expected)


@pytest.mark.parametrize("rows", [
    "  - {name: skip, op: identity}\n  - {op: act, fn: relu}\n",
    "  - name: g\n    seq: [{op: identity}, {op: act, fn: relu}]\n",
    "  - {op: flatten}\n  - {op: act, fn: relu}\n",
])
def test_inplace_activation_after_identity_keeps_the_callers_input(tmp_path, rows):
    """Was: the same, on the model's input: the caller's tensor was overwritten (live model;
    and the generated module where the rows are in a seq group)."""
    model = _compile(tmp_path, f"name: T\ninput: [2, 4, 4]\nlayers:\n{rows}")
    live = archc.build_model(model).eval()
    gen = _import_generated(tmp_path, archc.generate(model), "T")().eval()
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 4)
    for module in (live, gen):
        given = x.clone()
        with torch.no_grad():
            module(given)
        assert torch.equal(given, x), f"{type(module).__name__} overwrote its input"


_BLOCKS = """blocks:
  skipped:
    params: {}
    body:
      - {name: c, op: conv, c: 2, k: 1, when: false}
  passes:
    params: {}
    body:
      - {op: identity}
"""


@pytest.mark.parametrize("first", [
    "  - {name: g, seq: [{op: identity}]}\n",
    "  - {name: g, seq: [{op: dropout, p: 0.5}]}\n",
    "  - {name: s, op: channel_shuffle, groups: 1}\n",
    "  - {name: b, op: skipped}\n",
    "  - {name: b, op: passes}\n",
    "aux_outputs: [aux]\nlayers:\n"
    "  - {name: aux, from: input, seq: [{op: global_avg_pool}, {op: flatten},"
    " {op: linear, c: 2}]}\n",
])
def test_inplace_activation_after_a_group_block_shuffle_or_aux_row(tmp_path, first):
    """Was: after the first fix, still run in place after a seq group of rows that hand back
    their input, a channel_shuffle of one group, a block whose rows are left out or pass their
    input on, or an auxiliary row (not in the chain): relu(x) + relu(x) again, and the
    caller's input overwritten."""
    rows = first if first.startswith("aux") else "layers:\n" + first
    model = _compile(tmp_path, f"name: T\ninput: [2, 4, 4]\n{_BLOCKS}{rows}"
                               "  - {name: r, op: act, fn: relu}\n"
                               "  - {op: add, from: [input, r]}\n")
    live = archc.build_model(model).eval()
    gen = _import_generated(tmp_path, archc.generate(model), "T")().eval()
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 4)
    with torch.no_grad():
        expected = x + torch.relu(x)
        for module in (live, gen):
            given = x.clone()
            torch.testing.assert_close(module(given), expected)
            assert torch.equal(given, x), f"{type(module).__name__} overwrote its input"


def test_named_row_with_from_and_repeats(tmp_path):
    """Was: exit 3, internal error: KeyError: 'a' (the row's repeats were wrapped in a group
    whose inner row still read 'a', which the group does not define)."""
    _build_and_run(tmp_path, "name: T\ninput: [4, 8, 8]\nlayers:\n"
                             "  - {name: a, op: conv, c: 4, k: 1}\n"
                             "  - {name: b, op: conv, c: 4, k: 1, from: a, n: 1}\n")


# --------------------------------------------------------------------------- check ok => build ok
# Specs that 'archc check' accepted and 'archc build' then failed on with an internal error.


def test_when_guarded_division_by_zero_builds(tmp_path):
    """Was: check ok, build exit 3 (internal error: ExprError: division by zero): codegen
    evaluated the channels of a row left out by its 'when' (8 // t with t = 0) to see whether
    its instances agree."""
    _build_and_run(tmp_path, "name: T\ninput: [3, 8, 8]\nblocks:\n  b:\n"
                             "    params: {t: {type: int}}\n    body:\n"
                             '      - {name: a, op: conv, c: "8 // t", k: 1, when: "t > 0"}\n'
                             "      - {name: z, op: conv, c: 4, k: 1}\n"
                             "layers:\n  - {name: x1, op: b, t: 0}\n  - {name: x2, op: b, t: 2}\n")


def _dense_block(layers: int) -> str:
    rows, prev = [], "input"
    for i in range(layers):
        rows.append(f"      - {{name: c{i}, op: conv, c: growth, k: 1, from: {prev}}}\n")
        rows.append(f"      - {{name: j{i}, op: concat, from: [{prev}, c{i}]}}\n")
        prev = f"j{i}"
    return ("name: T\ninput: [3, 4, 4]\nblocks:\n  dense:\n"
            "    params: {growth: {type: int}}\n    body:\n" + "".join(rows)
            + "layers:\n  - {name: d, op: dense, growth: 2}\n")


@pytest.mark.parametrize("layers", [40, 300])
def test_dense_concat_growth_inside_a_block_builds(tmp_path, layers):
    """Was: check ok, build exit 3 (internal error: ExprError: expression longer than 512
    characters): the channels of a DenseNet-style concat chain were re-parsed as text with the
    limit meant for expressions a user writes. The generated input width stays one short sum."""
    model = _compile(tmp_path, _dense_block(layers))
    source = archc.generate(model)
    assert f"in_channels + {layers - 1} * growth" in source
    check_against_torch(model, tmp_path)


_HUGE = "1" + "0" * 400


@pytest.mark.parametrize("text", [
    f"scaling: {{depth: 2.0}}\nlayers:\n  - {{name: c, op: conv, c: 8, k: 3, n: {_HUGE}}}\n",
    f"scaling: {{width: 2.0}}\nlayers:\n  - {{name: c, op: conv, c: {_HUGE}, k: 3}}\n",
    f"layers:\n  - {{name: c, op: conv, c: 8, k: 3, s: {_HUGE}}}\n",
    f"params: {{big: {_HUGE}}}\nlayers:\n  - {{name: c, op: conv, c: 8, k: 3, s: big}}\n",
])
def test_huge_integers_are_located_errors(tmp_path, text):
    """Was: exit 3 (OverflowError: int too large to convert to float) when scaled, or check ok
    and then a module torch cannot build (stride 10**400). Integers in a spec are unbounded;
    columns now take at most 10**15 in magnitude, like the values expressions compute."""
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: T\ninput: [3, 8, 8]\n{text}", encoding="utf-8")
    code, _, err = _cli("check", str(path))
    assert code == 1 and re.search(r"spec\.yaml:\d+:\d+: error\[E\d{3}\]", err), err


# Seeds for mutation: base specs (no 'extends') small enough to instantiate quickly.
_SEEDS = ["lenet5", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1",
          "resnet18", "googlenet", "efficientnet_b0"]
_VALUES = st.one_of(
    st.integers(-1, 16), st.sampled_from([24, 32, 64]), st.sampled_from([0.0, 0.25, 1.5]),
    st.booleans(), st.none(),
    st.sampled_from(["c", "t", "s", "in_channels", "c // 2", "8 // (t - 1)", "in_channels * 2",
                     "round(c * 0.5)", "c if t > 1 else 8 // (t - 1)", "t > 1", "relu",
                     "hardswish", "make_divisible(c * 0.75)", "num_classes", "'x'"]),
)


def _near(value) -> st.SearchStrategy:
    """Edits a table would plausibly get: the value scaled, shifted or guarded."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.sampled_from([value * 2, max(1, value // 2), value + 1, 1])
    if isinstance(value, float):
        return st.sampled_from([value * 2, value / 2, 0.0])
    if isinstance(value, str):
        return st.sampled_from([f"({value}) * 2", f"max(1, ({value}) // 2)",
                                f"({value}) if ({value}) else 1", value])
    return st.just(value)


def _sites(spec: dict) -> list[tuple[dict, str]]:
    """Every (mapping, key) a mutation can set: row columns, block parameter defaults, 'let'
    values, spec params and scaling."""
    sites: list[tuple[dict, str]] = []

    def rows(items) -> None:
        for row in items or []:
            if isinstance(row, dict):
                row.pop("input_size", None)  # the paper's sizes: checked, so edits break them
                sites.extend((row, k) for k in row if k not in ("op", "name", "seq", "from"))
                rows(row.get("seq"))

    rows(spec.get("layers"))
    for block in (spec.get("blocks") or {}).values():
        rows(block.get("body"))
        sites.extend((block["let"], k) for k in block.get("let") or {})
        sites.extend((p, "default") for p in (block.get("params") or {}).values())
    sites.extend((spec["params"], k) for k in spec.get("params") or {})
    sites.extend((spec.setdefault("scaling", {}), k) for k in ("width", "depth"))
    return sites


@profile(ci=25, long=500)
@given(seed=st.sampled_from(_SEEDS), data=st.data())
def test_check_ok_implies_build_ok(workdir, seed, data):
    """Issue 9, item 9: every mutation of a committed spec that 'archc check' accepts also
    builds; its generated module imports, instantiates and runs at the spec's input size.
    A mutation check rejects gets located diagnostics."""
    spec = yaml.safe_load((ROOT / "specs" / f"{seed}.yaml").read_text(encoding="utf-8"))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        mapping, key = data.draw(st.sampled_from(_sites(spec)), label="site")
        mapping[key] = data.draw(_near(mapping.get(key)) | _VALUES, label=f"value of {key}")
    path = workdir / "mutated.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    try:
        model = archc.compile_spec(path)
    except SpecError as exc:
        event(f"outcome: SpecError {exc.diagnostics[0].code}")
        assert exc.diagnostics and all(d.line >= 1 and d.column >= 1 for d in exc.diagnostics)
        return
    event("outcome: accepted")
    source = archc.generate(model)  # raises on a failure: check ok but build not
    cls = _import_generated(workdir, source, model.name)
    torch.manual_seed(0)
    module = cls().eval()
    assert sum(p.numel() for p in module.parameters()) == model.params
    if model.macs <= 50_000_000:  # a forward pass where it is cheap
        with torch.no_grad():
            out = module(torch.zeros(1, *model.input_shape))
        out = out[0] if isinstance(out, tuple) else out
        assert tuple(out.shape) == (1, *model.output_shape)


def test_committed_specs_check_and_build():
    """The committed specs themselves: check ok, and their modules generate (the committed
    generated/ files and the parity tests cover import and instantiation)."""
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        assert archc.generate(archc.compile_spec(path))


def test_block_class_whose_inner_block_is_never_built(tmp_path):
    """Was: check ok, build failed (the generated module's audit: unknown name
    'SqueezeExcitation'): bneck's class constructs SqueezeExcitation under 'if se:', and with
    every instance at se: false that class was left out of the module."""
    _build_and_run(tmp_path, "name: T\ninput: [1, 8, 8]\nlayers:\n"
                             "  - {name: b, op: bneck, k: 3, exp: 1, c: 1, se: false, nl: RE}\n")
