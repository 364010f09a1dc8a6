"""Spike-train statistics of a Recording: rates (Hz), CV(ISI), Fano factors, neuron orderings,
spike-count correlations and STTC (all pairs, vectorised). Undefined values are NaN."""

from __future__ import annotations

import numpy as np

from .synchrony import _pearson


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
    """Population firing rate per simulation step (spikes/s per neuron), (S,) float64. For a rate
    CTM the mean activation per tick instead (accumulated in float64 from the float32 record)."""
    if recording.kind != "spiking":
        return recording.activity[sample].mean(1, dtype=np.float64)
    return recording.spikes(sample).mean(1, dtype=np.float64) / float(recording.step_duration)


def neuron_order(recording, sample: int = 0, by: str = "rate") -> np.ndarray:
    """Neuron indices sorted by firing rate (descending), first spike time, cluster (the leaf
    order of average-linkage clustering on 1 − spike-count correlation, so that correlated
    neurons sit together), or index."""
    raster = recording.spikes(sample)
    if by == "cluster":
        from scipy.cluster.hierarchy import leaves_list, linkage
        from scipy.spatial.distance import squareform

        if raster.shape[1] < 2:
            return np.arange(raster.shape[1])
        distance = 1.0 - correlation_matrix(recording, sample)
        np.fill_diagonal(distance, 0.0)
        return leaves_list(linkage(squareform(np.clip(distance, 0.0, 2.0), checks=False), method="average"))
    if by == "rate":
        return np.argsort(-raster.sum(0), kind="stable")
    if by == "first_spike":
        first = np.where(raster.any(0), raster.argmax(0), raster.shape[0])  # silent neurons last
        return np.argsort(first, kind="stable")
    if by == "index":
        return np.arange(raster.shape[1])
    raise ValueError(f"sort by 'rate', 'first_spike', 'cluster' or 'index', got {by!r}")


def _binned(raster: np.ndarray, bin_steps: int) -> np.ndarray:
    """Spike counts per neuron in consecutive bins of `bin_steps` steps (a partial last bin is
    dropped), float64, (bins, N)."""
    bins = raster.shape[0] // bin_steps
    return raster[: bins * bin_steps].reshape(bins, bin_steps, raster.shape[1]).sum(1, dtype=np.float64)


def correlation_matrix(recording, sample: int = 0, bin_steps: int = 1) -> np.ndarray:
    """Pearson correlation of spike counts in bins of `bin_steps` simulation steps, (N, N).
    A neuron with constant counts (e.g. silent) correlates 0 with every other and 1 with itself."""
    raster = recording.spikes(sample)
    counts = _binned(raster, bin_steps)
    if counts.shape[0] < 2:
        raise ValueError(f"need at least 2 bins of {bin_steps} steps, the recording has {raster.shape[0]} steps")
    return _pearson(counts)


def isi_histogram(spike_times: list[np.ndarray], bins: int | np.ndarray = 50, max_interval: float | None = None):
    """Histogram of the inter-spike intervals of all given trains pooled: (counts, edges in s)."""
    intervals = np.concatenate([np.diff(np.sort(np.asarray(t, dtype=float))) for t in spike_times] or [np.zeros(0)])
    top = max_interval if max_interval is not None else (intervals.max() if intervals.size else 1.0)
    return np.histogram(intervals, bins=bins, range=None if np.ndim(bins) else (0.0, top if top > 0 else 1.0))


def sttc_matrix(spike_steps: list[np.ndarray], steps: int, window_steps: int) -> np.ndarray:
    """Spike time tiling coefficient (Cutts & Eglen 2014) of all pairs of spike trains on a grid,
    (N, N), NaN where either train is empty; equal to Elephant's ``spike_time_tiling_coefficient``
    with t_start 0, t_stop = steps and dt = window_steps (all in steps; a spike at distance
    exactly dt counts as tiled, as in Elephant).

    P_A (the fraction of A's spikes within ±dt of a B spike) is one matrix product of the rasters
    with the dilated rasters; T_A (the fraction of time within ±dt of an A spike) is one pass over
    the sorted spikes."""
    if window_steps < 1 or steps < 1:
        raise ValueError(
            f"STTC needs steps >= 1 and a window of at least one step, got {steps} steps, window {window_steps}"
        )
    n = len(spike_steps)
    raster = np.zeros((steps, n), dtype=np.float32)
    tiled_time = np.zeros(n)
    for i, train in enumerate(spike_steps):
        train = np.unique(np.asarray(train, dtype=np.int64))
        if train.size and (train[0] < 0 or train[-1] >= steps):
            raise ValueError(f"spike steps of train {i} lie outside [0, {steps})")
        raster[train, i] = 1.0
        if train.size:
            gaps = np.minimum(np.diff(train), 2 * window_steps).sum()
            tiled_time[i] = (gaps + min(train[0], window_steps) + min(steps - train[-1], window_steps)) / steps
    counts = raster.sum(0)
    cumulative = np.concatenate([np.zeros((1, n), np.float32), np.cumsum(raster, 0)])  # spikes within ±w of each step
    upper = np.minimum(np.arange(steps) + window_steps + 1, steps)
    lower = np.maximum(np.arange(steps) - window_steps, 0)
    dilated = (cumulative[upper] - cumulative[lower] > 0).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (raster.T @ dilated).astype(np.float64) / counts[:, None]  # p[a, b]: A's spikes tiled by B
        ta, tb = tiled_time[:, None], tiled_time[None, :]
        pa, pb = p, p.T
        left = np.where(pa * tb == 1, 1.0, (pa - tb) / (1 - pa * tb))
        right = np.where(pb * ta == 1, 1.0, (pb - ta) / (1 - pb * ta))
    result = 0.5 * left + 0.5 * right
    result[(counts[:, None] == 0) | (counts[None, :] == 0)] = np.nan
    return result


def recording_sttc(recording, sample: int = 0, window_s: float = 5e-3) -> np.ndarray:
    """STTC of all neuron pairs of one sample with a ±window_s window (rounded down to whole steps)."""
    if recording.kind != "spiking":
        raise ValueError("STTC needs a spiking recording")
    chosen = recording.spike_sample == sample
    steps, neurons = recording.spike_step[chosen], recording.spike_neuron[chosen]
    trains = [steps[neurons == n] for n in range(recording.neurons)]
    return sttc_matrix(trains, recording.steps, int(np.floor(window_s / recording.step_duration + 1e-9)))
