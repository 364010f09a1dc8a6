"""Spiking vs rate: the measures of the comparison, per trained model and pooled over seeds.

- :func:`thought_metrics`: accuracy at every tick, calibration (ECE and the reliability table at
  the most-certain tick), adaptive compute (stop at the first tick whose certainty reaches a
  threshold: ticks used and accuracy, also by difficulty), from one pass over an evaluation set.
- :func:`energy_proxy`: operations on the neuron → synapse pathway per thought: multiply-
  accumulates for a rate CTM (every activation times every fan-out weight), accumulates for a
  spiking CTM (only a spike moves its fan-out), and energies at 45 nm (Horowitz 2014: a 32-bit
  float MAC 4.6 pJ, an add 0.9 pJ). Everything else in the tick is the same dense arithmetic
  in both models and is not counted.
- :func:`mean_ci`: mean and 95% Student-t confidence half-width over seeds.
"""

from __future__ import annotations

import numpy as np
import torch

E_MAC_PJ, E_AC_PJ = 4.6, 0.9  # Horowitz, ISSCC 2014, 45 nm, 32-bit float


@torch.no_grad()
def predictions(model, x: torch.Tensor, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (B, ticks, positions, classes) and certainty (B, ticks) in eval mode."""
    was_training = model.training
    model.eval()
    probs, certainty = [], []
    classes = model.prediction_shape[-1]
    try:
        for start in range(0, x.shape[0], batch_size):
            out = model(x[start : start + batch_size])
            logits = out.logits.float().reshape(out.logits.shape[0], out.logits.shape[1], -1, classes)
            probs.append(torch.softmax(logits, -1).cpu().numpy())
            certainty.append(out.certainty.float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(probs), np.concatenate(certainty)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> tuple[float, list[dict]]:
    """ECE with equal-width confidence bins: ``Σ_b (n_b / n) |accuracy_b − confidence_b|``; and the
    reliability table (per non-empty bin: range, count, mean confidence, accuracy)."""
    confidence, correct = np.asarray(confidence, float).ravel(), np.asarray(correct, float).ravel()
    if confidence.size == 0:
        raise ValueError("calibration needs at least one prediction")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        chosen = which == b
        if chosen.any():
            conf, acc = confidence[chosen].mean(), correct[chosen].mean()
            ece += chosen.mean() * abs(acc - conf)
            table.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "count": int(chosen.sum()),
                    "confidence": float(conf),
                    "accuracy": float(acc),
                }
            )
    return float(ece), table


def thought_metrics(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    difficulty: np.ndarray | None = None,
    threshold: float = 0.8,
    answer_ticks: int | None = None,
) -> dict:
    """The comparison's per-model measures on (x, y); y is (B, positions) class indices.
    ``difficulty`` (B,) groups the adaptive-compute results (e.g. the number of −1 in a parity input).
    ``answer_ticks``: an episodic task (recall, one-shot, Q&A) answers in its last ``answer_ticks``
    ticks only (before them the question has not been shown): the most-certain tick and the
    adaptive-compute stop are looked for there; the accuracy by tick still covers every tick."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"the certainty threshold must lie in (0, 1], got {threshold}")
    probs, certainty = predictions(model, x)
    first = 0 if answer_ticks is None else probs.shape[1] - answer_ticks
    if not 0 <= first < probs.shape[1]:
        raise ValueError(f"answer_ticks must lie in [1, {probs.shape[1]}] (the thought's ticks), got {answer_ticks}")
    target = y.reshape(y.shape[0], -1).cpu().numpy()  # classification: one position
    correct = probs.argmax(-1) == target[:, None, :]  # (B, T, positions)
    rows = np.arange(probs.shape[0])
    certainty = certainty.copy()
    certainty[:, :first] = -np.inf  # no answer before the window
    certain = certainty.argmax(1)
    confidence = probs[rows, certain].max(-1)
    ece, reliability = expected_calibration_error(confidence, correct[rows, certain])
    reached = certainty >= threshold
    stop = np.where(reached.any(1), reached.argmax(1), probs.shape[1] - 1)
    stopped = correct[rows, stop].mean(1)
    result = {
        "accuracy_by_tick": correct.mean((0, 2)).tolist(),
        "accuracy_certain": float(correct[rows, certain].mean()),
        "ece": ece,
        "reliability": reliability,
        "answer_from_tick": first + 1,
        "threshold": threshold,
        "stop_tick_mean": float(stop.mean() + 1),
        "reached_fraction": float(reached.any(1).mean()),
        "accuracy_stopped": float(stopped.mean()),
    }
    if difficulty is not None:
        difficulty = np.asarray(difficulty)
        result["by_difficulty"] = [
            {
                "difficulty": int(d),
                "count": int((difficulty == d).sum()),
                "stop_tick_mean": float(stop[difficulty == d].mean() + 1),
                "accuracy_stopped": float(stopped[difficulty == d].mean()),
            }
            for d in np.unique(difficulty)
        ]
    return result


def _post_fan_out(synapse) -> int:
    """Output features of the synapse's first layer that reads the post-activations."""
    from .parts.interfaces import Synapse

    if not isinstance(synapse, Synapse):
        raise ValueError(f"no energy proxy for synapse {type(synapse).__name__}: it states no post_fan_out()")
    return synapse.post_fan_out()


def energy_proxy(model, recording) -> dict:
    """Operations per thought on the neuron → synapse pathway (see the module docstring), from a
    recording of that model. A spiking neuron with several simulation steps per tick moves its
    fan-out once per spike; a rate neuron once per tick."""
    fan_out = _post_fan_out(model.synapse)
    if recording.kind == "spiking":
        spikes_per_thought = recording.spike_step.size / recording.samples
        ops = spikes_per_thought * fan_out
        return {
            "kind": "spiking",
            "fan_out": fan_out,
            "spikes_per_thought": float(spikes_per_thought),
            "operations": float(ops),
            "operation": "accumulate",
            "energy_nj": float(ops * E_AC_PJ / 1e3),
        }
    ops = recording.ticks * recording.neurons * fan_out
    return {
        "kind": "rate",
        "fan_out": fan_out,
        "operations": float(ops),
        "operation": "multiply-accumulate",
        "energy_nj": float(ops * E_MAC_PJ / 1e3),
    }


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval (0 for one value)."""
    from scipy.stats import t

    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("mean_ci needs at least one value")
    if values.size == 1:
        return float(values[0]), 0.0
    half = t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean()), float(half)


def bounded_mean_ci(values, confidence: float = 0.95, eps: float = 1e-4) -> tuple[float, float, float]:
    """Mean and (low, high) confidence bounds of a measure bounded in [0, 1] (an accuracy, an
    ECE): the Student-t interval over the values on the logit scale, mapped back, so the bounds
    stay inside [0, 1] (values are clipped to [eps, 1 - eps] before the logit). One value, or equal
    values: a zero-width interval."""
    from scipy.special import expit, logit
    from scipy.stats import t

    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("bounded_mean_ci needs at least one value")
    if np.any((values < 0) | (values > 1)) or not np.all(np.isfinite(values)):
        raise ValueError(f"bounded_mean_ci takes values in [0, 1], got {values.tolist()}")
    mean = float(values.mean())
    if values.size == 1 or np.all(values == values[0]):
        return mean, mean, mean
    z = logit(np.clip(values, eps, 1 - eps))
    half = t.ppf(0.5 + confidence / 2, values.size - 1) * z.std(ddof=1) / np.sqrt(values.size)
    low, high = float(expit(z.mean() - half)), float(expit(z.mean() + half))
    return mean, min(low, mean), max(high, mean)


def synchrony_structure(recording, timescales_s: tuple[float, ...] | None = None) -> dict:
    """Per timescale, the mean ``|r|`` and mean r over the off-diagonal of the synchrony matrices
    (:func:`neurosync.analysis.synchrony_matrices`), averaged over the recorded thoughts; and the
    participation ratio (Σλ)² / Σλ² of the first thought's fastest-timescale matrix, the
    effective number of independent groups of co-active neurons."""
    from .analysis import synchrony_matrices

    per_sample = [synchrony_matrices(recording, b, timescales_s) for b in range(recording.samples)]
    scales = per_sample[0]["timescales_s"]
    off = ~np.eye(recording.neurons, dtype=bool)
    mean_abs = np.mean([[np.abs(m[off]).mean() for m in r["matrices"]] for r in per_sample], axis=0)
    mean = np.mean([[m[off].mean() for m in r["matrices"]] for r in per_sample], axis=0)
    eigenvalues = np.clip(np.linalg.eigvalsh(per_sample[0]["matrices"][0]), 0.0, None)
    return {
        "timescales_s": scales.tolist(),
        "mean_abs_offdiag": mean_abs.tolist(),
        "mean_offdiag": mean.tolist(),
        "participation_ratio": float(eigenvalues.sum() ** 2 / (eigenvalues**2).sum()),
    }


def _spiking_neurons(model):
    from .parts.interfaces import SpikingNeuron

    if not isinstance(model.neuron, SpikingNeuron):
        raise ValueError("this measure needs a SpikingCTM (model.neuron = 'spiking')")
    return model.neuron


def step_invariance(
    model, cfg, x: torch.Tensor, y: torch.Tensor, divisors=(1, 2, 4), noise_seed: int = 0
) -> list[dict]:
    """A SpikingCTM evaluated at dt / d for each divisor d (the same tick duration, d× the
    sub-steps: the same continuous-time model if it is dt-invariant): per step, the task's
    primary accuracy, the mean rate (Hz) and their changes against the first divisor's
    (accuracy in points, rate as a fraction). The model's own step is restored afterwards."""
    from .tasks import get_task
    from .training import evaluate

    neuron = _spiking_neurons(model)
    primary = getattr(get_task(cfg.task), "PRIMARY", "bit_acc_certain")
    native, generator, rows = neuron.dt_ms, neuron.noise_generator, []
    try:
        for divisor in divisors:
            with neuron.at_step(native / divisor):
                neuron.seed_noise(noise_seed)
                metrics = evaluate(model, cfg, x, y)
                rows.append(
                    {
                        "dt_ms": native / divisor,
                        "substeps": neuron.substeps,
                        "accuracy": metrics[primary],
                        "metric": primary,
                        "firing_rate_hz": metrics["firing_rate_hz"],
                    }
                )
    finally:
        neuron.noise_generator = generator
    for row in rows:
        row["accuracy_change_points"] = 100 * (row["accuracy"] - rows[0]["accuracy"])
        row["rate_change"] = (
            row["firing_rate_hz"] / rows[0]["firing_rate_hz"] - 1 if rows[0]["firing_rate_hz"] else float("nan")
        )
    return rows


@torch.no_grad()
def long_thought_rates(model, x: torch.Tensor, seconds: float, window_s: float = 1.0, noise_seed: int = 0) -> dict:
    """Firing in one thought of ``seconds`` (ticks of the model's own duration) on every input
    of ``x``, without recording it (the fused tick; only the spike counts are kept): mean rates
    (Hz) of all neurons and per population under Dale's law, the silent (< 0.1 Hz) and saturated
    (> 100 Hz) fractions, and per consecutive ``window_s`` window the population rate and the
    fraction of neurons silent in it (does the regime hold, run away or fall silent? A neuron that
    fires only in a thought's first transient counts as active over the whole thought, but silent in
    every later window)."""
    from .analysis.physiology import SATURATED_HZ, SILENT_HZ

    neuron = _spiking_neurons(model)
    ticks = neuron.ticks_in(seconds)
    counts = []
    trained_ticks, was_training, generator = model.ticks, model.training, neuron.noise_generator
    model.eval()
    model.ticks = ticks
    neuron.seed_noise(noise_seed)
    try:
        model(x, observe=lambda post, **_: counts.append(post.float().sum(0).cpu()))  # summed over inputs
    finally:
        model.ticks, neuron.noise_generator = trained_ticks, generator
        model.train(was_training)
    per_tick = torch.stack(counts).numpy() / x.shape[0]  # (ticks, neurons): spikes per tick per thought
    rates = per_tick.mean(0) * 1e3 / neuron.tick_ms
    config = getattr(model, "config", None)
    excitatory = None
    if config is not None and config.spiking.dale:
        excitatory = np.arange(rates.size) < config.spiking.excitatory_count(rates.size)
    width = max(int(round(window_s * 1e3 / neuron.tick_ms)), 1)
    starts = range(0, ticks - width + 1, width)
    windows = [per_tick[i : i + width].mean() * 1e3 / neuron.tick_ms for i in starts]
    window_silent = [float((per_tick[i : i + width].mean(0) * 1e3 / neuron.tick_ms < SILENT_HZ).mean()) for i in starts]
    result = {
        "seconds": ticks * neuron.tick_ms * 1e-3,
        "ticks": ticks,
        "inputs": int(x.shape[0]),
        "rate_all_hz": float(rates.mean()),
        "silent_fraction": float((rates < SILENT_HZ).mean()),
        "saturated_fraction": float((rates > SATURATED_HZ).mean()),
        "window_s": width * neuron.tick_ms * 1e-3,
        "window_rates_hz": [float(w) for w in windows],
        "window_silent_fractions": window_silent,
    }
    if excitatory is not None:
        result["rate_excitatory_hz"] = float(rates[excitatory].mean())
        result["rate_inhibitory_hz"] = float(rates[~excitatory].mean())
    return result


def halting(
    model, cfg, x: torch.Tensor, y: torch.Tensor, thresholds=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95), batch_size: int = 1024
) -> dict:
    """Adaptive compute that saves time: the full thought against :meth:`CTM.think_until_certain`
    at each certainty threshold, on the same inputs in the same process (wall times compare as a
    ratio). Per threshold: per-unit and whole-answer accuracy at the tick each sample stopped, the
    mean ticks used and the wall time; the full thought's accuracy at its last and its
    most-certain tick. An episodic task (recall, one-shot, Q&A) stops only within its answer
    window; sorting answers by CTC over every tick and has no tick to stop at."""
    import time

    from .tasks import EPISODIC, get_task

    if cfg.task.name == "sort":
        raise ValueError("sorting answers by CTC over all ticks: there is no tick to stop a thought at")
    for threshold in thresholds:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"a halting threshold is a certainty in [0, 1], got {threshold}")
    task = get_task(cfg.task)
    first = model.ticks - cfg.task.answer_ticks if cfg.task.name in EPISODIC else 0
    classes = model.prediction_shape[-1]

    def correct(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # (batch, units) bool
        if hasattr(task, "correct_units"):
            return task.correct_units(logits.float(), target)
        return logits.reshape(logits.shape[0], -1, classes).argmax(-1) == target.reshape(target.shape[0], -1)

    def timed(fn):
        outputs, started = [], time.perf_counter()
        for start in range(0, x.shape[0], batch_size):
            outputs.append(fn(x[start : start + batch_size]))
        return outputs, time.perf_counter() - started

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            full, full_s = timed(model)
        rows_last, rows_certain = [], []
        for out, start in zip(full, range(0, x.shape[0], batch_size)):
            target = y[start : start + out.logits.shape[0]]
            certain = first + out.certainty[:, first:].argmax(1)
            rows = torch.arange(out.logits.shape[0])
            rows_last.append(correct(out.logits[:, -1], target))
            rows_certain.append(correct(out.logits[rows, certain], target))
        last, certain = torch.cat(rows_last), torch.cat(rows_certain)
        result = {
            "samples": int(x.shape[0]),
            "ticks": model.ticks,
            "from_tick": first + 1,
            "full_s": full_s,
            "full_accuracy_last": float(last.float().mean()),
            "full_accuracy_certain": float(certain.float().mean()),
            "full_whole_certain": float(certain.all(1).float().mean()),
            "thresholds": [],
        }
        for threshold in thresholds:
            halted, halted_s = timed(lambda xb, threshold=threshold: model.think_until_certain(xb, threshold, first))
            hits = torch.cat(
                [
                    correct(h.logits, y[start : start + h.logits.shape[0]])
                    for h, start in zip(halted, range(0, x.shape[0], batch_size))
                ]
            )
            ticks = torch.cat([h.ticks for h in halted]).float()
            result["thresholds"].append(
                {
                    "threshold": threshold,
                    "accuracy": float(hits.float().mean()),
                    "whole_accuracy": float(hits.all(1).float().mean()),
                    "mean_ticks": float(ticks.mean()),
                    "wall_s": halted_s,
                    "speedup": full_s / halted_s if halted_s > 0 else float("inf"),
                }
            )
    finally:
        model.train(was_training)
    return result
