"""The physiology card: a recording's statistics next to the cortical ranges they are judged by.

:func:`physiology` measures one :class:`~neurosync.recording.Recording` (best: ≥ 16 inputs ×
≥ 4 noise repeats of ≥ 1-s thoughts, ``model.record(x, ticks=..., repeats=4)``) and returns a
card: one row per statistic with its value, unit, the cortical reference range, the source of
that range and whether the value lies inside it (None where the statistic is undefined for this
recording, e.g. a Fano factor without noise). Definitions:

- rates: spikes / thought duration per neuron and thought, averaged over thoughts; per
  population under Dale's law. Silent: < 0.1 Hz, saturated: > 100 Hz (over all thoughts).
- CV(ISI): per spike train (neuron × thought) with ≥ 5 spikes; the median over trains.
- Fano factor: from the variance (ddof = 1) and mean of each neuron's spike count across the
  repeats of one input, pooled over (input, neuron) as Σ variance / Σ mean (the variance-vs-mean
  slope that Churchland et al. 2010 regress, without their mean matching; unlike a median of
  per-neuron ratios it is unbiased for Poisson counts with few repeats). Its time course uses
  ``fano_window_s`` windows. Across different inputs it would measure the inputs,
  not the neuron, so it is never computed that way.
- pairwise correlation: Pearson r of spike counts in ``correlation_bin_s`` bins between
  neurons active in the thought, the mean over pairs, averaged over thoughts (signal and noise
  together: co-modulation by the thought itself counts).
- noise correlation (r_sc, the quantity Cohen & Kohn 2011 review): the same bins' counts minus
  their mean over the repeats of the input (the PSTH), correlated over repeats × bins per pair
  and input, the mean over pairs and inputs. Needs ≥ 2 repeats of a noisy model.
- E/I balance: per neuron and thought, Pearson r over the simulation steps between the
  excitatory and the (sign-flipped) inhibitory input current (the shares of the soma current
  from excitatory and from inhibitory presynaptic spikes, :mod:`neurosync.recording`), the mean
  over neurons and thoughts. Under Dale's law only.
- field potential: the reference weighted sum of Mazzoni et al. 2015 over the excitatory neurons
  (:mod:`neurosync.analysis.field`), its Welch spectrum parameterised by FOOOF in fixed mode over
  the field's default range (1 Hz to the lowest of 100 Hz, Nyquist / 5 and half the tick rate).
  The cortical 1/f^χ ranges are measured on field potentials, so this is the spectrum they
  describe; the spike-population fit stays on the card beside it.
- spectrum: the Welch spectrum of the population rate (spikes/s per neuron, per step; as
  :func:`~neurosync.analysis.population_spectrum`), averaged over thoughts, with a power-law fit
  log10 P = b − χ log10 f by least squares over ``fit_range_hz``
  (default 2 Hz to min(100 Hz, Nyquist / 5): well below the step's Nyquist frequency); χ is the
  aperiodic exponent, r² its goodness of fit. A step artefact shows as the mean power in the top
  tenth of the band below Nyquist exceeding the mean power over 20–80 Hz. A peak is a line that
  stands out of its neighbourhood: a local maximum (the Nyquist bin included) at ≥ 1 Hz with at
  least ``PEAK_FACTOR`` times the running median of the ``PEAK_WINDOW`` bins around it; the card's
  highest_peak_hz is the highest frequency of any peak (0 when there is none), so a narrow step
  artefact at the Nyquist frequency fails the "no peak ≥ 250 Hz" range even when the spectrum's
  largest power lies elsewhere, and the noise of a flat spectrum is no peak.
"""

from __future__ import annotations

import numpy as np

from .spectra import BANDS, population_spectrum
from .spikes import _binned, firing_rates, isi_cv

SILENT_HZ, SATURATED_HZ = 0.1, 100.0
PEAK_FACTOR, PEAK_WINDOW = 2.0, 21  # a peak: ≥ 2× the running median of the 21 bins around it

# statistic: (low, high, source); None is an open end
CORTICAL_RANGES = {
    "rate_excitatory_hz": (
        1.0,
        20.0,
        "Buzsáki & Mizuseki 2014 (log-normal rates, cortical pyramidal cells ~0.1–20 Hz); Roxin et al. 2011",
    ),
    "rate_inhibitory_hz": (None, 60.0, "fast-spiking interneurons ~5–50 Hz in vivo (Buzsáki & Mizuseki 2014)"),
    "rate_all_hz": (1.0, 20.0, "as excitatory cells, the ~80% majority (Buzsáki & Mizuseki 2014)"),
    "silent_fraction": (
        None,
        0.10,
        "our threshold; silent cells exist in cortex but a model's silent units carry nothing",
    ),
    "saturated_fraction": (None, 0.02, "sustained rates > 100 Hz are rare outside bursts (Buzsáki & Mizuseki 2014)"),
    "median_cv_isi": (0.7, 1.5, "Softky & Koch 1993; Shinomoto et al. 2009 (irregular cortical firing, CV ≈ 1)"),
    "fano_factor": (0.5, 1.5, "Churchland et al. 2010 (≈ 1–1.5 before, ≈ 0.8–1 after stimulus onset)"),
    "mean_pairwise_correlation": (
        -0.15,
        0.15,
        "our threshold; Cohen & Kohn 2011; Ecker et al. 2010 (spike-count r ≈ 0.01–0.2)",
    ),
    "noise_correlation": (
        -0.15,
        0.15,
        "Cohen & Kohn 2011 (r_sc across repeated trials ≈ 0.01–0.26); Ecker et al. 2010 (≈ 0.01)",
    ),
    "ei_balance": (
        0.3,
        None,
        "E and I inputs track each other (Okun & Lampl 2008; Graupner & Reyes 2013); 0.3 is our threshold",
    ),
    "aperiodic_exponent": (1.0, 3.0, "Gao et al. 2017; Donoghue et al. 2020 (LFP/ECoG 1/f^χ, χ ≈ 1–3)"),
    "aperiodic_r2": (0.9, None, "a power law must describe the spectrum for its exponent to mean anything"),
    "lfp_aperiodic_exponent": (1.0, 3.0, "Gao et al. 2017; Donoghue et al. 2020 (LFP/ECoG 1/f^χ, χ ≈ 1–3)"),
    "lfp_aperiodic_r2": (0.9, None, "a power law must describe the spectrum for its exponent to mean anything"),
    "nyquist_to_gamma_power": (None, 1.0, "no step artefact: power near Nyquist ≤ power at 20–80 Hz"),
    "highest_peak_hz": (None, 250.0, "no peak ≥ 250 Hz: cortical rhythms lie below ~150 Hz (Buzsáki & Draguhn 2004)"),
}


def _repeat_counts(recording, width: int) -> np.ndarray:
    """Spike counts (inputs, repeats, bins, neurons) in bins of ``width`` simulation steps."""
    bins = recording.steps // width
    counts = np.zeros((int(recording.sample_input.max()) + 1, recording.repeats, bins, recording.neurons))
    for sample in range(recording.samples):
        counts[recording.sample_input[sample], recording.sample_repeat[sample]] = _binned(
            recording.spikes(sample), width
        )[:bins]
    return counts


def fano_factors(recording, window_s: float | None = None) -> dict:
    """Across-repeat Fano factor of the spike count in the whole thought (``value``: the pooled
    Σ variance / Σ mean over (input, neuron), module docstring) and, with ``window_s``, its time
    course (``times_s`` the window centres). NaN when the recording has fewer than 2 repeats."""
    repeats = recording.repeats
    steps = recording.steps
    width = steps if window_s is None else max(int(round(window_s / recording.step_duration)), 1)
    windows = steps // width
    if repeats < 2 or windows == 0:
        return {"value": float("nan"), "times_s": np.zeros(0), "course": np.zeros(0), "repeats": repeats}
    counts = _repeat_counts(recording, width)
    mean, variance = counts.mean(1), counts.var(1, ddof=1)  # (inputs, windows, neurons)

    def pooled(var, avg):
        total = avg.sum()
        return float(var.sum() / total) if total > 0 else float("nan")

    course = np.array([pooled(variance[:, w], mean[:, w]) for w in range(windows)])
    whole = counts.sum(2)
    value = pooled(whole.var(1, ddof=1), whole.mean(1))
    times = (np.arange(windows) + 0.5) * width * recording.step_duration
    return {"value": value, "times_s": times, "course": course, "repeats": repeats}


def mean_pairwise_correlation(recording, bin_s: float = 0.05) -> float:
    """Mean Pearson r of spike counts in ``bin_s`` bins over pairs of neurons active in the
    thought, averaged over thoughts (NaN when no thought has 2 active neurons and 3 bins)."""
    width = max(int(round(bin_s / recording.step_duration)), 1)
    values = []
    for sample in range(recording.samples):
        counts = _binned(recording.spikes(sample), width)
        if counts.shape[0] < 3:  # a thought shorter than three bins has no correlation over time
            continue
        active = counts.std(0) > 0
        if active.sum() >= 2:
            r = np.corrcoef(counts[:, active].T)
            values.append(r[np.triu_indices(int(active.sum()), 1)].mean())
    return float(np.mean(values)) if values else float("nan")


def noise_correlation(recording, bin_s: float = 0.05) -> float:
    """Mean spike-count noise correlation r_sc (module docstring): counts in ``bin_s`` bins minus
    their mean over the repeats of the same input, Pearson r over repeats × bins per pair, the
    mean over pairs and inputs. NaN with fewer than 2 repeats."""
    width = max(int(round(bin_s / recording.step_duration)), 1)
    if recording.repeats < 2 or recording.steps < width:
        return float("nan")
    counts = _repeat_counts(recording, width)
    residual = counts - counts.mean(1, keepdims=True)
    values = []
    for per_input in residual:  # (repeats, bins, neurons)
        flat = per_input.reshape(-1, per_input.shape[-1])
        varying = flat.std(0) > 0
        if varying.sum() >= 2:
            r = np.corrcoef(flat[:, varying].T)
            values.append(r[np.triu_indices(int(varying.sum()), 1)].mean())
    return float(np.mean(values)) if values else float("nan")


def ei_balance(recording) -> dict:
    """Correlation of each neuron's excitatory and inhibitory input currents over the steps of a
    thought (module docstring): ``value`` the mean, ``per_neuron`` (N,) the mean over thoughts
    (NaN where a current never varies). NaN without recorded currents (no Dale's law)."""
    if recording.current_excitatory is None:
        return {"value": float("nan"), "per_neuron": np.full(recording.neurons, np.nan)}
    e, i = recording.current_excitatory.astype(float), -recording.current_inhibitory.astype(float)  # (B, S, N)
    e, i = e - e.mean(1, keepdims=True), i - i.mean(1, keepdims=True)
    scale = np.sqrt((e * e).sum(1) * (i * i).sum(1))  # (B, N)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(scale > 0, (e * i).sum(1) / np.where(scale > 0, scale, 1.0), np.nan)
    per_neuron = np.full(recording.neurons, np.nan)
    defined = np.isfinite(r).any(0)
    per_neuron[defined] = np.nanmean(r[:, defined], axis=0)
    return {"value": float(np.nanmean(per_neuron)) if defined.any() else float("nan"), "per_neuron": per_neuron}


def power_law_fit(frequencies: np.ndarray, power: np.ndarray, fit_range_hz: tuple[float, float]) -> dict:
    """log10 P = offset − exponent · log10 f by least squares over ``fit_range_hz``; r² of the fit."""
    band = (frequencies >= fit_range_hz[0]) & (frequencies <= fit_range_hz[1]) & (power > 0)
    if band.sum() < 3:
        return {
            "exponent": float("nan"),
            "offset": float("nan"),
            "r2": float("nan"),
            "range_hz": list(fit_range_hz),
            "bins": int(band.sum()),
        }
    x, y = np.log10(frequencies[band]), np.log10(power[band])
    slope, offset = np.polyfit(x, y, 1)
    residual = y - (offset + slope * x)
    r2 = 1 - residual.var() / y.var() if y.var() > 0 else float("nan")
    return {
        "exponent": float(-slope),
        "offset": float(offset),
        "r2": float(r2),
        "range_hz": list(fit_range_hz),
        "bins": int(band.sum()),
    }


def peak_threshold(bins: int, averages: int, false_peaks: float = 0.05) -> float:
    """The factor over the local median that a line needs: PEAK_FACTOR, or more where the
    spectrum averages few periodograms, so that a flat spectrum shows a peak in any of its
    ``bins`` with probability ``false_peaks`` (each bin of an average of K periodograms ~ χ²₂ₖ / 2K)."""
    from scipy.stats import chi2

    dof = 2 * max(int(averages), 1)
    return max(PEAK_FACTOR, float(chi2.ppf(1 - false_peaks / max(bins, 1), dof) / chi2.median(dof)))


def spectral_peaks(
    frequencies: np.ndarray, power: np.ndarray, factor: float = PEAK_FACTOR
) -> list[tuple[float, float]]:
    """(frequency Hz, power / local median) of every line in a spectrum: a local maximum at
    ≥ 1 Hz, the last (Nyquist) bin included, with ≥ ``factor`` × the running median of the
    PEAK_WINDOW bins around it (reflected at the ends; module docstring). For a spectrum that
    averages few periodograms, pass :func:`peak_threshold`."""
    from scipy.ndimage import median_filter

    if len(power) < 3:
        return []
    background = median_filter(power, size=PEAK_WINDOW, mode="reflect")
    padded = np.concatenate([[-np.inf], power, [-np.inf]])
    local_max = (power > padded[:-2]) & (power >= padded[2:])
    lines = local_max & (frequencies >= 1.0) & (power >= factor * background) & (power > 0)
    with np.errstate(divide="ignore"):
        return [(float(frequencies[i]), float(power[i] / background[i])) for i in np.flatnonzero(lines)]


def spectral_summary(
    frequencies: np.ndarray, power: np.ndarray, fit_range_hz: tuple[float, float] | None = None, averages: int = 1 << 20
) -> dict:
    """The aperiodic fit, the step-artefact ratio and the peaks of a population spectrum;
    ``averages``: the periodograms averaged into ``power`` (trials × segments; the default,
    many, leaves the peak threshold at PEAK_FACTOR)."""
    nyquist = frequencies[-1]
    if fit_range_hz is None:
        fit_range_hz = (2.0, min(100.0, nyquist / 5))
    fit = power_law_fit(frequencies, power, fit_range_hz)
    top = frequencies >= 0.9 * nyquist
    gamma = (frequencies >= 20.0) & (frequencies <= 80.0)
    ratio = float(power[top].mean() / power[gamma].mean()) if gamma.any() and power[gamma].mean() > 0 else float("nan")
    factor = peak_threshold(len(power), averages)
    peaks = spectral_peaks(frequencies, power, factor)
    by_band = {}
    for name, (low, high) in BANDS.items():
        inside = [p for p in peaks if low <= p[0] < high]
        by_band[name] = max(inside, key=lambda p: p[1])[0] if inside else None
    highest = max((p[0] for p in peaks), default=0.0)
    return {
        "fit": fit,
        "nyquist_hz": float(nyquist),
        "nyquist_to_gamma_power": ratio,
        "peaks": peaks,
        "peak_factor": factor,
        "peak_by_band_hz": by_band,
        "highest_peak_hz": highest,
        "resolution_hz": float(frequencies[1] - frequencies[0]) if len(frequencies) > 1 else float("nan"),
    }


def poisson_cv_reference(counts: list[int], duration_s: float, seed: int = 0) -> float:
    """The median CV(ISI) that Poisson trains with these spike ``counts`` in a window of
    ``duration_s`` would show: given its count, a Poisson train's spike times are uniform in the
    window. A short window cuts the long intervals and the ≥ 5-spike selection keeps the fast
    trains, so the CV of an irregular train over a short thought lies below 1; this is the value
    to read a measured CV against (NaN without trains)."""
    if not counts:
        return float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for count in counts:
        intervals = np.diff(np.sort(rng.uniform(0.0, duration_s, count)))
        values.append(intervals.std() / intervals.mean())
    return float(np.median(values))


def _row(name: str, value, unit: str, note: str = "") -> dict:
    low, high, source = CORTICAL_RANGES[name]
    defined = value is not None and np.isfinite(value)
    inside = None if not defined else bool((low is None or value >= low) and (high is None or value <= high))
    shown = "–" if low is None else f"{low:g}"
    return {
        "statistic": name,
        "value": float(value) if defined else None,
        "unit": unit,
        "range": f"{shown} … {'–' if high is None else f'{high:g}'}",
        "in_range": inside,
        "source": source,
        "note": note,
    }


def physiology(
    recording,
    fit_range_hz: tuple[float, float] | None = None,
    correlation_bin_s: float = 0.05,
    fano_window_s: float = 0.1,
) -> dict:
    """The physiology card of a spiking recording (module docstring): ``rows`` (one per
    statistic, with range, source and in/out flag), ``fano_course`` and ``spectrum``."""
    if recording.kind != "spiking":
        raise ValueError("the physiology card needs a spiking recording (a RateCTM has no spikes)")
    mean_rates = firing_rates(recording)
    types = recording.cell_types()
    rows = []
    inputs = int(recording.sample_input.max()) + 1
    # rates, CV and Fano factor come from the same thoughts: every recorded one
    thoughts = f"all {recording.samples} thoughts ({inputs} inputs × {recording.repeats} repeats)"
    if (types == "excitatory").any():
        rows.append(_row("rate_excitatory_hz", mean_rates[types == "excitatory"].mean(), "Hz", f"over {thoughts}"))
        rows.append(_row("rate_inhibitory_hz", mean_rates[types == "inhibitory"].mean(), "Hz", f"over {thoughts}"))
    else:
        rows.append(_row("rate_all_hz", mean_rates.mean(), "Hz", f"over {thoughts}; no E/I populations (dale = false)"))
    rows.append(_row("silent_fraction", float((mean_rates < SILENT_HZ).mean()), "fraction of neurons"))
    rows.append(_row("saturated_fraction", float((mean_rates > SATURATED_HZ).mean()), "fraction of neurons"))
    cvs, counts = [], []
    for sample in range(recording.samples):
        trains = recording.spike_times(sample)
        cvs += [cv for train, cv in zip(trains, isi_cv(trains)) if len(train) >= 5]
        counts += [len(train) for train in trains if len(train) >= 5]
    duration = recording.steps * recording.step_duration
    reference = poisson_cv_reference(counts, duration)
    cv_row = _row(
        "median_cv_isi",
        float(np.median(cvs)) if cvs else float("nan"),
        "",
        f"{len(cvs)} trains with ≥ 5 spikes, over {thoughts}"
        + (
            f"; Poisson trains with the same counts in the same {duration * 1e3:g} ms: {reference:.2f}"
            if counts
            else ""
        ),
    )
    cv_row["poisson_reference"] = reference if counts else None
    rows.append(cv_row)
    fano = fano_factors(recording, fano_window_s)
    spiking = recording.spiking_config()  # no noise of either kind: every repeat is the same thought
    deterministic = spiking.get("noise_std", None) == 0 and not spiking.get("shared_noise_std", 0)
    if deterministic:
        fano["value"], fano["course"] = float("nan"), np.full_like(fano["course"], np.nan)
        note = "undefined (deterministic: the model has no intrinsic noise)"
    elif fano["repeats"] > 1:
        note = f"across the {fano['repeats']} repeats of each of the {inputs} inputs ({thoughts})"
    else:
        note = "undefined: one repeat per input (record with repeats >= 2)"
    rows.append(_row("fano_factor", fano["value"], "", note))
    bins = f"spike counts in {correlation_bin_s * 1e3:g} ms bins"
    rows.append(
        _row(
            "mean_pairwise_correlation",
            mean_pairwise_correlation(recording, correlation_bin_s),
            "",
            f"{bins}, over time within each thought (signal + noise)",
        )
    )
    rows.append(
        _row(
            "noise_correlation",
            float("nan") if deterministic else noise_correlation(recording, correlation_bin_s),
            "",
            "undefined (deterministic)"
            if deterministic
            else f"{bins}, across {recording.repeats} repeats of each input (PSTH removed)"
            if recording.repeats > 1
            else "undefined: one repeat per input (record with repeats >= 2)",
        )
    )
    balance = ei_balance(recording)
    lfp = None
    if recording.current_excitatory is not None:
        rows.append(
            _row(
                "ei_balance", balance["value"], "r", "excitatory vs inhibitory input current, per neuron over the steps"
            )
        )
        from .field import field_summary

        summary = field_summary(recording, "rws")
        fixed = summary["fixed"]
        low, high = summary["range_hz"]
        lfp_span = f"field potential (Mazzoni et al. 2015's weighted sum), FOOOF fixed mode over {low:g}–{high:g} Hz"
        exponent, r2 = fixed.get("exponent", float("nan")), fixed.get("r_squared", float("nan"))
        rows.append(_row("lfp_aperiodic_exponent", exponent, "", lfp_span))
        rows.append(_row("lfp_aperiodic_r2", r2, "", lfp_span))
        lfp = {
            "frequencies_hz": summary["frequencies_hz"],
            "power": summary["power"],
            "fit": {
                "exponent": exponent,
                "offset": fixed.get("offset", float("nan")),
                "r2": r2,
                "range_hz": [low, high],
            },
            "summary": summary,
        }
    population = population_spectrum(recording, sample=None)
    frequencies, power = population["frequencies_hz"], population["power"]
    spectrum = spectral_summary(frequencies, power, fit_range_hz, population["averages"])
    fit = spectrum["fit"]
    span = f"power law over {fit['range_hz'][0]:g}–{fit['range_hz'][1]:g} Hz ({fit['bins']} bins)"
    rows.append(_row("aperiodic_exponent", fit["exponent"], "", span))
    rows.append(_row("aperiodic_r2", fit["r2"], "", span))
    rows.append(
        _row(
            "nyquist_to_gamma_power",
            spectrum["nyquist_to_gamma_power"],
            "ratio",
            f"top tenth below Nyquist ({spectrum['nyquist_hz']:g} Hz) vs 20–80 Hz",
        )
    )
    rows.append(
        _row(
            "highest_peak_hz",
            spectrum["highest_peak_hz"],
            "Hz",
            f"the highest-frequency line ≥ {spectrum['peak_factor']:.2g}× the running median of {PEAK_WINDOW} bins "
            f"({len(spectrum['peaks'])} line(s); 0: none)",
        )
    )
    duration = recording.steps * recording.step_duration
    return {
        "rows": rows,
        "fano_course": {"times_s": fano["times_s"].tolist(), "fano": fano["course"].tolist()},
        "spectrum": {**spectrum, "frequencies_hz": frequencies, "power": power},
        "lfp_spectrum": lfp,
        "rates_hz": mean_rates,
        "cell_types": types,
        "ei_per_neuron": balance["per_neuron"],
        "thoughts": recording.samples,
        "repeats": recording.repeats,
        "thought_s": duration,
        "in_range": sum(1 for r in rows if r["in_range"]),
        "defined": sum(1 for r in rows if r["in_range"] is not None),
    }


def card_text(card: dict) -> str:
    """The card as a Markdown table."""
    lines = [
        f"{card['thoughts']} thoughts ({card['repeats']} repeats per input) of {card['thought_s']:g} s; "
        f"{card['in_range']} of {card['defined']} defined statistics in the cortical range.",
        "",
        "| statistic | value | cortical range | in range | note | source |",
        "|---|---|---|---|---|---|",
    ]
    for r in card["rows"]:
        value = "undefined" if r["value"] is None else f"{r['value']:.3g} {r['unit']}".strip()
        flag = {True: "yes", False: "**no**", None: "–"}[r["in_range"]]
        lines.append(f"| {r['statistic']} | {value} | {r['range']} | {flag} | {r['note']} | {r['source']} |")
    return "\n".join(lines) + "\n"
