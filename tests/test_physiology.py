"""The physiology card on hand-made spike trains with known answers: Poisson trains (CV 1, Fano 1,
no correlation, a flat spectrum), regular trains (CV 0, Fano 0), a power law of known exponent,
and E/I populations from the config."""

import numpy as np
import pytest

from neurosync import analysis
from neurosync.recording import Recording


def _recording(raster: np.ndarray, repeats: int = 1, dt: float = 1e-3, config=None) -> Recording:
    """A spiking Recording around a (thoughts, steps, neurons) 0/1 raster, input-major repeats."""
    samples, steps, neurons = raster.shape
    sample, step, neuron = np.nonzero(raster)
    empty = np.zeros((samples, steps, 1))
    return Recording(
        dt=dt,
        kind="spiking",
        substeps=1,
        activity=raster.astype(float),
        pre=raster.astype(float),
        logits=empty,
        certainty=empty[..., 0],
        synchrony_action=empty,
        synchrony_out=empty,
        attention=empty[..., None],
        spike_sample=sample,
        spike_step=step,
        spike_neuron=neuron,
        sample_input=np.repeat(np.arange(samples // repeats), repeats),
        sample_repeat=np.tile(np.arange(repeats), samples // repeats),
        config=config,
    )


def _rows(card):
    return {row["statistic"]: row for row in card["rows"]}


def test_poisson_trains_have_cv_one_fano_one_no_correlation_and_a_flat_spectrum():
    rng = np.random.default_rng(0)
    raster = (rng.random((4 * 6, 8000, 20)) < 0.01).astype(float)  # 10 Hz at 1 ms, 4 inputs x 6 repeats of 8 s
    # (long trains: the CV of a short train is biased low, about 0.9 for 20 intervals)
    card = analysis.physiology(_recording(raster, repeats=6))
    rows = _rows(card)
    assert rows["rate_all_hz"]["value"] == pytest.approx(10.0, rel=0.03) and rows["rate_all_hz"]["in_range"]
    assert rows["median_cv_isi"]["value"] == pytest.approx(1.0, abs=0.05) and rows["median_cv_isi"]["in_range"]
    assert rows["fano_factor"]["value"] == pytest.approx(1.0, abs=0.1) and rows["fano_factor"]["in_range"]
    assert abs(rows["mean_pairwise_correlation"]["value"]) < 0.01
    # independent Poisson trains: a white population spectrum, exponent ≈ 0, so out of the cortical 1–3
    assert abs(rows["aperiodic_exponent"]["value"]) < 0.2 and rows["aperiodic_exponent"]["in_range"] is False
    assert rows["silent_fraction"]["value"] == 0 and rows["saturated_fraction"]["value"] == 0
    assert len(card["fano_course"]["fano"]) == 80 and np.nanmedian(card["fano_course"]["fano"]) == pytest.approx(
        1.0, abs=0.15
    )


def test_regular_trains_have_cv_zero_and_identical_repeats_fano_zero():
    raster = np.zeros((2 * 3, 1000, 5))
    for neuron in range(5):
        raster[:, 7 * neuron :: 50, neuron] = 1  # 20 Hz clocks, the same in every repeat
    rows = _rows(analysis.physiology(_recording(raster, repeats=3)))
    assert rows["median_cv_isi"]["value"] == pytest.approx(0.0, abs=1e-9) and rows["median_cv_isi"]["in_range"] is False
    assert rows["fano_factor"]["value"] == 0.0 and rows["fano_factor"]["in_range"] is False
    assert rows["rate_all_hz"]["value"] == pytest.approx(20.0)


def test_the_cv_of_a_short_thought_is_read_against_poisson_trains_of_the_same_counts():
    from neurosync.analysis.physiology import poisson_cv_reference

    # long windows with many spikes: exponential intervals, CV -> 1; few spikes in a window: biased low
    assert poisson_cv_reference([400] * 200, 10.0) == pytest.approx(1.0, abs=0.05)
    assert 0.6 < poisson_cv_reference([5] * 2000, 0.16) < 0.8
    assert np.isnan(poisson_cv_reference([], 1.0))
    # Poisson trains over 160-ms thoughts: their own CV lies below 0.7, and matches the reference
    rng = np.random.default_rng(2)
    raster = (rng.random((64, 160, 40)) < 0.05).astype(float)  # 50 Hz at 1 ms
    row = _rows(analysis.physiology(_recording(raster, repeats=4)))["median_cv_isi"]
    assert row["value"] < 0.85 and row["poisson_reference"] == pytest.approx(row["value"], abs=0.06)
    assert "Poisson trains with the same counts in the same 160 ms" in row["note"]
    # regular trains in the same window: far below their reference
    regular = np.zeros((8, 160, 5))
    regular[:, ::20, :] = 1
    row = _rows(analysis.physiology(_recording(regular, repeats=4)))["median_cv_isi"]
    assert row["value"] == pytest.approx(0.0) and row["poisson_reference"] > 0.5


def test_without_repeats_the_fano_factor_is_undefined_not_computed_across_inputs():
    rng = np.random.default_rng(1)
    raster = (rng.random((5, 500, 10)) < 0.02).astype(float)
    rows = _rows(analysis.physiology(_recording(raster, repeats=1)))
    assert rows["fano_factor"]["value"] is None and rows["fano_factor"]["in_range"] is None
    assert "undefined" in rows["fano_factor"]["note"]


def test_power_law_fit_recovers_a_known_exponent():
    f = np.linspace(0, 500, 1001)
    power = np.where(f > 0, 3.0 * np.maximum(f, 1e-9) ** -2.0, 0.0)
    fit = analysis.power_law_fit(f, power, (2.0, 100.0))
    assert fit["exponent"] == pytest.approx(2.0, abs=1e-9) and fit["r2"] == pytest.approx(1.0)
    noisy = power * np.exp(np.random.default_rng(0).normal(0, 1.0, f.size))
    assert analysis.power_law_fit(f, noisy, (2.0, 100.0))["r2"] < 0.9  # a poor fit says so


def test_a_period_two_train_shows_the_step_artefact():
    raster = np.zeros((2, 1000, 8))
    raster[:, ::2, :] = 1  # every other step: 500 Hz, the Nyquist frequency of 1 ms steps
    rows = _rows(analysis.physiology(_recording(raster)))
    assert rows["nyquist_to_gamma_power"]["in_range"] is False and rows["highest_peak_hz"]["value"] == pytest.approx(
        500.0
    )
    assert rows["saturated_fraction"]["value"] == 1.0 and rows["median_cv_isi"]["value"] == pytest.approx(0.0)


def test_a_line_at_nyquist_is_a_peak_even_where_the_largest_power_lies_elsewhere_and_flat_noise_is_none():
    """One neuron firing every other step among 30 Poisson neurons: a narrow line at the Nyquist
    frequency above a flat floor (the step artefact of a neuron phase-locked to its refractory
    period); the Poisson neurons alone have no peak, and a 40-Hz rhythm has its peak at 40 Hz."""
    rng = np.random.default_rng(4)
    poisson = (rng.random((8, 2000, 30)) < 0.015).astype(float)
    rows = _rows(analysis.physiology(_recording(poisson)))
    assert rows["highest_peak_hz"]["value"] == 0.0 and rows["highest_peak_hz"]["in_range"]
    alternating = np.zeros((8, 2000, 1))
    alternating[:, ::2] = 1
    card = analysis.physiology(_recording(np.concatenate([poisson, alternating], axis=2)))
    assert (
        _rows(card)["highest_peak_hz"]["value"] == pytest.approx(500.0)
        and _rows(card)["highest_peak_hz"]["in_range"] is False
    )
    rhythm = 0.015 * (1 + 0.9 * np.sin(2 * np.pi * 40.0 * np.arange(2000) / 1000.0))
    gamma = (rng.random((8, 2000, 30)) < rhythm[None, :, None]).astype(float)
    summary = analysis.physiology(_recording(gamma))["spectrum"]
    assert summary["peak_by_band_hz"]["gamma"] == pytest.approx(40.0, abs=1.0) and summary[
        "highest_peak_hz"
    ] == pytest.approx(40.0, abs=1.0)


def test_a_smooth_power_law_has_no_peak():
    f = np.linspace(0, 500, 1001)
    assert analysis.spectral_peaks(f, np.where(f > 0, np.maximum(f, 1e-9) ** -1.5, 1e3)) == []


def test_populations_come_from_the_config():
    rng = np.random.default_rng(2)
    raster = np.zeros((4, 1000, 10))
    raster[..., :8] = rng.random((4, 1000, 8)) < 0.005  # excitatory: 5 Hz
    raster[..., 8:] = rng.random((4, 1000, 2)) < 0.04  # inhibitory: 40 Hz
    config = {"model": {"spiking": {"dale": True, "excitatory_fraction": 0.8}}}
    card = analysis.physiology(_recording(raster, repeats=2, config=config))
    rows = _rows(card)
    assert (
        rows["rate_excitatory_hz"]["value"] == pytest.approx(5.0, rel=0.15) and rows["rate_excitatory_hz"]["in_range"]
    )
    assert (
        rows["rate_inhibitory_hz"]["value"] == pytest.approx(40.0, rel=0.15) and rows["rate_inhibitory_hz"]["in_range"]
    )
    assert "rate_all_hz" not in rows
    text = analysis.card_text(card)
    assert "| rate_excitatory_hz |" in text and "Buzsáki" in text


def test_the_card_refuses_a_rate_recording():
    recording = _recording(np.zeros((1, 10, 2)))
    recording.kind = "rate"
    with pytest.raises(ValueError, match="needs a spiking recording"):
        analysis.physiology(recording)


def test_noise_correlation_separates_shared_noise_from_shared_signal():
    """Rates co-modulated over the thought but independent spikes: a large total correlation and
    no noise correlation. Two neurons with the same spikes in every repeat: noise correlation 1."""
    rng = np.random.default_rng(3)
    steps, repeats = 4000, 6
    rate = 0.02 * (1 + np.sin(2 * np.pi * np.arange(steps) / 1000.0))  # 1-Hz modulation, the same in every repeat
    raster = (rng.random((2 * repeats, steps, 12)) < rate[None, :, None]).astype(float)
    rows = _rows(
        analysis.physiology(_recording(raster, repeats=repeats, config={"model": {"spiking": {"noise_std": 0.1}}}))
    )
    assert rows["mean_pairwise_correlation"]["value"] > 0.3 and rows["mean_pairwise_correlation"]["in_range"] is False
    assert abs(rows["noise_correlation"]["value"]) < 0.02 and rows["noise_correlation"]["in_range"]
    twins = (rng.random((2 * repeats, steps, 1)) < 0.02).astype(float).repeat(2, axis=2)
    assert analysis.noise_correlation(_recording(twins, repeats=repeats)) == pytest.approx(1.0)
    deterministic = _rows(
        analysis.physiology(_recording(raster, repeats=repeats, config={"model": {"spiking": {"noise_std": 0.0}}}))
    )
    assert (
        deterministic["noise_correlation"]["value"] is None
        and "deterministic" in deterministic["noise_correlation"]["note"]
    )
    shared_only = {"model": {"spiking": {"noise_std": 0.0, "shared_noise_std": 0.05}}}  # the shared background alone
    rows = _rows(analysis.physiology(_recording(raster, repeats=repeats, config=shared_only)))
    assert rows["noise_correlation"]["value"] is not None and rows["fano_factor"]["value"] > 0


def _with_currents(raster, excitatory, inhibitory, repeats=1):
    config = {"model": {"spiking": {"dale": True, "excitatory_fraction": 0.5, "noise_std": 0.1}}}
    recording = _recording(raster, repeats=repeats, config=config)
    recording.current_excitatory, recording.current_inhibitory = excitatory, inhibitory
    return recording


def test_ei_balance_is_the_correlation_of_the_excitatory_and_inhibitory_currents():
    """E = x + a, −I = x + b with x, a, b independent of unit variance: r = 1/2; I independent: r = 0."""
    rng = np.random.default_rng(4)
    shape = (3, 20000, 4)
    x, a, b = rng.standard_normal(shape), rng.standard_normal(shape), rng.standard_normal(shape)
    raster = (rng.random(shape) < 0.01).astype(float)
    balanced = analysis.ei_balance(_with_currents(raster, 2 + x + a, -(3 + x + b)))
    assert balanced["value"] == pytest.approx(0.5, abs=0.02) and balanced["per_neuron"].shape == (4,)
    assert abs(analysis.ei_balance(_with_currents(raster, 2 + a, -(3 + b)))["value"]) < 0.02
    assert np.isnan(analysis.ei_balance(_recording(raster))["value"])  # no currents recorded: undefined


def test_the_psth_is_the_average_over_repeats_and_one_thought_is_its_population_rate():
    """A single thought's curve is named the population rate; the PSTH averages the
    repeats of the same input (here 2 inputs × 2 repeats of 4 neurons, 1-ms steps, 2-step bins)."""
    raster = np.zeros((4, 8, 4))
    raster[0, :2, :] = 1  # input 0, repeat 0: all 4 neurons spike in the first two steps
    raster[1, 2:4, :2] = 1  # input 0, repeat 1: 2 neurons in steps 2-3
    raster[2:, :, 0] = 1  # input 1: one neuron always
    curves = analysis.population_rate_curves(_recording(raster, repeats=2), sample=1, bin_steps=2)
    assert list(curves) == ["population rate, this thought", "PSTH over 2 repeats"]
    np.testing.assert_allclose(curves["population rate, this thought"], [0, 500, 0, 0])  # 4 spikes / (4 neurons × 2 ms)
    np.testing.assert_allclose(curves["PSTH over 2 repeats"], [500, 250, 0, 0])
    single = analysis.population_rate_curves(_recording(raster, repeats=1), sample=2, bin_steps=2)
    assert list(single) == ["population rate, this thought"] and np.allclose(
        single["population rate, this thought"], 250
    )


def test_rates_cv_and_fano_come_from_the_same_thoughts_and_say_which():
    """The report's CV came from thought 0 only while rates were over all thoughts.
    Thought 0 is a regular clock (CV 0), thoughts 1–3 Poisson: the median CV is over all four."""
    rng = np.random.default_rng(4)
    raster = (rng.random((4, 4000, 6)) < 0.02).astype(float)
    raster[0] = 0
    raster[0, ::50] = 1
    rows = _rows(analysis.physiology(_recording(raster, repeats=2, config={"model": {"spiking": {"noise_std": 0.1}}})))
    cvs = [cv for s in range(4) for cv in analysis.isi_cv([np.flatnonzero(raster[s, :, n]) * 1e-3 for n in range(6)])]
    assert rows["median_cv_isi"]["value"] == pytest.approx(np.median(cvs))
    assert rows["median_cv_isi"]["value"] > 0.5  # not thought 0's regular clock alone
    for name in ("rate_all_hz", "median_cv_isi", "fano_factor"):
        assert "all 4 thoughts (2 inputs × 2 repeats)" in rows[name]["note"], (name, rows[name]["note"])


def test_a_recording_shorter_than_one_correlation_bin_gives_nan_and_analyze_runs_on_it(tmp_path, capsys):
    """A 20-ms thought has no 50-ms bin: the correlations are NaN (their docstrings' promise), the
    card is made, and ``neurosync analyze`` on the saved recording exits 0."""
    from neurosync.cli import main

    raster = (np.random.default_rng(0).random((4, 20, 6)) < 0.2).astype(float)
    recording = _recording(raster, repeats=2)
    assert np.isnan(analysis.mean_pairwise_correlation(recording)) and np.isnan(analysis.noise_correlation(recording))
    rows = _rows(analysis.physiology(recording))
    assert rows["mean_pairwise_correlation"]["value"] is None and rows["mean_pairwise_correlation"]["in_range"] is None
    recording.save(tmp_path / "short.npz")
    assert main(["analyze", str(tmp_path / "short.npz"), "--out", str(tmp_path / "analysis")]) == 0
    assert (tmp_path / "analysis" / "analysis.json").is_file()
