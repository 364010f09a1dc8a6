"""Peak memory of a plastic synapse over one thought, forward + backward: dense vs factorised.

    python benchmarks/plasticity_memory.py [--neurons 512] [--ticks 50] [--batch 16] [--out FILE]

Each implementation runs in a fresh subprocess; the figure is the rise of the process's peak
RSS (CPU) or max allocated memory (CUDA) over the thought, i.e. what the autograd graph of the
plastic weight costs. Target: factorised <= 1/8 of dense at 512 neurons, 50 ticks (kept by the fixed-size
factorised state: one fold of its 32-tick window in 50 ticks).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def measure(implementation: str, neurons: int, ticks: int, batch: int, device_name: str) -> dict:
    import torch

    from neurosync.parts.plastic import PlasticSynapse

    torch.manual_seed(0)
    device = torch.device(device_name)
    synapse = PlasticSynapse(64, neurons, implementation=implementation).to(device)
    attended = torch.randn(ticks, batch, 64, device=device)
    posts = (torch.rand(ticks, batch, neurons, device=device) < 0.2).float()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    state = synapse.start(batch)
    total = 0.0
    for t in range(ticks):
        current, state = synapse(attended[t], posts[t], state)
        total = total + current.square().mean()
    total.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"implementation": implementation, "peak_mib": peak / 2**20, "seconds": time.perf_counter() - start}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=512)
    parser.add_argument("--ticks", type=int, default=50)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "plasticity_memory.md"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.neurons, args.ticks, args.batch, args.device)))
        return
    results = {}
    for implementation in ("dense", "factorised"):
        cmd = [
            sys.executable,
            __file__,
            "--one",
            implementation,
            "--neurons",
            str(args.neurons),
            "--ticks",
            str(args.ticks),
            "--batch",
            str(args.batch),
            "--device",
            args.device,
        ]
        results[implementation] = json.loads(
            subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        )
        print(results[implementation], flush=True)
    ratio = results["factorised"]["peak_mib"] / results["dense"]["peak_mib"]
    import torch

    lines = [
        "# Plastic synapse memory: dense vs factorised",
        "",
        f"`python benchmarks/plasticity_memory.py --neurons {args.neurons} --ticks {args.ticks} --batch {args.batch} "
        f"--device {args.device}` "
        f"on {platform.machine()}, torch {torch.__version__}. One thought, forward + backward, Miconi rule; peak memory rise "
        "of a fresh process (max RSS on CPU, max allocated on CUDA).",
        "",
        "| implementation | peak MiB | seconds |",
        "|---|---|---|",
        *[f"| {r['implementation']} | {r['peak_mib']:.0f} | {r['seconds']:.2f} |" for r in results.values()],
        "",
        f"factorised / dense peak memory: **{ratio:.3f}** (target <= 0.125).",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"factorised/dense = {ratio:.3f}; wrote {args.out}")


if __name__ == "__main__":
    main()
