"""NWB: spike trains as a Units table, trials, field-potential proxies as an LFP container, the
internal signals as TimeSeries."""

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


# NCBI Taxonomy's "synthetic construct": the in-silico subject (DANDI asks for a species as a
# Latin binomial or an NCBITaxon IRI; a simulated network has none of its own)
IN_SILICO_SPECIES = "http://purl.obolibrary.org/obo/NCBITaxon_32630"
DEFAULT_EXPERIMENTER = "NeuroSync, Simulation"  # DANDI's 'LastName, FirstName' form; pass your own


GZIP = {"compression": "gzip", "compression_opts": 4, "shuffle": True}  # HDF5 storage of signals and spike times


def _compressed(data: np.ndarray):
    from hdmf.backends.hdf5 import H5DataIO

    return H5DataIO(np.asarray(data, dtype=np.float32), **GZIP)


def _unit_parameters(model) -> dict[str, tuple[np.ndarray, str]]:
    """Per neuron, the spiking core's parameters in physical units (empty for a RateCTM)."""
    from ..parts.interfaces import SpikingNeuron

    neuron = getattr(model, "neuron", None)
    if not isinstance(neuron, SpikingNeuron):
        return {}
    import torch

    with torch.no_grad():
        params = neuron.soma_parameters()
        columns = {
            "threshold": (params.threshold, "firing threshold (membrane units)"),
            "tau_membrane_ms": (neuron.membrane_tau(), "membrane time constant (ms)"),
            "dendrite_bias": (neuron.dendrite_bias, "bias of the dendritic current (membrane units)"),
        }
        for k in range(neuron.filter_weight.shape[1]):
            columns[f"tau_filter{k}_ms"] = (neuron.filter_tau()[:, k], f"time constant of dendritic filter {k} (ms)")
            columns[f"weight_filter{k}"] = (neuron.filter_weight[:, k], f"weight of dendritic filter {k}")
    return {name: (values.detach().double().cpu().numpy(), text) for name, (values, text) in columns.items()}


def to_nwb(
    recording,
    description: str = "One thought per sample of a Continuous Thought Machine",
    *,
    model=None,
    experimenter: str | list[str] | None = DEFAULT_EXPERIMENTER,
    session_start_time: datetime | None = None,
    bulky: bool = True,
):
    """The recording as a ``pynwb.NWBFile`` (needs the ``io`` extra), DANDI-ready.

    The subject is in silico (species NCBITaxon "synthetic construct", sex "O", born when the
    session starts); ``session_start_time`` defaults to now (UTC); ``experimenter`` takes DANDI's
    'LastName, FirstName' form. The model's config is in ``notes`` (JSON) and, given ``model``,
    each unit carries its neuron's parameters (threshold, membrane and filter time constants).
    The internal signals are gzip-compressed float32 in the ``misc`` processing module;
    ``bulky=False`` leaves out the largest (pre-activations and membranes)."""
    import json

    pynwb = require("pynwb", "io")
    from pynwb.file import Subject
    from pynwb.misc import Units

    from ..recording import compact_integers  # here, not at import: neurosync.export stays free of torch

    config = recording.config or {}
    name = config.get("name", "ctm")
    start = session_start_time or datetime.now(timezone.utc).replace(microsecond=0)
    experimenters = [experimenter] if isinstance(experimenter, str) else list(experimenter or [])
    nwb = pynwb.NWBFile(
        session_description=description,
        identifier=str(uuid.uuid4()),
        session_start_time=start,
        experiment_description=f"NeuroSync {recording.kind} CTM '{name}': {recording.samples} thoughts of "
        f"{recording.ticks} ticks, dt = {recording.dt} s per tick, {recording.neurons} neurons",
        experimenter=experimenters or None,
        institution="NeuroSync (simulation)",
        keywords=["continuous thought machine", "simulation", "in silico"],
        notes="model config (JSON): " + json.dumps(config, sort_keys=True, default=str),
        source_script="neurosync.export.to_nwb",
        source_script_file_name="neurosync/export/nwb.py",
        subject=Subject(
            subject_id=str(name),
            species=IN_SILICO_SPECIES,
            sex="O",
            date_of_birth=start,
            description=f"in silico: a simulated {recording.kind} Continuous Thought Machine "
            f"('{name}', {recording.neurons} neurons), not an animal",
        ),
    )
    duration = recording.ticks * recording.dt
    inputs = recording.sample_input if recording.sample_input is not None else np.arange(recording.samples)
    repeats = recording.sample_repeat if recording.sample_repeat is not None else np.zeros(recording.samples, dtype=int)
    for b in range(recording.samples):
        nwb.add_trial(start_time=b * duration, stop_time=(b + 1) * duration)
    trial_columns = {
        "sample": (np.arange(recording.samples), "index of the thought in the recording"),
        "input_index": (np.asarray(inputs), "index of the input the thought saw (repeats of an input share it)"),
        "repeat": (np.asarray(repeats), "repeat of that input: its realisation of the intrinsic noise"),
        "certain_tick": (np.argmax(recording.certainty, axis=1), "tick of highest certainty"),
    }
    for key, (values, text) in trial_columns.items():
        nwb.add_trial_column(key, text, data=compact_integers(values))
    if recording.kind == "spiking":
        units = Units(name="units", description="CTM neurons (one unit per neuron)", resolution=recording.step_duration)
        for times in _unit_spikes(recording):
            units.add_unit(spike_times=times, obs_intervals=[[0.0, recording.samples * duration]])
        from hdmf.backends.hdf5 import H5DataIO

        units.spike_times.set_data_io(H5DataIO, GZIP)
        neurons = np.arange(recording.neurons)
        units.add_column("neuron", "index of the neuron in the CTM", data=compact_integers(neurons))
        units.add_column(
            "cell_type",
            "excitatory or inhibitory under Dale's law, else unclassified",
            data=[str(t) for t in recording.cell_types()],
        )
        for key, (values, text) in _unit_parameters(model).items():
            units.add_column(key, text, data=values)
        nwb.units = units
    if recording.kind == "spiking" and recording.current_excitatory is not None:
        _add_field_potentials(nwb, recording)
    module = nwb.create_processing_module(
        "misc", f"internal signals of the CTM, per tick (rate {1 / recording.dt:g} Hz) or per simulation step"
    )
    signals = [
        ("activity", recording.activity, "post-activation (spiking: spikes in the tick)", 1 / recording.dt),
        ("certainty", recording.certainty[..., None], "certainty (1 - normalised entropy)", 1 / recording.dt),
        ("logits", recording.logits, "output logits", 1 / recording.dt),
    ]
    if bulky and recording.pre is not None:
        signals.insert(1, ("pre_activation", recording.pre, "pre-activation", 1 / recording.dt))
    if bulky and recording.membrane is not None:
        signals.append(
            ("membrane", recording.membrane, "membrane potential per simulation step", 1 / recording.step_duration)
        )
    for key, values, text, rate in signals:
        data = _end_to_end(values)
        module.add(
            pynwb.TimeSeries(
                name=key,
                data=_compressed(data[:, 0] if data.shape[1] == 1 else data),
                unit="a.u.",
                rate=float(rate),
                starting_time=0.0,
                description=text,
            )
        )
    return nwb


def _add_field_potentials(nwb, recording) -> None:
    """The field-potential proxies (:mod:`neurosync.analysis.field`) as ElectricalSeries of one
    virtual electrode in an ``LFP`` container of the ``ecephys`` processing module, one value per
    simulation step with the thoughts laid end to end, as recorded LFP is stored."""
    from pynwb.ecephys import LFP, ElectricalSeries

    from ..analysis.field import PROXIES, field_potential

    device = nwb.create_device(
        name="virtual_electrode", description="no device: the field is computed from the model's synaptic currents"
    )
    group = nwb.create_electrode_group(
        name="population",
        description="one virtual electrode over the CTM's excitatory (pyramidal) neurons",
        location="in silico",
        device=device,
    )
    nwb.add_electrode(group=group, location="in silico")
    region = nwb.create_electrode_table_region(region=[0], description="the virtual electrode")
    lfp = LFP(name="LFP")
    nwb.create_processing_module("ecephys", "field-potential proxies from the synaptic currents").add(lfp)
    for proxy, definition in PROXIES.items():
        data = field_potential(recording, proxy).reshape(-1, 1)
        lfp.add_electrical_series(
            ElectricalSeries(
                name=f"field_{proxy}",
                data=_compressed(data),
                electrodes=region,
                rate=1.0 / recording.step_duration,
                starting_time=0.0,
                description=f"field-potential proxy: {definition}, summed over the excitatory neurons; "
                "one value per simulation step, thoughts end to end; in the model's membrane units "
                "(arbitrary units, not volts: NWB fixes this series' unit to volts, there is no conversion)",
            )
        )


def write_nwb(recording, path: str | Path, **options) -> Path:
    """Write :func:`to_nwb` (``options`` are its keywords) to ``path``."""
    pynwb = require("pynwb", "io")
    path, partial = _fresh(path)
    with pynwb.NWBHDF5IO(str(partial), "w") as io:
        io.write(to_nwb(recording, **options))
    partial.replace(path)
    return path


def inspect_nwb(path: str | Path, config: str | None = "dandi") -> list:
    """nwbinspector's findings for a file under its ``config`` profile (default DANDI's), every
    check included: an empty list is a file DANDI accepts as it is."""
    nwbinspector = require("nwbinspector", "io")
    profile = nwbinspector.load_config(config) if config else None
    return list(nwbinspector.inspect_nwbfile(nwbfile_path=str(path), skip_validate=False, config=profile))
