"""Figures of a Recording (returned, never shown): raster + population rate, spectrum, matrices."""

from __future__ import annotations

import numpy as np

from .spectra import BANDS
from .spikes import _binned, neuron_order


def raster_figure(recording, sample: int = 0, sort: str = "rate", bin_steps: int = 1):
    """Spike raster of thought ``sample`` (neurons sorted by `sort`) above its population rate in
    Hz, and, when the recording holds noise repeats of that thought's input, the PSTH: the rate
    averaged over those repeats (trials). Returns the matplotlib Figure."""
    plt = _pyplot()
    order = neuron_order(recording, sample, sort)
    raster = recording.spikes(sample)[:, order]
    step = recording.step_duration
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    t, n = np.nonzero(raster)
    top.scatter(
        t * step * 1e3, n, marker="|", s=12, color="k", rasterized=True
    )  # one image in SVG, not a path per spike
    top.set_ylabel(f"neuron (sorted by {sort.replace('_', ' ')})")
    curves = population_rate_curves(recording, sample, bin_steps)
    for label, rate in curves.items():
        bottom.step(np.arange(rate.size) * bin_steps * step * 1e3, rate, where="post", label=label)
    bottom.set_ylabel("rate (Hz)")
    bottom.legend(fontsize=7, loc="upper right")
    bottom.set_xlabel(f"time (ms); tick = {recording.dt * 1e3:g} ms, step = {step * 1e3:g} ms")
    fig.tight_layout()
    return fig


def population_rate_curves(recording, sample: int = 0, bin_steps: int = 1) -> dict[str, np.ndarray]:
    """Mean rate per neuron (Hz) in bins of ``bin_steps`` steps: "population rate, this thought"
    always; with repeats of the thought's input also "PSTH over R repeats", the same averaged
    over every thought that saw that input (a PSTH is a trial average, not one thought's curve)."""
    width = bin_steps * recording.step_duration

    def rate(index):
        return _binned(recording.spikes(index), bin_steps).sum(1) / (recording.neurons * width)

    curves = {"population rate, this thought": rate(sample)}
    if recording.repeats > 1 and recording.sample_input is not None:
        trials = np.flatnonzero(recording.sample_input == recording.sample_input[sample])
        curves[f"PSTH over {trials.size} repeats"] = np.mean([rate(int(i)) for i in trials], axis=0)
    return curves


def spectrum_figure(spectrum: dict, fit: dict | None = None, title: str = "population spectrum"):
    """Log-log Welch spectrum with the canonical bands shaded, the frequency resolution in the
    title and (optionally) the aperiodic fit; returns the matplotlib Figure."""
    plt = _pyplot()
    f, p = spectrum["frequencies_hz"], spectrum["power"]
    fig, ax = plt.subplots(figsize=(6, 4))
    positive = f > 0
    ax.loglog(f[positive], np.maximum(p[positive], 1e-30), color="k", lw=1.2, label="Welch PSD")
    if fit is not None:
        ax.loglog(
            fit["frequencies_hz"],
            10 ** fit["fit_log10_power"],
            "r--",
            lw=1,
            label=f"FOOOF: exponent {fit['exponent']:.2f}, {len(fit['peaks'])} peak(s)",
        )
    for (name, (low, high)), colour in zip(BANDS.items(), ("C0", "C1", "C2", "C3", "C4")):
        if low < f.max():
            ax.axvspan(low, min(high, f.max()), color=colour, alpha=0.12, label=name)
    trials = spectrum.get("trials", 1)
    ax.set_title(
        f"{title}; resolution {spectrum['resolution_hz']:.3g} Hz"
        + (f", {trials} trials averaged" if trials > 1 else ""),
        fontsize=9,
    )
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel(f"power, {spectrum.get('units', 'a.u.')}")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def matrix_figure(matrices: np.ndarray, labels: list[str], order: np.ndarray | None = None, vmin: float = -1.0):
    """Side-by-side heat maps of (K, N, N) matrices (e.g. synchrony per timescale), one colour scale."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.2 * len(matrices), 3.2), squeeze=False)
    for ax, matrix, label in zip(axes[0], matrices, labels):
        shown = matrix if order is None else matrix[np.ix_(order, order)]
        image = ax.imshow(np.nan_to_num(shown), vmin=vmin, vmax=1.0, cmap="RdBu_r", interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    return fig


def physiology_figure(card: dict):
    """The physiology card's figure: rates per population (log scale, the 1–20 Hz range shaded),
    the Fano factor over the thought, the spike-population and LFP-proxy spectra with their
    power-law fits over the fitted range, and the per-neuron E/I current correlations."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    ax = axes[0, 0]
    rates, types = np.asarray(card["rates_hz"]), np.asarray(card["cell_types"])
    edges = np.logspace(-2, np.log10(max(float(rates.max(initial=0.0)), 1.0) * 1.5), 30)
    for kind, colour in (("excitatory", "C3"), ("inhibitory", "C0"), ("unclassified", "k")):
        chosen = rates[types == kind]
        if chosen.size:
            ax.hist(np.maximum(chosen, 1e-2), bins=edges, color=colour, alpha=0.6, label=f"{kind} ({chosen.size})")
    ax.axvspan(1.0, 20.0, color="0.85", zorder=0, label="cortical E range")
    ax.set_xscale("log")
    ax.set(xlabel="mean rate (Hz; < 0.01 Hz shown at 0.01)", ylabel="neurons", title="firing rates")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    course = card["fano_course"]
    if course["times_s"] and np.isfinite(course["fano"]).any():
        ax.plot(np.asarray(course["times_s"]) * 1e3, course["fano"], "k.-")
        ax.axhspan(0.5, 1.5, color="0.85", zorder=0)
    else:
        ax.text(
            0.5,
            0.5,
            "Fano factor undefined\n(no noise, or one repeat per input)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set(
        xlabel="time in the thought (ms)", ylabel="Fano factor", title=f"Fano factor across {card['repeats']} repeats"
    )
    ax = axes[1, 0]
    for spectrum, label, colour in (
        (card["spectrum"], "spikes (population rate)", "k"),
        (card.get("lfp_spectrum"), "LFP proxy", "C2"),
    ):
        if spectrum is None:
            continue
        f, p = np.asarray(spectrum["frequencies_hz"]), np.asarray(spectrum["power"])
        keep = (f > 0) & (p > 0)
        scale = p[keep].max() if keep.any() else 1.0
        fit = spectrum["fit"]
        ax.loglog(
            f[keep], p[keep] / scale, color=colour, lw=1, label=f"{label}: χ {fit['exponent']:.2f}, r² {fit['r2']:.2f}"
        )
        if np.isfinite(fit["exponent"]):
            band = np.linspace(*fit["range_hz"], 50)
            ax.loglog(band, 10 ** (fit["offset"] - fit["exponent"] * np.log10(band)) / scale, "--", color=colour, lw=1)
    ax.axvline(card["spectrum"]["nyquist_hz"], color="r", lw=0.8, label="Nyquist")
    ax.set(xlabel="frequency (Hz)", ylabel="power (normalised)", title="spectra and power-law fits")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    ei = np.asarray(card.get("ei_per_neuron", []), dtype=float)
    if ei.size and np.isfinite(ei).any():
        ax.hist(ei[np.isfinite(ei)], bins=np.linspace(-1, 1, 41), color="C4")
        ax.axvline(np.nanmean(ei), color="k", lw=1, label=f"mean {np.nanmean(ei):.2f}")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no E/I populations (dale = false)", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="r (excitatory, inhibitory input current)", ylabel="neurons", title="E/I balance")
    fig.suptitle(
        f"physiology card: {card['in_range']} of {card['defined']} statistics in range "
        f"({card['thoughts']} thoughts of {card['thought_s']:g} s)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _pyplot():
    """pyplot, leaving the backend to matplotlib (inline in notebooks; headless machines get
    Agg automatically; the CLI selects Agg itself)."""
    import matplotlib.pyplot as plt

    return plt
