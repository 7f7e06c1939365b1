"""archc benchmarks: every figure is measured side by side with its reference in the same run
and printed as a ratio. Medians over interleaved runs, so drift on a shared machine hits both
sides alike.

    python benchmarks/run.py [--quick] [--only check,forward,inference,memory,scale]

Sections (targets from the issues in brackets):
  check      `archc check` and `archc build` wall time per spec vs `python -c "import torch"`
             [check <= 0.25 x import torch]
  forward    eager forward latency of the live and generated models vs torchvision, batch 1
             and 8 [ratios within 1.03]
  inference  optimize_for_inference vs torchvision eager at batch 8 (mobilenet_v2, resnet50,
             efficientnet_b0) [median speedup >= 1.5], and what torch.compile adds on top
  memory     peak RSS of `archc build` vs importing torch; peak RSS of a forward pass of the
             generated model vs torchvision's
  scale      `archc check` on synthetic specs of 1,000 and 10,000 layers
             [10k under 5 s, 10k/1k ratio <= 12]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


def _wall(cmd: list[str], cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - start


def _median_pair(a_cmd, b_cmd, runs):
    _wall(a_cmd), _wall(b_cmd)  # warm the file cache
    a, b = [], []
    for _ in range(runs):
        a.append(_wall(a_cmd))
        b.append(_wall(b_cmd))
    return statistics.median(a), statistics.median(b)


def bench_check(runs: int) -> dict:
    archc = [PY, "-m", "archc"]
    torch_import = [PY, "-c", "import torch"]
    out = {}
    print(f"\n## check / build (median of {runs}, wall time, ratio to `import torch`)")
    _, base = _median_pair(torch_import, torch_import, runs)
    label = 'python -c "import torch"'
    print(f"{label:<44} {base * 1e3:8.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in SPECS:
            rel = str(spec.relative_to(ROOT))
            check, torch_t = _median_pair([*archc, "check", rel], torch_import, runs)
            build, _ = _median_pair([*archc, "build", rel, "-o", tmp], torch_import, 1)
            out[spec.stem] = {"check_s": check, "build_s": build, "torch_s": torch_t}
            print(f"{spec.stem:<22} check {check * 1e3:7.1f} ms ({check / torch_t:5.3f})   "
                  f"build {build * 1e3:7.1f} ms ({build / torch_t:5.3f})")
    worst = max(v["check_s"] / v["torch_s"] for v in out.values())
    print(f"worst check / import torch: {worst:.3f} (target <= 0.25)")
    return out


def _gen(name: str):
    sys.path.insert(0, str(ROOT / "generated"))
    module = __import__(name)
    return getattr(module, name)()


def _latency(model, x, torch) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        model(x)
    return time.perf_counter() - start


def _interleaved(models: dict, x, runs: int, torch) -> dict:
    for m in models.values():
        for _ in range(2):
            _latency(m, x, torch)
    times = {k: [] for k in models}
    for _ in range(runs):
        for name, m in models.items():
            times[name].append(_latency(m, x, torch))
    return {k: statistics.median(v) for k, v in times.items()}


def bench_forward(runs: int) -> dict:
    import torch
    import torchvision

    sys.path.insert(0, str(ROOT))
    import archc

    out = {}
    print(f"\n## eager forward, torch {torch.__version__}, {torch.get_num_threads()} threads "
          f"(median of {runs} interleaved runs)")
    for name in ("mobilenet_v2", "resnet50", "efficientnet_b0"):
        ref = getattr(torchvision.models, name)().eval()
        live = archc.build_model(ROOT / "specs" / f"{name}.yaml").eval()
        gen = _gen(name).eval()
        live.load_state_dict(ref.state_dict())
        gen.load_state_dict(ref.state_dict())
        for batch in (1, 8):
            x = torch.randn(batch, 3, 224, 224)
            med = _interleaved({"torchvision": ref, "live": live, "generated": gen}, x, runs,
                               torch)
            base = med["torchvision"]
            out[f"{name}/b{batch}"] = {k: v / base for k, v in med.items()}
            print(f"{name:<16} batch {batch}: torchvision {base * 1e3:8.2f} ms   "
                  f"live {med['live'] / base:5.3f}   generated {med['generated'] / base:5.3f}")
    return out


def bench_inference(runs: int, with_compile: bool) -> dict:
    import torch
    import torchvision

    sys.path.insert(0, str(ROOT))
    import archc

    out = {}
    print(f"\n## inference build vs torchvision eager, batch 8 (median of {runs})")
    speedups = []
    for name in ("mobilenet_v2", "resnet50", "efficientnet_b0"):
        ref = getattr(torchvision.models, name)().eval()
        gen = _gen(name)
        gen.load_state_dict(ref.state_dict())
        fast = archc.optimize_for_inference(gen)
        x = torch.randn(8, 3, 224, 224)
        with torch.inference_mode():
            rel = ((fast(x) - ref(x)).abs().max() / ref(x).abs().max()).item()
        models = {"torchvision": ref, "inference": fast}
        if with_compile:
            compiled = torch.compile(fast)
            with torch.inference_mode():
                compiled(x)  # compile outside the timing
            models["inference+compile"] = compiled
        med = _interleaved(models, x, runs, torch)
        base = med["torchvision"]
        speed = base / med["inference"]
        speedups.append(speed)
        out[name] = {"speedup": speed, "max_rel_diff": rel}
        line = (f"{name:<16} torchvision {base * 1e3:8.1f} ms   inference {med['inference'] * 1e3:8.1f}"
                f" ms   speedup {speed:5.2f}x   max rel diff {rel:.1e}")
        if with_compile:
            out[name]["compile_speedup"] = base / med["inference+compile"]
            line += f"   +torch.compile {base / med['inference+compile']:5.2f}x"
        print(line)
    print(f"median speedup {statistics.median(speedups):.2f}x (target >= 1.5x)")
    out["median_speedup"] = statistics.median(speedups)
    return out


def _peak_rss_mb(code: str) -> float:
    # VmHWM (peak resident set) starts afresh at exec; ru_maxrss would carry the parent's.
    probe = code + textwrap.dedent("""
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                print(int(line.split()[1]))
    """)
    result = subprocess.run([PY, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                            check=True)
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def bench_memory() -> dict:
    print("\n## peak memory (max RSS of a fresh process)")
    with tempfile.TemporaryDirectory() as tmp:
        build = _peak_rss_mb(f"from archc.cli import main; main(['build', 'specs/resnet50.yaml', "
                             f"'-o', {tmp!r}])")
    torch_only = _peak_rss_mb("import torch")
    print(f"archc build resnet50: {build:8.1f} MiB   import torch: {torch_only:8.1f} MiB   "
          f"ratio {build / torch_only:.3f}")
    out = {"build_mb": build, "import_torch_mb": torch_only}
    for name in ("mobilenet_v2", "resnet50"):
        fwd = "import torch\nx = torch.randn(8, 3, 224, 224)\nwith torch.inference_mode():\n    m(x)\n"
        ours = _peak_rss_mb(f"import sys, torchvision; sys.path.insert(0, 'generated')\n"
                            f"import {name}\n"
                            f"m = {name}.{name}().eval()\n" + fwd)
        ref = _peak_rss_mb(f"import torchvision\nm = torchvision.models.{name}().eval()\n" + fwd)
        print(f"forward batch 8 {name:<14} generated {ours:8.1f} MiB   torchvision {ref:8.1f} "
              f"MiB   ratio {ours / ref:.3f}")
        out[name] = {"generated_mb": ours, "torchvision_mb": ref}
    return out


def bench_scale(runs: int) -> dict:
    print(f"\n## compile cost vs size: archc check on synthetic specs (median of {runs})")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1000, 10000):
            rows = []
            for _ in range(n // 2):
                rows += ["      - {op: conv, c: 8, k: 3}", "      - {op: act, fn: relu}"]
            path = Path(tmp) / f"synthetic_{n}.yaml"
            path.write_text("name: Synthetic\ninput: [8, 8, 8]\nlayers:\n  - name: body\n"
                            "    seq:\n" + "\n".join(rows) + "\n")
            # the 10k spec has 10,001 layers (the group counts): above the default budget
            cmd = [PY, "-m", "archc", "check", str(path), "--max-layers", "20000"]
            times = [_wall(cmd) for _ in range(runs)]
            out[n] = statistics.median(times)
            print(f"{n:>6} layers: {out[n]:6.2f} s")
    ratio = out[10000] / out[1000]
    print(f"10k: {out[10000]:.2f} s (target < 5 s); 10k/1k ratio {ratio:.1f} (target <= 12)")
    return {"1k_s": out[1000], "10k_s": out[10000], "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", default="check,forward,inference,memory,scale",
                        help="comma-separated sections")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile on top of the inference build (slow)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    runs = 3 if args.quick else 11
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
          f"python {platform.python_version()}")
    results = {}
    if "check" in sections:
        results["check"] = bench_check(3 if args.quick else 7)
    if "forward" in sections:
        results["forward"] = bench_forward(runs)
    if "inference" in sections:
        results["inference"] = bench_inference(runs, args.compile)
    if "memory" in sections:
        results["memory"] = bench_memory()
    if "scale" in sections:
        results["scale"] = bench_scale(3)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
