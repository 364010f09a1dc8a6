"""Exports of a thought to the tools neuroscientists use: NWB, Neo (NIX), NIR, CSV, NPZ.

- :func:`to_nwb` / :func:`write_nwb`: spike trains as a pynwb ``Units`` table (spike times in
  seconds, ``resolution`` = the simulation step), one trial per recorded thought, and the
  continuous signals (post-activations, membranes, certainty, logits) as ``TimeSeries`` in a
  ``ctm`` processing module. Samples are laid end to end: thought b starts at b · ticks · dt.
- :func:`to_neo` / :func:`write_neo`: a ``neo.Block`` with one ``Segment`` per thought, a
  ``SpikeTrain`` per neuron and ``AnalogSignal`` s of the activations and membranes, ready for
  Elephant; written as NIX (HDF5).
- :func:`to_nir` / :func:`write_nir`: the spiking core of a SpikingCTM as a NIR 1.x graph
  (see its docstring for the mapping).
- :func:`write_spectra_csv`: the Welch population spectrum and band powers as CSV.

Every writer writes to a temporary name and renames, and refuses to overwrite.
"""

from __future__ import annotations

import csv
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ._optional import require

FORMATS = ("nwb", "neo", "nir", "npz", "csv")


def _fresh(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    if path.exists():
        raise ValueError(f"{path} exists; choose a new file name (exports never overwrite)")
    if not path.parent.exists():
        raise ValueError(f"directory {path.parent} does not exist")
    return path, path.with_name(f".{path.name}.partial{path.suffix}")


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


def to_neo(recording):
    """The recording as a ``neo.Block``: one Segment per thought, a SpikeTrain per neuron (spiking)
    and AnalogSignals of the activations (and membranes). Needs the ``io`` extra."""
    neo = require("neo", "io")
    import quantities as pq

    block = neo.Block(name=(recording.config or {}).get("name", "ctm"), description=f"NeuroSync {recording.kind} CTM",
                      dt_per_tick_s=recording.dt)
    duration = recording.ticks * recording.dt
    for b in range(recording.samples):
        segment = neo.Segment(name=f"thought {b}", index=b)
        if recording.kind == "spiking":
            for n, times in enumerate(recording.spike_times(b)):
                segment.spiketrains.append(neo.SpikeTrain(times, units="s", t_start=0.0, t_stop=duration,
                                                          sampling_rate=1 / recording.step_duration * pq.Hz,
                                                          name=f"neuron {n}", neuron=n))
        segment.analogsignals.append(neo.AnalogSignal(recording.activity[b], units="dimensionless",
                                                      sampling_rate=1 / recording.dt * pq.Hz, name="activity"))
        if recording.membrane is not None:
            segment.analogsignals.append(neo.AnalogSignal(recording.membrane[b], units="dimensionless",
                                                          sampling_rate=1 / recording.step_duration * pq.Hz, name="membrane"))
        block.segments.append(segment)
    return block


def write_neo(recording, path: str | Path) -> Path:
    """Write the Neo Block as NIX (HDF5; needs the ``io`` extra, nixio)."""
    neo = require("neo", "io")
    require("nixio", "io")
    path, partial = _fresh(path)
    io = neo.io.NixIO(str(partial), mode="ow")
    try:
        io.write_block(to_neo(recording))
    finally:
        io.close()
    partial.replace(path)
    return path


def read_neo(path: str | Path):
    neo = require("neo", "io")
    io = neo.io.NixIO(str(path), mode="ro")
    try:
        return io.read_block()
    finally:
        io.close()


def to_nir(model):
    """The spiking core of a SpikingCTM (LIF soma) as a NIR 1.x graph. Needs the ``io`` extra.

    Nodes: ``input`` (the drive a[t] of each neuron: the synapse's output) → one ``LI`` node per
    dendritic filter k → ``Affine`` (k = 0: diagonal filter weights and the dendritic bias) or
    ``Linear`` (k > 0) → ``LIF`` soma → ``output`` (spikes); with a plastic synapse also the
    recurrent ``Linear`` W_rec from the soma back to every filter.

    The step Δ is the model's own dt_ms. Time constants use the forward-Euler mapping (as
    snnTorch's and Norse's NIR code do): the exact update x[t] = d·x[t−1] + (1 − d)·input with
    d = e^(−Δ/τ) is Euler's with τ_euler = Δ / (1 − d), r = 1 and v_leak = 0, so Euler at Δ
    reproduces it exactly. The metadata records Δ, the mapping and the physical τ = −Δ / ln d.

    NIR 1.x cannot express everything: the soma resets by subtracting its threshold (NIR's LIF
    resets to v_reset = 0; metadata ``reset = "subtract"`` says so), an adaptive threshold (ALIF)
    has no node and is refused, the refractory period and the intrinsic noise have no field
    (metadata ``refractory_ms`` and ``noise`` state them), and Hebbian fast weights have no node
    (H starts at 0 in every thought, so the graph is the core's static part; metadata
    ``plasticity`` names the rule)."""
    nir = require("nir", "io")
    from .brian import extract_core
    from .parts.spiking import SpikingNeurons

    if not isinstance(getattr(model, "neuron", None), SpikingNeurons):
        raise ValueError("--format nir exports the spiking core of a SpikingCTM (model.neuron = 'spiking'); "
                         "this is a RateCTM: export its recordings as nwb, neo, npz or csv")
    core = extract_core(model)
    if core.adaptive:
        raise ValueError("NIR 1.x has no adaptive-threshold (ALIF) neuron; export a SpikingCTM with adaptive = false")
    step = core.dt_ms * 1e-3
    n, k = core.filter_decay.shape
    nodes = {"input": nir.Input(input_type=np.array([n])), "output": nir.Output(output_type=np.array([n]))}
    edges = []
    for j in range(k):
        decay = core.filter_decay[:, j]
        nodes[f"filter{j}"] = nir.LI(tau=step / (1 - decay), r=np.ones(n), v_leak=np.zeros(n))
        weights = np.diag(core.filter_weight[:, j])
        nodes[f"weight{j}"] = nir.Affine(weight=weights, bias=core.dendrite_bias.copy()) if j == 0 else nir.Linear(weight=weights)
        edges += [("input", f"filter{j}"), (f"filter{j}", f"weight{j}"), (f"weight{j}", "soma")]
    beta = core.membrane_decay
    nodes["soma"] = nir.LIF(tau=step / (1 - beta), r=np.ones(n), v_leak=np.zeros(n), v_threshold=core.threshold.copy(),
                            v_reset=np.zeros(n))
    edges.append(("soma", "output"))
    if core.recurrent is not None:
        signed = core.recurrent if core.presynaptic_sign is None else core.recurrent * core.presynaptic_sign[None, :]
        nodes["recurrent"] = nir.Linear(weight=signed.copy())
        edges += [("soma", "recurrent")] + [("recurrent", f"filter{j}") for j in range(k)]
    neuron = model.neuron
    metadata = {"source": "neurosync", "dt_s": step, "tick_s": step * core.substeps, "substeps": core.substeps,
                "time_constant_mapping": "euler: tau = dt / (1 - exp(-dt / tau_physical)), r = 1, v_leak = 0",
                "membrane_tau_exact_s": -step / np.log(beta), "reset": "subtract",
                "refractory_ms": float(neuron.refractory_ms),
                "noise": (f"Ornstein-Uhlenbeck current, sd {neuron.noise_std:g} (threshold units), tau {neuron.noise_tau_ms:g} ms"
                          if core.noisy else "none"),
                "plasticity": core.rule if core.recurrent is not None else "none"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_nir(model, path: str | Path) -> Path:
    nir = require("nir", "io")
    graph = to_nir(model)
    path, partial = _fresh(path)
    nir.write(str(partial), graph)
    partial.replace(path)
    return path


def simulate_nir(graph, drive: np.ndarray) -> np.ndarray:
    """Forward-Euler simulation of a graph written by :func:`to_nir` on a (steps, N) drive, as a
    discrete simulator of NIR would run it, with the subtractive reset the metadata declares;
    returns the (steps, N) spikes. Used to check that the export means what the model does."""
    nodes, step = graph.nodes, float(np.asarray(graph.metadata["dt_s"]))
    filters = sorted(name for name in nodes if name.startswith("filter"))
    soma = nodes["soma"]
    state = {name: np.zeros(drive.shape[1]) for name in filters}
    v, spikes = np.zeros(drive.shape[1]), np.zeros(drive.shape[1])
    out = np.zeros_like(drive)
    recurrent = nodes["recurrent"].weight if "recurrent" in nodes else None
    for t in range(drive.shape[0]):
        current = 0.0
        a = drive[t] + (recurrent @ spikes if recurrent is not None else 0.0)
        for j, name in enumerate(filters):
            li = nodes[name]
            state[name] = state[name] + step / li.tau * (li.v_leak - state[name] + li.r * a)
            weight = nodes[f"weight{j}"]
            current = current + weight.weight @ state[name] + (weight.bias if hasattr(weight, "bias") else 0.0)
        v = v + step / soma.tau * (soma.v_leak - v + soma.r * current) - soma.v_threshold * spikes
        spikes = (v > soma.v_threshold).astype(float)
        out[t] = spikes
    return out


def write_spectra_csv(spectrum: dict, path: str | Path) -> Path:
    """Two CSV files: ``path`` (frequency_hz, power) and ``<stem>_bands.csv`` (band, low_hz,
    high_hz, power), with the resolution and sampling rate in a comment line."""
    from .analysis import BANDS

    path, partial = _fresh(path)
    bands_path, bands_partial = _fresh(path.with_name(f"{path.stem}_bands.csv"))
    header = f"# resolution_hz={spectrum['resolution_hz']:.6g} sampling_rate_hz={spectrum['sampling_rate_hz']:.6g}"
    with open(partial, "w", newline="") as handle:
        handle.write(header + "\n")
        writer = csv.writer(handle)
        writer.writerow(["frequency_hz", "power"])
        writer.writerows(zip(spectrum["frequencies_hz"].tolist(), spectrum["power"].tolist()))
    with open(bands_partial, "w", newline="") as handle:
        handle.write(header + "\n")
        writer = csv.writer(handle)
        writer.writerow(["band", "low_hz", "high_hz", "power"])
        for name, value in spectrum["bands"].items():
            writer.writerow([name, *BANDS[name], value])
    partial.replace(path)
    bands_partial.replace(bands_path)
    return path
