"""Building a Brian2 network from a spiking core, shared by the exact and the continuous mode: the
code-generation target, each neuron's parameters, and a plastic synapse's once-a-tick call on the
recurrent (:func:`tick_synapse`) or the afferent (:func:`afferent_synapse`) fast weight."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..parts import equations as eq
from .core import SpikingCore
from .equations import homeostasis_code, plasticity_code, synaptic_weight


def check_noise(core: SpikingCore, drive: np.ndarray, noise: np.ndarray | None) -> None:
    """Refuse a noisy core without its recorded noise realisation, (steps, neurons), in one line."""
    if core.noisy and (noise is None or noise.shape != (drive.shape[0] * core.substeps, core.neurons)):
        raise ValueError("a noisy core needs the recorded noise, (steps, neurons) (CoreRecording.noise)")


STANDALONE_DIRECTORY = Path(tempfile.gettempdir()) / "neurosync-brian2-standalone"


def set_target(target: str) -> str:
    """Select Brian2's code generation target ('numpy', 'cython' or 'cpp_standalone'); fall
    back to numpy with a one-line warning when the compiled one cannot work here."""
    import brian2 as b2

    if target in ("cython", "cpp_standalone") and shutil.which(os.environ.get("CXX", "g++")) is None:
        warnings.warn(f"no C++ compiler found; Brian2 target {target!r} falls back to numpy", stacklevel=3)
        target = "numpy"
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", directory=str(STANDALONE_DIRECTORY), build_on_run=True)
        b2.prefs.core.default_float_dtype = np.float64
        return target
    if target == "cython":
        try:
            import Cython  # noqa: F401
        except ImportError:
            warnings.warn("Cython is not installed; Brian2 falls back to numpy", stacklevel=3)
            target = "numpy"
    b2.prefs.codegen.target = target
    b2.prefs.core.default_float_dtype = np.float64
    return target


def set_neuron_parameters(group, core: SpikingCore) -> None:
    """Each neuron's own parameters (and a bounded input's floor), shared by the discrete and the continuous forms."""
    group.beta, group.theta, group.fbias = core.membrane_decay, core.threshold, core.dendrite_bias
    for j in range(core.filter_decay.shape[1]):
        setattr(group, f"fdecay{j}", core.filter_decay[:, j])
        setattr(group, f"fweight{j}", core.filter_weight[:, j])
    if core.adaptive:
        group.kappa = core.adaptation_strength
    if core.input_floor:  # ifloor, iwidth of a bounded input
        group.namespace.update(core.input_floor)


HOMEOSTASIS_RESET = "\nch += 1"  # what a homeostatic core's reset adds: the tick's spike count


def homeostasis(group, core: SpikingCore, dt) -> None:
    """The threshold's homeostasis of a homeostatic core, once a tick at the start of its first
    step (slot 'start', before the synapse's call), from the tick's spike count ch (counted by
    HOMEOSTASIS_RESET). ch starts at the target count, so that the update before the first tick
    leaves h = 0, as PyTorch's first tick has it."""
    if not core.homeostasis:
        return
    group.namespace.update(core.homeostasis)
    group.h, group.thb, group.ch = 0.0, core.threshold, core.homeostasis["ctarget"]
    group.run_regularly(homeostasis_code(), when="start", order=-1, dt=core.substeps * dt, name="homeostasis")


def tick_synapse(group, core: SpikingCore, dt, modulation: np.ndarray | None):
    """The plastic synapse call of every tick, at the start of its first step (slot 'start'),
    in PyTorch's order: traces from the last tick's spike count c, the H update, then the
    recurrent input Σ_pre (W + α H) c_pre (a summed variable), held as Isyn for the tick; c = 0.
    Shared by the exact and the continuous mode (the CTM's tick is discrete in both)."""
    import brian2 as b2

    n = core.neurons
    tick = core.substeps * dt
    trace_code, hebb_code = plasticity_code(core.rule, core.modulator)
    group.run_regularly(trace_code, when="start", order=0, dt=tick, name="traces")
    state_modulated = core.rule == "neuromodulated" and core.modulator == "state"
    constants = (
        ["w", "alpha"]
        + (["sgn"] if core.presynaptic_sign is not None else [])
        + {
            "miconi": ["eta_syn"],
            "abcd": ["eta_syn", "A", "B", "C", "D"],
            "neuromodulated": ["eta0", "gain"] + (["wm"] if state_modulated else []),
        }[core.rule]
    )
    model = "H : 1\n" + "\n".join(f"{c} : 1 (constant)" for c in constants)
    model += f"\nIrec_post = ({synaptic_weight(core)})*c_pre : 1 (summed)"
    if state_modulated:
        model += "\nm_post = wm*x_pre : 1 (summed)"
    namespace = {"lam": core.trace_decay, "hclip": core.clip, "cmod": core.modulator_bias}
    if core.rule == "neuromodulated" and not state_modulated:
        namespace["modulation"] = b2.TimedArray(np.asarray(modulation, dtype=np.float64), dt=tick, name="modulation")
    synapses = b2.Synapses(group, group, model=model, dt=dt, name="recurrent", namespace=namespace)
    post, pre = np.nonzero(np.ones((n, n), dtype=bool))  # all-to-all, W[post, pre]
    synapses.connect(i=pre, j=post)
    synapses.w = core.recurrent[post, pre]
    synapses.alpha = core.alpha[post, pre]
    if core.presynaptic_sign is not None:
        synapses.sgn = core.presynaptic_sign[pre]
    if state_modulated:  # the readout sums over presynaptic traces, after they are updated
        synapses.wm = core.modulator_weight[pre]
        synapses.summed_updaters["m_post"].when = "start"
        synapses.summed_updaters["m_post"].order = 1
    rule_and_delivery(group, synapses, core, post, pre, hebb_code, "Irec", tick)
    return synapses


def slow_recurrence(group, core: SpikingCore, dt):
    """The recurrent weight beside a fast weight on the afferents (``model.plasticity.site =
    "afferent"``): Σ_pre W c_pre (under Dale's law ``σ_pre |W|``) over the last tick's spike counts,
    summed into Irec at the start of every tick (order 3, before the counts are reset)."""
    import brian2 as b2

    n = core.neurons
    signed = core.presynaptic_sign is not None
    model = "w : 1 (constant)\n" + ("sgn : 1 (constant)\n" if signed else "")
    model += f"Irec_post = {'sgn*w' if signed else 'w'}*c_pre : 1 (summed)"
    synapses = b2.Synapses(group, group, model=model, dt=dt, name="recurrent")
    post, pre = np.nonzero(np.ones((n, n), dtype=bool))  # all-to-all, W[post, pre]
    synapses.connect(i=pre, j=post)
    synapses.w = core.recurrent[post, pre]
    if signed:
        synapses.sgn = core.presynaptic_sign[pre]
    synapses.summed_updaters["Irec_post"].when = "start"
    synapses.summed_updaters["Irec_post"].order = 3
    return synapses


def rule_and_delivery(
    group,
    synapses,
    core: SpikingCore,
    post: np.ndarray,
    pre: np.ndarray,
    hebb_code: str,
    current: str,
    tick,
    also: str | None = None,
) -> None:
    """What the recurrent and the afferent fast weights share: H = 0, the rule's parameters per
    synapse, the H update (slot 'start', order 2), the summed current (order 3) held, plus
    ``also`` (another summed current) if given, as the neurons' Isyn for the tick (order 4, with
    the spike count reset)."""
    synapses.H = 0.0
    if core.rule == "neuromodulated":
        synapses.eta0, synapses.gain = core.eta_base[post], core.eta_gain[post]
    else:
        synapses.eta_syn = core.eta[post]
    if core.rule == "abcd":
        for name, coefficient in zip("ABCD", core.abcd):
            setattr(synapses, name, coefficient[post, pre])
    synapses.run_regularly(hebb_code, when="start", order=2, dt=tick, name="hebb")
    synapses.summed_updaters[f"{current}_post"].when = "start"
    synapses.summed_updaters[f"{current}_post"].order = 3
    delivered = current if also is None else f"{current} + {also}"
    group.run_regularly(f"Isyn = {delivered}\nc = 0", when="start", order=4, dt=tick, name="deliver")
    group.namespace["lam"] = core.trace_decay


def afferent_synapse(group, core: SpikingCore, dt, modulation: np.ndarray | None, afferent_input: np.ndarray):
    """A fast weight on the afferents (``model.synapse = "plastic-input"``), once a tick at the start
    of its first step, in PyTorch's order: the neurons' traces from the last tick's spike count c;
    the afferents take this tick's recorded input o; H steps with post = the neurons' trace and
    pre = the afferents' trace through o[t−2]; the current Σ_afferent α H o is held as Isyn for
    the tick; then the afferents' traces take o. The rate synapse's output (or, beside a
    recurrent weight of the core's own, W_in o + b) is the replayed drive; that recurrent weight
    (:func:`slow_recurrence`) adds its current to Isyn. Returns (the objects to run, the fast
    weight's synapses)."""
    import brian2 as b2

    n, d = core.afferent_alpha.shape
    tick = core.substeps * dt
    trace_code, hebb_code = plasticity_code(core.rule, core.modulator)
    group.run_regularly(trace_code, when="start", order=0, dt=tick, name="traces")
    namespace = {
        "afferent": b2.TimedArray(np.asarray(afferent_input, dtype=np.float64), dt=tick, name="afferent"),
        "lam": core.trace_decay,
    }
    afferents = b2.NeuronGroup(d, "o : 1\nx : 1\nx_prev : 1", dt=dt, name="afferents", namespace=namespace)
    afferents.run_regularly("o = afferent(t, i)", when="start", order=1, dt=tick, name="afferent_input")
    afferents.run_regularly(
        f"x_prev = x\nx = {eq.brian_expression(eq.TRACE, rename={'s': 'o'})}",
        when="start",
        order=5,
        dt=tick,
        name="afferent_traces",
    )
    constants = ["alpha"] + {
        "miconi": ["eta_syn"],
        "abcd": ["eta_syn", "A", "B", "C", "D"],
        "neuromodulated": ["eta0", "gain"],
    }[core.rule]
    model = "H : 1\n" + "\n".join(f"{c} : 1 (constant)" for c in constants) + "\nIaff_post = alpha*H*o_pre : 1 (summed)"
    synapse_namespace = {"hclip": core.clip}
    if core.rule == "neuromodulated":
        synapse_namespace["modulation"] = b2.TimedArray(
            np.asarray(modulation, dtype=np.float64), dt=tick, name="modulation"
        )
    synapses = b2.Synapses(afferents, group, model=model, dt=dt, name="afferent_synapses", namespace=synapse_namespace)
    post, pre = np.nonzero(np.ones((n, d), dtype=bool))  # all-to-all, α[post, afferent]
    synapses.connect(i=pre, j=post)
    synapses.alpha = core.afferent_alpha[post, pre]
    slow = [slow_recurrence(group, core, dt)] if core.slow_recurrence else []
    rule_and_delivery(group, synapses, core, post, pre, hebb_code, "Iaff", tick, also="Irec" if slow else None)
    return [afferents, *slow, synapses], synapses
