"""The cortical regime by construction: the preset that builds a cortical SpikingCTM for any task,
and the probe that measures, during and after training, whether a model is still in it.

A cortical SpikingCTM is asynchronous and irregular because of how it is built, not because
training found such a state. In cortex that state follows from structure: recurrence in which
inhibition balances excitation holds each neuron's mean input near its threshold, so that spikes
are triggered by fluctuations, irregular (CV ≈ 1) and weakly correlated (van Vreeswijk &
Sompolinsky 1996; Brunel 2000; Renart et al. 2010), while nearby neurons share much of their
synaptic input and their membranes co-fluctuate (Lampl et al. 1999; Okun & Lampl 2008). A network
of 128 neurons cannot produce that balance by large-N cancellation within a tick, so the preset
states its outcome in each neuron:

- **a band around threshold**: each neuron's dendritic current is bounded softly to
  [θ − 0.14, θ + 0.15] of its own threshold θ (``bounded_input`` with ``input_floor_margin`` and
  ``input_ceiling_margin``, :mod:`neurosync.parts.equations`). The floor keeps every neuron within
  reach of its noise (no silent cells); the ceiling, as excitation saturating at its reversal
  potential, bounds the mean-driven rate to 1 / (t_ref + τ_m ln((θ + 0.15)/0.15)) ≈ 56 Hz at the
  initial θ = 0.18, τ_m = 20 ms and t_ref = 2 ms, so that no neuron saturates and the drive, not
  the refractory period, sets every rate. Within the band a neuron is driven by its input above
  threshold or fires only on fluctuations below it;
- **fluctuations that make the firing irregular**: a private Ornstein–Uhlenbeck current
  (σ 0.2, τ 5 ms) and a **common input** shared by all neurons (σ 0.06, τ 5 ms; the shared
  synaptic bombardment of a local population). The common part gives the population rate its
  structure at 20–80 Hz, above the flat spectrum of independent spike trains at the step's
  Nyquist frequency, at a pairwise spike-count correlation of ~0.05;
- **a drive that starts inside the band**: the dendritic bias starts halfway between the floor
  and the threshold, and the filter weights sum to ``dendritic_gain`` = 0.1, so the attention
  drive (unit variance after the GLU pathway's LayerNorm) spreads the neurons over the band
  instead of pinning them at its edges, where its soft bounds pass little gradient;
- **inhibition-dominated recurrence under Dale's law**: 80% excitatory neurons, weights of
  magnitude 3 · abs(U(−1/√N, 1/√N)) (the 1/√K scaling of the balanced state), the inhibitory ones
  3 · f_E/f_I = 12× larger (Brunel 2000's g > f_E/f_I): E and I inputs co-vary (E/I correlation
  ≥ 0.3), inhibition wins on average, and the Hebbian fast weight cannot run the network away
  over a long thought (at balance, 4×, some untrained models reach 40 Hz with Fano factors of
  2–3 over 1-s thoughts). The recurrence is kept weaker than the drive: at 30× the default
  scale a network's own fluctuations swamp the attention drive and it barely learns its task;
- **a rate band kept by training**: every neuron's rate over the training thoughts is held in
  [1, 20] Hz by a penalty that is zero inside the band (``rate_band_hz``,
  ``band_regularisation``; homeostasis as a constraint on learning, Zenke & Vogels 2021), at one
  weight from the first step to the last: the band the ceiling leaves to training (a task that
  rewards fast neurons, such as digits, otherwise pushes the excitatory rate to ~35 Hz) is closed
  without any schedule;
- physical time: 20-ms ticks of 1-ms steps (a thought of 8 ticks lasts 160 ms, the time of rapid
  visual categorisation), dendritic (synaptic) filters from 5 to 100 ms, a factorised Miconi fast
  weight with 10-ms traces;
- **readouts that integrate over the thought**: spike-train synchrony at 20, 80 and 320 ms (one,
  four and sixteen ticks). At ~10 Hz a neuron fires a few spikes per thought, and a readout of
  the coherence over a tick alone reads mostly the noise; slower traces, like the slow synapses of
  a downstream population, average it out (on 8-bit parity, 5/20/80-ms readouts learn more slowly
  in the same steps).

:data:`REGIME_STATISTICS` are the physiology card's spike statistics that define the regime;
:func:`regime_probe` measures them on a short set of noisy thoughts (``neurosync train`` runs
it at every evaluation of a cortical model and says in one line when one leaves its range).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

CORTICAL = "cortical"

# model.regime = "cortical": these values, under whatever the config file itself sets
PRESET: dict[str, Any] = {
    "model": {
        "neuron": "spiking",
        "synapse": "plastic",
        "synchrony": "spike-multiscale",
        "spiking": {
            "filters": 3,
            "dt_ms": 1.0,
            "substeps": 20,
            "tau_min_ms": 4.0,
            "tau_max_ms": 500.0,
            "filter_tau_min_ms": 5.0,
            "filter_tau_max_ms": 100.0,
            "tau_membrane_ms": 20.0,
            "threshold": 0.18,
            "refractory_ms": 2.0,
            "noise_std": 0.2,
            "shared_noise_std": 0.06,
            "shared_noise_tau_ms": 5.0,
            "noise_tau_ms": 5.0,
            "surrogate": "atan",
            "surrogate_slope": 11.0,
            "dale": True,
            "excitatory_fraction": 0.8,
            "bounded_input": True,
            "input_floor_margin": 0.14,
            "input_ceiling_margin": 0.15,
            "input_floor_width": 0.02,
            "dendritic_gain": 0.1,
            "recurrent_scale": 3.0,
            "inhibition_dominance": 3.0,
            "rate_band_hz": [1.0, 20.0],
            "band_regularisation": 1000.0,
        },
        "spike_synchrony": {"timescales_ms": [20.0, 80.0, 320.0], "normalised": False},
        "plasticity": {
            "rule": "miconi",
            "implementation": "factorised",
            "trace_timescale_ms": 10.0,
            "input_pathway": "glu",
        },
    },
    "train": {"regime_probe_inputs": 8},
}

# the physiology card's statistics that define the regime (neurosync.analysis.physiology.CORTICAL_RANGES)
REGIME_STATISTICS = (
    "rate_excitatory_hz",
    "rate_inhibitory_hz",
    "silent_fraction",
    "saturated_fraction",
    "median_cv_isi",
    "fano_factor",
    "mean_pairwise_correlation",
    "noise_correlation",
    "ei_balance",
    "nyquist_to_gamma_power",
    "highest_peak_hz",
)

# each statistic as a card names it, and its unit
REGIME_LABELS = {
    "rate_excitatory_hz": ("E rate", "Hz"),
    "rate_inhibitory_hz": ("I rate", "Hz"),
    "silent_fraction": ("silent fraction", ""),
    "saturated_fraction": ("saturated fraction (> 100 Hz)", ""),
    "median_cv_isi": ("median CV(ISI)", ""),
    "fano_factor": ("Fano factor across noise repeats", ""),
    "mean_pairwise_correlation": ("mean pairwise r_sc", ""),
    "noise_correlation": ("noise correlation", ""),
    "ei_balance": ("E/I input correlation", ""),
    "nyquist_to_gamma_power": ("power near Nyquist / power at 20–80 Hz", ""),
    "highest_peak_hz": ("highest spectral line", "Hz"),
}


def _under(preset: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``preset``'s values filled in where it sets none (nested tables merged)."""
    merged = copy.deepcopy(preset)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _under(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_preset(data: dict[str, Any]) -> dict[str, Any]:
    """A raw config dict with the cortical preset under it when it names ``model.regime =
    "cortical"``; any other dict unchanged. Values the dict sets win, so a task config takes the
    construction and changes what it must (its sizes, its ticks)."""
    model = data.get("model")
    if not isinstance(model, dict) or model.get("regime") != CORTICAL:
        return data
    return _under(PRESET, data)


def regime_probe(model, x: torch.Tensor, seconds: float = 1.0, repeats: int = 2, noise_seed: int = 0) -> dict[str, Any]:
    """The regime's statistics on thoughts of ``seconds`` about each input of ``x``, ``repeats``
    noise repeats each (the physiology card's definitions): ``values`` and ``in_range`` per
    statistic of :data:`REGIME_STATISTICS`, and ``out`` the names of those outside their range
    (an undefined statistic counts as outside: a model without E/I populations has no E or I
    rate), ``rate_all_hz`` the mean rate of all neurons and ``cv_poisson_reference`` the median
    CV(ISI) of Poisson trains with the same counts in the same window (short thoughts bias the CV)."""
    ticks = model.neuron.ticks_in(seconds)
    recording = model.record(x, ticks=ticks, repeats=repeats, noise_seed=noise_seed)
    return {
        **regime_statistics(recording),
        "thoughts": int(x.shape[0]) * repeats,
        "seconds": ticks * model.neuron.tick_ms / 1000.0,
    }


def regime_statistics(recording) -> dict[str, Any]:
    """The regime's statistics of a spiking recording (noisy repeats of each input for the Fano
    factor and the noise correlation): ``values``, ``in_range``, ``out``, ``rate_all_hz`` and
    ``cv_poisson_reference`` as :func:`regime_probe` returns them."""
    from .analysis.physiology import physiology

    rows = {row["statistic"]: row for row in physiology(recording)["rows"]}
    absent = {"value": None, "in_range": False}  # a model without E/I populations has no E or I rate
    values = {name: rows.get(name, absent)["value"] for name in REGIME_STATISTICS}
    in_range = {name: bool(rows.get(name, absent)["in_range"]) for name in REGIME_STATISTICS}
    return {
        "values": values,
        "rate_all_hz": rows["rate_all_hz"]["value"] if "rate_all_hz" in rows else None,
        "cv_poisson_reference": rows["median_cv_isi"].get("poisson_reference"),
        "in_range": in_range,
        "out": [name for name in REGIME_STATISTICS if not in_range[name]],
    }


def describe_out(probe: dict[str, Any]) -> str:
    """The statistics a probe found outside their range, with their values, in one line."""

    def shown(value):
        return "undefined" if value is None or not np.isfinite(value) else f"{value:.3g}"

    return ", ".join(f"{name} {shown(probe['values'][name])}" for name in probe["out"])
