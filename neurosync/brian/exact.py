"""Exact mode: the spiking core in Brian2 in discrete time, float64, compared with PyTorch spike
for spike, membrane for membrane and, with plasticity, fast weight for fast weight."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..parts import equations as eq
from .core import CoreRecording, SpikingCore, extract_core
from .equations import neuron_equations, neuron_update_code
from .network import (
    HOMEOSTASIS_RESET,
    afferent_synapse,
    check_noise,
    homeostasis,
    set_neuron_parameters,
    set_target,
    tick_synapse,
)


def simulate_exact(
    core: SpikingCore,
    drive: np.ndarray,
    target: str = "numpy",
    progress: bool = False,
    modulation: np.ndarray | None = None,
    closed_loop=None,
    noise: np.ndarray | None = None,
    record_hebbian: bool = True,
    afferent_input: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Run the core in Brian2 in discrete time (1 step = dt = core.dt_ms) on `drive` (ticks, N),
    each tick held for core.substeps steps; `modulation` (ticks,) is the recorded certainty
    for the certainty-gated rule, `noise` (T, N) the recorded noise current of a noisy core,
    `afferent_input` (ticks, d_input) the recorded attention output of a core with a fast weight
    on its afferents (:func:`afferent_synapse`). Returns spikes (T, N), membranes (T, N) and, for a plastic core, ``hebbian`` (ticks, N, N):
    H[post, pre] after each tick's update (None without plasticity or with ``record_hebbian`` false).

    With ``closed_loop(step, previous_spikes) -> drive (N,)`` the drive is not replayed but
    computed at the start of every step by that callable (a Brian2 ``network_operation``)
    from Brian2's own spikes; `drive` then only sets the number of ticks."""
    import brian2 as b2

    if closed_loop is not None and target == "cpp_standalone":
        raise ValueError("the closed loop runs Python every step: use target 'numpy' or 'cython'")

    if (
        core.rule == "neuromodulated"
        and core.modulator == "certainty"
        and (core.plastic or core.afferent)
        and modulation is None
    ):
        raise ValueError("the certainty-gated rule needs the recorded modulation (CoreRecording.modulation)")
    if core.afferent and (
        closed_loop is not None
        or afferent_input is None
        or afferent_input.shape != (drive.shape[0], core.afferent_alpha.shape[1])
    ):
        raise ValueError(
            "a fast weight on the afferents needs their recorded input, (ticks, d_input) (CoreRecording.afferent_input), "
            "and runs open loop"
        )
    check_noise(core, drive, noise)
    target = set_target(target)
    n, steps_per_tick = core.neurons, core.substeps
    ticks = drive.shape[0]
    dt = core.dt_ms * b2.ms
    b2.start_scope()
    drive_array = b2.TimedArray(np.asarray(drive, dtype=np.float64), dt=steps_per_tick * dt, name="drive")
    namespace = {"drive": drive_array, "rsteps": float(core.refractory_steps)}
    if core.noisy:
        namespace["noise"] = b2.TimedArray(np.asarray(noise, dtype=np.float64), dt=dt, name="noise")
    threshold, reset = eq.SPIKE, "s = 1\nc += 1"
    if core.refractory_steps:
        threshold, reset = f"{eq.SPIKE} and open > 0.5", "s = 1\nc += 1\nref = rsteps"
    if core.homeostasis:
        reset += HOMEOSTASIS_RESET
    group = b2.NeuronGroup(
        n, neuron_equations(core), threshold=threshold, reset=reset, dt=dt, name="core", namespace=namespace
    )
    set_neuron_parameters(group, core)
    group.thr = core.threshold
    homeostasis(group, core, dt)
    group.open = 1.0
    if core.adaptive:
        group.rho = core.adaptation_decay
    group.run_regularly(
        neuron_update_code(core, "ext" if closed_loop is not None else "drive(t, i)"), when="groups", name="step"
    )
    group.resetter["spike"].when = "after_thresholds"
    group.resetter["spike"].order = 0
    objects = [group]
    monitors = []
    synapses = None
    if core.plastic:
        synapses = tick_synapse(group, core, dt, modulation)
        objects.append(synapses)
    elif core.afferent:
        afferent_objects, synapses = afferent_synapse(group, core, dt, modulation, afferent_input)
        objects += afferent_objects
    if synapses is not None:
        if (
            core.plastic or core.afferent
        ) and record_hebbian:  # H after each tick's update (slot 'start', after 'hebb')
            monitors.append(
                b2.StateMonitor(
                    synapses, "H", record=True, dt=steps_per_tick * dt, when="start", order=5, name="hebbian"
                )
            )
    if closed_loop is not None:

        @b2.network_operation(when="start", dt=dt, name="closed_loop")
        def feed(t):  # s still holds the previous step's spikes here (zeroed later in 'groups')
            group.ext[:] = closed_loop(int(round(float(t / dt))), np.asarray(group.s[:]))

        objects.append(feed)
    v_monitor = b2.StateMonitor(group, "v", record=True, when="after_groups", name="membranes")
    spike_monitor = b2.SpikeMonitor(group, name="spikes")
    network = b2.Network(*objects, *monitors, v_monitor, spike_monitor)
    started = time.perf_counter()
    network.run(
        ticks * steps_per_tick * dt, namespace={}, report="stderr" if progress else None, report_period=5 * b2.second
    )
    steps = ticks * steps_per_tick
    spikes = np.zeros((steps, n), dtype=np.float64)
    step_index = np.round(np.asarray(spike_monitor.t / dt)).astype(int)
    spikes[step_index, np.asarray(spike_monitor.i)] = 1.0
    membranes = np.asarray(v_monitor.v).T.copy()
    hebbian = (
        np.asarray(monitors[0].H).T.reshape(ticks, n, -1).copy() if monitors else None
    )  # synapse k = (post, pre) row-major
    if target == "cpp_standalone":  # back to runtime mode, so that later simulations work in this process
        b2.device.reinit()
        b2.set_device("runtime")
    return {
        "spikes": spikes,
        "membranes": membranes,
        "hebbian": hebbian,
        "seconds": time.perf_counter() - started,
        "target": target,
    }


MEMBRANE_TOLERANCE = 1e-9  # float64 on both sides: the same expressions agree to rounding


FAST_WEIGHT_TOLERANCE = 1e-9  # H and α ⊙ H at every tick, float64 on both sides


def sensitivity(spikes: np.ndarray) -> dict[str, Any]:
    """What a spike-for-spike comparison of this (steps, neurons) raster can detect. A neuron
    that never spikes never reaches its threshold and resets, and one that spikes at every step
    never shows when it would have: for neither can a changed threshold or reset change a bin.
    ``neurons_tested`` counts the others; ``untestable`` names why a comparison detects nothing
    (no spike at all, or a spike in every bin), else None."""
    spikes = np.asarray(spikes, dtype=bool)
    tested = int((spikes.any(0) & ~spikes.all(0)).sum())
    untestable = None
    if not spikes.any():
        untestable = "no neuron spiked in the validated thought, so no spike bin can differ"
    elif tested == 0:
        untestable = "every neuron spiked at every step or never, so no spike time can differ"
    return {
        "neurons_tested": tested,
        "spike_density": float(spikes.mean()) if spikes.size else 0.0,
        "untestable": untestable,
    }


def compare(recording: CoreRecording, brian: dict[str, np.ndarray], alpha: np.ndarray | None = None) -> dict[str, Any]:
    """Spike-for-spike and membrane agreement between a PyTorch recording and a Brian2 run;
    ``passed`` when no spike bin differs, no membrane differs by more than MEMBRANE_TOLERANCE,
    the thought can detect a difference at all (:func:`sensitivity`: some neuron spikes,
    and not at every step) and, for a plastic core, the fast weight's trajectory agrees: H
    (and α ⊙ H, given ``alpha`` (N, N)) at every tick within FAST_WEIGHT_TOLERANCE."""
    mismatched = recording.spikes != brian["spikes"]
    first = np.argwhere(mismatched)
    membrane_difference = float(np.abs(recording.membranes - brian["membranes"]).max())
    detectable = sensitivity(recording.spikes)
    fast = {}
    if recording.hebbian is not None and brian.get("hebbian") is not None:
        difference = np.abs(recording.hebbian - brian["hebbian"])
        fast = {
            "fast_weight_ticks": int(difference.shape[0]),
            "fast_weight_tolerance": FAST_WEIGHT_TOLERANCE,
            "hebbian_max_abs": float(np.abs(recording.hebbian).max()),
            "hebbian_max_abs_difference": float(difference.max()),
        }
        if alpha is not None:
            fast["fast_weight_max_abs"] = float(np.abs(alpha * recording.hebbian).max())
            fast["fast_weight_max_abs_difference"] = float((np.abs(alpha) * difference).max())
    fast_ok = (
        not fast
        or max(fast["hebbian_max_abs_difference"], fast.get("fast_weight_max_abs_difference", 0.0))
        <= FAST_WEIGHT_TOLERANCE
    )
    return {
        **fast,
        "passed": bool(
            not mismatched.any()
            and membrane_difference <= MEMBRANE_TOLERANCE
            and detectable["untestable"] is None
            and fast_ok
        ),
        **detectable,
        "membrane_tolerance": MEMBRANE_TOLERANCE,
        "steps": int(recording.spikes.shape[0]),
        "neurons": int(recording.spikes.shape[1]),
        "spikes_pytorch": int(recording.spikes.sum()),
        "spikes_brian2": int(brian["spikes"].sum()),
        "mismatched_bins": int(mismatched.sum()),
        "first_mismatch": None if first.size == 0 else {"step": int(first[0, 0]), "neuron": int(first[0, 1])},
        "max_abs_membrane_difference": membrane_difference,
        "brian2_seconds": round(float(brian["seconds"]), 3),
        "target": brian["target"],
    }


def validate_exact(model, recording: CoreRecording, target: str = "numpy") -> dict[str, Any]:
    """Export the model's spiking core, replay the recording's drive in Brian2, compare."""
    core = extract_core(model)
    return compare(
        recording,
        simulate_exact(
            core,
            recording.drive,
            target,
            modulation=recording.modulation,
            noise=recording.noise,
            afferent_input=recording.afferent_input,
        ),
        core.fast_alpha,
    )
