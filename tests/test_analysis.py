"""Analysis of recordings on hand-made spike trains with known answers, and against scipy."""

import numpy as np
import pytest
from scipy.signal import welch

from conftest import tiny_config
from neurosync import analysis
from neurosync.recording import Recording


def _recording(raster: np.ndarray, dt: float = 1e-3) -> Recording:
    """A spiking Recording around a (samples, steps, neurons) 0/1 raster, one step per tick."""
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
    )


def test_poisson_train_has_cv_near_one_and_fano_near_one():
    rng = np.random.default_rng(0)
    times = [np.cumsum(rng.exponential(1 / 20.0, size=4000))]  # 20 Hz Poisson
    assert analysis.isi_cv(times)[0] == pytest.approx(1.0, abs=0.05)
    counts = rng.poisson(5.0, size=(2000, 3))
    np.testing.assert_allclose(analysis.fano_factor(counts), 1.0, atol=0.1)
    regular = [np.arange(0, 10, 0.1)]
    assert analysis.isi_cv(regular)[0] == pytest.approx(0.0, abs=1e-9)


def test_rates_in_hz_and_silent_neurons():
    raster = np.zeros((2, 1000, 3))
    raster[:, ::10, 0] = 1  # every 10 ms: 100 Hz
    raster[0, 500, 1] = 1  # one spike in one of two seconds: 0.5 Hz
    recording = _recording(raster)
    np.testing.assert_allclose(analysis.firing_rates(recording), [100.0, 0.5, 0.0])
    cv = analysis.isi_cv(recording.spike_times(0))
    assert cv[0] == pytest.approx(0.0) and np.isnan(cv[1]) and np.isnan(cv[2])  # defined: NaN, no crash
    assert np.isnan(analysis.fano_factor(np.zeros((5, 2)))).all()


def test_a_10_hz_oscillation_peaks_at_10_hz_and_in_the_alpha_band():
    steps = 4000
    t = np.arange(steps) * 1e-3
    rng = np.random.default_rng(1)
    probability = 0.05 * (1 + np.sin(2 * np.pi * 10 * t))
    raster = (rng.random((1, steps, 50)) < probability[None, :, None]).astype(float)
    result = analysis.population_spectrum(_recording(raster), nperseg=1000)
    peak = result["frequencies_hz"][np.argmax(result["power"][1:]) + 1]
    assert peak == pytest.approx(10.0, abs=result["resolution_hz"])
    assert result["resolution_hz"] == pytest.approx(1.0) and result["sampling_rate_hz"] == pytest.approx(1000.0)
    bands = result["bands"]
    assert bands["alpha"] == max(bands.values())


def test_spectrum_equals_scipy_welch():
    signal = np.random.default_rng(2).normal(size=1500)
    f, p = analysis.power_spectrum(signal, 500.0, nperseg=300)
    f2, p2 = welch(signal - signal.mean(), fs=500.0, nperseg=300)
    np.testing.assert_allclose(f, f2, atol=1e-12)
    np.testing.assert_allclose(p, p2, rtol=1e-6, atol=1e-12)
    with pytest.raises(ValueError, match="at least 2 samples"):
        analysis.power_spectrum(np.zeros(1), 100.0)


def test_bands_above_nyquist_are_nan_not_errors():
    f, p = analysis.power_spectrum(np.random.default_rng(3).normal(size=200), 50.0)  # Nyquist 25 Hz
    bands = analysis.band_powers(f, p)
    assert np.isnan(bands["gamma"]) and bands["theta"] > 0


def test_a_band_with_fewer_than_two_bins_is_unresolved_and_the_method_is_stated():
    """A 1-s spectrum at 1 Hz resolution holds one bin in [1, 2) Hz: NaN, not 0."""
    f = np.arange(0.0, 50.0)
    bands = analysis.band_powers(f, np.ones_like(f), {"narrow": (1.0, 2.0), "wide": (4.0, 8.0)})
    assert np.isnan(bands["narrow"]) and bands["wide"] == pytest.approx(3.0)  # ∫ over bins 4..7 Hz
    from neurosync import report

    assert report.band_text(bands) == "narrow unresolved, wide 3"


def test_correlation_matrix_identical_trains_and_silence():
    rng = np.random.default_rng(4)
    train = (rng.random(500) < 0.2).astype(float)
    raster = np.stack([train, train, 1 - train, np.zeros(500)], axis=1)[None]
    corr = analysis.correlation_matrix(_recording(raster))
    assert corr[0, 1] == pytest.approx(1.0) and corr[0, 2] == pytest.approx(-1.0)
    assert corr[3, 0] == 0 and corr[3, 3] == 1 and np.isfinite(corr).all()
    with pytest.raises(ValueError, match="at least 2 bins"):
        analysis.correlation_matrix(_recording(raster), bin_steps=400)


def test_raster_figure_and_neuron_order():
    raster = np.zeros((1, 100, 3))
    raster[0, 50:, 0] = 1  # late but busy
    raster[0, 10, 1] = 1  # early, one spike
    recording = _recording(raster)
    assert analysis.neuron_order(recording, by="rate").tolist() == [0, 1, 2]
    assert analysis.neuron_order(recording, by="first_spike").tolist() == [1, 0, 2]
    fig = analysis.raster_figure(recording, sort="first_spike", bin_steps=10)
    labels = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert len(fig.axes) == 2 and labels == ["population rate, this thought"]  # one thought is no PSTH
    with pytest.raises(ValueError, match="sort by"):
        analysis.neuron_order(recording, by="colour")


def test_the_physiology_table_names_every_statistic_outside_its_range():
    from neurosync import report

    rows = [
        {"statistic": "rate_excitatory_hz", "value": 28.1, "unit": "Hz", "range": "1 … 20", "in_range": False},
        {"statistic": "median_cv_isi", "value": 0.9, "unit": "", "range": "0.7 … 1.5", "in_range": True},
        {"statistic": "fano_factor", "value": 2.56, "unit": "", "range": "0.5 … 1.5", "in_range": False},
        {"statistic": "noise_correlation", "value": None, "unit": "", "range": "– … 0.15", "in_range": None},
    ]
    assert report.out_of_range({"rows": rows}) == (
        "Outside it: rate_excitatory_hz 28.1 Hz (range 1 … 20); fano_factor 2.56 (range 0.5 … 1.5)."
    )
    assert report.out_of_range({"rows": rows[1:2]}) == "None lies outside it."


def _one_step_functions():
    from neurosync.analysis import dynamics, field

    return {
        "firing_rates": lambda rec: analysis.firing_rates(rec),
        "population_rate": lambda rec: analysis.population_rate(rec, 0),
        "population_spectrum": lambda rec: analysis.population_spectrum(rec, None),
        "spectrogram": lambda rec: analysis.spectrogram(rec, None),
        "group_coherence": lambda rec: analysis.group_coherence(rec, [0, 1], [2, 3], None),
        "synchrony_matrices": lambda rec: analysis.synchrony_matrices(rec),
        "recording_sttc": lambda rec: analysis.recording_sttc(rec),
        "correlation_matrix": lambda rec: analysis.correlation_matrix(rec),
        "fano_factors": lambda rec: analysis.fano_factors(rec, 0.05),
        "mean_pairwise_correlation": lambda rec: analysis.mean_pairwise_correlation(rec),
        "noise_correlation": lambda rec: analysis.noise_correlation(rec),
        "ei_balance": lambda rec: analysis.ei_balance(rec),
        "physiology": lambda rec: analysis.physiology(rec),
        "neuron_order": lambda rec: analysis.neuron_order(rec, by="cluster"),
        "field_summary": lambda rec: field.field_summary(rec),
        "participation_ratio": lambda rec: dynamics.participation_ratio(rec),
        "raster_figure": lambda rec: analysis.raster_figure(rec),
    }


@pytest.mark.parametrize("name", sorted(_one_step_functions()))
def test_every_analysis_of_a_one_step_thought_returns_or_says_what_it_needs(name):
    """A recording shorter than any window (one tick of one step): each function returns (NaN
    where undefined) or raises one ValueError line, never an IndexError or a reshape error."""
    import torch

    from neurosync.build import build_model

    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synapse, cfg.model.synchrony = "spiking", "plastic", "spike-multiscale"
    cfg.model.spiking.dale, cfg.model.spiking.excitatory_fraction, cfg.model.spiking.noise_std = True, 0.75, 0.2
    torch.manual_seed(0)
    model = build_model(cfg)
    x = torch.randint(0, 2, (2, 6), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    recording = model.record(x, config=cfg, ticks=1, repeats=2)
    try:
        _one_step_functions()[name](recording)
    except ValueError as err:
        assert "\n" not in str(err) and str(err)
