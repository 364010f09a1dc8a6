"""Measure a shipped SpikingCTM (accuracy at dt, dt/2, dt/4; parity by position; long thoughts) as Markdown.

    python experiments/scripts/measure_flagship.py models/parity16-cortical [--inputs 65536] [--out DIR]

1. accuracy on the task's evaluation set (all 65,536 inputs of parity-16), most-certain tick;
2. dt-invariance: the same at dt/2 and dt/4 (accuracy change in points, mean-rate change);
3. parity only: per-bit accuracy by sequence position, at the first tick and at the most-certain
   tick (is the parity computed in one glance, or built up over the ticks?);
4. the regime in long thoughts: rates per population, silent/saturated fractions and the rate
   per 1-s window, in 1-s and 10-s thoughts on the 16 inputs ``neurosync analyze --samples 16``
   records (random inputs of the evaluation generator; ``--structured`` adds 16 evenly spaced
   sequences of the exhaustive set, whose last 12 bits are all equal), with the fraction of
   neurons silent in each 1-s window (the whole thought's silent fraction counts a neuron that
   fires only in the first transient as active).

The physiology card is ``neurosync analyze CKPT --ticks T --samples 16 --repeats 4`` (1-s thoughts),
Brian2 ``neurosync validate CKPT --mode exact`` and ``--mode continuous``; the model card lists them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import neurosync
from neurosync import compare
from neurosync.tasks import get_task


@torch.no_grad()
def parity_positions(model, x: torch.Tensor, y: torch.Tensor, batch: int = 4096) -> dict[str, list[float]]:
    """Per-bit accuracy (%) of each sequence position, at the first tick and at each input's
    most-certain tick, over all of ``x`` (parity: y (inputs, positions) in {0, 1})."""
    model.eval()
    first, certain = torch.zeros(y.shape[1]), torch.zeros(y.shape[1])
    for start in range(0, x.shape[0], batch):
        out = model(x[start : start + batch])
        logits = out.logits.view(out.logits.shape[0], out.logits.shape[1], y.shape[1], -1)
        truth = y[start : start + batch].long()
        best = out.certainty.argmax(1)
        first += (logits[:, 0].argmax(-1) == truth).sum(0)
        certain += (logits[torch.arange(truth.shape[0]), best].argmax(-1) == truth).sum(0)
    return {
        "first_tick": (100 * first / x.shape[0]).tolist(),
        "most_certain_tick": (100 * certain / x.shape[0]).tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--inputs", type=int, default=65536, help="evaluation inputs (default: all 65,536)")
    parser.add_argument("--out", default=None, help="write measurements.json here")
    parser.add_argument("--skip-steps", action="store_true", help="leave out the dt-invariance evaluation")
    parser.add_argument("--structured", action="store_true", help="also measure long thoughts on structured inputs")
    args = parser.parse_args()
    model, ckpt = neurosync.load_model(args.checkpoint)
    cfg = ckpt.config
    x, y = get_task(cfg.task).eval_set(cfg.task, args.inputs, 0)
    started = time.perf_counter()
    steps = [] if args.skip_steps else compare.step_invariance(model, cfg, x, y, divisors=(1, 2, 4))
    print(f"## dt-invariance ({x.shape[0]:,} inputs, most-certain tick)\n")
    print("| dt (ms) | sub-steps per tick | per-bit accuracy | change (points) | mean rate (Hz) | change |")
    print("|---|---|---|---|---|---|")
    for r in steps:
        print(
            f"| {r['dt_ms']:g} | {r['substeps']} | {100 * r['accuracy']:.2f}% | {r['accuracy_change_points']:+.2f} | "
            f"{r['firing_rate_hz']:.2f} | {100 * r['rate_change']:+.1f}% |"
        )
    positions = None
    if cfg.task.name == "parity":
        positions = parity_positions(model, x, y)
        print(f"\n## Per-bit accuracy by position ({x.shape[0]:,} inputs)\n")
        print("| tick | " + " | ".join(str(i + 1) for i in range(y.shape[1])) + " |")
        print("|---|" + "---|" * y.shape[1])
        for name, row in positions.items():
            print(f"| {name.replace('_', ' ')} | " + " | ".join(f"{a:.1f}" for a in row) + " |")
    inputs = {"random": get_task(cfg.task).eval_set(cfg.task, 16, cfg.train.seed)[0][:16]}
    if args.structured:
        inputs["structured"] = x[:: max(x.shape[0] // 16, 1)][:16]
    table = {
        (name, seconds): compare.long_thought_rates(model, chosen, seconds)
        for name, chosen in inputs.items()
        for seconds in (1.0, 10.0)
    }
    long = {seconds: table["random", seconds] for seconds in (1.0, 10.0)}
    print("\n## Long thoughts (16 inputs)\n")
    print(
        "| inputs | thought | E rate (Hz) | I rate (Hz) | all (Hz) | silent | saturated | rate per 1-s window (Hz) | "
        "silent per 1-s window |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, seconds), r in table.items():
        windows = ", ".join(f"{w:.1f}" for w in r["window_rates_hz"])
        silent = ", ".join(f"{w:.2f}" for w in r["window_silent_fractions"])
        print(
            f"| {name} | {seconds:g} s | {r.get('rate_excitatory_hz', float('nan')):.2f} | "
            f"{r.get('rate_inhibitory_hz', float('nan')):.2f} | "
            f"{r['rate_all_hz']:.2f} | {r['silent_fraction']:.3f} | {r['saturated_fraction']:.3f} | {windows} | {silent} |"
        )
    ratio = long[10.0]["rate_all_hz"] / long[1.0]["rate_all_hz"] if long[1.0]["rate_all_hz"] else float("nan")
    print(f"\n10-s / 1-s mean rate: {ratio:.2f} (goal: within 2x). Measured in {time.perf_counter() - started:.0f} s.")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "measurements.json").write_text(
            json.dumps(
                {
                    "step_invariance": steps,
                    "positions": positions,
                    "long_thoughts": {f"{k[0]}_{k[1]:g}s": v for k, v in table.items()},
                    "ratio_10s_to_1s": ratio,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
