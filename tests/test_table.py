"""``archc table``: the spec rendered back as its paper's table. The expected values are the
papers' own tables (MobileNetV2's Table 2, MobileNetV1's Table 1), not numbers archc printed;
the golden files pin the layout and are checked against the same values."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import textwrap

import pytest

import archc
from archc.tools.table import render_csv, render_markdown, table_lines

from .conftest import ROOT, SPECS, golden

GOLDEN = ROOT / "tests" / "golden" / "table"
MNV1 = str(SPECS / "mobilenet_v1.yaml")
MNV2 = str(SPECS / "mobilenet_v2.yaml")

# MobileNetV2, Table 2: Input | Operator | t | c | n | s ("-" where the paper prints it).
# The last line's c is the paper's k (the classes: num_classes = 1000).
TABLE2 = [
    ("224² × 3", "conv2d", "-", "32", "1", "2"),
    ("112² × 32", "bottleneck", "1", "16", "1", "1"),
    ("112² × 16", "bottleneck", "6", "24", "2", "2"),
    ("56² × 24", "bottleneck", "6", "32", "3", "2"),
    ("28² × 32", "bottleneck", "6", "64", "4", "2"),
    ("14² × 64", "bottleneck", "6", "96", "3", "1"),
    ("14² × 96", "bottleneck", "6", "160", "3", "2"),
    ("7² × 160", "bottleneck", "6", "320", "1", "1"),
    ("7² × 320", "conv2d 1x1", "-", "1280", "1", "1"),
    ("7² × 1280", "avgpool 7x7", "-", "-", "1", "-"),
    ("1 × 1 × 1280", "conv2d 1x1", "-", "k", "-", ""),
]
# the spec's op on each of the paper's lines (README: the operator is the row's op): conv2d and
# the 1x1 conv2d to 1280 are conv_norm_act, bottleneck inverted_residual, the classifier linear
# Table 2's operators: conv2d, bottleneck x 7, conv2d 1x1, avgpool 7x7, and a 1x1 conv on the
# pooled 1x1 map, which torchvision (and the spec) writes as the fully connected layer it is
OPERATORS = ["conv2d"] + ["bottleneck"] * 7 + ["conv2d", "avgpool", "fc"]

# MobileNetV1, Table 1: the input size of "Conv / s2", of each "Conv dw" line (the spec's
# dw_separable row is a "Conv dw" line and the "Conv / s1" after it; "5x" is one row, n: 5),
# "Avg Pool" and "FC", as (H, W, C), and the dw lines' strides.
TABLE1_INPUTS = [(224, 224, 3), (112, 112, 32), (112, 112, 64), (56, 56, 128), (56, 56, 128),
                 (28, 28, 256), (28, 28, 256), (14, 14, 512), (14, 14, 512), (7, 7, 1024),
                 (7, 7, 1024), (1, 1, 1024)]
# The paper prints s2 on the last dw line, but its own input sizes (7x7 in and out) need s1.
TABLE1_DW_STRIDES = ["1", "2", "1", "2", "1", "2", "1", "2", "1"]


def markdown_rows(text: str) -> list[dict[str, str]]:
    """A markdown table's body rows as dicts keyed by its header (the total line left out)."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    header, body = cells[0], cells[2:]
    assert all(re.fullmatch(r":?-+:?", c) for c in cells[1])
    assert body[-1][1] == "total"
    return [dict(zip(header, row, strict=True)) for row in body[:-1]]


def parse_size(text: str) -> tuple[int, int, int]:
    """``224² × 3`` or ``56 × 28 × 24`` as (H, W, C)."""
    if m := re.fullmatch(r"(\d+)² × (\d+)", text):
        return int(m[1]), int(m[1]), int(m[2])
    h, w, c = (int(x) for x in text.split(" × "))
    return h, w, c


def test_mobilenet_v2_reproduces_table_2(cli):
    code, out, err = cli("table", MNV2)
    assert code == 0 and err == ""
    golden(GOLDEN / "mobilenet_v2.md", out)
    rows = markdown_rows(out)
    assert [r["Input"] for r in rows] == [line[0] for line in TABLE2]
    assert [r["Operator"] for r in rows] == OPERATORS
    assert list(rows[0])[2:6] == ["t", "c", "n", "s"]  # the paper's columns, in its order
    for row, (_, _, t, c, n, s) in zip(rows[:8], TABLE2[:8], strict=True):
        assert (row["t"], row["c"], row["n"], row["s"]) == (t, c, n, s)
    # the 1x1 conv to 1280 and the average pool (the spec leaves their stride 1 unwritten);
    # only the paper's columns: a column only other rows write (the conv's k) is left out
    assert (rows[8]["t"], rows[8]["c"], rows[8]["n"]) == ("-", "1280", "1")
    assert list(rows[0]) == ["Input", "Operator", "t", "c", "n", "s", "Params", "MACs"]
    assert (rows[9]["t"], rows[9]["c"], rows[9]["n"]) == ("-", "-", "1")
    assert rows[10]["c"] == "1000"  # k classes
    total = out.splitlines()[-1]
    assert "3,504,872" in total and "300,774,272" in total  # the paper's 3.4M / 300M (Table 4)


def test_mobilenet_v1_reproduces_table_1_input_sizes(cli):
    code, out, _ = cli("table", MNV1)
    assert code == 0
    golden(GOLDEN / "mobilenet_v1.md", out)
    rows = markdown_rows(out)
    assert [parse_size(r["Input"]) for r in rows] == TABLE1_INPUTS
    assert [r["Operator"] for r in rows] == \
        ["conv2d"] + ["conv dw"] * 9 + ["avgpool", "fc"]  # Table 1's Conv, Conv dw, Avg Pool, FC
    assert rows[0]["s"] == "2" and rows[0]["c"] == "32"  # 3x3x3x32 /s2
    assert [r["s"] for r in rows[1:10]] == TABLE1_DW_STRIDES
    assert [r["n"] for r in rows[1:10]] == ["1"] * 6 + ["5", "1", "1"]
    assert [r["c"] for r in rows[1:10]] == \
        ["64", "128", "128", "256", "256", "512", "512", "1024", "1024"]
    assert rows[-1]["c"] == "1000"  # FC 1024x1000
    # Conv / s2 includes its batch norm: 3*3*3*32 weights + 2*32 affine
    assert rows[0]["Params"] == f"{3 * 3 * 3 * 32 + 2 * 32:,}"
    params, macs = (int(x.replace(",", "")) for x in re.findall(r"[\d,]{5,}",
                                                                 out.splitlines()[-1]))
    assert round(macs / 1e6) == 569 and round(params / 1e6, 1) == 4.2  # Tables 6-8: 569M, 4.2M


def test_csv_parses_and_adds_up(cli):
    code, out, _ = cli("table", MNV2, "--format", "csv")
    assert code == 0
    golden(GOLDEN / "mobilenet_v2.csv", out)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["input", "operator", "t", "c", "n", "s", "params", "macs"]
    assert [r["input"] for r in rows] == [line[0] for line in TABLE2]
    assert [(r["t"], r["c"], r["n"], r["s"]) for r in rows[:8]] == \
        [line[2:] for line in TABLE2[:8]]
    assert sum(int(r["params"]) for r in rows) == 3_504_872
    assert sum(int(r["macs"]) for r in rows) == 300_774_272


def test_latex_is_a_tabular(cli):
    code, out, _ = cli("table", MNV2, "--format", "latex")
    assert code == 0
    golden(GOLDEN / "mobilenet_v2.tex", out)
    lines = out.splitlines()
    assert lines[1] == r"\begin{tabular}{llrrrrrr}" and lines[-1] == r"\end{tabular}"
    rows = [ln for ln in lines if ln.endswith(r"\\")]
    assert len(rows) == 1 + len(TABLE2) + 1  # header, the paper's lines, total
    assert all(ln.count("&") == 7 for ln in rows)  # eight columns each
    assert rows[1].startswith(r"$224^2 \times 3$ & conv2d & - & 32 & 1 & 2 &")
    assert rows[-2].startswith(r"$1 \times 1 \times 1280$ & fc &")
    assert "_" not in out.replace(r"\_", "")  # every underscore escaped


def test_input_and_set_give_the_variants_table(cli):
    code, out, _ = cli("table", MNV2, "--input", "3x192x192", "--set", "scaling.width=0.5")
    assert code == 0
    rows = markdown_rows(out)
    # the columns read as this variant's model uses them: c scaled by the width (make_divisible
    # of c * 0.5 by 8), the head's 1280 kept (never narrowed below 1280)
    assert [r["Input"] for r in rows[:3]] == ["192² × 3", "96² × 16", "96² × 8"]
    assert [r["c"] for r in rows[:9]] == ["16", "8", "16", "16", "32", "48", "80", "160",
                                          "1280"]
    assert rows[-2]["Input"] == "6² × 1280"


def test_every_spec_adds_up(cli):
    """Lines carry every parameter and MAC (folded rows included); auxiliary heads are marked
    and left out of the total's MACs, as archc check counts them."""
    for spec in sorted(SPECS.glob("*.yaml")):
        model = archc.compile_spec(spec)
        lines = table_lines(model)
        assert lines, spec
        assert sum(ln.params for ln in lines) == model.params, spec
        assert sum(ln.macs for ln in lines if not ln.aux) == model.macs, spec
        assert sum(ln.macs for ln in lines if ln.aux) == model.aux_macs, spec
        assert all(ln.operator.endswith("(training only)") == ln.aux for ln in lines), spec
    googlenet = table_lines(archc.compile_spec(SPECS / "googlenet.yaml"))
    assert [ln.operator for ln in googlenet if ln.aux] == ["inception_aux (training only)"] * 2


def test_folding_and_steps(write_spec):
    spec = write_spec(textwrap.dedent("""\
        name: Tiny
        input: [3, 32, 48]
        layers:
          - name: body
            seq:
              - {op: conv, c: 8, k: 3, s: 2, bias: false}
              - {op: batch_norm}
              - {op: act, fn: relu}
              - {op: conv, c: 4, k: 1, step: "1x1 | projection"}
              - {op: batch_norm, step: a norm the paper lists}
          - {op: flatten}
          - {op: dropout, p: 0.5}
          - {name: fc, op: linear, c: 10}
        """))
    lines = table_lines(archc.compile_spec(spec))
    assert [ln.operator for ln in lines] == \
        ["conv2d", "1x1 | projection", "a norm the paper lists", "fc"]
    assert [ln.input for ln in lines] == \
        ["32 × 48 × 3", "16 × 24 × 8", "16 × 24 × 4", f"1 × 1 × {4 * 16 * 24}"]
    assert lines[0].params == 3 * 3 * 3 * 8 + 2 * 8  # the conv and its folded batch norm
    assert lines[2].params == 2 * 4
    md = render_markdown(archc.compile_spec(spec))
    assert re.search(r"^\| 16 × 24 × 8 +\| 1x1 \\\| projection +\| +4 \|", md, re.M)  # one cell
    text = render_csv(archc.compile_spec(spec))
    assert next(csv.reader(io.StringIO(text))) == \
        ["input", "operator", "c", "k", "s", "bias", "params", "macs"]


def test_spec_errors_are_located_and_usage_errors_exit_2(cli, tmp_path):
    code, out, err = cli("table", str(tmp_path / "nope.yaml"))
    assert code == 2 and out == "" and "nope.yaml:1:1: error[E006]" in err  # usage: no file
    code, _, err = cli("table", MNV2, "--set", "scaling.widht=0.5")
    assert code == 1 and "error[" in err
    for bad in (["--format", "html"], ["--input", "3x0x224"]):
        with pytest.raises(SystemExit) as exc:
            cli("table", MNV2, *bad)
        assert exc.value.code == 2


@pytest.mark.parametrize("fmt", ["markdown", "latex", "csv"])
def test_table_does_not_import_torch(fmt):
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # importing torch now raises ImportError
        from archc.cli import main
        rc = main(["table", {MNV2!r}, "--format", {fmt!r}])
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
        sys.exit(rc)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_readme_excerpt_is_the_output(cli):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    excerpt = readme.split("MobileNetV2's is Table 2:\n\n```text\n", 1)[1].split("```", 1)[0]
    _, out, _ = cli("table", MNV2)
    assert out.startswith(excerpt)
