"""Neuroscience-style statistics of a :class:`~neurosync.recording.Recording` (first part).

Functions take a Recording (or plain arrays) and return numpy values in physical units:
rates in Hz, times in seconds, spectra in (spikes/s)²/Hz over Hz. Undefined values (the CV of a
neuron with fewer than two intervals, the Fano factor of a neuron that never fires) are NaN by
definition, never an error. The frequency resolution of a spectrum is 1 / (duration of the
segment): 1 / (ticks · dt) for a single thought; concatenate thoughts or record long ones for
finer resolution.
"""

from __future__ import annotations

import numpy as np

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz

BANDS = {"delta": (1.0, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0), "gamma": (30.0, 100.0)}


def firing_rates(recording, sample: int | None = None) -> np.ndarray:
    """Mean firing rate of each neuron in Hz, over one sample or all of them (N,)."""
    if recording.kind != "spiking":
        raise ValueError("firing rates need a spiking recording; a rate CTM's activity is in recording.activity")
    chosen = np.ones_like(recording.spike_sample, dtype=bool) if sample is None else recording.spike_sample == sample
    samples = recording.samples if sample is None else 1
    counts = np.bincount(recording.spike_neuron[chosen], minlength=recording.neurons)
    return counts / (samples * recording.steps * recording.step_duration)


def isi_cv(spike_times: list[np.ndarray]) -> np.ndarray:
    """Coefficient of variation of the inter-spike intervals, per neuron (NaN with < 2 intervals)."""
    result = np.full(len(spike_times), np.nan)
    for n, times in enumerate(spike_times):
        intervals = np.diff(np.sort(np.asarray(times, dtype=float)))
        if intervals.size >= 2 and intervals.mean() > 0:
            result[n] = intervals.std() / intervals.mean()
    return result


def fano_factor(counts: np.ndarray) -> np.ndarray:
    """Variance / mean of spike counts over trials (axis 0), per neuron (NaN where the mean is 0)."""
    counts = np.asarray(counts, dtype=float)
    mean = counts.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, counts.var(0) / np.where(mean > 0, mean, 1.0), np.nan)


def population_rate(recording, sample: int = 0) -> np.ndarray:
    """Population firing rate per simulation step (spikes/s per neuron), (S,). For a rate CTM
    the mean activation per tick instead."""
    if recording.kind != "spiking":
        return recording.activity[sample].mean(1)
    return recording.spikes(sample).mean(1) / recording.step_duration


def power_spectrum(signal: np.ndarray, sampling_rate: float, nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of a 1-D signal (mean removed, Hann window, 50% overlap);
    returns (frequencies in Hz, power). nperseg defaults to the whole signal up to 256 samples."""
    from scipy.signal import welch

    signal = np.asarray(signal, dtype=float)
    if signal.size < 2:
        raise ValueError(f"a spectrum needs at least 2 samples, got {signal.size}")
    return welch(signal - signal.mean(), fs=sampling_rate, nperseg=min(nperseg or 256, signal.size))


def band_powers(frequencies: np.ndarray, power: np.ndarray, bands: dict[str, tuple[float, float]] = BANDS) -> dict[str, float]:
    """Power integrated over each band [low, high) Hz (trapezoid rule over the bins inside it;
    0 where the band holds fewer than two bins, NaN where it lies above the Nyquist frequency)."""
    result = {}
    for name, (low, high) in bands.items():
        inside = (frequencies >= low) & (frequencies < high)
        if low >= frequencies.max():
            result[name] = float("nan")
        elif inside.sum() < 2:
            result[name] = 0.0
        else:
            result[name] = float(_trapezoid(power[inside], frequencies[inside]))
    return result


def population_spectrum(recording, sample: int = 0, nperseg: int | None = None) -> dict:
    """Welch spectrum of the population rate of one sample, in physical units, with band powers
    and the frequency resolution."""
    rate = population_rate(recording, sample)
    sampling_rate = 1.0 / (recording.step_duration if recording.kind == "spiking" else recording.dt)
    frequencies, power = power_spectrum(rate, sampling_rate, nperseg)
    return {"frequencies_hz": frequencies, "power": power, "resolution_hz": float(frequencies[1] - frequencies[0]),
            "sampling_rate_hz": sampling_rate, "bands": band_powers(frequencies, power)}


def neuron_order(recording, sample: int = 0, by: str = "rate") -> np.ndarray:
    """Neuron indices sorted by firing rate (descending), first spike time, or index."""
    raster = recording.spikes(sample)
    if by == "rate":
        return np.argsort(-raster.sum(0), kind="stable")
    if by == "first_spike":
        first = np.where(raster.any(0), raster.argmax(0), raster.shape[0])  # silent neurons last
        return np.argsort(first, kind="stable")
    if by == "index":
        return np.arange(raster.shape[1])
    raise ValueError(f"sort by 'rate', 'first_spike' or 'index', got {by!r}")


def _binned(raster: np.ndarray, bin_steps: int) -> np.ndarray:
    """Spike counts per neuron in consecutive bins of `bin_steps` steps (a partial last bin is
    dropped), float64, (bins, N)."""
    bins = raster.shape[0] // bin_steps
    return raster[: bins * bin_steps].reshape(bins, bin_steps, -1).sum(1, dtype=np.float64)


def correlation_matrix(recording, sample: int = 0, bin_steps: int = 1) -> np.ndarray:
    """Pearson correlation of spike counts in bins of `bin_steps` simulation steps, (N, N).
    A neuron with constant counts (e.g. silent) correlates 0 with every other and 1 with itself."""
    raster = recording.spikes(sample)
    counts = _binned(raster, bin_steps)
    if counts.shape[0] < 2:
        raise ValueError(f"need at least 2 bins of {bin_steps} steps, the recording has {raster.shape[0]} steps")
    centred = counts - counts.mean(0)
    norm = np.sqrt((centred**2).sum(0))
    live = norm > 0
    result = np.zeros((counts.shape[1], counts.shape[1]))
    result[np.ix_(live, live)] = (centred[:, live].T @ centred[:, live]) / np.outer(norm[live], norm[live])
    np.fill_diagonal(result, 1.0)
    return result


def raster_figure(recording, sample: int = 0, sort: str = "rate", bin_steps: int = 1):
    """Spike raster (neurons sorted by `sort`) above a PSTH in Hz; returns the matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = neuron_order(recording, sample, sort)
    raster = recording.spikes(sample)[:, order]
    step = recording.step_duration
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    t, n = np.nonzero(raster)
    top.scatter(t * step * 1e3, n, marker="|", s=12, color="k")
    top.set_ylabel(f"neuron (sorted by {sort.replace('_', ' ')})")
    counts = _binned(raster, bin_steps).sum(1)
    bottom.step(np.arange(counts.size) * bin_steps * step * 1e3, counts / (raster.shape[1] * bin_steps * step), where="post")
    bottom.set_ylabel("PSTH (Hz)")
    bottom.set_xlabel(f"time (ms); tick = {recording.dt * 1e3:g} ms, step = {step * 1e3:g} ms")
    fig.tight_layout()
    return fig
