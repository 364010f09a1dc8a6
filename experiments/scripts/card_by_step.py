"""The physiology card of one SpikingCTM simulated at several steps dt: does a statistic depend on
the step (a discretisation effect) or has it converged? Same inputs, same noise seed, the card's
1-s thoughts (``neurosync analyze CKPT --ticks T --samples 16 --repeats R`` at each step); prints a
Markdown table of the rates, CV(ISI), the across-repeat Fano factor (whole thought and the mean of
its 100-ms windows after the first), correlations and the two power-law fits. Diagnostic: the
cortical model's card quotes it. One seed is one noise realisation: the flagship's whole-thought
Fano factor varies by about ±0.3 between seeds (0.56-1.28 at 0.125 ms over seeds 0-3), so run
several ``--seed`` values before reading a difference between steps as the step's.

    python experiments/scripts/card_by_step.py models/parity16-cortical --steps 0.5 0.25 0.125 0.0625 [--repeats 8] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

import neurosync
from neurosync import analysis
from neurosync.tasks import get_task

COLUMNS = (
    "rate_excitatory_hz",
    "rate_inhibitory_hz",
    "median_cv_isi",
    "fano_factor",
    "mean_pairwise_correlation",
    "noise_correlation",
    "lfp_aperiodic_exponent",
    "lfp_aperiodic_r2",
    "aperiodic_exponent",
    "aperiodic_r2",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument(
        "--steps", type=float, nargs="+", required=True, help="simulation steps dt in ms (each must divide the tick)"
    )
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the recordings (the same at every step)")
    args = parser.parse_args()
    model, ckpt = neurosync.load_model(args.checkpoint)
    if getattr(model, "neuron", None) is None or not hasattr(model.neuron, "set_step"):
        raise SystemExit("error: needs a SpikingCTM checkpoint")
    x, _ = get_task(ckpt.config.task).eval_set(ckpt.config.task, args.samples, ckpt.config.train.seed)
    ticks = model.neuron.ticks_in(args.seconds)
    print(
        f"{args.samples} inputs x {args.repeats} repeats, {ticks} ticks of {model.neuron.tick_ms:g} ms, noise seed {args.seed}\n"
    )
    print("| dt (ms) | " + " | ".join(COLUMNS) + " | Fano per 100 ms (mean after the first) |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for dt in args.steps:
        with model.neuron.at_step(dt):
            recording = model.record(x, ticks=ticks, repeats=args.repeats, config=ckpt.config, noise_seed=args.seed)
        card = analysis.physiology(recording)
        values = {row["statistic"]: row["value"] for row in card["rows"]}
        course = np.asarray(card["fano_course"]["fano"], dtype=float)
        cells = [f"{values[name]:.3g}" if values.get(name) is not None else "–" for name in COLUMNS]
        print(f"| {dt:g} | " + " | ".join(cells) + f" | {np.nanmean(course[1:]):.3f} |", flush=True)
        del recording, card  # one recording at a time: at 0.0625 ms the 16 x 8 one-second thoughts peak at ~20 GiB


if __name__ == "__main__":
    main()
