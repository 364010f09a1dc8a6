"""NIR: the spiking core of a SpikingCTM as a graph other frameworks load.

Two mappings, chosen by the number of dendritic filters K (``model.spiking.filters``):

- **K = 1: a current-based LIF** (``CubaLIF``), the primitive snnTorch and Norse import.
  ``input`` (the drive a[t] of each neuron: the synapse's output) → ``weight`` (``Affine``) →
  ``soma`` (``CubaLIF``: the filter is its synaptic current, the membrane its membrane) →
  ``output`` (spikes); with a plastic synapse also ``recurrent`` (``Linear`` W_rec) from the
  soma back into ``weight``, so that the filter sees a[t] + W_rec·s as in the model.
- **K > 1: one ``LI`` node per filter** summed into an ``LIF`` soma. NIR expresses it, but no
  framework that imports NIR today has an ``LI`` node or sums several filters into one membrane
  (the graph's ``importable_by`` metadata says so): train with ``filters = 1`` to take a model
  into snnTorch.

Time constants use the forward-Euler mapping at the export step Δ (as snnTorch's and Norse's NIR
code simulate): the exact update x[t] = d·x[t−1] + (1 − d)·input with d = e^(−Δ/τ) is Euler's
with τ_euler = Δ / (1 − d), so Euler at Δ reproduces the model. Δ is the model's ``dt_ms``, or
the ``dt_ms`` given to :func:`to_nir`: the same continuous-time model at another step (snnTorch's
importer simulates at Δ = 0.1 ms, whatever the graph says). The metadata records Δ and the
physical τ = −Δ / ln d.

CubaLIF form. The model's I[t] = (1 − β)(w·f[t] + b) obeys I[t] = d·I[t−1] + (1 − β)(1 − d)(w·a[t] + b),
which is CubaLIF's Euler update I ← d·I + w_s·u with u the ``Affine`` output; its membrane
v ← β·v + I needs r = τ_mem / Δ. snnTorch's importer requires one threshold per layer and reaches
it by dividing each neuron's threshold by its input scale w_s, so the export sets w_s = ϑ / ϑ̄
(ϑ̄ the mean threshold) and scales ``Affine`` by 1 / w_s: snnTorch's neurons then see the model's
membrane divided by w_s against the threshold ϑ̄, which spikes at the same steps. NIR starts the
synaptic current at 0 while the model's is (1 − β)·b at its first step: a transient of the bias,
e^(−t/τ_syn), which the metadata states.

What NIR 1.x cannot express is refused or stated: the soma resets by subtracting its threshold at
the next step (NIR's LIF/CubaLIF reset to v_reset = 0; metadata ``reset = "subtract"``; snnTorch's
importer resets to zero at once), an adaptive threshold (ALIF) has no node and is refused, the
refractory period, the intrinsic noise, the threshold's homeostasis and a bounded input's floor have
no field (metadata ``refractory_ms``, ``noise``, ``homeostasis`` and ``input_floor``), Hebbian fast
weights have no node (H starts at 0 in every thought, so the graph is the core's static part;
metadata ``plasticity``), and the plastic synapse's recurrence acts once per tick on the tick's spike
count (the graph's acts every step: the same for ``substeps = 1``; metadata ``recurrence``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._optional import require
from ._files import _fresh


def to_nir(model, dt_ms: float | None = None):
    """The spiking core of a SpikingCTM (LIF soma) as a NIR 1.x graph, for simulation at steps of
    ``dt_ms`` (default: the model's own; it must divide the tick). Needs the ``io`` extra. See the
    module's docstring for the mapping."""
    from ..parts.interfaces import SpikingNeuron

    require("nir", "io")
    neuron = getattr(model, "neuron", None)
    if not isinstance(neuron, SpikingNeuron):
        raise ValueError(
            "--format nir exports the spiking core of a SpikingCTM (model.neuron = 'spiking'); "
            "this is a RateCTM: export its recordings as nwb, neo, npz or csv"
        )
    with neuron.at_step(neuron.dt_ms if dt_ms is None else dt_ms):  # refuses a step that does not divide the tick
        return _graph(model)


def _graph(model):
    import nir

    from ..brian import extract_core

    core = extract_core(model)
    if core.adaptive:
        raise ValueError("NIR 1.x has no adaptive-threshold (ALIF) neuron; export a SpikingCTM with adaptive = false")
    step = core.dt_ms * 1e-3
    n, k = core.filter_decay.shape
    beta = core.membrane_decay
    nodes = {"input": nir.Input(input_type=np.array([n])), "output": nir.Output(output_type=np.array([n]))}
    if k == 1:
        decay, weight, bias = core.filter_decay[:, 0], core.filter_weight[:, 0], core.dendrite_bias
        scale = core.threshold / core.threshold.mean()  # w_s: one threshold per layer for snnTorch's importer
        gain = (1 - beta) * (1 - decay) / scale
        tau_syn, tau_mem = step / (1 - decay), step / (1 - beta)
        nodes["weight"] = nir.Affine(weight=np.diag(gain * weight), bias=gain * bias)
        nodes["soma"] = nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=tau_mem / step,
            v_leak=np.zeros(n),
            v_threshold=core.threshold.copy(),
            w_in=scale * tau_syn / step,
            v_reset=np.zeros(n),
        )
        edges = [("input", "weight"), ("weight", "soma"), ("soma", "output")]
        into_filters = ["weight"]
        layout = {
            "form": "cuba",
            "importable_by": "snntorch (>= 0.9, import_from_nir), norse (from_nir)",
            "synaptic_current_start": "0 (the model's starts at (1 - beta) * bias: a transient "
            "bias * exp(-t / tau_syn) in the membrane)",
            "filter_tau_exact_s": -step / np.log(decay),
        }
    else:
        nodes["soma"] = nir.LIF(
            tau=step / (1 - beta),
            r=np.ones(n),
            v_leak=np.zeros(n),
            v_threshold=core.threshold.copy(),
            v_reset=np.zeros(n),
        )
        edges, into_filters = [("soma", "output")], []
        for j in range(k):
            decay = core.filter_decay[:, j]
            nodes[f"filter{j}"] = nir.LI(tau=step / (1 - decay), r=np.ones(n), v_leak=np.zeros(n))
            weights = np.diag(core.filter_weight[:, j])
            nodes[f"weight{j}"] = (
                nir.Affine(weight=weights, bias=core.dendrite_bias.copy()) if j == 0 else nir.Linear(weight=weights)
            )
            edges += [("input", f"filter{j}"), (f"filter{j}", f"weight{j}"), (f"weight{j}", "soma")]
            into_filters.append(f"filter{j}")
        layout = {
            "form": "li-filters",
            "importable_by": f"none known: {k} dendritic filters summed into one membrane need LI nodes, which "
            "snnTorch and Norse do not import; train with model.spiking.filters = 1",
        }
    if core.recurrent is not None:
        signed = core.recurrent if core.presynaptic_sign is None else core.recurrent * core.presynaptic_sign[None, :]
        nodes["recurrent"] = nir.Linear(weight=signed.copy())
        edges += [("soma", "recurrent")] + [("recurrent", name) for name in into_filters]
    neuron = model.neuron
    metadata = {
        "source": "neurosync",
        "dt_s": step,
        "tick_s": step * core.substeps,
        "substeps": core.substeps,
        "time_constant_mapping": "euler: tau = dt / (1 - exp(-dt / tau_physical))",
        "membrane_tau_exact_s": -step / np.log(beta),
        "reset": "subtract",
        "refractory_ms": float(neuron.refractory_ms),
        "noise": (
            f"Ornstein-Uhlenbeck current, sd {neuron.noise_std:g} (threshold units), tau {neuron.noise_tau_ms:g} ms"
            if neuron.noise_std > 0
            else "none"
        ),
        "shared_noise": (
            f"one Ornstein-Uhlenbeck current shared by all neurons, sd {neuron.shared_noise_std:g} "
            f"(threshold units), tau {neuron.shared_noise_tau_ms:g} ms"
            if neuron.shared_noise_std > 0
            else "none"
        ),
        "homeostasis": (
            "none"
            if neuron.homeostasis_rate_hz <= 0
            else f"intrinsic, per tick: theta * exp(h), h in [ln {neuron.homeostasis_min_scale:g}, 0] falls while the "
            f"neuron fires below {neuron.homeostasis_rate_hz:g} Hz (tau {neuron.homeostasis_tau_ms:g} ms); "
            "the graph's thresholds are the trained ones (h = 0)"
        ),
        "input_floor": (
            "none"
            if not neuron.bounded_input
            else "the dendritic current is floored softly at "
            + (
                f"each neuron's threshold - {neuron.input_floor_margin:g}"
                if neuron.input_floor_margin > 0
                else f"{neuron.input_floor:g}"
            )
            + (
                f" and capped softly at each neuron's threshold {neuron.input_ceiling_margin:+g}"
                if neuron.input_ceiling_margin != 0
                else ""
            )
            + " (width "
            f"{neuron.input_floor_width:g}, membrane units); the graph's is not"
        ),
        "plasticity": "none" if core.fast_alpha is None else core.rule,
        "fast_weight": (
            "none"
            if core.fast_alpha is None
            else f"on the {'recurrent' if core.plastic else 'afferent'} synapses; not in the graph (NIR has no "
            "plastic node): the graph's recurrent weight, if any, is the slow one"
        ),
        "recurrence": (
            "none"
            if core.recurrent is None
            else "the model's acts once per tick on the tick's spike count; the graph's every step "
            f"(the same when substeps = 1; here {core.substeps})"
        ),
        **layout,
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_nir(model, path: str | Path, dt_ms: float | None = None) -> Path:
    """Write :func:`to_nir` of a SpikingCTM's core to ``path`` (a new file), its time constants mapped
    for ``dt_ms`` (default the model's step)."""
    nir = require("nir", "io")
    graph = to_nir(model, dt_ms)
    path, partial = _fresh(path)
    nir.write(str(partial), graph)
    partial.replace(path)
    return path


def simulate_nir(graph, drive: np.ndarray) -> np.ndarray:
    """Forward-Euler simulation of a graph written by :func:`to_nir` on a (steps, N) drive, as a
    discrete simulator of NIR would run it, with the subtractive reset the metadata declares
    (the recurrent edge delayed by one step); returns the (steps, N) spikes."""
    nodes, step = graph.nodes, float(np.asarray(graph.metadata["dt_s"]))
    soma, n = nodes["soma"], drive.shape[1]
    recurrent = nodes["recurrent"].weight if "recurrent" in nodes else None
    filters = sorted(name for name in nodes if name.startswith("filter"))
    state = {name: np.zeros(n) for name in filters}
    current, v, spikes = np.zeros(n), np.zeros(n), np.zeros(n)
    out = np.zeros_like(drive)
    for t in range(drive.shape[0]):
        a = drive[t] + (recurrent @ spikes if recurrent is not None else 0.0)
        if "weight" in nodes:  # the CubaLIF form
            u = nodes["weight"].weight @ a + nodes["weight"].bias
            current = current + step / soma.tau_syn * (soma.w_in * u - current)
            v = v + step / soma.tau_mem * (soma.v_leak - v + soma.r * current) - soma.v_threshold * spikes
        else:
            total = 0.0
            for j, name in enumerate(filters):
                li = nodes[name]
                state[name] = state[name] + step / li.tau * (li.v_leak - state[name] + li.r * a)
                weight = nodes[f"weight{j}"]
                total = total + weight.weight @ state[name] + (weight.bias if hasattr(weight, "bias") else 0.0)
            v = v + step / soma.tau * (soma.v_leak - v + soma.r * total) - soma.v_threshold * spikes
        spikes = (v > soma.v_threshold).astype(float)
        out[t] = spikes
    return out
