"""Does a slow shared input give a trained Dale SpikingCTM a 1/f spectrum? Post hoc, without
retraining: an Ornstein-Uhlenbeck process s (s.d. SIGMA in membrane units, correlation time TAU ms),
one per thought and the same for every neuron, added to each tick's input of the neurons (a slow
shared afferent fluctuation, as a background cortical state would give). Prints per-bit accuracy on
2,048 inputs and the physiology card over 16 inputs x 4 repeats of 1-s thoughts (docs/reports/spectra.md
reads them). With --soma the same process is the model's own shared background
current instead (model.spiking.shared_noise_std / shared_noise_tau_ms, set on the loaded weights),
which enters every neuron's soma beside its private noise, reaches recordings and Brian2, and per
simulation step rather than per tick; without it the hook below is a probe that nothing else sees.

    python experiments/scripts/shared_input_probe.py models/parity16-cortical SIGMA TAU_MS [--soma]
"""

from __future__ import annotations

import argparse
import math

import torch

import neurosync
from neurosync import analysis
from neurosync.tasks import get_task
from neurosync.training import evaluate

SHOWN = [
    "rate_excitatory_hz",
    "rate_inhibitory_hz",
    "saturated_fraction",
    "median_cv_isi",
    "fano_factor",
    "mean_pairwise_correlation",
    "ei_balance",
    "lfp_aperiodic_exponent",
    "lfp_aperiodic_r2",
    "aperiodic_exponent",
    "aperiodic_r2",
    "nyquist_to_gamma_power",
    "highest_peak_hz",
]


def add_shared_input(model, sigma: float, tau_ms: float, seed: int = 123):
    """A forward pre-hook adding the shared OU value of each tick to the neurons' input; returns
    (handle, reset), reset() starting a new realisation (from the stationary distribution)."""
    decay = math.exp(-model.neuron.tick_ms / tau_ms)
    generator, state = torch.Generator().manual_seed(seed), {"s": None}

    def hook(module, args):
        pre = args[0]
        draw = torch.randn(pre.shape[0], 1, generator=generator, dtype=pre.dtype)
        if state["s"] is None or state["s"].shape[0] != pre.shape[0]:
            state["s"] = sigma * draw
        else:
            state["s"] = decay * state["s"] + sigma * math.sqrt(1 - decay * decay) * draw
        return (pre + state["s"],) + tuple(args[1:])

    return model.neuron.register_forward_pre_hook(hook), lambda: state.update(s=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("sigma", type=float)
    parser.add_argument("tau_ms", type=float)
    parser.add_argument(
        "--soma", action="store_true", help="set the model's shared background current instead of the input hook"
    )
    args = parser.parse_args()
    if args.sigma < 0 or args.tau_ms <= 0:
        raise SystemExit("error: SIGMA must be >= 0 and TAU_MS > 0")
    model, ckpt = neurosync.load_model(args.checkpoint)
    if not hasattr(model.neuron, "tick_ms"):
        raise SystemExit("error: needs a SpikingCTM")
    cfg = ckpt.config
    if args.soma:
        model.neuron.shared_noise_std, model.neuron.shared_noise_tau_ms = args.sigma, args.tau_ms
        cfg.model.spiking.shared_noise_std, cfg.model.spiking.shared_noise_tau_ms = args.sigma, args.tau_ms
        reset = lambda: None  # noqa: E731 - every thought starts its own realisation
    else:
        _, reset = add_shared_input(model, args.sigma, args.tau_ms)
    x, y = get_task(cfg.task).eval_set(cfg.task, 2048, cfg.train.seed)
    model.neuron.seed_noise(0)
    accuracy = evaluate(model, cfg, x, y)["bit_acc_certain"]
    reset()
    recording = model.record(x[:16], ticks=model.neuron.ticks_in(1.0), repeats=4, config=cfg, noise_seed=0)
    card = analysis.physiology(recording)
    rows = {row["statistic"]: row for row in card["rows"]}
    print(
        f"shared OU {'soma current' if args.soma else 'input'} σ {args.sigma:g}, τ {args.tau_ms:g} ms: "
        f"per-bit {accuracy:.2%} (2,048 inputs); "
        f"{card['in_range']} of {card['defined']} card statistics in range"
    )
    for name in SHOWN:
        print(f"  {name:26s} {rows[name]['value']:8.3f}  {'in' if rows[name]['in_range'] else 'OUT'}")


if __name__ == "__main__":
    main()
