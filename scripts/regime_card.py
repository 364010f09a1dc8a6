"""The cortical regime's statistics of an untrained model (a config) or a trained one (a checkpoint
or run directory), over 1-s thoughts: one Markdown row per model and seed.

    python scripts/regime_card.py configs/parity/parity16-cortical.toml --seeds 0 1 2
    python scripts/regime_card.py runs/my-run --samples 16 --repeats 4
    python scripts/regime_card.py configs/digits/digits-cortical.toml --set model.spiking.recurrent_scale=3

Each row: the eleven statistics of :data:`neurosync.cortical.REGIME_STATISTICS` (the physiology
card's definitions, :func:`neurosync.analysis.physiology`) over ``--samples`` evaluation inputs ×
``--repeats`` noise repeats, and how many lie in their cortical range. A config is built with
each seed (``train.seed``: weights and evaluation inputs); a checkpoint is measured once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from neurosync import config as config_mod
from neurosync.build import build_model
from neurosync.checkpoint import load_model
from neurosync.cortical import REGIME_STATISTICS, regime_probe
from neurosync.tasks import get_task


def row(label: str, model, cfg, samples: int, repeats: int, seed: int) -> str:
    x, _ = get_task(cfg.task).eval_set(cfg.task, samples, seed)
    probe = regime_probe(model, x[:samples], repeats=repeats)
    cells = []
    for name in REGIME_STATISTICS:
        value = probe["values"][name]
        shown = "undefined" if value is None else f"{value:.3g}"
        cells.append(shown if probe["in_range"][name] else f"**{shown}**")
    inside = len(REGIME_STATISTICS) - len(probe["out"])
    return f"| {label} | {inside}/{len(REGIME_STATISTICS)} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a config (.toml: untrained) or a checkpoint / run directory (trained)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of an untrained config")
    parser.add_argument("--samples", type=int, default=16, help="evaluation inputs")
    parser.add_argument("--repeats", type=int, default=4, help="noise repeats of each input")
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE (a config only)")
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    print("| model | in range | " + " | ".join(REGIME_STATISTICS) + " |")
    print("|---" * (len(REGIME_STATISTICS) + 2) + "|")
    source = Path(args.source)
    if source.suffix == ".toml":
        for seed in args.seeds:
            cfg = config_mod.load(source, args.set + [f"train.seed={seed}"])
            model = build_model(cfg).eval()
            print(row(f"{cfg.name} (untrained, seed {seed})", model, cfg, args.samples, args.repeats, seed), flush=True)
    else:
        model, ckpt = load_model(source)
        cfg = ckpt.config
        print(row(f"{source} (step {ckpt.step})", model.eval(), cfg, args.samples, args.repeats, cfg.train.seed))


if __name__ == "__main__":
    main()
