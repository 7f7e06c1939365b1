"""An unknown op's hint suggests only a typo of an op of the same kind: a near spelling that
names another op (layer_norm/batch_norm, adaptive_max_pool/adaptive_avg_pool, conv3d/conv,
cat/act) would invite a different model."""

from __future__ import annotations

import pytest

from archc.frontend.registry import builtin_ops
from archc.frontend.validate import FUTURE_OPS, op_hint

OPS = builtin_ops()


@pytest.mark.parametrize("typo, op", [
    ("batch_nrom", "batch_norm"), ("batchnorm", "batch_norm"), ("linaer", "linear"),
    ("cnov", "conv"), ("conv2d", "conv"), ("maxpool", "max_pool"), ("avgpool", "avg_pool"),
    ("concatt", "concat"), ("bottelneck", "bottleneck")])
def test_typos_are_suggested(typo, op):
    assert op_hint(typo, OPS) == f"did you mean {op!r}?"


@pytest.mark.parametrize("name", [
    "adaptive_max_pool", "global_max_pool", "conv1d", "conv3d", "max_pool1d",
    "avg_pool3d", "dropout2d", "cat", "group_nrm"])
def test_other_ops_are_not_suggested(name):
    assert "did you mean" not in op_hint(name, OPS)


@pytest.mark.parametrize("name", sorted(FUTURE_OPS))
def test_ops_archc_lacks_say_so(name):
    hint = op_hint(name, OPS)
    assert hint.startswith(f"{name} ({FUTURE_OPS[name]}) is not an archc op yet")
    assert "did you mean" not in hint


@pytest.mark.parametrize("name", ["relu", "ReLU", "hardswish", "sigmoid"])
def test_an_activation_points_at_the_act_row(name):
    assert op_hint(name, OPS) == \
        f"activations are rows of op 'act': {{op: act, fn: {name.lower()}}}"


def test_the_hint_is_printed_under_the_error(write_spec, cli):
    path = write_spec("name: X\ninput: [3, 8, 8]\nlayers:\n"
                      "  - {op: adaptive_max_pool, size: 1}\n  - {op: relu}\n")
    code, _, err = cli("check", str(path))
    assert code == 1
    assert "adaptive_avg_pool" not in err
    assert "= hint: activations are rows of op 'act': {op: act, fn: relu}" in err
