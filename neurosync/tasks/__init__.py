"""Tasks: data, the backbone that reads it, the prediction shape, the loss and the metrics.

A task is a module with::

    prediction_shape(task_cfg) -> tuple            logits per tick are reshaped to this
    backbone(task_cfg, model_cfg) -> (module, d)   input -> tokens (batch, length, d), or a TickTokens
                                                   (tokens + which of them each tick sees) for an input
                                                   that changes over the ticks (qa_digits)
    sample(task_cfg, batch, generator) -> (x, y)   a training batch
    eval_set(task_cfg, samples, seed) -> (x, y)    a fixed evaluation set
    per_tick_loss(logits, y) -> (batch, ticks)     for the CTM's certainty loss (unless `loss` is given)
    correct_units(logits_at_tick, y) -> (batch, K) bool: which answer units are right (unless
                                                   `batch_metrics` is given)

and optionally ``loss(out, y, task_cfg) -> (loss, certain_tick)`` (default: the CTM's
certainty loss over ``per_tick_loss``), ``batch_metrics(out, y, task_cfg) -> {name: sum over
the batch}`` (default: per-unit and whole-answer accuracy at the most-certain and the last
tick, ``bit_acc_*`` and ``seq_acc_*``), ``finalise(means) -> metrics`` (derived metrics from the
per-sample means), ``headline(final) -> str`` and ``PRIMARY`` (the metric on the progress bar).
"""

from __future__ import annotations

import torch

from ..config import TaskConfig
from ..losses import certainty_loss
from . import images, maze, oneshot, parity, qa_digits, recall, sort

EPISODIC = ("qa_digits", "recall", "oneshot")  # tasks that answer in a window at the thought's end

TASKS = {
    "parity": parity,
    "sort": sort,
    "images": images,
    "maze": maze,
    "qa_digits": qa_digits,
    "recall": recall,
    "oneshot": oneshot,
}


def get_task(cfg: TaskConfig):
    """The task module for ``cfg.name`` (the interface in this package's docstring)."""
    return TASKS[cfg.name]


def task_loss(task, out, y, cfg: TaskConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, most-certain tick (batch,)): the task's own loss, else the CTM's certainty loss over its
    ``per_tick_loss``."""
    if hasattr(task, "loss"):
        return task.loss(out, y, cfg)
    return certainty_loss(task.per_tick_loss(out.logits, y), out.certainty)


def batch_metrics(task, out, y, cfg: TaskConfig) -> dict[str, float]:
    """Sums over the batch (divide by the number of samples for means)."""
    if hasattr(task, "batch_metrics"):
        return task.batch_metrics(out, y, cfg)
    _, certain_tick = task_loss(task, out, y, cfg)
    rows = torch.arange(out.logits.shape[0], device=out.logits.device)
    metrics = {}
    for name, tick in (("certain", certain_tick), ("last", torch.full_like(certain_tick, out.logits.shape[1] - 1))):
        units = task.correct_units(out.logits[rows, tick].float(), y)
        metrics[f"bit_acc_{name}"] = units.float().mean(1).sum().item()
        metrics[f"seq_acc_{name}"] = units.all(1).float().sum().item()
    return metrics


def headline(task, final: dict) -> str:
    """One line of the final metrics (the task's own, else per-bit and whole-sequence accuracy)."""
    if hasattr(task, "headline"):
        return task.headline(final)
    return (
        f"per-bit {100 * final['bit_acc_certain']:.2f}%, whole-sequence {100 * final['seq_acc_certain']:.2f}% "
        f"(last tick: {100 * final['bit_acc_last']:.2f}% / {100 * final['seq_acc_last']:.2f}%), "
        f"mean most-certain tick {final['certain_tick']:.1f}"
    )
