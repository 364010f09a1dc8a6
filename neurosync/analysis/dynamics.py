"""A thought read as population dynamics: when the answer becomes decodable, the trajectory of the
population state, and its dimensionality over the thought.

The population state of a tick is the recording's ``activity`` (B, T, N): a SpikingCTM's spikes
per neuron in the tick (as a fraction of its simulation steps), a RateCTM's post-activations.
Every function takes the labels of the recorded thoughts, (B,) integers (the answer, or one
output of a multi-output task; :func:`task_labels`).

- :func:`decode_over_time`: per tick, a linear decoder from the state to the label (a ridge
  classifier, as scikit-learn's RidgeClassifier: least squares onto ±1 class codes with an
  intercept and an L2 penalty α = 1, features standardised on each training fold), scored by
  stratified k-fold cross-validation (k = min(5, the rarest label's count), repeats of one input
  in one fold). Every shuffle reuses the fold's solve, so the permutation test stays cheap. Chance is the majority label's share;
  the band is the 95th percentile of the same cross-validated accuracy with the labels shuffled
  (``shuffles`` permutations per tick), so a tick is *decodable* when its accuracy exceeds it
  (a one-sided permutation test at 5%, per tick). The accuracy's 95% interval is Wilson's.
- :func:`certainty_ticks`: the tick at which the model's own certainty first reaches a threshold,
  and its most certain tick (where it reads its answer), per thought and as medians.
- :func:`trajectories`: principal components of the states of every (thought, tick), and the
  mean trajectory of each label in the first components.
- :func:`participation_ratio`: (Σλ)² / Σλ² of the covariance eigenvalues λ across thoughts at
  each tick (Gao & Ganguli 2015's linear dimensionality), and over the whole thought.
- :func:`gpfa_trajectories`: Elephant's GPFA (Yu et al. 2009) on the spike trains of a spiking
  recording, one trial per thought.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np

CV_FOLDS = 5


def task_labels(targets, output: int = -1) -> tuple[np.ndarray, str]:
    """(B,) integer labels from a task's targets, and what they are: the targets themselves
    when they are one label per thought, else output ``output`` of each (e.g. parity's last bit)."""
    values = np.asarray(targets.detach().cpu() if hasattr(targets, "detach") else targets)
    if values.ndim == 1:
        return values.astype(np.int64), "the answer"
    if values.ndim == 2:
        index = output % values.shape[1]
        return values[:, index].astype(np.int64), f"output {index} of {values.shape[1]}"
    raise ValueError(f"targets must be (thoughts,) or (thoughts, outputs), got shape {values.shape}")


def _check(recording, labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (recording.samples,):
        raise ValueError(f"labels must be ({recording.samples},), one per recorded thought, got {labels.shape}")
    if len(np.unique(labels)) < 2:
        raise ValueError("decoding needs at least two different labels among the recorded thoughts")
    return labels


def wilson_interval(correct: float, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson's 95% interval of a proportion ``correct`` / ``total``."""
    if total == 0:
        return float("nan"), float("nan")
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def _splits(labels: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list:
    """Stratified k-fold splits that keep each group (an input's repeats) in one fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(split.split(np.zeros(labels.size), labels, groups))


def _ridge_accuracies(features: np.ndarray, label_sets: np.ndarray, splits: list, alpha: float = 1.0) -> np.ndarray:
    """Cross-validated accuracy of a ridge classifier for each row of ``label_sets`` (sets, n):
    per fold, features standardised on the training part, the ±1 class codes regressed with an
    intercept and an L2 penalty ``alpha`` (as scikit-learn's RidgeClassifier), the arg-max
    predicted. The fold's solve is shared by every label set, so shuffles cost one product each."""
    classes = np.unique(label_sets[0])
    codes = np.where(label_sets[:, :, None] == classes[None, None, :], 1.0, -1.0)  # (sets, n, K)
    correct = np.zeros(label_sets.shape[0])
    for train, test in splits:
        mean, scale = features[train].mean(0), features[train].std(0)
        scale[scale == 0] = 1.0
        a, b = (features[train] - mean) / scale, (features[test] - mean) / scale
        if a.shape[1] <= a.shape[0]:  # (test, train); the dual form when features outnumber thoughts
            hat = b @ np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T)
        else:
            hat = (b @ a.T) @ np.linalg.inv(a @ a.T + alpha * np.eye(a.shape[0]))
        targets = codes[:, train]
        centre = targets.mean(1, keepdims=True)
        predicted = centre + np.einsum("ij,sjk->sik", hat, targets - centre)  # (sets, test, K)
        correct += (classes[predicted.argmax(-1)] == label_sets[:, test]).sum(1)
    return correct / label_sets.shape[1]


SOURCES = ("activity", "synchrony")


def decode_over_time(
    recording, labels, shuffles: int = 20, seed: int = 0, max_ticks: int = 50, source: str = "activity"
) -> dict:
    """Cross-validated decoding of ``labels`` from each tick's population state (module
    docstring), or with ``source="synchrony"`` from the output synchrony readout (every pair and
    timescale), which is what the CTM's own output layer reads: a linear decoder of the activity
    misses what only products of pairs carry (e.g. parity). Returns ``ticks`` decoded (every
    tick, or ``max_ticks`` evenly spaced ones), ``accuracy``, its Wilson ``interval`` (ticks, 2),
    the shuffle ``band``, ``chance``, ``folds`` and ``first_decodable_tick`` (None when no tick
    is). Labels held by fewer than 2 thoughts cannot be cross-validated and are left out
    (``left_out``); repeats of one input stay in one fold."""
    from .._optional import require

    require("sklearn", "tasks")  # the stratified, grouped folds
    labels = _check(recording, labels)
    values, counts = np.unique(labels, return_counts=True)
    keep = np.isin(labels, values[counts >= 2])
    if len(np.unique(labels[keep])) < 2:
        raise ValueError("decoding needs two labels with at least 2 thoughts each: record more inputs")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    states = recording.activity if source == "activity" else recording.require("synchrony_out")
    groups = np.arange(recording.samples) if recording.sample_input is None else recording.sample_input
    labels, groups, activity = labels[keep], groups[keep], states[keep].astype(float)
    counts = np.unique(labels, return_counts=True)[1]
    folds = int(min(CV_FOLDS, counts.min(), len(np.unique(groups))))
    ticks = np.unique(np.linspace(0, recording.ticks - 1, min(max_ticks, recording.ticks)).round().astype(int))
    rng = np.random.default_rng(seed)
    splits = _splits(labels, groups, folds, seed)
    label_sets = np.stack([labels] + [_shuffled(labels, groups, rng) for _ in range(shuffles)])
    accuracy, band, interval = [], [], []
    chance = float(counts.max() / labels.size)
    for tick in ticks:
        features = activity[:, tick, :]
        if features.std(0).max() == 0:  # the same state in every thought: nothing to decode
            score, null = chance, np.array([chance])
        else:
            scores = _ridge_accuracies(features, label_sets, splits)
            score, null = float(scores[0]), scores[1:] if shuffles else np.array([chance])
        accuracy.append(score)
        band.append(float(np.quantile(null, 0.95)))
        interval.append(wilson_interval(score * labels.size, labels.size))
    accuracy_array, band_array = np.array(accuracy), np.array(band)
    above = np.flatnonzero(accuracy_array > band_array)
    return {
        "source": source,
        "ticks": ticks,
        "accuracy": accuracy_array,
        "interval": np.array(interval),
        "band": band_array,
        "chance": chance,
        "classes": int(counts.size),
        "folds": folds,
        "shuffles": shuffles,
        "thoughts": int(labels.size),
        "left_out": int((~keep).sum()),
        "first_decodable_tick": int(ticks[above[0]]) if above.size else None,
        "times_s": (ticks + 1) * recording.dt,  # the end of each decoded tick
    }


def _shuffled(labels: np.ndarray, groups: np.ndarray, rng) -> np.ndarray:
    """The labels permuted across inputs (repeats of an input keep one label)."""
    inputs = np.unique(groups)
    per_input = np.array([labels[groups == g][0] for g in inputs])
    mapping = dict(zip(inputs, rng.permutation(per_input)))
    return np.array([mapping[g] for g in groups])


def certainty_ticks(recording, threshold: float = 0.8) -> dict:
    """Per thought, the first tick whose certainty reaches ``threshold`` (−1 when none does) and
    the most certain tick; their medians over thoughts (the first over the thoughts that reach it)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"the certainty threshold must lie in (0, 1], got {threshold}")
    reached = recording.certainty >= threshold
    first = np.where(reached.any(1), reached.argmax(1), -1)
    most = recording.certainty.argmax(1)
    crossing = first[first >= 0]
    return {
        "threshold": threshold,
        "first_tick": first,
        "most_certain_tick": most,
        "median_first_tick": float(np.median(crossing)) if crossing.size else None,
        "reached_fraction": float(crossing.size / first.size),
        "median_most_certain_tick": float(np.median(most)),
    }


def trajectories(recording, labels, components: int = 3) -> dict:
    """PCA of the states of every (thought, tick): ``explained`` variance ratios, the mean
    trajectory of each label (label → (T, components)) and each thought's (B, T, components)."""
    labels = _check(recording, labels)
    states = recording.activity.reshape(-1, recording.neurons).astype(float)
    centred = states - states.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = min(components, vt.shape[0])
    projected = (centred @ vt[:components].T).reshape(recording.samples, recording.ticks, components)
    variance = singular**2
    return {
        "explained": variance[:components] / variance.sum() if variance.sum() > 0 else np.zeros(components),
        "by_label": {int(label): projected[labels == label].mean(0) for label in np.unique(labels)},
        "per_thought": projected,
    }


def participation_ratio(recording) -> dict:
    """(Σλ)² / Σλ² of the across-thought covariance of the state at each tick (``per_tick``, NaN
    where the state does not vary), and of every (thought, tick) state together (``whole``)."""

    def ratio(states: np.ndarray) -> float:
        if states.shape[0] < 2:
            return float("nan")
        eigenvalues = np.clip(np.linalg.eigvalsh(np.cov(states, rowvar=False)), 0, None)
        total = eigenvalues.sum()
        return float(total**2 / (eigenvalues**2).sum()) if total > 0 else float("nan")

    activity = recording.activity.astype(float)
    return {
        "per_tick": np.array([ratio(activity[:, t]) for t in range(recording.ticks)]),
        "whole": ratio(activity.reshape(-1, recording.neurons)),
        "neurons": recording.neurons,
    }


def gpfa_trajectories(recording, dims: int = 3, bin_s: float | None = None) -> dict:
    """Elephant's GPFA on a spiking recording's trains, one trial per thought, in bins of
    ``bin_s`` (default: the tick). Returns ``trajectories`` (thoughts, dims, bins), the bin
    width and each latent's timescale in seconds. Needs the ``analysis`` extra (Elephant)."""
    from .._optional import require

    if recording.kind != "spiking":
        raise ValueError("GPFA reads spike trains: record a SpikingCTM (a RateCTM has none)")
    require("elephant", "analysis")
    import quantities as pq
    from elephant.gpfa import GPFA
    from neo import SpikeTrain

    width = recording.dt if bin_s is None else bin_s
    duration = recording.steps * recording.step_duration
    if width <= 0 or width > duration / 2:
        raise ValueError(f"the GPFA bin must lie in (0, {duration / 2:g}] s, got {width}")
    trials = [
        [SpikeTrain(times * pq.s, t_stop=duration * pq.s) for times in recording.spike_times(sample)]
        for sample in range(recording.samples)
    ]
    active = np.array([sum(len(trial[n]) for trial in trials) > 0 for n in range(recording.neurons)])
    if active.sum() <= dims:
        raise ValueError(f"GPFA with {dims} latents needs more than {dims} neurons that spike")
    trials = [[train for train, keep in zip(trial, active) if keep] for trial in trials]
    gpfa = GPFA(bin_size=width * pq.s, x_dim=dims, em_max_iters=100)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # Elephant prints its progress
        # a thought shorter than Elephant's 20-bin training segments is fitted whole, as it says
        warnings.filterwarnings("ignore", message=".*(segLength|No segments extracted).*")
        latent = gpfa.fit_transform(trials)
    return {
        "trajectories": np.stack([np.asarray(t) for t in latent]),
        "bin_s": width,
        "timescales_s": (np.asarray(gpfa.params_estimated["gamma"]) ** -0.5 * width).ravel(),
        "neurons": int(active.sum()),
    }


def report_markdown(results: dict) -> str:
    """``experiments/results/thought-dynamics.json`` as a Markdown page: per model when the answer
    becomes decodable and when the model is certain, the dimensionality over the thought, and
    the cortical models' Fano factor from the input's onset."""
    threshold = results["certainty_threshold"]
    lines = [
        "# How a thought unfolds",
        "",
        f"From `experiments/results/thought-dynamics.json`, written by `{results['command']}`. Decoding: "
        "`neurosync.analysis.dynamics.decode_over_time` (a ridge classifier per tick, stratified "
        "cross-validation, the band the 95th percentile over shuffled labels); ticks count from 1.",
        "",
        "Two decoders per model: from the population's activity, and from the output synchrony readout, "
        "the pairwise products the CTM's own output layer reads.",
        "",
        f"| model | labels | thoughts | ticks | first decodable tick: activity / synchrony "
        f"| certainty ≥ {threshold:g} (median tick) | accuracy at the last tick: activity / synchrony (chance) "
        "| participation ratio, first → last tick |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def at(tick, tick_ms) -> str:
        if tick is None:
            return "never"
        return f"{tick:g}" + (f" ({tick * tick_ms:g} ms)" if tick_ms else "")

    for m in results["models"]:
        decoding, synchrony = m["decoding"], m["decoding_synchrony"]
        ratio = m["participation_ratio"]
        first = (
            f"{at(m['first_decodable_tick'], m['tick_ms'])} / {at(m['first_decodable_tick_synchrony'], m['tick_ms'])}"
        )
        last = f"{100 * decoding['accuracy'][-1]:.1f}% / {100 * synchrony['accuracy'][-1]:.1f}%"
        lines.append(
            f"| `{m['model']}` | {m['labels']} | {m['thoughts']} | {m['ticks']} | {first} "
            f"| {at(m['certainty_tick'], m['tick_ms'])} | {last} ({100 * decoding['chance']:.1f}%) "
            f"| {ratio[0]:.1f} → {ratio[-1]:.1f} |"
        )
    courses = [m for m in results["models"] if "fano_course" in m]
    if courses:
        lines += [
            "",
            "## Variability from the input's onset",
            "",
            "The Fano factor of spike counts across noise repeats of one input, in windows from the start of "
            "the thought, which is when the input arrives (Churchland et al. 2010 report it falling from "
            "about 1.5 to 1 after a stimulus's onset). Every repeat starts from the same state, so the first "
            "window's variability is the noise's alone.",
            "",
            "| model | thoughts | window | first window | second window | mean over 0.5–1 s |",
            "|---|---|---|---|---|---|",
        ]
        for m in courses:
            course = m["fano_course"]
            times, fano = np.asarray(course["times_s"], float), np.asarray(course["fano"], float)
            late = fano[times >= 0.5]
            lines.append(
                f"| `{m['model']}` | {course['thoughts']} | {course['window_s'] * 1e3:g} ms | {fano[0]:.2f} "
                f"| {fano[1]:.2f} | {np.nanmean(late):.2f} |"
            )
    return "\n".join(lines) + "\n"
