"""Exports: NWB passes nwbinspector and round-trips, Neo (NIX) round-trips for Elephant, the NIR
graph is read back by nir and simulates the model's spikes, CSV spectra; nothing is overwritten."""

import numpy as np
import pytest
import torch

from conftest import tiny_config
from neurosync import analysis, export
from neurosync.build import build_model


def _recording(synapse="mlp", ticks=24, substeps=1, adaptive=False):
    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synapse, cfg.model.synchrony = "spiking", synapse, "spike-multiscale"
    cfg.model.spiking.substeps, cfg.model.spiking.adaptive = substeps, adaptive
    cfg.model.ticks = ticks
    torch.manual_seed(0)
    model = build_model(cfg)
    x = torch.randint(0, 2, (3, 6), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    return model, model.record(x, config=cfg), x


def test_nwb_passes_nwbinspector_and_round_trips(tmp_path):
    import pynwb

    _, recording, _ = _recording(substeps=2)
    path = export.write_nwb(recording, tmp_path / "thought.nwb")
    findings = export.inspect_nwb(path)
    serious = [f for f in findings if f.importance.name in ("CRITICAL", "ERROR", "PYNWB_VALIDATION")]
    assert not serious, serious
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        units = nwb.units
        assert units.resolution == pytest.approx(0.001) and len(units) == recording.neurons
        duration = recording.ticks * recording.dt
        for n in (0, 5, 15):
            expected = np.sort(np.concatenate([recording.spike_times(b)[n] + b * duration for b in range(3)]))
            np.testing.assert_allclose(units.get_unit_spike_times(n), expected, atol=1e-12)
        assert len(nwb.trials) == 3
        membrane = nwb.processing["ctm"]["membrane"]
        assert membrane.rate == pytest.approx(1000.0)
        np.testing.assert_allclose(membrane.data[:], recording.membrane.reshape(-1, recording.neurons))
    with pytest.raises(ValueError, match="never overwrite"):
        export.write_nwb(recording, path)


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
    assert recording.dt == pytest.approx(0.001)  # the recording and the graph take dt from the model (1 ms steps and ticks)
    beta = model.neuron.soma_parameters().membrane_decay.detach().double().numpy()
    np.testing.assert_allclose(graph.nodes["soma"].tau, 0.001 / (1 - beta), rtol=1e-6)
    if synapse == "mlp":  # open loop: the recorded drive, simulated from the graph alone, gives the model's spikes
        core = record_core(model, x, sample=0)
        np.testing.assert_array_equal(export.simulate_nir(graph, core.drive), core.spikes)
    else:
        assert graph.nodes["recurrent"].weight.shape == (16, 16) and str(graph.metadata["plasticity"]) == "miconi"


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
    path = export.write_nwb(recording, tmp_path / "dale.nwb")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        types = list(nwb.units["cell_type"][:])
        assert types == ["excitatory"] * 12 + ["inhibitory"] * 4
        trials = nwb.trials.to_dataframe()
        assert trials["input_index"].tolist() == [0, 0, 1, 1, 2, 2] and trials["repeat"].tolist() == [0, 1, 0, 1, 0, 1]
