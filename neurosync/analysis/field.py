"""Field potentials of a Dale SpikingCTM, and the parameterisation of their spectra.

Under Dale's law a recording keeps, per simulation step and neuron, the shares of the soma
current that come from excitatory and from inhibitory presynaptic spikes, through the neuron's
own dendritic filters (``current_excitatory`` I_E and ``current_inhibitory`` I_I,
:mod:`neurosync.recording`). The local field potential of cortex is dominated by the synaptic
currents onto pyramidal cells (Buzsáki, Anastassiou & Koch 2012), so both proxies here sum over the
excitatory neurons, one value per simulation step:

- ``"rws"``, the reference weighted sum of Mazzoni et al. 2015 (PLoS Comput Biol 11:e1004584),
  their best single proxy of the LFP that a morphological pyramidal population generates::

      LFP(t) = Σ_E |I_E(t − 6 ms)| − 1.65 · Σ_E |I_I(t)|

  with I_E in the role of their AMPA and I_I of their GABA current. The delay is rounded to whole
  simulation steps (:func:`rws_delay_steps`); before it has passed, the delayed term holds the
  first recorded value.
- ``"sum"``: ``Σ_E |I_E(t)| + |I_I(t)|``, the sum of absolute synaptic currents (Mazzoni et al. 2008).

Left out of both: the attention drive (the CTM's afferent input, which comes from no neuron of the
network and so has no population and no sign under Dale's law) and the bias. Units are the
model's membrane units (the currents' own); there is no conversion to volts. A RateCTM has no
synaptic currents and so no field potential.

Spectra are Welch spectra per thought (as :func:`~neurosync.analysis.power_spectrum`), averaged
over the recorded thoughts. They are parameterised with FOOOF 1.1 (Donoghue et al. 2020; its
successor specparam 2.0 is published only as a release candidate): an aperiodic component,
``fixed`` (log10 P = b − χ log10 f) or ``knee`` (log10 P = b − log10(k + f^χ), knee frequency
k^(1/χ)), plus Gaussian peaks. The default range runs from 1 Hz to the lowest of 100 Hz, a fifth
of the step's Nyquist frequency and half the tick rate: the synapses compute their input once per
tick and hold it over the tick's simulation steps, so above half the tick rate the spectrum shows
that hold (a sinc² envelope, zero at every multiple of the tick rate) rather than the network.
:func:`hold_reference` gives the spectrum that the filters and the hold alone make of a white
(Poisson) drive, to read a measured exponent against.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .physiology import spectral_summary
from .spectra import BANDS, aperiodic_fit, power_spectrum

RWS_DELAY_S = 6e-3  # Mazzoni et al. 2015: the AMPA term leads the field by 6 ms
RWS_INHIBITION = 1.65  # ... and the GABA term weighs 1.65 times as much
PROXIES = {
    "rws": "reference weighted sum Σ_E |I_E(t − 6 ms)| − 1.65 Σ_E |I_I(t)| (Mazzoni et al. 2015)",
    "sum": "sum of absolute synaptic currents Σ_E |I_E(t)| + |I_I(t)| (Mazzoni et al. 2008)",
}
GAMMA_SLOPE_HZ = (30.0, 50.0)  # Gao, Peterson & Voytek 2017: the 30–50 Hz exponent tracks E:I


def _require_currents(recording) -> None:
    if recording.kind != "spiking":
        raise ValueError("a RateCTM has no synaptic currents, so no field potential: record a SpikingCTM")
    if recording.current_excitatory is None or recording.current_inhibitory is None:
        raise ValueError(
            "the field potential needs the recorded excitatory and inhibitory currents: a SpikingCTM with "
            "Dale's law (model.spiking.dale = true), recorded without a lean save"
        )


def rws_delay_steps(step_duration: float) -> int:
    """The reference weighted sum's 6-ms delay in whole simulation steps of ``step_duration`` s."""
    return int(round(RWS_DELAY_S / step_duration))


def field_potential(recording, proxy: str = "rws", sample: int | None = None) -> np.ndarray:
    """The field-potential proxy (module docstring) per simulation step: (samples, steps), or
    (steps,) for one ``sample``. ``proxy`` is "rws" or "sum"."""
    if proxy not in PROXIES:
        raise ValueError(f"proxy must be one of {', '.join(PROXIES)}, got {proxy!r}")
    _require_currents(recording)
    pyramidal = recording.cell_types() == "excitatory"
    chosen = slice(None) if sample is None else slice(sample, sample + 1)
    excitatory = np.abs(recording.current_excitatory[chosen][..., pyramidal].astype(float)).sum(-1)
    inhibitory = np.abs(recording.current_inhibitory[chosen][..., pyramidal].astype(float)).sum(-1)
    if proxy == "sum":
        field = excitatory + inhibitory
    else:
        delay = min(rws_delay_steps(recording.step_duration), excitatory.shape[1])
        held = np.repeat(excitatory[:, :1], delay, axis=1)
        delayed = np.concatenate([held, excitatory[:, : excitatory.shape[1] - delay]], axis=1)
        field = delayed - RWS_INHIBITION * inhibitory
    return field if sample is None else field[0]


def default_range(recording) -> tuple[float, float]:
    """1 Hz to min(100 Hz, Nyquist / 5, tick rate / 2) (module docstring)."""
    nyquist = 0.5 / recording.step_duration
    return 1.0, float(min(100.0, nyquist / 5, 0.5 / recording.dt))


def field_spectrum(recording, proxy: str = "rws", nperseg: int | None = None) -> dict:
    """Welch spectrum of the proxy per thought, averaged over the thoughts: frequencies (Hz),
    power ((membrane units)²/Hz), the resolution and how it was computed."""
    fs = 1.0 / recording.step_duration
    fields = field_potential(recording, proxy)
    spectra = [power_spectrum(signal, fs, nperseg) for signal in fields]
    frequencies = spectra[0][0]
    return {
        "proxy": proxy,
        "definition": PROXIES[proxy],
        "frequencies_hz": frequencies,
        "power": np.mean([p for _, p in spectra], axis=0),
        "resolution_hz": float(frequencies[1] - frequencies[0]),
        "sampling_rate_hz": fs,
        "trials": len(spectra),
        "units": "(membrane units)²/Hz",
    }


def band_of(frequency: float) -> str:
    """The canonical band (:data:`~neurosync.analysis.spectra.BANDS`) a frequency lies in, or
    "high gamma" above it."""
    for name, (low, high) in BANDS.items():
        if low <= frequency < high:
            return name
    return "high gamma" if frequency >= 100.0 else "infra-slow"


def parameterise(
    frequencies: np.ndarray,
    power: np.ndarray,
    freq_range: tuple[float, float],
    aperiodic_mode: str = "fixed",
    max_peaks: int = 4,
) -> dict:
    """FOOOF's parameterisation of a spectrum over ``freq_range`` (module docstring): offset,
    exponent, knee and knee frequency (``knee`` mode; NaN in ``fixed``), peaks as (centre Hz,
    power over the aperiodic, bandwidth Hz, band), r², and a verdict: "aperiodic" only for a
    positive exponent with r² ≥ 0.9, else why there is no fit."""
    fit = aperiodic_fit(frequencies, power, freq_range, max_peaks=max_peaks, aperiodic_mode=aperiodic_mode)
    fit["peaks"] = [(*peak, band_of(peak[0])) for peak in fit["peaks"]]
    return fit


def field_summary(recording, proxy: str = "rws", freq_range: tuple[float, float] | None = None) -> dict:
    """The proxy's spectrum, its parameterisation over ``freq_range`` (default
    :func:`default_range`) in fixed and knee mode, the 30–50 Hz exponent (Gao et al. 2017), and
    the step-artefact ratio and highest line of the physiology card's spectral checks."""
    spectrum = field_spectrum(recording, proxy)
    frequencies, power = spectrum["frequencies_hz"], spectrum["power"]
    span = default_range(recording) if freq_range is None else freq_range
    checks = spectral_summary(frequencies, power, (span[0], span[1]), averages=spectrum["trials"])
    fits = {}
    for mode in ("fixed", "knee"):
        try:
            fits[mode] = parameterise(frequencies, power, span, mode)
        except ValueError as err:
            fits[mode] = {"verdict": f"no aperiodic fit ({err})", "range_hz": list(span)}
    try:
        gamma = aperiodic_fit(frequencies, power, GAMMA_SLOPE_HZ, max_peaks=0)
    except ValueError as err:
        gamma = {"verdict": f"no aperiodic fit ({err})", "range_hz": list(GAMMA_SLOPE_HZ)}
    return {
        **spectrum,
        "range_hz": list(span),
        "fixed": fits["fixed"],
        "knee": fits["knee"],
        "gamma_slope": gamma,
        "nyquist_to_gamma_power": checks["nyquist_to_gamma_power"],
        "highest_peak_hz": checks["highest_peak_hz"],
        "tick_rate_hz": 1.0 / recording.dt,
    }


def fit_json(fit: dict) -> dict:
    """A parameterisation's JSON-ready fields (no arrays): exponent, knee frequency, offset, r²,
    range, peaks and verdict, those it has."""
    keys = ("exponent", "knee_hz", "offset", "r_squared", "range_hz", "peaks", "verdict")
    return {k: fit[k] for k in keys if k in fit}


def summary_json(summary: dict) -> dict:
    """A :func:`field_summary` without its spectrum arrays, ready for a JSON file."""
    return {
        "definition": summary["definition"],
        "range_hz": summary["range_hz"],
        "resolution_hz": summary["resolution_hz"],
        "fixed": fit_json(summary["fixed"]),
        "knee": fit_json(summary["knee"]),
        "exponent_30_50_hz": fit_json(summary["gamma_slope"]),
        "nyquist_to_gamma_power": summary["nyquist_to_gamma_power"],
        "highest_peak_hz": summary["highest_peak_hz"],
    }


def hold_reference(filter_tau_ms, filter_weight, step_ms: float, substeps: int, frequencies) -> np.ndarray:
    """The spectrum (normalised to 1 at the lowest frequency) that a white drive (Poisson spike
    counts, independent from tick to tick) makes after the tick's hold over ``substeps`` steps of
    ``step_ms`` and each neuron's dendritic filters (``filter_tau_ms``, ``filter_weight``: (N, K);
    f_k[t] = α_k f_k[t−1] + (1 − α_k) a, α_k = e^(−step/τ_k)), averaged over the neurons::

        P(f) ∝ mean_n |Σ_k w_nk (1 − α_nk) / (1 − α_nk e^(−iω))|² · |sin(πfM·step) / (M sin(πf·step))|²

    with ω = 2πf·step and M = ``substeps``. Its exponent is what the synaptic kinetics alone give."""
    tau, weight = np.atleast_2d(np.asarray(filter_tau_ms, float)), np.atleast_2d(np.asarray(filter_weight, float))
    if tau.shape != weight.shape:
        raise ValueError(f"filter_tau_ms and filter_weight must have one shape, got {tau.shape} and {weight.shape}")
    f = np.asarray(frequencies, float)
    step = step_ms * 1e-3
    alpha = np.exp(-step_ms / tau)[None]  # (1, N, K)
    z = np.exp(-2j * np.pi * f * step)[:, None, None]
    transfer = (weight[None] * (1 - alpha) / (1 - alpha * z)).sum(-1)  # (F, N)
    with np.errstate(invalid="ignore", divide="ignore"):
        hold = np.sin(np.pi * f * substeps * step) / (substeps * np.sin(np.pi * f * step))
    hold = np.where(f == 0, 1.0, hold)
    power = (np.abs(transfer) ** 2).mean(1) * hold**2
    return power / power[0]


def model_hold_reference(model, frequencies, excitatory_only: bool = True) -> np.ndarray:
    """:func:`hold_reference` with a SpikingCTM's own filters (its excitatory neurons' under
    Dale's law, the ones the proxies sum over)."""
    import torch

    neuron = model.neuron
    with torch.no_grad():
        tau = neuron.filter_tau().double().cpu().numpy()
        weight = neuron.filter_weight.double().cpu().numpy()
    sign = getattr(model.synapse, "presynaptic_sign", None)  # +1 for the excitatory neurons under Dale's law
    if excitatory_only and sign is not None:
        chosen = (sign > 0).cpu().numpy()
        tau, weight = tau[chosen], weight[chosen]
    return hold_reference(tau, weight, neuron.dt_ms, neuron.substeps, frequencies)


HOLD_REFERENCE = "a white (Poisson) drive through the tick's hold and the excitatory neurons' own filters"


def model_reference(model, summary: dict) -> dict | None:
    """:func:`model_hold_reference` at a :func:`field_summary`'s frequencies (``power``) and its
    fixed-mode fit over the summary's range (``fit``); None when that range holds too few bins."""
    frequencies = summary["frequencies_hz"]
    power = model_hold_reference(model, frequencies)
    try:
        fit = parameterise(frequencies, power, tuple(summary["range_hz"]), "fixed", max_peaks=0)
    except ValueError:  # a thought too short for bins in the range: no fit to compare either
        return None
    return {"power": power, "fit": fit}


@contextmanager
def inhibition_scaled(model, factor: float):
    """Within the block, every inhibitory synaptic weight of a Dale SpikingCTM (slow and plastic,
    onto every neuron) is ``factor`` times its trained value: the E:I test of Gao et al. 2017.
    The trained weights are restored on leaving, also after an error."""
    synapse = model.synapse
    sign = getattr(synapse, "presynaptic_sign", None)
    if not getattr(synapse, "dale", False) or sign is None:
        raise ValueError("scaling inhibition needs a SpikingCTM with Dale's law (model.spiking.dale = true)")
    if not (np.isfinite(factor) and factor > 0):
        raise ValueError(f"the inhibition scale must be a positive number, got {factor}")
    original = sign.clone()
    try:
        sign.copy_(original.where(original > 0, original * factor))
        yield model
    finally:
        sign.copy_(original)


EI_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0)  # the inhibitory weights' factors of the E:I test


def _fit_row(fit: dict) -> dict:
    return {
        "exponent": fit.get("exponent", float("nan")),
        "r_squared": fit.get("r_squared", float("nan")),
        "verdict": fit.get("verdict", "no aperiodic fit"),
    }


def trend(values) -> str:
    """ "rises", "falls" (strictly, in the order given) or "not monotonic"; "undefined" with a NaN."""
    values = np.asarray(values, float)
    if not np.isfinite(values).all():
        return "undefined"
    steps = np.diff(values)
    return "rises" if (steps > 0).all() else "falls" if (steps < 0).all() else "not monotonic"


def _trend(rows: list[dict], proxy: str, span: str) -> str:
    """:func:`trend` of one exponent over the scales, or why it is undefined: an exponent whose
    fit a power law does not describe (verdict other than "aperiodic") has no trend to join."""
    unfit = [f"×{r['scale']:g}" for r in rows if r[proxy][span]["verdict"] != "aperiodic"]
    if unfit:
        return f"undefined (no aperiodic fit at {', '.join(unfit)})"
    return trend([r[proxy][span]["exponent"] for r in rows])


def ei_test(model, x, config=None, ticks: int | None = None, scales=EI_SCALES, noise_seed: int = 0) -> dict:
    """The E:I test of Gao, Peterson & Voytek 2017 on a Dale SpikingCTM: one thought per input of
    ``x`` (``ticks`` long, the same noise at every scale) with every inhibitory weight scaled by each
    of ``scales`` (:func:`inhibition_scaled`); per scale the populations' rates and the field
    potential's exponents: over 30–50 Hz (theirs) and, in fixed mode, over the default range, for
    both proxies. ``trend`` says how each exponent moves as inhibition grows (Gao et al.: it rises,
    the spectrum steepens), or why that is undefined."""
    from .spikes import firing_rates

    rows = []
    for scale in scales:
        with inhibition_scaled(model, scale):
            recording = model.record(x, config=config, ticks=ticks, noise_seed=noise_seed)
        rates, types = firing_rates(recording), recording.cell_types()
        row = {
            "scale": float(scale),
            "rate_excitatory_hz": float(rates[types == "excitatory"].mean()),
            "rate_inhibitory_hz": float(rates[types == "inhibitory"].mean()),
        }
        for proxy in PROXIES:
            summary = field_summary(recording, proxy)
            row[proxy] = {"range": _fit_row(summary["fixed"]), "30_50_hz": _fit_row(summary["gamma_slope"])}
            row["range_hz"] = summary["range_hz"]
        rows.append(row)
    trends = {proxy: {span: _trend(rows, proxy, span) for span in ("range", "30_50_hz")} for proxy in PROXIES}
    return {"scales": [float(s) for s in scales], "rows": rows, "trend": trends, "thoughts": int(x.shape[0])}


def ei_markdown(result: dict) -> str:
    """The E:I test as a Markdown table (one row per scale) and its trends in words."""
    low, high = result["rows"][0]["range_hz"]
    lines = [
        f"| inhibition × | E rate (Hz) | I rate (Hz) | rws χ {low:g}–{high:g} Hz (r²) | rws χ 30–50 Hz (r²) "
        f"| sum χ {low:g}–{high:g} Hz (r²) | sum χ 30–50 Hz (r²) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        cells = [
            f"{row[proxy][span]['exponent']:.2f} ({row[proxy][span]['r_squared']:.2f})"
            for proxy in ("rws", "sum")
            for span in ("range", "30_50_hz")
        ]
        rates = f"{row['rate_excitatory_hz']:.1f} | {row['rate_inhibitory_hz']:.1f}"
        lines.append(f"| {row['scale']:g} | {rates} | " + " | ".join(cells) + " |")
    words = {"rises": "steepens", "falls": "flattens", "not monotonic": "moves non-monotonically"}
    said = [
        f"{proxy} over {'30–50 Hz' if span == '30_50_hz' else f'{low:g}–{high:g} Hz'}: "
        f"{words.get(result['trend'][proxy][span], result['trend'][proxy][span])}"
        for proxy in ("rws", "sum")
        for span in ("range", "30_50_hz")
    ]
    return "\n".join(lines) + "\n\nAs inhibition grows, the field's spectrum " + "; ".join(said) + ".\n"


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|")  # a Markdown table cell: |I| is not a column


def report_markdown(results: dict, figures: str = "") -> str:
    """``experiments/results/field-potential.json`` as a Markdown page: per model the proxies'
    parameterised spectra beside the hold reference, then the E:I test. ``figures`` is the path
    prefix of the figures' files (the page's folder by default)."""
    lines = [
        "# Field potentials of the cortical models",
        "",
        f"From `experiments/results/field-potential.json`, written by `{results['command']}`. The proxies and "
        "the fit range are defined in `neurosync.analysis.field`; every exponent is FOOOF's, with r² beside it.",
    ]

    def cell(fit: dict, knee: bool = False) -> str:
        if "exponent" not in fit:
            return fit.get("verdict", "no fit")
        text = f"{fit['exponent']:.2f} (r² {fit['r_squared']:.2f})"
        return text + (f", knee {fit['knee_hz']:.1f} Hz" if knee and fit.get("knee_hz") is not None else "")

    for model in results["models"]:
        low, high = model["proxies"]["rws"]["range_hz"]
        lines += [
            "",
            f"## `{model['model']}`",
            "",
            f"{model['thoughts']}; ticks of {model['tick_ms']:g} ms, simulation steps of {model['step_ms']:g} ms.",
            "",
            f"| signal | χ, fixed, {low:g}–{high:g} Hz | χ, knee mode | χ, 30–50 Hz | highest line (Hz) | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for proxy, value in model["proxies"].items():
            lines.append(
                f"| {proxy}: {_cell_text(value['definition'])} | {cell(value['fixed'])} | {cell(value['knee'], True)} "
                f"| {cell(value['exponent_30_50_hz'])} | {value['highest_peak_hz']:g} | {value['fixed']['verdict']} |"
            )
        reference = model["hold_reference"]
        lines.append(
            f"| reference: {_cell_text(reference['definition'])} | {cell(reference['fixed'])} | – "
            f"| {cell(reference['exponent_30_50_hz'])} | – | – |"
        )
        tick_rate = 1e3 / model["tick_ms"]
        if tick_rate / 2 < GAMMA_SLOPE_HZ[1]:
            lines += [
                "",
                f"Its synapses update once per {model['tick_ms']:g}-ms tick, so above {tick_rate / 2:g} Hz the "
                f"spectrum is the tick's hold (zero at {tick_rate:g} Hz and its multiples; the reference row shows "
                "it): the 30–50 Hz exponent measures that hold, not the network, and the lines above it are its "
                "side lobes.",
            ]
        lines += ["", f"![field spectra]({figures}{Path(model['figure']).name})", "", "### The E:I test", ""]
        lines.append(ei_markdown(model["ei_test"]))
    if results.get("ei_figure"):
        lines += ["", "## The E:I curve", "", f"![the E:I test]({figures}{Path(results['ei_figure']).name})"]
    return "\n".join(lines) + "\n"
