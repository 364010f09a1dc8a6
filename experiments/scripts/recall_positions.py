"""Accuracy of trained recall models by the position of the queried pair, beside the
bag-of-values baseline (the probes of experiments/reports/recall-probes.md).

    python experiments/scripts/recall_positions.py RUN_OR_CHECKPOINT [...] [--samples 2000]

A model that binds keys to values is right at every position; one that remembers the latest
pairs only is right at the last positions; one that learned which digits were shown, and not
their keys, sits near ``recall.frequency_baseline(pairs)`` everywhere.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from neurosync.checkpoint import load_model
from neurosync.tasks import recall
from neurosync.tasks.episodes import window_loss


def by_position(path: str, samples: int) -> tuple[np.ndarray, float, int]:
    model, ckpt = load_model(path)
    cfg = ckpt.config.task
    if cfg.name != "recall":
        raise SystemExit(f"{path}: not a recall model (task.name = {cfg.name!r})")
    x, y = recall.eval_set(cfg, samples, ckpt.config.train.seed)
    with torch.no_grad():
        out = model(x)
    _, certain = window_loss(out, y, cfg.answer_ticks)
    right = (out.logits[torch.arange(len(y)), certain].argmax(-1) == y).numpy()
    codes = x.long().numpy()
    position = np.array([list(row[0:-2:2]).index(row[-1]) for row in codes])
    return np.array([right[position == k].mean() for k in range(cfg.pairs)]), float(right.mean()), cfg.pairs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args(argv)
    for path in args.runs:
        accuracy, overall, pairs = by_position(path, args.samples)
        print(
            f"{path}: by queried pair {' '.join(f'{100 * a:.0f}' for a in accuracy)} %; all {100 * overall:.1f}%; "
            f"bag-of-values baseline {100 * recall.frequency_baseline(pairs):.1f}%"
        )


if __name__ == "__main__":
    main()
