"""Adaptive compute that saves time: trained CTMs evaluated with the full thought and with
``CTM.think_until_certain`` (each input stops at its first tick with certainty >= C and leaves the
batch) at several thresholds, on the same inputs in one process.

    python benchmarks/halting.py CHECKPOINT [CHECKPOINT ...] [--samples N] [--thresholds C ...] [--repeats R] [--out FILE]

Per checkpoint and threshold: the accuracy where each input stopped (per unit, and whole answers
for parity), the mean ticks computed, the wall time (the best of ``repeats`` runs of each, taken in
alternation so that load changes on the machine hit both) and the speed-up over the full thought.
The anchor: the reference's PR #44 kept 92.69% on MNIST at 19.4 of 30 ticks.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

import neurosync
from neurosync import compare
from neurosync.tasks import get_task


def measure(path: str, samples: int, thresholds: tuple[float, ...], repeats: int) -> dict:
    model, ckpt = neurosync.load_model(path)
    if hasattr(model.neuron, "seed_noise"):
        model.neuron.seed_noise(0)
    cfg = ckpt.config
    x, y = get_task(cfg.task).eval_set(cfg.task, samples, cfg.train.seed)
    runs = [compare.halting(model, cfg, x, y, thresholds) for _ in range(repeats)]
    best = runs[0]
    best["full_s"] = min(r["full_s"] for r in runs)
    for i, row in enumerate(best["thresholds"]):
        row["wall_s"] = min(r["thresholds"][i]["wall_s"] for r in runs)
        row["speedup"] = best["full_s"] / row["wall_s"]
    return {"checkpoint": path, "task": cfg.task.name, "neuron": cfg.model.neuron, **best}


def table(results: list[dict]) -> str:
    lines = [
        "| checkpoint | threshold | accuracy (%) | whole answers (%) | mean ticks | wall time (s) | speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| `{r['checkpoint']}` ({r['task']}, {r['neuron']}) | full thought, last / most-certain tick | "
            f"{100 * r['full_accuracy_last']:.2f} / {100 * r['full_accuracy_certain']:.2f} | "
            f"– / {100 * r['full_whole_certain']:.2f} | {r['ticks']} | {r['full_s']:.3f} | 1.00× |"
        )
        for row in r["thresholds"]:
            lines.append(
                f"| | ≥ {row['threshold']:g} | {100 * row['accuracy']:.2f} | {100 * row['whole_accuracy']:.2f} | "
                f"{row['mean_ticks']:.2f} | {row['wall_s']:.3f} | {row['speedup']:.2f}× |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "halting.md"))
    args = parser.parse_args()
    results = [measure(path, args.samples, tuple(args.thresholds), args.repeats) for path in args.checkpoints]
    text = (
        f"# Adaptive compute: halting at certainty >= C against the full thought\n\n"
        f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"{args.samples} evaluation inputs each (all of them where the set is smaller), batches of 1,024, "
        f"the best of {args.repeats} runs.\n"
        f"Command: `python benchmarks/halting.py {' '.join(args.checkpoints)} --samples {args.samples} "
        f"--repeats {args.repeats}`\n\n{table(results)}\n"
    )
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
