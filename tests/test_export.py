"""Exports: NWB passes nwbinspector and round-trips, Neo (NIX) round-trips for Elephant, the NIR
graph is read back by nir, simulates the model's spikes and runs in snnTorch, CSV spectra; nothing is
overwritten."""

import numpy as np
import pytest
import torch

from conftest import tiny_config
from neurosync import analysis, export
from neurosync.build import build_model


def _recording(synapse="mlp", ticks=24, substeps=1, adaptive=False, **spiking):
    """A tiny SpikingCTM (``spiking`` sets further [model.spiking] keys), its recording of three
    inputs, and the inputs."""
    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synapse, cfg.model.synchrony = "spiking", synapse, "spike-multiscale"
    cfg.model.spiking.substeps, cfg.model.spiking.adaptive = substeps, adaptive
    for key, value in spiking.items():
        setattr(cfg.model.spiking, key, value)
    cfg.model.ticks = ticks
    torch.manual_seed(0)
    model = build_model(cfg)
    x = torch.randint(0, 2, (3, 6), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    return model, model.record(x, config=cfg), x


@pytest.mark.parametrize("samples", [3, 2])
def test_nwb_is_dandi_clean_and_round_trips(tmp_path, samples):
    """nwbinspector's DANDI profile, subject checks included, finds nothing at any
    importance (two thoughts used to give binary-capable trial columns); the file holds an
    in-silico subject, a real start time, the experimenter, the config and each unit's parameters."""
    import json

    import pynwb

    model, recording, _ = _recording(substeps=2)
    recording = recording.subset(np.arange(samples))
    path = export.write_nwb(recording, tmp_path / "thought.nwb", model=model, experimenter="Doe, Jane")
    assert export.inspect_nwb(path) == []
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.subject.species == export.nwb.IN_SILICO_SPECIES and "in silico" in nwb.subject.description
        assert tuple(nwb.experimenter) == ("Doe, Jane",) and nwb.session_start_time.year >= 2026
        assert json.loads(nwb.notes.split(": ", 1)[1])["name"] == "tiny"
        units = nwb.units
        assert units.resolution == pytest.approx(0.001) and len(units) == recording.neurons
        np.testing.assert_allclose(
            units["threshold"][:], model.neuron.soma_parameters().threshold.detach().numpy(), rtol=1e-6
        )
        np.testing.assert_allclose(units["tau_membrane_ms"][:], model.neuron.membrane_tau().detach().numpy(), rtol=1e-6)
        duration = recording.ticks * recording.dt
        for n in (0, 5, 15):
            expected = np.sort(np.concatenate([recording.spike_times(b)[n] + b * duration for b in range(samples)]))
            np.testing.assert_allclose(units.get_unit_spike_times(n), expected, atol=1e-12)
        assert len(nwb.trials) == samples and list(nwb.trials["sample"][:]) == list(range(samples))
        membrane = nwb.processing["misc"]["membrane"]
        assert membrane.rate == pytest.approx(1000.0)
        np.testing.assert_allclose(membrane.data[:], recording.membrane.reshape(-1, recording.neurons), rtol=1e-6)
    with pytest.raises(ValueError, match="never overwrite"):
        export.write_nwb(recording, path)


def test_nwb_without_bulky_signals_is_smaller(tmp_path):
    _, recording, _ = _recording(substeps=2)
    full = export.write_nwb(recording, tmp_path / "full.nwb")
    lean = export.write_nwb(recording, tmp_path / "lean.nwb", bulky=False)
    import pynwb

    with pynwb.NWBHDF5IO(str(lean), "r") as io:
        assert set(io.read().processing["misc"].data_interfaces) == {"activity", "certainty", "logits"}
    assert lean.stat().st_size < full.stat().st_size


def test_neo_round_trip_feeds_elephant(tmp_path):
    from elephant.statistics import mean_firing_rate

    _, recording, _ = _recording()
    block = export.read_neo(export.write_neo(recording, tmp_path / "thought.nix"))
    assert len(block.segments) == 3
    for b, segment in enumerate(block.segments):
        assert len(segment.spiketrains) == recording.neurons
        for n, train in enumerate(segment.spiketrains):
            np.testing.assert_allclose(train.rescale("s").magnitude, recording.spike_times(b)[n], atol=1e-12)
    rates = [float(mean_firing_rate(t).rescale("Hz").magnitude) for t in block.segments[1].spiketrains]
    np.testing.assert_allclose(rates, analysis.firing_rates(recording, sample=1), atol=1e-9)
    np.testing.assert_allclose(block.segments[0].analogsignals[0].magnitude, recording.activity[0], atol=1e-6)


@pytest.mark.parametrize("synapse", ["mlp", "plastic"])
def test_nir_graph_is_read_back_and_reproduces_the_spikes(tmp_path, synapse):
    import nir

    from neurosync.brian import record_core

    model, recording, x = _recording(synapse=synapse)
    graph = nir.read(str(export.write_nir(model, tmp_path / "core.nir")))
    assert {"input", "output", "soma", "filter0", "weight0"} <= set(graph.nodes)
    assert isinstance(graph.nodes["soma"], nir.LIF) and isinstance(graph.nodes["weight0"], nir.Affine)
    assert float(graph.metadata["dt_s"]) == pytest.approx(0.001) and str(graph.metadata["reset"]) == "subtract"
    assert recording.dt == pytest.approx(
        0.001
    )  # the recording and the graph take dt from the model (1 ms steps and ticks)
    beta = model.neuron.soma_parameters().membrane_decay.detach().double().numpy()
    np.testing.assert_allclose(graph.nodes["soma"].tau, 0.001 / (1 - beta), rtol=1e-6)
    if synapse == "mlp":  # open loop: the recorded drive, simulated from the graph alone, gives the model's spikes
        core = record_core(model, x, sample=0)
        np.testing.assert_array_equal(export.simulate_nir(graph, core.drive), core.spikes)
    else:
        assert graph.nodes["recurrent"].weight.shape == (16, 16) and str(graph.metadata["plasticity"]) == "miconi"


def test_nir_metadata_states_both_noise_processes(tmp_path):
    import nir

    model, _, _ = _recording(noise_std=0.1, shared_noise_std=0.05, shared_noise_tau_ms=150.0)
    metadata = nir.read(str(export.write_nir(model, tmp_path / "noisy.nir"))).metadata
    assert "sd 0.1 " in str(metadata["noise"]) and "tau 5 ms" in str(metadata["noise"])
    assert "shared by all neurons, sd 0.05 " in str(metadata["shared_noise"]) and "tau 150 ms" in str(
        metadata["shared_noise"]
    )
    quiet, _, _ = _recording()
    metadata = nir.read(str(export.write_nir(quiet, tmp_path / "quiet.nir"))).metadata
    assert str(metadata["noise"]) == "none" and str(metadata["shared_noise"]) == "none"


def test_nir_refuses_alif():
    model, _, _ = _recording(adaptive=True, ticks=4)
    with pytest.raises(ValueError, match="ALIF"):
        export.to_nir(model)


def test_nir_refuses_a_rate_model_naming_the_export():
    pytest.importorskip("nir")
    with pytest.raises(ValueError, match="--format nir exports the spiking core of a SpikingCTM") as err:
        export.to_nir(build_model(tiny_config()))
    assert "Brian2" not in str(err.value)


def test_spectra_csv(tmp_path):
    _, recording, _ = _recording()
    spectrum = analysis.population_spectrum(recording, sample=None)
    path = export.write_spectra_csv(spectrum, tmp_path / "spectrum.csv")
    rows = np.loadtxt(path, delimiter=",", skiprows=2)
    np.testing.assert_allclose(rows[:, 1], spectrum["power"], rtol=1e-12)
    bands = (tmp_path / "spectrum_bands.csv").read_text().splitlines()
    assert bands[1] == "band,low_hz,high_hz,power" and bands[2].startswith("delta,1.0,4.0,")


def test_nwb_units_carry_cell_types_and_trials_the_input_and_repeat(tmp_path):
    import pynwb

    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synapse, cfg.model.synchrony = "spiking", "plastic", "spike-multiscale"
    cfg.model.spiking.dale, cfg.model.spiking.excitatory_fraction, cfg.model.spiking.noise_std = True, 0.75, 0.2
    model = build_model(cfg)
    x = torch.randint(0, 2, (3, 6), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    recording = model.record(x, config=cfg, repeats=2)
    assert recording.samples == 6 and recording.repeats == 2
    path = export.write_nwb(recording, tmp_path / "dale.nwb", model=model)
    assert export.inspect_nwb(path) == []  # repeats 0/1 are one-byte columns, not a binary-capability finding
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        types = list(nwb.units["cell_type"][:])
        assert types == ["excitatory"] * 12 + ["inhibitory"] * 4
        trials = nwb.trials.to_dataframe()
        assert trials["input_index"].tolist() == [0, 0, 1, 1, 2, 2] and trials["repeat"].tolist() == [0, 1, 0, 1, 0, 1]


def _snntorch_spikes(graph, drive: np.ndarray, reset: str) -> np.ndarray:
    """Spikes of ``graph`` imported by snnTorch (``import_from_nir``) on a (steps, N) drive. With
    ``reset="graph"`` the imported neurons reset as the graph's metadata declares (subtract the
    threshold at the next step) instead of snnTorch's import default (reset to zero at once)."""
    import contextlib
    import io

    import snntorch
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # the importer prints its weight-scaling notes
        net = import_from_nir(graph)
    if reset == "graph":
        for module in net.modules():
            if isinstance(module, snntorch.Synaptic):
                module.reset_mechanism, module.reset_delay = "subtract", True
                module.state_function = module._base_sub  # the reset_mechanism setter keeps the old update
    out, state = [], None
    with torch.no_grad():
        for row in drive:
            spikes, state = net(torch.tensor(row[None], dtype=torch.float32), state)
            out.append(spikes[0].numpy())
    return np.array(out)


def _one_filter_core(synapse="mlp", threshold=None, ticks=200):
    """A one-filter SpikingCTM at 0.1-ms steps (snnTorch's import step), its NIR graph, its
    recorded core (sample 0) and the per-step drive."""
    from neurosync.brian import record_core

    options = {} if threshold is None else {"threshold": threshold}
    # one step per tick: the plastic recurrence acts per tick = per step
    model, _, x = _recording(synapse, ticks, filters=1, refractory_ms=0.0, dt_ms=0.1, **options)
    if synapse == "plastic":  # NIR has no fast weights: compare the static core (alpha = 0 keeps H out of the current)
        model.synapse.alpha.data.zero_()
    graph = export.to_nir(model)
    core = record_core(model, x, sample=0)
    return graph, core, np.repeat(core.drive, model.neuron.substeps, axis=0)


@pytest.mark.parametrize("synapse", ["mlp", "plastic"])
def test_snntorch_imports_the_nir_graph_and_spikes_as_the_model(synapse):
    """A one-filter core exported as CubaLIF runs in snnTorch (import_from_nir) on the
    model's recorded drive; with the reset the graph declares (subtract the threshold at the next
    step) every spike bin is the model's, and so is the graph's own Euler simulation."""
    pytest.importorskip("nirtorch")
    graph, core, drive = _one_filter_core(synapse)
    assert set(graph.nodes) >= {"input", "weight", "soma", "output"} and str(graph.metadata["form"]) == "cuba"
    assert ("recurrent" in graph.nodes) == (synapse == "plastic")
    assert core.spikes.sum() > 20, "the comparison needs spikes"
    np.testing.assert_array_equal(_snntorch_spikes(graph, drive, "graph"), core.spikes)
    np.testing.assert_array_equal(export.simulate_nir(graph, drive), core.spikes)


def test_snntorch_default_reset_differs_by_a_bounded_phase_drift():
    """snnTorch's importer resets to zero at once, dropping the overshoot the model's subtractive
    reset keeps: later spikes drift by a step now and then. At 100 Hz (threshold 1.0) that changes
    at most 5% of the bins and the spike count by at most 10%; the first spike of every neuron
    is the model's."""
    pytest.importorskip("nirtorch")
    graph, core, drive = _one_filter_core(threshold=1.0, ticks=400)
    zero = _snntorch_spikes(graph, drive, "zero")
    assert 50 < core.spikes.sum() and (zero != core.spikes).mean() <= 0.05
    assert abs(zero.sum() / core.spikes.sum() - 1) <= 0.10
    fired = core.spikes.any(0)
    np.testing.assert_array_equal(zero[:, fired].argmax(0), core.spikes[:, fired].argmax(0))


def test_nir_at_another_step_maps_the_same_time_constants():
    """to_nir(model, dt_ms): the graph for simulation at another step holds the same physical
    time constants; the model keeps its own step; a step that does not divide the tick is refused."""
    model, _, _ = _recording(ticks=4)
    native = export.to_nir(model)
    finer = export.to_nir(model, dt_ms=0.25)
    assert float(finer.metadata["dt_s"]) == pytest.approx(0.00025) and model.neuron.dt_ms == 1.0
    np.testing.assert_allclose(
        finer.metadata["membrane_tau_exact_s"], native.metadata["membrane_tau_exact_s"], rtol=1e-9
    )
    assert "none known" in str(native.metadata["importable_by"])  # three filters: no LI importer
    with pytest.raises(ValueError, match="must divide"):
        export.to_nir(model, dt_ms=0.3)
