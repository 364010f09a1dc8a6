"""The training step on CPU with the compiled spiking tick against the PyTorch loops, side by side.

    python benchmarks/cpu_tick.py [--configs NAME ...] [--batches 64 256] [--rounds R] [--steps N]

For each config and batch: the math per step (forward + backward, FlopCounterMode), ms per step
with the PyTorch loops (``NEUROSYNC_KERNELS=0``, the eager path) and with the default (the
compiled tick of neurosync/parts/kernels.c where the model has spiking neurons), the share of
this machine's fp32 matmul peak (a 2048² product, timed in the same process as the steps), the
first step (warm-up) and the peak resident memory. Each (config, batch, arm) runs in a fresh
process, the arms alternating round by round; medians over rounds. The one-off build of the C
library (no cache) is timed separately. Results go to a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = ["parity16-rate", "parity16-spiking", "parity16-cortical"]
ARMS = {"PyTorch loops": "0", "default (compiled tick)": "1"}


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a size × size fp32 matrix product, best of ``repeats``."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def child(config: str, batch: int, steps: int, threads: int) -> dict:
    """One arm in this process: warm-up, math, ms per step, the peak share, peak memory."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from neurosync import config as config_mod
    from neurosync.training import flush_denormals

    flush_denormals()  # as neurosync train does
    torch.set_num_threads(threads)
    sys.path.insert(0, str(HERE))
    from _task_step import config_path, task_step

    cfg = config_mod.load(config_path(config), [f"train.batch_size={batch}"])
    step = task_step(cfg)[0]
    compiled = cfg.model.neuron == "spiking" and cfg.model.spiking.substeps > 1  # the ticks the kernels take
    start = time.perf_counter()
    step()
    warm_up = time.perf_counter() - start
    with FlopCounterMode(display=False) as counter:
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    peak = matmul_peak()
    flops = counter.get_total_flops()
    return {
        "gflop": flops / 1e9,
        "ms": 1000 * seconds,
        "share": flops / seconds / 1e9 / peak,
        "peak_gflops": peak,
        "warm_up_s": warm_up,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "compiled": compiled,
    }


def build_time() -> float:
    """Seconds to compile the kernels into an empty cache (what a first use pays once)."""
    with tempfile.TemporaryDirectory() as cache:
        code = "import torch; from neurosync.parts import kernels; assert kernels.available(torch.zeros(1))"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "NEUROSYNC_CACHE": cache})
        return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=CONFIGS)
    parser.add_argument("--batches", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per process")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "cpu_tick.md"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.steps, args.threads)))
        return
    import torch

    build_s = build_time()
    rows = []
    for config in args.configs:
        for batch in args.batches:
            runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
            for _ in range(args.rounds):
                for arm, flag in ARMS.items():
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", config, str(batch), "--steps", str(args.steps),
                         "--threads", str(args.threads)],
                        capture_output=True, text=True, check=True, env={**os.environ, "NEUROSYNC_KERNELS": flag},
                    )  # fmt: skip
                    runs[arm].append(json.loads(out.stdout.strip().splitlines()[-1]))
            row = {"config": config, "batch": batch}
            for arm, results in runs.items():
                row[arm] = {key: statistics.median(r[key] for r in results) for key in results[0]}
                row[arm]["ms_range"] = (min(r["ms"] for r in results), max(r["ms"] for r in results))
            rows.append(row)
            print(config, batch, {arm: round(row[arm]["ms"], 1) for arm in ARMS}, flush=True)
    eager, fused = ARMS
    lines = [
        "# The training step on CPU: the compiled spiking tick against the PyTorch loops",
        "",
        f"`python benchmarks/cpu_tick.py --rounds {args.rounds} --steps {args.steps} --threads {args.threads}` "
        f"on {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; forward + backward + AdamW "
        "on one batch of the config's task, subnormals flushed as `neurosync train` does; each arm a fresh "
        "process, the arms alternating round by round; medians over rounds (min–max of ms per step). "
        "Peak: a 2048² fp32 matrix product in the same process. Memory: the process's peak resident set.",
        "",
        f"Building the C library into an empty cache (once per machine and source): {build_s:.1f} s.",
        "",
        "A config whose neurons are not spiking with several sub-steps per tick runs the same code in both "
        "arms (compiled tick: no): its ratio shows how much this machine's timings vary.",
        "",
        "| config | compiled tick | batch | GFLOP per step | PyTorch loops: ms per step | default: ms per step | speed-up "
        "| share of peak (loops → default) | first step, s (loops / default) | peak memory, MB (loops / default) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        a, b = row[eager], row[fused]
        lines.append(
            f"| {row['config']} | {'yes' if b['compiled'] else 'no'} | {row['batch']} | {b['gflop']:.2f} | "
            f"{a['ms']:.1f} ({a['ms_range'][0]:.0f}–"
            f"{a['ms_range'][1]:.0f}) | {b['ms']:.1f} ({b['ms_range'][0]:.0f}–{b['ms_range'][1]:.0f}) | "
            f"**{a['ms'] / b['ms']:.2f}×** | {100 * a['share']:.1f}% → {100 * b['share']:.1f}% | "
            f"{a['warm_up_s']:.2f} / {b['warm_up_s']:.2f} | {a['rss_mb']:.0f} / {b['rss_mb']:.0f} |"
        )
    peak = statistics.median(row[arm]["peak_gflops"] for row in rows for arm in ARMS)
    lines += ["", f"Matmul peak measured in the step processes: {peak:.0f} GFLOP/s (median).", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
