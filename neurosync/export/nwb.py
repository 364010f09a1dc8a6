"""NWB: spike trains as a Units table, trials, the internal signals as TimeSeries."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._optional import require
from ._files import _fresh


def _unit_spikes(recording) -> list[np.ndarray]:
    """Per neuron, spike times in seconds with the thoughts laid end to end."""
    duration = recording.ticks * recording.dt
    times = recording.spike_step * recording.step_duration + recording.spike_sample * duration
    order = np.lexsort((times, recording.spike_neuron))
    neurons, times = recording.spike_neuron[order], times[order]
    bounds = np.searchsorted(neurons, np.arange(recording.neurons + 1))
    return [times[bounds[n] : bounds[n + 1]] for n in range(recording.neurons)]


def _end_to_end(array: np.ndarray) -> np.ndarray:
    """(B, T, ...) → (B·T, ...)."""
    return np.ascontiguousarray(array.reshape(-1, *array.shape[2:]))


def to_nwb(recording, description: str = "One thought per sample of a Continuous Thought Machine"):
    """The recording as a ``pynwb.NWBFile`` (needs the ``io`` extra)."""
    pynwb = require("pynwb", "io")
    from pynwb.misc import Units

    config = recording.config or {}
    name = config.get("name", "ctm")
    nwb = pynwb.NWBFile(
        session_description=description, identifier=str(uuid.uuid4()),
        session_start_time=datetime(2000, 1, 1, tzinfo=timezone.utc),  # a model has no session date; fixed for reproducibility
        experiment_description=f"NeuroSync {recording.kind} CTM '{name}': {recording.samples} thoughts of "
                               f"{recording.ticks} ticks, dt = {recording.dt} s per tick, {recording.neurons} neurons",
        experimenter=["NeuroSync"], institution="NeuroSync (simulation)", keywords=["continuous thought machine", "simulation"],
        source_script="neurosync.export.to_nwb", source_script_file_name="neurosync/export.py",
    )
    duration = recording.ticks * recording.dt
    nwb.add_trial_column("sample", "index of the thought in the recording")
    nwb.add_trial_column("input_index", "index of the input the thought saw (repeats of an input share it)")
    nwb.add_trial_column("repeat", "repeat of that input: its realisation of the intrinsic noise")
    nwb.add_trial_column("certain_tick", "tick of highest certainty")
    inputs = recording.sample_input if recording.sample_input is not None else np.arange(recording.samples)
    repeats = recording.sample_repeat if recording.sample_repeat is not None else np.zeros(recording.samples, dtype=int)
    for b in range(recording.samples):
        nwb.add_trial(start_time=b * duration, stop_time=(b + 1) * duration, sample=b, input_index=int(inputs[b]),
                      repeat=int(repeats[b]), certain_tick=int(np.argmax(recording.certainty[b])))
    if recording.kind == "spiking":
        units = Units(name="units", description="CTM neurons (one unit per neuron)", resolution=recording.step_duration)
        units.add_column("neuron", "index of the neuron in the CTM")
        units.add_column("cell_type", "excitatory or inhibitory under Dale's law, else unclassified")
        cell_types = recording.cell_types()
        for n, times in enumerate(_unit_spikes(recording)):
            units.add_unit(spike_times=times, neuron=n, cell_type=str(cell_types[n]),
                           obs_intervals=[[0.0, recording.samples * duration]])
        nwb.units = units
    module = nwb.create_processing_module("ctm", f"internal signals of the CTM, per tick (rate {1 / recording.dt:g} Hz) "
                                                 "or per simulation step")
    signals = [("activity", recording.activity, "post-activation (spiking: spikes in the tick)", 1 / recording.dt),
               ("pre_activation", recording.pre, "pre-activation", 1 / recording.dt),
               ("certainty", recording.certainty[..., None], "certainty (1 - normalised entropy)", 1 / recording.dt),
               ("logits", recording.logits, "output logits", 1 / recording.dt)]
    if recording.membrane is not None:
        signals.append(("membrane", recording.membrane, "membrane potential per simulation step", 1 / recording.step_duration))
    for key, values, text, rate in signals:
        data = _end_to_end(values)
        module.add(pynwb.TimeSeries(name=key, data=data[:, 0] if data.shape[1] == 1 else data, unit="a.u.", rate=float(rate),
                                    starting_time=0.0, description=text))
    return nwb


def write_nwb(recording, path: str | Path) -> Path:
    pynwb = require("pynwb", "io")
    path, partial = _fresh(path)
    with pynwb.NWBHDF5IO(str(partial), "w") as io:
        io.write(to_nwb(recording))
    partial.replace(path)
    return path


def inspect_nwb(path: str | Path) -> list:
    """nwbinspector's findings for a file, without the subject checks that do not apply to a model."""
    nwbinspector = require("nwbinspector", "io")
    ignore = ["check_subject_exists", "check_subject_id_exists", "check_subject_sex", "check_subject_species_exists",
              "check_subject_age"]
    return list(nwbinspector.inspect_nwbfile(nwbfile_path=str(path), skip_validate=False, ignore=ignore))
