"""Figures of a Recording (returned, never shown): raster + population rate, spectrum, matrices."""

from __future__ import annotations

import numpy as np

from .spectra import BANDS
from .spikes import _binned, neuron_order


def raster_figure(recording, sample: int = 0, sort: str = "rate", bin_steps: int = 1):
    """Spike raster (neurons sorted by `sort`) above a PSTH in Hz; returns the matplotlib Figure."""
    plt = _pyplot()
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


def spectrum_figure(spectrum: dict, fit: dict | None = None, title: str = "population spectrum"):
    """Log-log Welch spectrum with the canonical bands shaded, the frequency resolution in the
    title and (optionally) the aperiodic fit; returns the matplotlib Figure."""
    plt = _pyplot()
    f, p = spectrum["frequencies_hz"], spectrum["power"]
    fig, ax = plt.subplots(figsize=(6, 4))
    positive = f > 0
    ax.loglog(f[positive], np.maximum(p[positive], 1e-30), color="k", lw=1.2, label="Welch PSD")
    if fit is not None:
        ax.loglog(fit["frequencies_hz"], 10 ** fit["fit_log10_power"], "r--", lw=1,
                  label=f"FOOOF: exponent {fit['exponent']:.2f}, {len(fit['peaks'])} peak(s)")
    for (name, (low, high)), colour in zip(BANDS.items(), ("C0", "C1", "C2", "C3", "C4")):
        if low < f.max():
            ax.axvspan(low, min(high, f.max()), color=colour, alpha=0.12, label=name)
    trials = spectrum.get("trials", 1)
    ax.set_title(f"{title}; resolution {spectrum['resolution_hz']:.3g} Hz"
                 + (f", {trials} trials averaged" if trials > 1 else ""), fontsize=9)
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


def _pyplot():
    """pyplot, leaving the backend to matplotlib (inline in notebooks; headless machines get
    Agg automatically; the CLI selects Agg itself)."""
    import matplotlib.pyplot as plt

    return plt

