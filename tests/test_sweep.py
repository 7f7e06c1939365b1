"""``archc sweep``: the papers' variant tables come back out of one spec (MobileNetV1 Tables
6-7, EfficientNet Table 2), the formats agree, errors name their point, stdout stays clean,
and the README's table and picture are what its commands print."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import subprocess
import sys
import textwrap

import pytest

from archc.tools import pareto, sweep

from .conftest import ROOT

MNV1 = "specs/mobilenet_v1.yaml"
WIDTHS = ["1.0", "0.75", "0.5", "0.25"]

# MobileNetV1 (Howard et al. 2017), Table 6: width multiplier -> million mult-adds, million
# parameters at 224 px; Table 7: resolution -> million mult-adds at width 1.0.
TABLE6 = {"1.0": (569, 4.2), "0.75": (325, 2.6), "0.5": (149, 1.3), "0.25": (41, 0.5)}
TABLE7 = {224: 569, 192: 418, 160: 290, 128: 186}
# EfficientNet (Tan & Le 2019), Table 2: parameters of B0-B7, in millions as printed.
TABLE2 = {"b0": 5.3, "b1": 7.8, "b2": 9.2, "b3": 12, "b4": 19, "b5": 30, "b6": 43, "b7": 66}


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the README's commands use paths relative to the checkout


def _csv(out: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(out)))


def test_mobilenet_v1_width_is_table_6(cli):
    code, out, err = cli("sweep", MNV1, "--grid", "scaling.width=" + ",".join(WIDTHS),
                         "--format", "csv")
    assert code == 0 and err == ""
    rows = _csv(out)
    assert [r["scaling.width"] for r in rows] == WIDTHS
    for r in rows:
        macs, params = TABLE6[r["scaling.width"]]
        assert round(int(r["macs"]) / 1e6) == macs
        assert round(int(r["params"]) / 1e6, 1) == params
        assert int(r["weight_bytes"]) == 4 * int(r["params"])
        assert r["input"] == "3x224x224"


def test_mobilenet_v1_resolution_is_table_7(cli):
    inputs = ",".join(f"3x{h}x{h}" for h in TABLE7)
    code, out, _ = cli("sweep", MNV1, "--input", inputs, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [d["input"][1] for d in data] == list(TABLE7)
    macs = {d["input"][1]: d["macs"] for d in data}
    # 224, 192 and 128 px round to the table; at 160 px the exact count is 290.68 M and the
    # table prints 290: its rows are the 224-px count times (H/224)^2, which also scales the
    # classifier's 1.02 M MACs (they do not depend on resolution). Both readings are checked.
    assert {h: round(m / 1e6) for h, m in macs.items()} == {**TABLE7, 160: 291}
    assert {h: round(macs[224] * (h / 224) ** 2 / 1e6) for h in TABLE7} == TABLE7
    assert len({d["params"] for d in data}) == 1  # resolution changes no weight


def test_efficientnet_b0_to_b7_are_table_2(cli):
    specs = [f"specs/efficientnet_{b}.yaml" for b in TABLE2]  # each its own input and scaling
    code, out, _ = cli("sweep", *specs, "--format", "csv")
    assert code == 0
    rows = _csv(out)
    assert [r["spec"] for r in rows] == specs
    got = dict(zip(TABLE2, (int(r["params"]) for r in rows), strict=True))
    shown = {b: round(n / 1e6) if n >= 10e6 else round(n / 1e6, 1) for b, n in got.items()}
    # B2 is 9,109,994 in torchvision (the spec's reference, its weights' num_params) and timm
    # alike, 9.1 M; Table 2 prints 9.2 M. Every other model rounds to the table.
    assert shown == {**TABLE2, "b2": 9.1}
    assert got["b2"] == 9_109_994 and abs(got["b2"] / 9.2e6 - 1) < 0.011


def test_cross_product_order_and_formats_agree(cli):
    args = ("sweep", MNV1, "--grid", "scaling.width=0.5,0.25", "--grid", "num_classes=10,100",
            "--input", "3x160x160,3x128x128")
    _, as_csv, _ = cli(*args, "--format", "csv")
    _, as_json, _ = cli(*args, "--format", "json")
    code, as_md, _ = cli(*args)
    assert code == 0
    rows, data = _csv(as_csv), json.loads(as_json)
    assert [(r["scaling.width"], r["num_classes"], r["input"]) for r in rows] == [
        (w, c, f"3x{h}x{h}") for w in ("0.5", "0.25") for c in ("10", "100") for h in (160, 128)]
    assert [int(r["macs"]) for r in rows] == [d["macs"] for d in data]
    assert [int(r["params"]) for r in rows] == [d["params"] for d in data]
    md_rows = [line for line in as_md.splitlines()[2:]]
    assert len(md_rows) == 8 and f"{data[0]['macs']:,}" in md_rows[0]
    # fewer classes, fewer classifier weights: the grid value really reached the spec
    assert data[0]["params"] < data[2]["params"]


def test_values_with_commas_inside_brackets():
    assert sweep.parse_grid("input=[3, 64, 64],[3,32,32]") == (
        "input", ["[3, 64, 64]", "[3,32,32]"])


@pytest.mark.parametrize("args", [
    ["--grid", "scaling.width"], ["--grid", "=1,2"], ["--grid", "scaling.width=1,,2"],
    ["--grid", "scaling.width=1,1"], ["--grid", "num_classes=1", "--grid", "num_classes=2"],
    ["--input", "3x224xabc"], ["--input", "3x0x0"], ["--format", "yaml"],
])
def test_usage_errors_exit_2(cli, args):
    try:
        code, out, err = cli("sweep", MNV1, *args)
    except SystemExit as exc:  # argparse's own refusal (usage on stderr)
        code, out, err = exc.code, "", "error:"
    assert code == 2 and out == "" and "error:" in err


def test_a_failing_point_is_located_and_named(cli):
    # only the width-1.0 point is over a 3 M parameter budget: that one is named, exit 1
    code, out, err = cli("sweep", MNV1, "--grid", "scaling.width=0.25,1.0,abc",
                         "--max-params", "3000000")
    assert code == 1 and out == ""
    assert re.search(r"mobilenet_v1\.yaml:\d+:\d+: error\[E\d+\]: sweep point "
                     r"scaling.width=1.0: ", err), err
    assert "sweep point scaling.width=abc: expected a number" in err  # every point is tried
    assert "scaling.width=0.25:" not in err


def test_failing_point_as_json_when_the_output_is_json(cli):
    code, out, _ = cli("sweep", MNV1, "--grid", "scaling.width=abc", "--format", "json")
    diags = json.loads(out)
    assert code == 1 and diags[0]["message"].startswith("sweep point scaling.width=abc: ")
    assert diags[0]["line"] >= 1 and diags[0]["code"] == "E103"


def test_progress_only_on_stderr_and_only_for_long_sweeps(cli):
    lenet = "specs/lenet5.yaml"
    many = ",".join(str(n) for n in range(2, 23))  # 21 points
    code, out, err = cli("sweep", lenet, "--grid", f"num_classes={many}", "--format", "csv")
    assert code == 0 and len(_csv(out)) == 21 and "sweep" not in out
    assert err.splitlines()[-1] == "sweep 21/21: num_classes=22"
    code, out, err = cli("sweep", lenet, "--grid", "num_classes=2,3", "--format", "csv")
    assert code == 0 and err == ""  # short, and stderr is not a terminal


def test_sweep_does_not_import_torch(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # importing torch now raises ImportError
        from archc.cli import main
        rc = main(["sweep", {MNV1!r}, "--grid", "scaling.width=0.5,0.25",
                   "--input", "3x128x128,3x96x96"])
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
        sys.exit(rc)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_a_metric_is_one_more_function():
    """The hook a measured column (latency) uses: a Metric appended to METRICS."""
    from archc.api import compile_spec

    depth = sweep.Metric("rows", "rows", lambda m: len(list(m.graph.nodes())), str)
    pts = sweep.points([MNV1], [("scaling.width", ["0.5"])])
    rows, diags = sweep.run(pts, lambda p: compile_spec(p.spec, overrides=p.overrides()),
                            metrics=(*sweep.METRICS, depth))
    assert not diags
    text = sweep.render(rows, "csv", (*sweep.METRICS, depth))
    assert text.splitlines()[0].endswith(",weight_bytes,rows")
    assert json.loads(sweep.render(rows, "json", (*sweep.METRICS, depth)))[0]["rows"] > 0


# The README's "Exploring variants" section ------------------------------------------------

def _readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Exploring variants")
    return text[start:text.index("\n## ", start + 1)]


def _readme_commands() -> list[tuple[list[str], str]]:
    """Each ``$ archc sweep ...`` console line (with continuations) and the output below it."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", _readme_section(), re.S):
        command, _, output = block.replace("\\\n", " ").partition("\n")
        assert command.startswith("$ archc sweep ")
        found.append((shlex.split(command[2:])[1:], output))
    return found


def test_readme_table_is_the_commands_output_and_the_papers(cli):
    args, shown = _readme_commands()[0]
    code, out, _ = cli(*args)
    assert code == 0 and out == shown
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in shown.splitlines()[2:]]
    for width, _, params, macs, *_ in cells:
        assert round(int(macs.replace(",", "")) / 1e6) == TABLE6[width][0]
        assert round(int(params.replace(",", "")) / 1e6, 1) == TABLE6[width][1]


def test_readme_picture_shows_the_commands_points(cli, tmp_path):
    args, _ = _readme_commands()[1]
    target = args[args.index("--pareto") + 1]
    assert f"]({target})" in _readme_section()
    committed = pareto.read_points((ROOT / target).read_text(encoding="utf-8"))
    json_args = [a for a in args if a not in ("--pareto", target)] + ["--format", "json"]
    code, out, _ = cli(*json_args)
    assert code == 0
    data = json.loads(out)
    assert [(p["macs"], p["params"]) for p in committed] == [
        (d["macs"], d["params"]) for d in data]
    at_224 = {p["label"]: p["macs"] for p in committed if p["label"].endswith(" 224")}
    assert {w: round(at_224[f"{w} 224"] / 1e6) for w in WIDTHS} == {
        w: TABLE6[w][0] for w in WIDTHS}
    # and the command itself, when matplotlib is here, draws the same points
    pytest.importorskip("matplotlib")
    fresh = tmp_path / "fresh.svg"
    args[args.index("--pareto") + 1] = str(fresh)
    code, _, _ = cli(*args)
    assert code == 0
    assert pareto.read_points(fresh.read_text(encoding="utf-8")) == committed


# --pareto -------------------------------------------------------------------------------

def test_pareto_svg_is_deterministic_and_refuses_to_overwrite(cli, tmp_path):
    pytest.importorskip("matplotlib")
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    args = ("sweep", MNV1, "--grid", "scaling.width=0.5,0.25", "--input", "3x128x128,3x96x96")
    assert cli(*args, "--pareto", str(a))[0] == 0
    assert cli(*args, "--pareto", str(b))[0] == 0
    svg = a.read_text(encoding="utf-8")
    assert a.read_bytes() == b.read_bytes() and "<dc:date>" not in svg
    assert [p["label"] for p in pareto.read_points(svg)] == [
        "0.5 128", "0.5 96", "0.25 128", "0.25 96"]
    assert cli(*args, "--pareto", str(a))[0] == 0  # the same picture: nothing to refuse
    code, out, err = cli(*args[:4], "--pareto", str(a))  # another picture
    assert code == 1 and out == "" and "use --force" in err
    assert cli(*args[:4], "--pareto", str(a), "--force")[0] == 0


def test_pareto_without_matplotlib_says_how_to_get_it(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(pareto, "available", lambda: False)
    code, out, err = cli("sweep", MNV1, "--pareto", str(tmp_path / "p.svg"))
    assert code == 4 and out == ""  # the environment lacks an optional extra
    assert "--pareto needs matplotlib: pip install matplotlib (or pip install -e '.[plot]' in " \
        "a checkout)" in err
    assert not (tmp_path / "p.svg").exists()


def test_progress_on_a_terminal_rewrites_one_line(cli, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = cli("sweep", "specs/lenet5.yaml", "--grid", "num_classes=2,3",
                         "--format", "csv")
    assert code == 0 and len(_csv(out)) == 2 and "\r" not in out
    assert err == ("\rsweep 1/2: num_classes=2\033[K"
                   "\rsweep 2/2: num_classes=3\033[K\n")


def test_measure_adds_latency_timed_by_bench(cli):
    """--measure: each point's eager latency at batch 1 (archc bench's timer), the machine
    named beside the table; without it nothing imports torch (tested above)."""
    from .conftest import SPECS

    code, out, err = cli("sweep", str(SPECS / "lenet5.yaml"), "--grid", "num_classes=10,100",
                         "--measure", "--repeats", "2", "--threads", "1", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["num_classes"] for r in rows] == ["10", "100"] or \
        [r["num_classes"] for r in rows] == [10, 100]
    assert all(isinstance(r["eager_ms"], float) and r["eager_ms"] > 0 for r in rows)
    assert "latency:" in err and "1 threads" in err and "median of 2" in err
    code, _, err = cli("sweep", str(SPECS / "lenet5.yaml"), "--measure", "--repeats", "0")
    assert code == 2 and "--repeats and --threads must be positive" in err
