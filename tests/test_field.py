"""Field potentials: the proxies against hand-computed currents, the spectral parameterisation on
synthetic spectra, the hold reference against a simulated drive, the NWB series read back, the
inhibition scale, and the one-line refusals."""

import numpy as np
import pytest
import torch
from test_physiology import _recording, _rows, _with_currents

from conftest import tiny_config
from neurosync import analysis, export
from neurosync.analysis import field
from neurosync.build import build_model


def _two_neurons(steps: int, step_s: float):
    """Neuron 0 excitatory, neuron 1 inhibitory (fraction 0.5), known currents on both."""
    t = np.arange(steps, dtype=float)
    excitatory = np.stack([1 + t, 100 + t], axis=-1)[None]  # (1, steps, 2)
    inhibitory = -np.stack([2 + 0.5 * t, 50 + t], axis=-1)[None]
    recording = _with_currents(np.zeros((1, steps, 2)), excitatory, inhibitory)
    recording.dt = step_s  # one step per tick: a simulation step of step_s
    return recording, excitatory[0, :, 0], inhibitory[0, :, 0]


@pytest.mark.parametrize("step_s, delay", [(1e-3, 6), (0.5e-3, 12), (0.25e-3, 24)])
def test_rws_is_the_delayed_excitatory_minus_1_65_inhibitory_current_of_the_excitatory_cells(step_s, delay):
    """Only neuron 0 (excitatory) counts; its I_E leads by 6 ms in whole steps, held at the
    first value before; 1.65 |I_I| is subtracted; the sum proxy adds the magnitudes."""
    recording, e, i = _two_neurons(40, step_s)
    assert field.rws_delay_steps(step_s) == delay
    expected = np.concatenate([np.full(delay, e[0]), e[: 40 - delay]]) - 1.65 * np.abs(i)
    np.testing.assert_allclose(field.field_potential(recording, "rws", sample=0), expected)
    np.testing.assert_allclose(field.field_potential(recording, "sum")[0], e + np.abs(i))
    assert field.field_potential(recording).shape == (1, 40)


def _synthetic(frequencies, exponent, offset=2.0, knee=0.0, peak=None):
    """log10 P = offset − log10(knee + f^χ) plus a Gaussian peak (centre, log10 height, s.d.)."""
    with np.errstate(divide="ignore"):  # f = 0, outside every fitted range
        log_power = offset - np.log10(knee + frequencies**exponent)
    if peak is not None:
        centre, height, sd = peak
        log_power = log_power + height * np.exp(-((frequencies - centre) ** 2) / (2 * sd**2))
    return 10**log_power


@pytest.mark.parametrize("exponent", [1.0, 2.0, 2.7])
def test_the_parameterisation_recovers_a_planted_exponent_and_peak(exponent):
    frequencies = np.arange(0.0, 200.5, 0.5)
    power = _synthetic(frequencies, exponent, peak=(10.0, 0.6, 1.5))
    fit = field.parameterise(frequencies, power, (1.0, 60.0))
    assert fit["exponent"] == pytest.approx(exponent, abs=0.05) and fit["r_squared"] > 0.99
    assert fit["verdict"] == "aperiodic" and np.isnan(fit["knee_hz"])
    centre, _, _, band = max(fit["peaks"], key=lambda p: p[1])
    assert centre == pytest.approx(10.0, abs=0.5) and band == "alpha"


def test_the_knee_mode_recovers_the_knee_frequency():
    """knee k with χ = 2: the knee frequency is k^(1/χ) = 20 Hz."""
    frequencies = np.arange(0.0, 300.5, 0.5)
    fit = field.parameterise(frequencies, _synthetic(frequencies, 2.0, knee=400.0), (1.0, 150.0), "knee")
    assert fit["exponent"] == pytest.approx(2.0, abs=0.05) and fit["knee_hz"] == pytest.approx(20.0, rel=0.05)
    with pytest.raises(ValueError, match="aperiodic_mode"):
        field.parameterise(frequencies, _synthetic(frequencies, 2.0), (1.0, 150.0), "lorentzian")


def test_a_flat_or_rising_spectrum_gets_no_aperiodic_fit():
    frequencies = np.arange(0.0, 200.5, 0.5)
    rising = field.parameterise(frequencies, _synthetic(frequencies, -1.0), (1.0, 60.0))
    assert rising["verdict"].startswith("no aperiodic fit")


def test_the_hold_reference_is_the_spectrum_of_a_held_and_filtered_white_drive():
    """White values held for 4 steps of 1 ms, through two filters (τ 5 and 40 ms): the averaged
    periodogram of the simulated current matches the formula within 10% from 3 Hz to half the tick rate."""
    from scipy.signal import lfilter, welch

    rng = np.random.default_rng(0)
    substeps, step_ms, taus, weights = 4, 1.0, np.array([5.0, 40.0]), np.array([0.7, 0.3])
    drive = np.repeat(rng.standard_normal(2**18), substeps)
    current = sum(
        w * lfilter([1 - np.exp(-step_ms / t)], [1, -np.exp(-step_ms / t)], drive) for w, t in zip(weights, taus)
    )
    frequencies, simulated = welch(current, fs=1e3 / step_ms, nperseg=1024)
    expected = field.hold_reference(taus[None], weights[None], step_ms, substeps, frequencies)
    band = (frequencies > 2.5) & (frequencies <= 125.0)  # above the lowest bins, where the window leaks
    ratio = simulated[band] / expected[band]  # constant where the shapes agree: the drive's power
    assert np.all(np.abs(ratio / ratio.mean() - 1) < 0.1)
    assert expected[np.argmin(np.abs(frequencies - 250.0))] < 1e-6  # a zero at the tick rate
    with pytest.raises(ValueError, match="one shape"):
        field.hold_reference(taus[None], weights[None, :1], step_ms, substeps, frequencies)


def test_the_physiology_card_fits_the_field_potential_with_the_planted_power_law():
    """A random walk (1/f²) in the excitatory currents: the card's field rows give χ ≈ 2."""
    rng = np.random.default_rng(5)
    steps = 4000
    walk = np.cumsum(rng.standard_normal((32, steps, 1)), axis=1)  # 32 thoughts: a smooth averaged periodogram
    raster = (rng.random((32, steps, 4)) < 0.01).astype(float)
    recording = _with_currents(raster, np.repeat(100 + walk, 4, axis=2), np.zeros((32, steps, 4)))
    card = analysis.physiology(recording)
    rows = _rows(card)
    assert rows["lfp_aperiodic_exponent"]["value"] == pytest.approx(2.0, abs=0.3)
    assert rows["lfp_aperiodic_exponent"]["in_range"] and rows["lfp_aperiodic_r2"]["value"] > 0.9
    assert "Mazzoni" in rows["lfp_aperiodic_exponent"]["note"]
    assert analysis.physiology_figure(card) is not None


def test_a_recording_without_currents_or_a_rate_model_is_refused_in_one_line():
    rng = np.random.default_rng(0)
    no_dale = _recording((rng.random((1, 100, 4)) < 0.05).astype(float))
    with pytest.raises(ValueError, match="Dale's law"):
        field.field_potential(no_dale)
    rate = _recording(np.zeros((1, 10, 4)))
    rate.kind = "rate"
    with pytest.raises(ValueError, match="RateCTM has no synaptic currents"):
        field.field_summary(rate)
    with pytest.raises(ValueError, match="proxy must be one of"):
        field.field_potential(no_dale, "lfp")


def _dale_model():
    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synapse, cfg.model.synchrony = "spiking", "plastic", "spike-multiscale"
    cfg.model.spiking.dale, cfg.model.spiking.excitatory_fraction, cfg.model.spiking.noise_std = True, 0.75, 0.2
    cfg.model.spiking.substeps = 2
    torch.manual_seed(0)
    return cfg, build_model(cfg)


def test_inhibition_scaled_multiplies_every_inhibitory_weight_and_restores_them():
    cfg, model = _dale_model()
    synapse = model.synapse
    spikes = torch.rand(3, cfg.model.d_model)
    state = synapse.start(3)
    excitatory, inhibitory = synapse.population_currents(spikes, state)
    weight = synapse.recurrent_weight().detach().clone()
    with field.inhibition_scaled(model, 1.5):
        scaled_e, scaled_i = synapse.population_currents(spikes, state)
        inhibitory_columns = synapse.presynaptic_sign < 0
        torch.testing.assert_close(
            synapse.recurrent_weight()[:, inhibitory_columns], 1.5 * weight[:, inhibitory_columns]
        )
        torch.testing.assert_close(synapse.recurrent_weight()[:, ~inhibitory_columns], weight[:, ~inhibitory_columns])
    torch.testing.assert_close(scaled_i, 1.5 * inhibitory)
    torch.testing.assert_close(scaled_e, excitatory)
    torch.testing.assert_close(synapse.recurrent_weight(), weight)  # restored
    with pytest.raises(RuntimeError), field.inhibition_scaled(model, 2.0):
        raise RuntimeError("an error inside the block")
    torch.testing.assert_close(synapse.recurrent_weight(), weight)  # restored after an error too
    with pytest.raises(ValueError, match="positive"), field.inhibition_scaled(model, 0.0):
        pass
    rate_cfg = tiny_config()
    with pytest.raises(ValueError, match="Dale's law"), field.inhibition_scaled(build_model(rate_cfg), 2.0):
        pass


def test_nwb_carries_the_field_potentials_as_an_lfp_electrical_series(tmp_path):
    """One virtual electrode; one value per simulation step at the model's step rate; the data
    equal the proxies with the thoughts end to end; DANDI's inspector finds nothing."""
    import pynwb

    cfg, model = _dale_model()
    x = torch.randint(0, 2, (3, 6), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    recording = model.record(x, config=cfg, repeats=2)
    path = export.write_nwb(recording, tmp_path / "field.nwb", model=model)
    assert export.inspect_nwb(path) == []
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        lfp = nwb.processing["ecephys"]["LFP"]
        assert set(lfp.electrical_series) == {"field_rws", "field_sum"} and len(nwb.electrodes) == 1
        for proxy in ("rws", "sum"):
            series = lfp[f"field_{proxy}"]
            assert series.rate == pytest.approx(1.0 / recording.step_duration)
            assert "Mazzoni" in series.description and "not volts" in series.description
            np.testing.assert_allclose(
                series.data[:, 0], field.field_potential(recording, proxy).reshape(-1), rtol=1e-6, atol=1e-6
            )


def test_a_rate_model_exports_to_nwb_without_a_field(tmp_path):
    import pynwb

    cfg = tiny_config()
    model = build_model(cfg)
    recording = model.record(torch.ones(2, 6), config=cfg)
    path = export.write_nwb(recording, tmp_path / "rate.nwb")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        assert "ecephys" not in io.read().processing


def test_analyze_records_with_inhibition_scaled_and_reports_the_field(tmp_path, capsys):
    """``neurosync analyze --inhibition-scale`` on a shipped cortical model: the analysis holds
    both proxies' fits and the scale it was recorded with; bad uses exit 2 with one line."""
    import json

    from conftest import REPO
    from neurosync.cli import main

    model = str(REPO / "models" / "digits-cortical")
    out = tmp_path / "analysis"
    args = ["analyze", model, "--samples", "2", "--ticks", "20", "--inhibition-scale", "1.5", "--out", str(out)]
    assert main(args) == 0
    summary = json.loads((out / "analysis.json").read_text())
    assert summary["recorded_with"] == {"inhibition_scale": 1.5}
    assert set(summary["field_potential"]) == {"rws", "sum", "hold_reference"}
    assert summary["field_potential"]["rws"]["range_hz"] == [1.0, 25.0]  # half the 50-Hz tick rate
    assert (out / "field_potential.png").exists()
    capsys.readouterr()
    for bad, message in (("0", "positive number"), ("nan", "positive number")):
        assert main(args[:-3] + [bad, "--out", str(tmp_path / bad)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    rate = str(REPO / "models" / "digits-rate")
    assert main(["analyze", rate, "--samples", "2", "--inhibition-scale", "2", "--out", str(tmp_path / "r")]) == 2
    assert "Dale's law" in capsys.readouterr().err


def test_trend_names_the_direction_or_its_absence():
    assert field.trend([0.5, 0.7, 1.2]) == "rises" and field.trend([3, 2, 1]) == "falls"
    assert field.trend([1, 2, 1]) == "not monotonic" and field.trend([1, float("nan")]) == "undefined"


def test_the_ei_test_records_each_scale_with_the_same_noise_and_at_1_equals_the_plain_recording():
    """At × 1 the E:I test's row is the plain recording's field (the same noise seed); each trend
    is a direction or says at which scale the fit is missing."""
    cfg, model = _dale_model()
    x = torch.randint(0, 2, (4, 6), generator=torch.Generator().manual_seed(1)).float() * 2 - 1
    result = field.ei_test(model, x, config=cfg, ticks=100, scales=(1.0, 2.0))
    plain = field.field_summary(model.record(x, config=cfg, ticks=100, noise_seed=0), "sum")
    row = result["rows"][0]
    assert row["scale"] == 1.0 and row["sum"]["range"]["exponent"] == pytest.approx(plain["fixed"]["exponent"])
    assert result["scales"] == [1.0, 2.0] and result["thoughts"] == 4
    for proxy in ("rws", "sum"):
        for span in ("range", "30_50_hz"):
            said = result["trend"][proxy][span]
            assert said in ("rises", "falls", "not monotonic") or said.startswith("undefined (no aperiodic fit at ×")
    table = field.ei_markdown(result)
    assert table.count("\n| ") == 2 and "As inhibition grows" in table  # a row per scale after the header
