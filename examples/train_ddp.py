"""Train a generated archc module with DistributedDataParallel, launched by torchrun.

One process per device. torchrun sets RANK, LOCAL_RANK and WORLD_SIZE (and the rendezvous
address); this script reads them, uses NCCL on GPUs and gloo on CPUs, converts BatchNorm to
SyncBatchNorm where that runs (GPUs: PyTorch's SyncBatchNorm has no CPU kernel), wraps the model
in DDP and shards a dataset with a DistributedSampler.

    torchrun --standalone --nproc-per-node 2 examples/train_ddp.py \\
        --module generated/mobilenet_v3_small.py --steps 2 --image-size 64

The data are random images with random labels (a stand-in for a real dataset): the same
dataset on every rank, each rank reading its own shard of it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


def load_factory(path: Path, name: str | None):
    """The factory function of a generated module: ``<stem>()`` unless --factory says."""
    spec = importlib.util.spec_from_file_location(f"_archc_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name or path.stem)


def model_io(model: nn.Module) -> tuple[int, int]:
    """Input channels (first convolution) and classes (last linear layer built)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return convs[0].in_channels, linears[-1].out_features


def loss_fn(out, target):
    """Cross-entropy; auxiliary outputs (GoogLeNet in training) weigh 0.3, as in the paper."""
    if isinstance(out, tuple):
        main, *aux = out
        return nn.functional.cross_entropy(main, target) + 0.3 * sum(
            nn.functional.cross_entropy(a, target) for a in aux)
    return nn.functional.cross_entropy(out, target)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--module", type=Path, default=Path("generated/mobilenet_v3_small.py"),
                   help="generated module file (default: %(default)s)")
    p.add_argument("--factory", help="factory function (default: the file's stem)")
    p.add_argument("--steps", type=int, default=10, help="optimizer steps (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=8, help="per process (default: %(default)s)")
    p.add_argument("--image-size", type=int, default=224, help="default: %(default)s")
    p.add_argument("--samples", type=int, default=256, help="dataset size (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--sync-bn", choices=("auto", "on", "off"), default="auto",
                   help="SyncBatchNorm: auto = on for GPUs, off on CPUs (default: auto)")
    p.add_argument("--cpu", action="store_true", help="use CPUs and gloo even with GPUs")
    p.add_argument("--save", type=Path, help="rank 0 writes the trained state_dict here")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    # torchrun sets these; the defaults let `python examples/train_ddp.py` run as one process.
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29500")
    rank = int(os.environ.setdefault("RANK", "0"))
    local_rank = int(os.environ.setdefault("LOCAL_RANK", "0"))
    world_size = int(os.environ.setdefault("WORLD_SIZE", "1"))

    use_cuda = torch.cuda.is_available() and not args.cpu
    if use_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(
            os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    dist.init_process_group("nccl" if use_cuda else "gloo",
                            timeout=datetime.timedelta(minutes=5))
    log = print if rank == 0 else (lambda *a, **k: None)

    torch.manual_seed(args.seed)  # same initial weights everywhere (DDP also broadcasts them)
    model = load_factory(args.module, args.factory)()
    in_channels, num_classes = model_io(model)
    sync_bn = args.sync_bn == "on" or (args.sync_bn == "auto" and use_cuda)
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if use_cuda else None)

    gen = torch.Generator().manual_seed(args.seed)  # the same dataset on every rank
    images = torch.randn(args.samples, in_channels, args.image_size, args.image_size,
                         generator=gen)
    labels = torch.randint(0, num_classes, (args.samples,), generator=gen)
    dataset = TensorDataset(images, labels)
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=args.seed, drop_last=True)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, drop_last=True,
                        pin_memory=use_cuda)

    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    log(f"{args.module}: {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{world_size} processes on {device.type}, backend {dist.get_backend()}, "
        f"SyncBatchNorm {'on' if sync_bn else 'off'}, global batch {args.batch_size * world_size}")

    ddp.train()
    step, epoch, start = 0, 0, time.perf_counter()
    while step < args.steps:
        sampler.set_epoch(epoch)  # a new shuffle, the same on every rank
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(ddp(x), y)
            loss.backward()  # DDP all-reduces the gradients here
            opt.step()
            step += 1
            log(f"step {step}/{args.steps} loss {loss.item():.4f} "
                f"({time.perf_counter() - start:.1f} s)")
            if step == args.steps:
                break
        epoch += 1

    if not sync_bn and world_size > 1:
        # Without SyncBatchNorm each rank kept its own BatchNorm running statistics: average them.
        for name, buf in model.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                dist.all_reduce(buf)
                buf.div_(world_size)
    if args.save and rank == 0:
        torch.save(model.state_dict(), args.save)
        log(f"saved {args.save}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
