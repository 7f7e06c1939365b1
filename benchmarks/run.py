"""archc benchmarks, every figure measured side by side with its reference in one run.

    python benchmarks/run.py [--quick]

Prints, as medians over interleaved runs and ratios against the reference:
  * `archc check` process wall time vs `python -c "import torch"` (target: <= 0.25)
  * eager forward latency of the live and generated MobileNetV2 vs torchvision's, at batch 1
    and 8 (target: ratios within 1.03)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _time_process(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def bench_check(runs: int) -> None:
    spec = "specs/mobilenet_v2.yaml"
    check = [sys.executable, "-m", "archc", "check", spec]
    torch_import = [sys.executable, "-c", "import torch"]
    _time_process(check), _time_process(torch_import)  # warm the file cache
    a, b = [], []
    for _ in range(runs):  # interleaved, so drift hits both alike
        a.append(_time_process(check))
        b.append(_time_process(torch_import))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{'archc check ' + spec:<44} {ma * 1e3:9.1f} ms")
    label = 'python -c "import torch"'
    print(f"{label:<44} {mb * 1e3:9.1f} ms")
    print(f"{'ratio check / import torch (target <= 0.25)':<44} {ma / mb:9.3f}")


def _latency(model, x, torch) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        model(x)
    return time.perf_counter() - start


def bench_forward(runs: int) -> None:
    import torch
    import torchvision

    sys.path.insert(0, str(ROOT))
    import archc

    spec = ROOT / "specs" / "mobilenet_v2.yaml"
    ref = torchvision.models.mobilenet_v2().eval()
    live = archc.build_model(spec).eval()
    live.load_state_dict(ref.state_dict())
    sys.path.insert(0, str(ROOT / "generated"))
    import mobilenet_v2 as gen_mod

    gen = gen_mod.mobilenet_v2().eval()
    gen.load_state_dict(ref.state_dict())
    models = {"torchvision": ref, "archc live": live, "archc generated": gen}
    print(f"\neager forward, mobilenet_v2, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224)
        for m in models.values():
            for _ in range(3):
                _latency(m, x, torch)
        times = {k: [] for k in models}
        for _ in range(runs):
            for name, m in models.items():
                times[name].append(_latency(m, x, torch))
        base = statistics.median(times["torchvision"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"  batch {batch:<2} {name:<16} {med * 1e3:8.2f} ms   ratio {med / base:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"python {platform.python_version()}")
    bench_check(5 if args.quick else 15)
    bench_forward(10 if args.quick else 40)


if __name__ == "__main__":
    main()
