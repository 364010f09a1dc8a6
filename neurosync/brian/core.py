"""The PyTorch side of the Brian2 bridge: a SpikingCTM's spiking core as float64 arrays
(:func:`extract_core`) and what PyTorch did in one thought (:func:`record_core`): the drive of
every neuron at every tick, and the spikes, membranes and noise of every simulation step."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class SpikingCore:
    """A SpikingCTM's spiking core as float64 arrays (N neurons, K dendritic filters)."""

    filter_decay: np.ndarray  # (N, K) α_k in (0, 1)
    filter_weight: np.ndarray  # (N, K)
    dendrite_bias: np.ndarray  # (N,)
    membrane_decay: np.ndarray  # (N,) β
    threshold: np.ndarray  # (N,) θ
    adaptation_decay: np.ndarray | None = None  # (N,) ρ (ALIF)
    adaptation_strength: np.ndarray | None = None  # (N,) κ (ALIF)
    recurrent: np.ndarray | None = (
        None  # (N, N) W_rec[post, pre] (slow beside an afferent fast weight); None: open loop
    )
    alpha: np.ndarray | None = None  # (N, N) α[post, pre] of the plastic weight
    afferent_alpha: np.ndarray | None = (
        None  # (N, d_input) α[post, afferent] of a fast weight on the afferents (plastic-input, or site "afferent")
    )
    presynaptic_sign: np.ndarray | None = None  # (N,) ±1 under Dale's law: recurrent/alpha are then magnitudes
    eta: np.ndarray | None = None  # (N,) learning rate per postsynaptic neuron (miconi, abcd)
    trace_decay: float = 0.0  # λ of the plasticity traces
    rule: str = "miconi"  # miconi | abcd | neuromodulated (certainty-gated)
    abcd: np.ndarray | None = None  # (4, N, N) A, B, C, D per synapse [post, pre] (abcd)
    clip: float = 1.0  # |H| bound (abcd)
    eta_base: np.ndarray | None = None  # (N,) η₀ (neuromodulated: η[t] = σ(η₀ + g m[t]))
    eta_gain: np.ndarray | None = None  # (N,) g (neuromodulated)
    modulator: str = "certainty"  # neuromodulated: "certainty" (replayed) or "state" (m = w · x + c, simulated)
    modulator_weight: np.ndarray | None = None  # (N,) w (state modulator)
    modulator_bias: float = 0.0  # c (state modulator)
    substeps: int = 1  # simulation steps per tick
    dt_ms: float = 1.0  # the simulation step (ms)
    refractory_steps: int = 0  # closed steps after a spike's own
    noisy: bool = False  # intrinsic OU noise: its realisation is recorded and replayed
    homeostasis: dict[str, float] | None = None  # hstep, ctarget, hmin of the per-tick threshold homeostasis; None: off
    input_floor: dict[str, float] | None = (
        None  # ifloor (or imargin: RELATIVE_FLOOR), iwidth of a bounded input (CURRENT_FLOOR); None: off
    )

    @property
    def neurons(self) -> int:
        return self.membrane_decay.shape[0]

    @property
    def adaptive(self) -> bool:
        return self.adaptation_decay is not None

    @property
    def plastic(self) -> bool:
        return self.alpha is not None

    @property
    def afferent(self) -> bool:
        """A fast weight on the afferents (the attention output), simulated with their recorded input."""
        return self.afferent_alpha is not None

    @property
    def fast_alpha(self) -> np.ndarray | None:
        """α of whichever fast weight the core has (recurrent or afferent), None without plasticity."""
        return self.alpha if self.alpha is not None else self.afferent_alpha

    @property
    def slow_recurrence(self) -> bool:
        """A recurrent weight without a fast weight of its own (beside one on the afferents)."""
        return self.recurrent is not None and self.alpha is None


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy().copy()


def _input_floor(neuron) -> dict[str, float] | None:
    """The constants of a bounded input: ifloor (constant) or imargin (below each threshold), iwidth, and
    icmargin (the ceiling's offset from each threshold, below it when negative) when it has one."""
    if not neuron.bounded_input:
        return None
    bound = {"iwidth": neuron.input_floor_width}
    if neuron.input_floor_margin > 0:
        bound["imargin"] = neuron.input_floor_margin
    else:
        bound["ifloor"] = neuron.input_floor
    if neuron.input_ceiling_margin != 0:
        bound["icmargin"] = neuron.input_ceiling_margin
    return bound


def _check_spiking(model) -> None:
    from ..parts.interfaces import SpikingNeuron, fast_weight_site

    if not isinstance(model.neuron, SpikingNeuron):
        raise ValueError("Brian2 validation needs a SpikingCTM (model.neuron = 'spiking')")
    synapse = model.synapse
    if fast_weight_site(synapse) == "afferent" and synapse.rule == "neuromodulated" and synapse.modulator == "state":
        raise ValueError(
            "Brian2 simulates the afferent fast weight (model.synapse = 'plastic-input') with the miconi, abcd "
            "and certainty-gated rules; the state-modulated one reads a population of the core that it does not build"
        )


def extract_core(model) -> SpikingCore:
    """The spiking core of a SpikingCTM (neuron = "spiking"), with each neuron's own parameters."""
    from ..parts.interfaces import RecurrentSynapse, fast_weight_site

    _check_spiking(model)
    # derived parameters (sigmoids, softplus) in float64, as record_core computes them
    neuron, synapse = copy.deepcopy(model.neuron).double(), copy.deepcopy(model.synapse).double()
    params = neuron.soma_parameters()
    core = SpikingCore(
        filter_decay=_np(neuron.filter_decay()),
        filter_weight=_np(neuron.filter_weight),
        dendrite_bias=_np(neuron.dendrite_bias),
        membrane_decay=_np(params.membrane_decay),
        threshold=_np(params.threshold),
        substeps=neuron.substeps,
        dt_ms=neuron.dt_ms,
        refractory_steps=params.refractory_steps,
        noisy=neuron.noisy,
        homeostasis=neuron.homeostasis_constants(),
        input_floor=_input_floor(neuron),
    )
    if neuron.adaptive:
        core.adaptation_decay = _np(params.adaptation_decay)
        core.adaptation_strength = _np(params.adaptation_strength)
    site = fast_weight_site(synapse)
    afferent = site == "afferent"
    if afferent:
        core.afferent_alpha = _np(synapse.alpha_matrix())  # a ⊗ b when factorised
    if isinstance(synapse, RecurrentSynapse) and site is not None:
        if synapse.dale:  # magnitudes and signs, as PlasticSynapse computes the weight
            core.recurrent = _np(torch.nn.functional.softplus(synapse.recurrent.weight))
            core.presynaptic_sign = _np(synapse.presynaptic_sign)
        else:
            core.recurrent = _np(synapse.recurrent.weight)
    if site == "recurrent":
        core.alpha = _np(synapse.alpha_matrix())  # magnitudes under Dale's law; a ⊗ b when factorised
    if site is not None:
        core.trace_decay = float(synapse.trace_decay)
        core.rule = synapse.rule
        if synapse.rule == "neuromodulated":
            core.eta_base, core.eta_gain = _np(synapse.eta_raw), _np(synapse.eta_gain)
            core.modulator = synapse.modulator
            if synapse.modulator == "state":
                core.modulator_weight = _np(synapse.modulator_readout.weight.reshape(-1))
                core.modulator_bias = float(synapse.modulator_readout.bias.double().item())
        else:
            core.eta = _np(synapse.learning_rate().reshape(-1))
        if synapse.rule == "abcd":
            pre = synapse.d_input if afferent else core.neurons
            core.abcd = np.broadcast_to(_np(synapse.abcd), (4, core.neurons, pre)).copy()
            core.clip = float(synapse.clip)
    return core


@dataclass
class CoreRecording:
    """What PyTorch did in one thought of one sample, per simulation step (T steps, N neurons)."""

    drive: np.ndarray  # (ticks, N): per tick, held for substeps steps
    modulation: np.ndarray | None  # (ticks,) the certainty each tick's synapse call received (plastic)
    spikes: np.ndarray  # (T, N) 0/1
    membranes: np.ndarray  # (T, N)
    noise: np.ndarray | None = None  # (T, N) the OU noise current of every step (a noisy core)
    sample: int = 0
    hebbian: np.ndarray | None = None  # (ticks, N, N or d_input) H[post, pre] after each tick's update (plastic cores)
    afferent_input: np.ndarray | None = None  # (ticks, d_input) the attention output o[t] (afferent fast weight)
    extra: dict[str, Any] = field(default_factory=dict)


@torch.no_grad()
def record_core(model, x: torch.Tensor, sample: int = 0, ticks: int | None = None) -> CoreRecording:
    """Run `model` on x in float64 for `ticks` ticks (default: its own) and record, for batch
    element `sample`, the drive of every neuron at every tick and the spikes and membranes of
    every simulation step. The model is left as it was."""
    from ..parts.interfaces import RecurrentSynapse, fast_weight_site

    _check_spiking(model)
    neuron, synapse = model.neuron, model.synapse
    drives, spikes, membranes, noises = [], [], [], []
    plastic = fast_weight_site(synapse) == "recurrent"
    hooks = []
    modulations = []
    hebbians = []
    afferents = []
    if fast_weight_site(synapse) == "afferent":  # Brian2 runs the fast weight (and a recurrent weight's spikes)
        if isinstance(synapse, RecurrentSynapse):  # W_in o + b is the drive
            hooks.append(synapse.input.register_forward_hook(lambda m, i, out: drives.append(out[sample].clone())))
        else:  # the rate synapse's output is the drive
            hooks.append(synapse.base.register_forward_hook(lambda m, i, out: drives.append(out[0][sample].clone())))

        def inputs(module, args):  # returns None: the call's arguments stay as they are
            modulations.append(args[3][sample].clone())
            afferents.append(args[0][sample].clone())

        hooks.append(synapse.register_forward_pre_hook(inputs))
        hooks.append(
            synapse.register_forward_hook(lambda m, i, out: hebbians.append(m.hebbian(out[1][1])[sample].clone()))
        )
    elif plastic:  # W_in o + b: the part of the pre-activation that Brian2 does not compute
        hooks.append(synapse.input.register_forward_hook(lambda m, i, out: drives.append(out[sample].clone())))
        hooks.append(synapse.register_forward_pre_hook(lambda m, args: modulations.append(args[3][sample].clone())))
        hooks.append(
            synapse.register_forward_hook(lambda m, i, out: hebbians.append(m.hebbian(out[1][1])[sample].clone()))
        )
    else:
        hooks.append(synapse.register_forward_hook(lambda m, i, out: drives.append(out[0][sample].clone())))

    def observe(state):
        spikes.append(state.spikes[sample].clone())
        membranes.append(state.membrane[sample].clone())
        noises.append(state.noise_current()[sample].clone())  # n + g, what the soma received

    dtype = next(model.parameters()).dtype
    was_training, saved_ticks = model.training, model.ticks
    model.double().eval()
    neuron.substep_observers.append(observe)
    try:
        if ticks is not None:
            model.ticks = ticks
        model(x.double())
    finally:
        neuron.substep_observers.remove(observe)
        model.ticks = saved_ticks
        for h in hooks:
            h.remove()
        model.to(dtype).train(was_training)
    modulation = torch.stack(modulations).numpy() if modulations else None
    noise = torch.stack(noises).numpy() if neuron.noisy else None
    return CoreRecording(
        torch.stack(drives).numpy(),
        modulation,
        torch.stack(spikes).numpy(),
        torch.stack(membranes).numpy(),
        noise,
        sample,
        hebbian=torch.stack(hebbians).numpy() if hebbians else None,
        afferent_input=torch.stack(afferents).numpy() if afferents else None,
    )
