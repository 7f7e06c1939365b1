"""Unnamed weight-free rows run as functions in forward (docs/spec-language.md): max_pool,
avg_pool, dropout and channel_shuffle too, each spelled as torch spells it, and equal to torch's
own ops in training and in eval (dropout is the identity in eval)."""

from __future__ import annotations

import pytest

import archc
from archc.diagnostics import SpecError

from .conftest import import_file

torch = pytest.importorskip("torch")
F = torch.nn.functional

SPEC = """\
name: Fns
input: [8, 16, 16]
blocks:
  mix:
    params: {g: {type: int}, p: {type: float}}
    body:
      - {op: channel_shuffle, groups: g, from: input}
      - {op: dropout, p: p}
      - {op: avg_pool, k: 3, s: 1, p: 1, ceil: true}
      - {op: max_pool, k: [3, 2], s: 2}
layers:
  - {op: max_pool, k: 2}
  - {op: mix, g: 4, p: 0.5, name: m}
  - {op: dropout, p: 0.3}
  - {op: avg_pool, k: 2, s: 1, p: 1}
  - {op: channel_shuffle, groups: 2}
"""


def reference(x, training: bool):
    """The spec's forward written with torch's ops."""
    x = F.max_pool2d(x, 2)
    x = torch.nn.ChannelShuffle(4)(x)
    x = F.dropout(x, 0.5, training)
    x = F.avg_pool2d(x, 3, 1, 1, ceil_mode=True)
    x = F.max_pool2d(x, (3, 2), 2)
    x = F.dropout(x, 0.3, training)
    x = F.avg_pool2d(x, 2, 1, 1)
    return torch.nn.ChannelShuffle(2)(x)


@pytest.fixture
def spec_path(tmp_path):
    path = tmp_path / "fns.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_the_functions_read_like_torchvision(spec_path):
    source = archc.generate(spec_path)
    for line in ("out = channel_shuffle(x, self.g)",
                 "out = nn.functional.dropout(out, p=self.p, training=self.training)",
                 "out = nn.functional.avg_pool2d(out, 3, stride=1, padding=1, ceil_mode=True)",
                 "out = nn.functional.max_pool2d(out, (3, 2), stride=2)",
                 "x = nn.functional.max_pool2d(x, 2)",
                 "x = nn.functional.dropout(x, p=0.3, training=self.training)",
                 "x = nn.functional.avg_pool2d(x, 2, stride=1, padding=1)",
                 "x = channel_shuffle(x, 2)"):
        assert any(row.strip().startswith(line) for row in source.splitlines()), line
    assert "def channel_shuffle(x: Tensor, groups: int) -> Tensor:" in source
    assert "nn.Dropout" not in source and "Pool2d(" not in source


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_live_and_generated_models_equal_torch(spec_path, tmp_path, training):
    live = archc.build_model(spec_path)
    out = tmp_path / "fns_generated.py"
    out.write_text(archc.generate(spec_path), encoding="utf-8")
    generated = import_file(out).Fns()
    x = torch.randn(2, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    expected = reference(x, training)
    for model in (live, generated):
        model.train(training)
        torch.manual_seed(1)  # the same dropout masks as the reference's
        assert torch.equal(model(x), expected)
    if training:  # dropout did drop: the comparison above saw masks
        assert not torch.equal(expected, reference(x, False))


def test_a_named_row_stays_a_module(tmp_path):
    path = tmp_path / "named.yaml"
    path.write_text(SPEC.replace("{op: dropout, p: 0.3}", "{op: dropout, p: 0.3, name: drop}"),
                    encoding="utf-8")
    assert "self.drop = nn.Dropout(p=0.3)" in archc.generate(path)


def test_a_row_cannot_be_named_like_the_helper(tmp_path):
    path = tmp_path / "clash.yaml"
    path.write_text(SPEC.replace("{op: dropout, p: 0.3}",
                                 "{op: dropout, p: 0.3, name: channel_shuffle}"),
                    encoding="utf-8")
    with pytest.raises(SpecError, match="channel_shuffle"):
        archc.generate(path)
