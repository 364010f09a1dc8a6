"""Spectra of a Recording's population signal: Welch spectra, canonical band powers, spectrograms,
coherence between neuron groups and the FOOOF aperiodic fit, with the resolution stated."""

from __future__ import annotations

import warnings

import numpy as np

from .spikes import population_rate
from .synchrony import _signal

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


BANDS = {"delta": (1.0, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0), "gamma": (30.0, 100.0)}


def power_spectrum(
    signal: np.ndarray, sampling_rate: float, nperseg: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of a 1-D signal (mean removed, Hann window, 50% overlap);
    returns (frequencies in Hz, power). nperseg defaults to the whole signal (up to 4,096
    samples), so the resolution is 1 / duration; average over trials to reduce the variance."""
    from scipy.signal import welch

    signal = np.asarray(signal, dtype=float)
    if signal.size < 2:
        raise ValueError(f"a spectrum needs at least 2 samples, got {signal.size}")
    return welch(signal - signal.mean(), fs=sampling_rate, nperseg=min(nperseg or 4096, signal.size))


def band_powers(
    frequencies: np.ndarray, power: np.ndarray, bands: dict[str, tuple[float, float]] = BANDS
) -> dict[str, float]:
    """Power integrated over each band [low, high) Hz (trapezoid rule over the bins inside it,
    so the integral's resolution is the spectrum's bin width). NaN where the band is not
    resolved: it holds fewer than two bins, or lies above the Nyquist frequency."""
    result = {}
    for name, (low, high) in bands.items():
        inside = (frequencies >= low) & (frequencies < high)
        if low >= frequencies.max() or inside.sum() < 2:
            result[name] = float("nan")
        else:
            result[name] = float(_trapezoid(power[inside], frequencies[inside]))
    return result


def sampling_rate(recording) -> float:
    """Samples per second of the recording's time series: simulation steps (spiking) or ticks (rate)."""
    return 1.0 / (recording.step_duration if recording.kind == "spiking" else recording.dt)


def population_spectrum(recording, sample: int | None = 0, nperseg: int | None = None) -> dict:
    """Welch spectrum of the population rate, in physical units, with band powers and the
    frequency resolution; of one sample, or (``sample=None``) averaged over every recorded thought."""
    fs = sampling_rate(recording)
    samples = range(recording.samples) if sample is None else [sample]
    signals = [population_rate(recording, s) for s in samples]
    spectra = [power_spectrum(signal, fs, nperseg) for signal in signals]
    frequencies, power = spectra[0][0], np.mean([p for _, p in spectra], axis=0)
    steps = signals[0].size
    segment = min(nperseg or 4096, steps)  # as power_spectrum; scipy's Welch steps by segment − segment // 2
    segments = 1 + (steps - segment) // (segment - segment // 2)
    method = (
        f"periodogram (one Hann-windowed segment of {segment} samples) per thought"
        if segments == 1
        else f"Welch average of {segments} Hann-windowed segments of {segment} samples (50% overlap) per thought"
    )
    return {
        "frequencies_hz": frequencies,
        "power": power,
        "resolution_hz": float(frequencies[1] - frequencies[0]),
        "method": f"{method}, averaged over {len(spectra)} thought{'s' if len(spectra) > 1 else ''}",
        "sampling_rate_hz": fs,
        "trials": len(spectra),
        "averages": len(spectra) * segments,
        "bands": band_powers(frequencies, power),
        "units": "(spikes/s)²/Hz per neuron" if recording.kind == "spiking" else "(activation)²/Hz",
    }


def spectrogram(recording, sample: int | None = 0, nperseg: int = 64, noverlap: int | None = None) -> dict:
    """Spectrogram of the population rate over the thought (scipy, Hann window); with
    ``sample=None`` averaged over every recorded thought. Returns frequencies (Hz), times (s,
    segment centres) and power (frequencies × times)."""
    from scipy.signal import spectrogram as scipy_spectrogram

    fs = sampling_rate(recording)
    samples = range(recording.samples) if sample is None else [sample]
    length = population_rate(recording, samples[0]).size
    if length < 2:
        raise ValueError(f"a spectrogram needs at least 2 time points, the recording has {length}")
    nperseg = min(nperseg, length)
    results = [
        scipy_spectrogram(population_rate(recording, s), fs=fs, nperseg=nperseg, noverlap=noverlap, detrend="constant")
        for s in samples
    ]
    return {
        "frequencies_hz": results[0][0],
        "times_s": results[0][1],
        "power": np.mean([r[2] for r in results], axis=0),
        "resolution_hz": fs / nperseg,
    }


def group_coherence(recording, group_a, group_b, sample: int | None = 0, nperseg: int | None = None) -> dict:
    """Magnitude-squared spectral coherence (Welch) between the population rates of two groups of
    neurons, e.g. the action and output synchrony neurons, or two clusters. ``sample=None``
    averages cross- and auto-spectra over every recorded thought before dividing."""
    from scipy.signal import csd

    group_a, group_b = np.asarray(group_a, dtype=int), np.asarray(group_b, dtype=int)
    if group_a.size == 0 or group_b.size == 0:
        raise ValueError("both neuron groups must be non-empty")
    if max(group_a.max(), group_b.max()) >= recording.neurons or min(group_a.min(), group_b.min()) < 0:
        raise ValueError(f"neuron indices must lie in [0, {recording.neurons})")
    if recording.steps < 2:
        raise ValueError(f"coherence needs at least 2 time points, the recording has {recording.steps}")
    fs = sampling_rate(recording)
    sums = None
    for s in range(recording.samples) if sample is None else [sample]:
        signal = _signal(recording, s)
        a, b = signal[:, group_a].mean(1), signal[:, group_b].mean(1)
        seg = min(nperseg or 256, a.size)
        parts = [csd(u, v, fs=fs, nperseg=seg)[1] for u, v in ((a, b), (a, a), (b, b))]
        sums = parts if sums is None else [x + y for x, y in zip(sums, parts)]
    frequencies = csd(a, b, fs=fs, nperseg=seg)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = sums[1].real * sums[2].real
        coherence = np.where(denominator > 0, np.abs(sums[0]) ** 2 / np.where(denominator > 0, denominator, 1.0), 0.0)
    return {
        "frequencies_hz": frequencies,
        "coherence": coherence,
        "resolution_hz": float(frequencies[1] - frequencies[0]),
    }


def aperiodic_fit(
    frequencies: np.ndarray,
    power: np.ndarray,
    freq_range: tuple[float, float] | None = None,
    max_peaks: int = 4,
    aperiodic_mode: str = "fixed",
) -> dict:
    """Fit the spectrum as an aperiodic 1/f component plus Gaussian peaks (FOOOF). The aperiodic
    component is ``fixed`` (log10 P = offset − exponent · log10 f) or ``knee``
    (log10 P = offset − log10(knee + f^exponent); its knee frequency is knee^(1/exponent) Hz).
    Returns offset, exponent, knee and knee_hz (NaN in fixed mode), peaks (centre Hz, power,
    bandwidth Hz), r² and error, the fitted range, the fitted model over the fitted frequencies,
    and a ``verdict``: "aperiodic" only for a positive exponent with r² ≥ APERIODIC_MIN_R2, else
    "no aperiodic fit (…)", so that a poor or inverted fit is not quoted as the exponent.

    The default range is 1 Hz to min(100 Hz, f_max / 5), with ``frequencies`` running to the
    Nyquist frequency f_max: well below it, where a discrete step's artefacts live. Needs the
    ``analysis`` extra (fooof)."""
    from .._optional import require

    fooof = require("fooof", "analysis")
    if aperiodic_mode not in ("fixed", "knee"):
        raise ValueError(f"aperiodic_mode must be 'fixed' or 'knee', got {aperiodic_mode!r}")
    frequencies, power = np.asarray(frequencies, float), np.asarray(power, float)
    low = max(1.0, frequencies[frequencies > 0].min()) if freq_range is None else freq_range[0]
    high = min(100.0, frequencies.max() / 5) if freq_range is None else freq_range[1]
    usable = (frequencies >= low) & (frequencies <= high) & (power > 0)
    if usable.sum() < 4:
        raise ValueError("an aperiodic fit needs at least 4 frequency bins with positive power in range")
    resolution = float(np.median(np.diff(frequencies)))
    model = fooof.FOOOF(
        peak_width_limits=(2 * resolution, max(4 * resolution, 12.0)),
        max_n_peaks=max_peaks,
        aperiodic_mode=aperiodic_mode,
        verbose=False,
    )
    with warnings.catch_warnings():  # a knee fit's optimiser warns on overflow while it searches
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(frequencies[usable], power[usable])
    if not model.has_model and aperiodic_mode == "knee":
        raise ValueError("FOOOF found no knee fit in range")
    if not model.has_model:  # FOOOF's optimiser gave up (e.g. on a rising spectrum): a plain log-log line
        x, y = np.log10(frequencies[usable]), np.log10(power[usable])
        slope, offset = np.polyfit(x, y, 1)
        fitted = offset + slope * x
        r_squared = (
            float(1 - np.sum((y - fitted) ** 2) / np.sum((y - y.mean()) ** 2)) if np.ptp(y) > 0 else float("nan")
        )
        return {
            "offset": float(offset),
            "exponent": float(-slope),
            "knee": float("nan"),
            "knee_hz": float("nan"),
            "peaks": [],
            "r_squared": r_squared,
            "error": float(np.mean(np.abs(y - fitted))),
            "range_hz": [float(low), float(high)],
            "verdict": aperiodic_verdict(float(-slope), r_squared),
            "method": "log-log least squares (FOOOF did not fit)",
            "frequencies_hz": frequencies[usable],
            "fit_log10_power": fitted,
        }
    params = model.aperiodic_params_
    exponent = float(params[-1])
    knee = float(params[1]) if aperiodic_mode == "knee" else float("nan")
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        knee_hz = float(knee ** (1 / exponent)) if knee > 0 and exponent > 0 else float("nan")
    return {
        "offset": float(params[0]),
        "exponent": exponent,
        "knee": knee,
        "knee_hz": knee_hz,
        "peaks": [tuple(float(v) for v in peak) for peak in np.atleast_2d(model.peak_params_) if peak.size],
        "r_squared": float(model.r_squared_),
        "error": float(model.error_),
        "range_hz": [float(low), float(high)],
        "verdict": aperiodic_verdict(exponent, float(model.r_squared_)),
        "method": f"FOOOF ({aperiodic_mode} aperiodic mode)",
        "frequencies_hz": model.freqs,
        "fit_log10_power": model.fooofed_spectrum_,
    }


APERIODIC_MIN_R2 = 0.9  # below this a power law does not describe the spectrum


def aperiodic_verdict(exponent: float, r_squared: float) -> str:
    """ "aperiodic" for a positive exponent that fits (r² ≥ APERIODIC_MIN_R2), else why not."""
    if not (np.isfinite(exponent) and np.isfinite(r_squared)):
        return "no aperiodic fit (undefined)"
    if exponent <= 0:
        return f"no aperiodic fit (exponent {exponent:.2f} ≤ 0: power rises with frequency)"
    if r_squared < APERIODIC_MIN_R2:
        return f"no aperiodic fit (r² {r_squared:.2f} < {APERIODIC_MIN_R2:g})"
    return "aperiodic"
