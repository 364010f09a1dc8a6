"""Which currents of a Dale SpikingCTM carry a power law? The card's LFP proxy (Σ over excitatory
cells of |I_E| + |I_I|, the recurrent currents after each neuron's synaptic filters, Mazzoni et al.
2015) beside variants: with the afferent (attention-drive) current, the afferent current alone,
the net input current, the mean excitatory membrane potential. Each with its power-law fit over
2-100 Hz (docs/reports/spectra.md reads them). Diagnostic only: the card keeps its proxy.

    python experiments/scripts/lfp_variants.py models/parity16-cortical [--inputs 8] [--ticks 200]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import neurosync
from neurosync.analysis import power_spectrum
from neurosync.analysis.physiology import power_law_fit
from neurosync.parts.spiking import dendrite_step, dendritic_current
from neurosync.tasks import get_task


@torch.no_grad()
def filtered_input(model, pre: np.ndarray) -> np.ndarray:
    """(B, S, N) Σ_k w_k f_k per simulation step of the tick inputs ``pre`` (B, T, N), through the
    neurons' own filters (the model's dendrite_step, the input held over its tick), without the bias:
    the recording's E/I currents are the same filters applied to their shares."""
    neuron = model.neuron
    decay, no_bias = neuron.filter_decay(), torch.zeros_like(neuron.dendrite_bias)
    ticks = torch.as_tensor(pre, dtype=decay.dtype)
    filters, out = ticks.new_zeros(*ticks[:, 0].shape, neuron.n_filters), []
    for tick in range(ticks.shape[1]):
        for _ in range(neuron.substeps):
            filters = dendrite_step(filters, ticks[:, tick], decay)
            out.append(dendritic_current(filters, neuron.filter_weight, no_bias))
    return torch.stack(out, dim=1).double().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--ticks", type=int, default=200)
    args = parser.parse_args()
    model, ckpt = neurosync.load_model(args.checkpoint)
    if not getattr(getattr(model, "synapse", None), "dale", False):
        raise SystemExit("error: needs a SpikingCTM with Dale's law (recorded E/I currents)")
    x, _ = get_task(ckpt.config.task).eval_set(ckpt.config.task, args.inputs, ckpt.config.train.seed)
    rec = model.record(x, ticks=args.ticks, config=ckpt.config, noise_seed=0)
    total = filtered_input(model, rec.pre)
    excitatory, inhibitory = rec.current_excitatory.astype(float), rec.current_inhibitory.astype(float)
    afferent = total - excitatory - inhibitory
    pyramidal = rec.cell_types() == "excitatory"
    fs = 1.0 / rec.step_duration
    signals = {
        "recurrent Σ_E |I_E| + |I_I| (the card's proxy)": np.abs(excitatory) + np.abs(inhibitory),
        "with the afferent current, |I_aff| + |I_E| + |I_I|": np.abs(afferent)
        + np.abs(excitatory)
        + np.abs(inhibitory),
        "the afferent current alone, |I_aff|": np.abs(afferent),
        "the net input current, I_aff + I_E + I_I": total,
    }
    print(
        f"{args.inputs} inputs x {args.ticks} ticks of {rec.dt * 1e3:g} ms, step {rec.step_duration * 1e3:g} ms; power law over 2-100 Hz\n"
    )
    print("| signal | exponent | r² |\n|---|---|---|")
    rows = [(name, value[:, :, pyramidal].sum(2)) for name, value in signals.items()]
    rows.append(("the mean excitatory membrane potential", rec.membrane[:, :, pyramidal].astype(float).mean(2)))
    for name, signal in rows:
        spectra = [power_spectrum(signal[b], fs) for b in range(signal.shape[0])]
        fit = power_law_fit(spectra[0][0], np.mean([p for _, p in spectra], axis=0), (2.0, 100.0))
        print(f"| {name} | {fit['exponent']:.2f} | {fit['r2']:.3f} |")
    print(
        f"\nmean currents onto excitatory cells (membrane units): afferent {afferent[:, :, pyramidal].mean():+.2f}, "
        f"excitatory {excitatory[:, :, pyramidal].mean():+.2f}, inhibitory {inhibitory[:, :, pyramidal].mean():+.2f}"
    )


if __name__ == "__main__":
    main()
