"""All of a file's errors are reported at once (STYLE.md, "Errors"): a structural error in one
block does not hide the row errors of ``layers:``, and shape errors of rows that do not read each
other are reported together. Rows that read a failed part are not checked, so no error is a
consequence of another."""

from __future__ import annotations

import pytest

from archc.cli import MAX_SHOWN
from archc.diagnostics import SpecError
from archc.frontend.loader import load_text
from archc.frontend.validate import validate
from archc.ir.shapes import infer

HEAD = "name: Tiny\ninput: [3, 32, 32]\n"


def errors(text: str) -> list[tuple[int, str, str]]:
    """(line, code, message) of every error of a spec text, through validation and shapes."""
    with pytest.raises(SpecError) as caught:
        infer(validate(load_text(HEAD + text, "spec.yaml")))
    return [(d.line, d.code, d.message) for d in caught.value.diagnostics]


def test_a_misspelt_block_key_does_not_hide_the_layers_errors():
    found = errors(
        "blocks:\n"                                       # 3
        "  unit:\n"                                       # 4
        "    params: {c: {type: int}}\n"                  # 5
        "    bodyy:\n"                                    # 6
        "      - {op: conv, c: c, k: 3}\n"                # 7
        "layers:\n"                                       # 8
        "  - {op: conv, c: 16, k: 3, name: stem}\n"       # 9
        "  - {op: unit, c: 32, name: u}\n"                # 10
        "  - {op: batch_nrm}\n")                          # 11
    # the broken block's use (line 10) is not an 'unknown op': the block exists, it is broken
    assert [(line, code) for line, code, _ in found] == [(5, "E102"), (6, "E101"), (11, "E206")]


def test_a_broken_row_keeps_its_name_and_the_rest_is_checked():
    found = errors(
        "layers:\n"                                             # 3
        "  - {op: conv, c: 16, k: 3, name: stem, from: 3}\n"    # 4: 'from' is not a name
        "  - {op: conv, c: 16, k: 3, name: b, from: stem}\n"    # 5: stem still known
        "  - name: feat\n"                                      # 6
        "    seq:\n"                                            # 7
        "      - {op: conv, c: 16, k: [3, 3, 3]}\n"             # 8: E210, a checker error
        "      - {op: relu, c: 3}\n"                            # 9
        "  - {op: linear, c: 10, name: fc, strid: 2}\n"         # 10
        "scaling: {width: -1}\n")                               # 11
    assert [(line, code) for line, code, _ in found] == [
        (4, "E103"), (8, "E210"), (9, "E206"), (10, "E207"), (11, "E104")]


def test_a_row_with_a_broken_name_is_not_blamed_on_its_readers():
    found = errors("layers:\n"
                   "  - {op: conv, c: 16, k: 3, name: sum}\n"
                   "  - {op: conv, c: 16, k: 3, name: b, from: sum}\n"
                   "  - {op: convv, c: 10, name: fc}\n")
    assert [(line, code) for line, code, _ in found] == [(4, "E104"), (6, "E206")]


def test_a_broken_row_inside_a_block_body_leaves_its_other_rows_checked():
    found = errors("blocks:\n"
                   "  unit:\n"
                   "    params: {c: {type: int}}\n"
                   "    body:\n"
                   "      - {op: conv, c: c, k: 3, name: [x]}\n"       # 7
                   "      - {op: conv, c: c, k: 3, name: y}\n"
                   "      - {op: add, from: [x, y], name: z}\n"        # x unknown: not blamed
                   "      - {op: batch_nrm}\n"                         # 10
                   "layers:\n"
                   "  - {op: unit, c: 32, kk: 3, name: u}\n")          # 12
    assert [(line, code) for line, code, _ in found] == [(7, "E103"), (10, "E206"),
                                                          (12, "E207")]


def test_shape_errors_of_independent_rows_together_and_none_of_their_readers():
    found = errors(
        "blocks:\n"
        "  two:\n"
        "    params: {c: {type: int}}\n"
        "    body:\n"
        "      - {op: conv, c: c, k: 99, p: 0, name: a, from: input}\n"
        "      - {op: conv, c: c, k: 98, p: 0, name: b, from: input}\n"
        "      - {op: add, from: [a, b], name: z}\n"
        "layers:\n"
        "  - {op: conv, c: 16, k: 99, p: 0, name: left, from: input}\n"     # 11
        "  - {op: conv, c: 16, k: 3, s: 64, name: right, from: input}\n"
        "  - {op: conv, c: 16, k: 3, name: mid, from: input}\n"
        "  - {op: two, c: 16, name: t, from: mid}\n"                        # 14
        "  - {op: add, from: [left, right], name: total}\n"                 # reads 'left'
        "  - {op: add, from: [mid, right], name: other}\n"                  # 16
        "  - {op: global_avg_pool, from: total}\n"
        "  - {op: linear, c: 10, name: fc}\n")
    # the block's two failing rows are located in its body (lines 7 and 8), used at line 14
    assert [(line, code) for line, code, _ in found] == [
        (7, "E401"), (8, "E401"), (11, "E401"), (16, "E401")]
    assert "t.a (conv)" in found[0][2] and "t.b (conv)" in found[1][2]


def test_a_long_list_is_in_order_and_the_cli_shows_its_head(write_spec, cli):
    rows = "".join(f"  - {{op: conv, c: 16, k: 3, name: c{i}, strid: 1}}\n" for i in range(80))
    found = errors("layers:\n" + rows)
    assert [line for line, _, _ in found] == list(range(4, 84))  # the API has every one
    code, _, err = cli("check", str(write_spec(HEAD + "layers:\n" + rows)))
    assert code == 1 and err.count("error[E207]") == MAX_SHOWN
    assert err.rstrip().endswith(f"... {80 - MAX_SHOWN} more not shown (--format json lists "
                                 "them all)\n80 errors")
    code, out, _ = cli("check", str(write_spec(HEAD + "layers:\n" + rows)), "--format", "json")
    assert code == 1 and out.count('"code": "E207"') == 80


def test_the_cli_prints_them_all_and_exits_1(write_spec, cli):
    path = write_spec(HEAD + "blocks:\n  unit:\n    bodyy: []\nlayers:\n  - {op: convv}\n")
    code, out, err = cli("check", str(path))
    assert code == 1 and out == ""
    assert "error[E102]" in err and "error[E101]" in err and "error[E206]" in err
    assert err.rstrip().endswith("3 errors")


def test_every_row_of_a_block_body_that_cannot_be_expanded_is_reported():
    found = errors("blocks:\n"
                   "  two:\n"
                   "    params: {c: {type: int}}\n"
                   "    body:\n"
                   "      - {op: conv, c: c / 0, k: 3, name: a, from: input}\n"
                   "      - {op: conv, c: c - 100, k: 3, name: b, from: input}\n"
                   "      - {op: add, from: [a, b], name: z}\n"
                   "layers:\n"
                   "  - {op: two, c: 16, name: t}\n")
    assert [(line, code) for line, code, _ in found] == [(11, "E301"), (11, "E304")]
    assert "blocks.two.body[0].c" in found[0][2] and "blocks.two.body[1].c" in found[1][2]


def test_an_unnamed_module_row_does_not_hide_shape_errors():
    """E306 (a row with weights needs a name) used to stop elaboration before shapes: a
    shrinking conv further down surfaced only after the name was added."""
    found = errors(
        "layers:\n"                                        # 3
        "  - {op: conv, c: 4, k: 3}\n"                     # 4
        "  - {name: c2, op: conv, c: 4, k: 33, p: 0}\n")   # 5
    assert [(line, code) for line, code, _ in found] == [(4, "E306"), (5, "E401")]


def test_an_error_of_a_repeated_row_is_reported_once():
    """Was: a row with n: 3 whose column is wrong printed the same error three times."""
    found = errors(
        "layers:\n"
        "  - name: f\n"
        "    seq:\n"
        "      - {op: conv, c: 8 / 3, k: 3, n: 3}\n")  # 6
    assert [(line, code) for line, code, _ in found] == [(6, "E303")]
    assert found[0][2].endswith("(and in the row's later repeats)")


def test_an_error_in_a_spec_block_is_located_in_its_body_with_the_use_as_a_note(cli,
                                                                                 write_spec):
    """Was: a channel mismatch inside a block body was located at the row using the block."""
    path = write_spec("name: Blk\ninput: [3, 16, 16]\nblocks:\n  unit:\n"
                      "    params:\n      c: {type: int}\n    body:\n"
                      "      - {name: a, op: conv, c: c, k: 3}\n"
                      "      - {op: add, from: [input, a]}\n"                     # 9
                      "layers:\n  - {name: stem, op: conv, c: 8, k: 3}\n"
                      "  - {name: u, op: unit, c: 16}\n")                          # 12
    code, _, err = cli("check", str(path))
    assert code == 1
    assert ":9:9: error[E401]: u.(add): add inputs differ in shape" in err, err
    assert "hint: block 'unit' is used at line 12 (u)" in err
