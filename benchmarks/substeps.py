"""Cost of sub-steps: a SpikingCTM training step whose ticks run 10 simulation sub-steps against
one whose ticks run 1, at parity-16 sizes, measured side by side in one process.

    python benchmarks/substeps.py [--steps N] [--repeats R] [--out FILE]

Sizes: configs/parity/parity16-spiking.toml (d_model 128, d_input 128, 8 heads, 8 ticks, batch 64,
spike synchrony at 1/2/4 ticks) with the cortical parts switched on (refractory period, OU
noise). Variants: 1 sub-step; 10 sub-steps fused (neurosync/parts/substeps.py, the default);
10 sub-steps stepwise (the reference path, one autograd node per operation per sub-step). The
tick lasts 10 ms in every variant (dt = 10, 1, 1 ms). Each variant's steps (forward + backward
+ AdamW) are timed in rounds that alternate between the variants, so that load changes on the
machine hit all of them alike; the table gives the median ms/step and the ratios.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path


def _model(substeps: int, stepwise: bool):
    import torch

    from neurosync.build import build_model
    from neurosync.config import load

    dt = 10.0 / substeps
    cfg = load(
        Path(__file__).parent.parent / "configs" / "parity" / "parity16-spiking.toml",
        [
            f"model.spiking.substeps={substeps}",
            f"model.spiking.dt_ms={dt}",
            f"model.spiking.tau_min_ms={dt}",
            "model.spiking.filter_tau_min_ms=12.0",
            "model.spiking.filter_tau_max_ms=40.0",
            "model.spiking.tau_membrane_ms=20.0",
            "model.spiking.refractory_ms=10.0",
            "model.spiking.noise_std=0.2",
            "model.spiking.target_rate_hz=20.0",
        ],
    )
    model = build_model(cfg)
    if stepwise:  # route every tick through the reference path
        model.neuron.forward = model.neuron.forward_stepwise
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)

    def step():
        x = torch.randint(0, 2, (64, 16), generator=generator).float() * 2 - 1
        out = model(x)
        loss = out.logits.square().mean() + out.activity.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant per round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "substeps_cpu.md")
    args = parser.parse_args(argv)
    variants = {
        "1 sub-step (dt 10 ms)": _model(1, False),
        "10 sub-steps, fused (dt 1 ms)": _model(10, False),
        "10 sub-steps, stepwise (dt 1 ms)": _model(10, True),
    }
    for step in variants.values():  # warm-up
        step()
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, step in variants.items():
            started = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - started) / args.steps * 1e3)
    base = statistics.median(times["1 sub-step (dt 10 ms)"])
    lines = [
        "# Sub-step cost, parity-16 SpikingCTM training step (batch 64, 8 ticks of 10 ms)",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"{args.repeats} alternating rounds of {args.steps} steps; median ms/step.",
        "",
        "| variant | ms/step (median) | min–max | vs 1 sub-step |",
        "|---|---|---|---|",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median:.1f} | {min(values):.1f}–{max(values):.1f} | {median / base:.2f}× |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
