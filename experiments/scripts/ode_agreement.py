"""How far can Brian2's continuous mode agree with a SpikingCTM at all? One thought of the
checkpoint's core, discrete (PyTorch, float64) and as the ODE at dt/10, dt/20 and dt/40 (rk4 or
exact), every pair compared with the continuous mode's statistics: the ODE runs against each
other give the ceiling that the discrete model is measured under (docs/guide/brian2.md).

    python experiments/scripts/ode_agreement.py models/parity16-cortical [--ticks 200] [--sample 0]
"""

from __future__ import annotations

import argparse
import itertools

import neurosync
from neurosync.brian import extract_core, record_core, simulate_continuous, statistics_agreement
from neurosync.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--sample", type=int, default=0)
    parser.add_argument("--substeps", type=int, nargs="+", default=[10, 20, 40])
    args = parser.parse_args()
    model, ckpt = neurosync.load_model(args.checkpoint)
    x, _ = get_task(ckpt.config.task).eval_set(ckpt.config.task, args.sample + 1, ckpt.config.train.seed)
    recording = record_core(model, x[: args.sample + 1], sample=args.sample, ticks=args.ticks)
    core = extract_core(model)
    runs, method = {"PyTorch": recording.spikes}, "exact"
    for count in args.substeps:
        result = simulate_continuous(core, recording.drive, count, method, noise=recording.noise)
        method = result["method"]
        runs[f"ODE dt/{count}"] = result["counts"]
    print(f"one thought of {args.ticks} ticks (sample {args.sample}), step {core.dt_ms:g} ms, ODE by {method}\n")
    print("| pair | rates mean abs diff | rate r | synchrony agreement | spectrum overlap |\n|---|---|---|---|---|")
    for a, b in itertools.combinations(runs, 2):
        r = statistics_agreement(runs[a], runs[b], core.dt_ms * 1e-3)
        print(
            f"| {a} vs {b} | {r['rate_mean_abs_difference']:.4f} | {r['rate_correlation']:.4f} | "
            f"{r['synchrony_correlation']:.3f} | {r['spectrum_overlap']:.3f} |"
        )


if __name__ == "__main__":
    main()
