"""Module names as torchvision writes them (issue 11): row names with capitals
(Inception's ``Conv2d_1a_3x3``)."""

from __future__ import annotations

import pytest

import archc
from archc.codegen.audit import audit_source

torch = pytest.importorskip("torch")
nn = torch.nn

CAPS = """\
name: Caps
input: [3, 16, 16]
layers:
  - {name: Conv2d_1a_3x3, op: conv, c: 8, k: 3, s: 2}
  - {op: global_avg_pool}
  - {op: flatten}
  - {name: fc, op: linear, c: 5}
"""


def test_row_named_with_capitals_builds_live_and_generated(write_spec):
    """Was: E1xx 'string should match pattern' (row names had to be snake_case), so
    torchvision's Inception names could not be written."""
    path = write_spec(CAPS)
    source = archc.generate(path)
    audit_source(source)
    assert "self.Conv2d_1a_3x3 = " in source
    model = archc.build_model(path)
    keys = set(model.state_dict())
    assert {"Conv2d_1a_3x3.weight", "fc.weight", "fc.bias"} <= keys
    ref = nn.Module()
    ref.Conv2d_1a_3x3 = nn.Conv2d(3, 8, 3, 2, 1)
    ref.fc = nn.Linear(8, 5)
    ref.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    model.eval()
    expected = ref.fc(ref.Conv2d_1a_3x3(x).mean((2, 3)))
    assert torch.allclose(model(x), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["F", "Tensor", "StochasticDepth"])
def test_capitalised_row_name_that_the_generated_module_uses_is_refused(cli, write_spec, name):
    """Capitals open names like F (torch.nn.functional) and the runtime classes: refused."""
    path = write_spec(CAPS.replace("Conv2d_1a_3x3", name))
    code, _, err = cli("check", str(path))
    assert code == 1 and "Traceback" not in err and name in err and ":4:" in err, err
