"""A generated module trains under DistributedDataParallel: two CPU processes (gloo, loopback),
different data on each rank, the same initial weights, and identical weights at the end.

SyncBatchNorm on CPU: ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` converts the generated
module fine, but in this torch (2.14.1, CPU build) a training-mode forward of SyncBatchNorm
raises ``ValueError: SyncBatchNorm expected input tensor to be on GPU or XPU or
privateuseone`` (torch/nn/modules/batchnorm.py, SyncBatchNorm.forward), and its kernel
``aten::batch_norm_stats`` has no CPU implementation either. So each rank probes SyncBatchNorm
first: where it runs (a torch with CPU support), the model trains with it; where it raises that
error, the model trains with plain BatchNorm under DDP, which is the closest honest setup on CPU:
gradients are all-reduced every step (so parameters stay identical), each rank normalises with
its own batch statistics, DDP broadcasts rank 0's buffers before every forward, and after the
last step the ranks average their BatchNorm running statistics (all-reduce, as timm's
``distribute_bn(reduce=True)``), since the last step left each rank with its own. The test
checks that the buffers did differ before that averaging (the ranks saw different data) and
that every tensor of the state_dict is identical after it.
"""

from __future__ import annotations

import copy
import socket
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

import torch.multiprocessing as mp  # noqa: E402

from .conftest import GENERATED, import_file  # noqa: E402

NAME = "mobilenet_v3_small"
WORLD_SIZE = 2
STEPS = 3
BATCH = 4  # per rank
TIMEOUT_S = 120
SYNC_BN_CPU_ERROR = "SyncBatchNorm expected input tensor to be on GPU"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _batchnorm_buffers(model):
    return [b for name, b in model.named_buffers()
            if name.rsplit(".", 1)[-1] in ("running_mean", "running_var")]


def _worker(rank: int, port: int, out_dir: str) -> None:
    import datetime
    import os

    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE,
                            timeout=datetime.timedelta(seconds=60))
    try:
        out = Path(out_dir)
        torch.manual_seed(0)  # same initial weights on every rank
        model = getattr(import_file(GENERATED / f"{NAME}.py"), NAME)()
        torch.save(model.state_dict(), out / f"initial{rank}.pt")

        # Different data on every rank.
        gen = torch.Generator().manual_seed(1000 + rank)
        xs = torch.randn(STEPS, BATCH, 3, 64, 64, generator=gen)
        ys = torch.randint(0, 1000, (STEPS, BATCH), generator=gen)

        # Does SyncBatchNorm run here? Probe on a copy (the probe moves running statistics).
        n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        probe = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(model)).train()
        assert sum(isinstance(m, nn.SyncBatchNorm) for m in probe.modules()) == n_bn > 0
        assert probe.state_dict().keys() == model.state_dict().keys()
        try:
            probe(xs[0])
            sync_bn, error = True, ""
        except ValueError as e:
            sync_bn, error = False, str(e)
        del probe
        if sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)

        ddp = DistributedDataParallel(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
        ddp.train()
        losses = []
        for step in range(STEPS):
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(ddp(xs[step]), ys[step])
            loss.backward()
            opt.step()
            losses.append(loss.item())

        before = [b.clone() for b in _batchnorm_buffers(model)]
        if not sync_bn:  # average the ranks' running statistics (see the module docstring)
            for b in _batchnorm_buffers(model):
                dist.all_reduce(b)
                b.div_(WORLD_SIZE)
        torch.save({"state": model.state_dict(), "bn_before_reduce": before,
                    "sync_bn": sync_bn, "error": error, "losses": losses},
                   out / f"final{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _spawn(out_dir: Path) -> None:
    ctx = mp.spawn(_worker, args=(_free_port(), str(out_dir)), nprocs=WORLD_SIZE, join=False)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"DDP workers did not finish within {TIMEOUT_S} s")
    finally:
        for p in ctx.processes:  # only on failure: kill our own workers, not leave them
            if p.is_alive():
                p.kill()
                p.join(5)


def test_ddp_training_keeps_ranks_identical(tmp_path):
    _spawn(tmp_path)
    initial = [torch.load(tmp_path / f"initial{r}.pt") for r in range(WORLD_SIZE)]
    final = [torch.load(tmp_path / f"final{r}.pt") for r in range(WORLD_SIZE)]

    for key, value in initial[0].items():  # seeded before building: same start everywhere
        assert torch.equal(initial[1][key], value), key

    a, b = final[0]["state"], final[1]["state"]
    assert a.keys() == b.keys() == initial[0].keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"rank 0 and rank 1 differ at {key}"

    params = [k for k, v in a.items() if v.is_floating_point() and "running_" not in k]
    changed = [k for k in params if not torch.equal(a[k], initial[0][k])]
    assert len(changed) >= 0.9 * len(params), f"only {len(changed)}/{len(params)} changed"
    assert not torch.equal(a["classifier.3.weight"], initial[0]["classifier.3.weight"])

    assert final[0]["losses"] != final[1]["losses"]  # different data on each rank
    assert final[0]["sync_bn"] == final[1]["sync_bn"]
    if not final[0]["sync_bn"]:
        assert SYNC_BN_CPU_ERROR in final[0]["error"], final[0]["error"]
        # Without synchronised statistics the last step left each rank with its own buffers:
        # the averaging above is what made them equal, not a vacuous comparison.
        before = zip(final[0]["bn_before_reduce"], final[1]["bn_before_reduce"], strict=True)
        assert any(not torch.equal(x, y) for x, y in before)
