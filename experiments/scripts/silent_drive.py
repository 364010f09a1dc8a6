"""Why do a SpikingCTM's neurons fall silent in long thoughts? For one input, the neurons silent in
the last second of a thought, their spikes before it, and what holds them down: membrane,
pre-activation (the synapse's output) and recurrent E/I currents, early and late, against the
threshold.

    python experiments/scripts/silent_drive.py models/parity16-cortical [--input 0] [--seconds 3]
"""

from __future__ import annotations

import argparse

import torch

import neurosync
from neurosync.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument(
        "--input", type=int, default=0, help="which of the 16 inputs of `neurosync analyze --samples 16`"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="thought duration (s), at least 2")
    args = parser.parse_args()
    model, ckpt = neurosync.load_model(args.checkpoint)
    cfg = ckpt.config
    if not hasattr(model.neuron, "tick_ms") or args.seconds < 2 or not 0 <= args.input < 16:
        raise SystemExit("error: needs a SpikingCTM, --seconds >= 2 and --input in 0..15")
    model.neuron.seed_noise(0)
    x = get_task(cfg.task).eval_set(cfg.task, 16, cfg.train.seed)[0][args.input : args.input + 1]
    ticks = model.neuron.ticks_in(args.seconds)
    rec = model.record(x, ticks=ticks, config=cfg)
    spikes = rec.spikes(0)  # (steps, neurons)
    per_second = int(round(1.0 / rec.step_duration))
    last = slice(spikes.shape[0] - per_second, spikes.shape[0])
    silent = spikes[last].sum(0) == 0
    early = int(round(0.1 / rec.step_duration))
    print(
        f"{args.checkpoint}, input {args.input}, {args.seconds:g}-s thought: {int(silent.sum())} of {silent.size} neurons silent "
        f"in the last second; before it they fired {int(spikes[:early, silent].sum())} spikes in the first 100 ms and "
        f"{int(spikes[early : last.start, silent].sum())} after"
    )
    substeps = model.neuron.substeps
    theta = torch.nn.functional.softplus(model.neuron.threshold_raw).detach().numpy()
    print(f"their threshold: {theta[silent].mean():.3f} on average")
    trained = cfg.model.ticks
    windows = (
        (f"the trained thought ({trained * model.neuron.tick_ms:g} ms)", slice(0, trained)),
        ("the last second", slice(ticks - model.neuron.ticks_in(1.0), ticks)),
    )
    for label, window in windows:
        steps = slice(window.start * substeps, window.stop * substeps)
        line = (
            f"{label}: membrane {rec.membrane[0][steps][:, silent].mean():.2f}, "
            f"pre-activation {rec.pre[0][window][:, silent].mean():.2f}"
        )
        if rec.current_excitatory is not None:  # E/I populations (dale = true)
            line += (
                f", recurrent E current {rec.current_excitatory[0][steps][:, silent].mean():.2f}, "
                f"I current {rec.current_inhibitory[0][steps][:, silent].mean():.2f}"
            )
        print(line + f" (the active neurons' pre-activation {rec.pre[0][window][:, ~silent].mean():.2f})")


if __name__ == "__main__":
    main()
