"""Training and evaluation.

Deterministic by construction: the batch of step k is drawn from a generator seeded by
(seed, k, rank), the learning rate is a pure function of k, and checkpoints carry the
optimizer state and the global RNG (dropout). Resuming from step k therefore continues
exactly as an uninterrupted run (bit for bit on CPU).

Multi-GPU / multi-node: launch with ``torchrun``; each rank trains on its own batches of
``train.batch_size`` under DistributedDataParallel and rank 0 evaluates, logs and saves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import checkpoint
from .build import build_model
from .config import Config, ConfigError
from .cortical import describe_out, regime_probe
from .losses import rate_homeostasis, rate_weight
from .step_graph import captured_step, eager_step
from .tasks import batch_metrics, get_task, task_loss

log = logging.getLogger(__name__)


def flush_denormals() -> bool:
    """Treat float32 subnormal numbers (magnitudes below 1.2e-38) as zero on this thread from now on (the
    CPU's flush-to-zero and denormals-are-zero modes, TensorFlow's default on CPU): a spiking model's
    decaying filters and traces reach them between spikes, and an x86 core computes on them ~10× slower
    (a (64, 3168) product: 2.2 ms against 0.2 ms here). It changes no result above 1.2e-38. The mode is
    per thread, and intra-op threads inherit it when they start, so call it before any computation.
    Returns False where the CPU has no such mode. Benchmark: ``python benchmarks/denormals.py``."""
    _denormal_mode.flushed = bool(torch.set_flush_denormal(True))
    return _denormal_mode.flushed


_denormal_mode = threading.local()  # whether flush_denormals set the mode on this thread (torch has no getter)


@contextlib.contextmanager
def denormals_flushed():
    """:func:`flush_denormals` for a block (the CLI's commands, each study, sweep or ablation job), then the
    mode this thread had before: IEEE-754 subnormals again unless it was already flushing (a job run inside
    a CLI command keeps the command's mode after it), so that a caller's own work (a notebook, a test suite
    that draws subnormal floats) keeps the default. Threads started inside the block keep the mode."""
    before = getattr(_denormal_mode, "flushed", False)
    supported = flush_denormals()
    try:
        yield supported
    finally:
        if supported and not before:
            torch.set_flush_denormal(False)
            _denormal_mode.flushed = False


def pick_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config: train.device = 'cuda' but no CUDA device is available (use 'auto' or 'cpu')")
    return torch.device(name)


def learning_rate(step: int, cfg) -> float:
    """Linear warm-up to cfg.lr over warmup_steps, then cosine decay to lr·min_lr_ratio."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def batch_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The generator of training batch ``step`` on ``rank``: a pure function of (seed, step, rank), so a
    resumed run draws the same batches."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + step) * 1_009 + rank) % (2**63))


def autocast(device: torch.device, cache: bool = True, precision: str = "bf16"):
    """bf16 autocast on CUDA (``precision="fp32"``: none); full precision elsewhere. ``cache=False`` turns
    off autocast's cache of cast weights, as a step captured in a CUDA graph needs
    (:mod:`neurosync.step_graph`)."""
    if device.type == "cuda" and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


@torch.no_grad()
def evaluate(
    model: nn.Module, cfg: Config, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096
) -> dict[str, float]:
    """Task metrics over (x, y) in eval mode, at the most-certain tick and at the last tick."""
    task = get_task(cfg.task)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    spike_counts = 0.0  # per neuron, over the whole set
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
        with autocast(device, precision=cfg.train.precision):
            out = model(xb)
        loss, certain_tick = task_loss(task, out, yb, cfg.task)
        for key, value in batch_metrics(task, out, yb, cfg.task).items():
            totals[key] = totals.get(key, 0.0) + value
        totals["loss"] = totals.get("loss", 0.0) + loss.item() * xb.shape[0]
        totals["certain_tick"] = totals.get("certain_tick", 0.0) + certain_tick.float().sum().item()
        if cfg.model.neuron == "spiking":
            rates = model.neuron.rate_hz(out.activity.float())
            totals["firing_rate_hz"] = totals.get("firing_rate_hz", 0.0) + rates.mean(1).sum().item()
            spike_counts = spike_counts + out.activity.float().sum(0)
    model.train(was_training)
    metrics = {k: v / x.shape[0] for k, v in totals.items()}
    if hasattr(task, "finalise"):
        metrics = task.finalise(metrics)
    if cfg.model.neuron == "spiking":
        metrics["silent_fraction"] = (spike_counts == 0).float().mean().item()
    return metrics


RUN_FILES = ("config.json", "metrics.jsonl", "results.json")  # what a run writes beside checkpoints/


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became non-finite; no step was taken with it."""


class MetricsLog:
    """Append-only JSON-lines log, one record per line (``metrics.jsonl`` in the run dir)."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(checkpoint.finite_json(record), allow_nan=False) + "\n")


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


def make_gradient_step(
    model: nn.Module,
    cfg: Config,
    device: torch.device,
    parameters: list[nn.Parameter] | None = None,
    forward: Callable | None = None,
) -> Callable:
    """``step(x, y) -> (task loss, loss with the homeostatic terms, gradient norm before clipping)`` of one
    batch, leaving the clipped gradients in the parameters' ``.grad``: the forward (``forward``, default
    ``model``; the DDP wrapper in a distributed run), the loss, the backward and the clip; the part of a
    training step that ``train.cuda_graphs`` captures (:mod:`neurosync.step_graph`). The caller clears the
    gradients before an eager call and takes the optimizer step after it. ``step.rate_weight`` is the
    rate term's weight, a tensor on ``device`` that the loop sets before each step (a schedule,
    :func:`neurosync.losses.rate_weight`; a captured graph reads it in place); None without a rate term."""
    task, tc = get_task(cfg.task), cfg.train
    forward = model if forward is None else forward
    parameters = [p for p in model.parameters() if p.requires_grad] if parameters is None else parameters
    spiking = cfg.model.spiking if cfg.model.neuron == "spiking" and cfg.model.spiking.homeostatic() else None
    cache = not (tc.cuda_graphs and device.type == "cuda")
    # the norm is always computed, to stop before a non-finite step
    max_norm = tc.grad_clip if tc.grad_clip > 0 else math.inf
    weight = None if spiking is None else torch.tensor(spiking.rate_regularisation, device=device)

    def step(x, y):
        with autocast(device, cache=cache, precision=tc.precision):
            out = forward(x)
        loss, _ = task_loss(task, out, y, cfg.task)
        total = loss
        if spiking is not None:
            total = total + rate_homeostasis(model.neuron.rate_hz(out.activity.float()), spiking, weight)
        total.backward()
        return loss, total, torch.nn.utils.clip_grad_norm_(parameters, max_norm)

    step.rate_weight = weight
    return step


def train(
    cfg: Config,
    run_dir: Path,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train cfg's model in run_dir; returns (and writes to results.json) the final evaluation
    on train.final_eval_samples inputs (every input when the task has no more than that).

    ``stop_after`` ends the run early after that many total steps (the schedule still
    follows cfg.train.steps), as an interruption would. ``elapsed_s`` in the log and the results counts
    the whole run's training time, a resumed run's earlier processes included (each checkpoint keeps it
    as ``trained_s``); ``train.time_budget_s`` bounds this process's.
    """
    rank, world = _distributed()
    tc = cfg.train
    if tc.cuda_graphs and world > 1:
        raise ConfigError(
            "train.cuda_graphs captures the step of one process: train without torchrun, or set train.cuda_graphs = false"
        )
    dev = pick_device(device or tc.device)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    task = get_task(cfg.task)
    ckpt_dir = run_dir / "checkpoints"
    if rank == 0:
        for name in checkpoint.clean_stale(ckpt_dir):
            log.info("removed %s, left in %s by an interrupted checkpoint write", name, ckpt_dir)
    existing = checkpoint.latest(ckpt_dir)
    if existing is not None and not resume:
        raise ConfigError(
            f"run directory {run_dir} already has checkpoints; pass --resume to continue it or choose another --run-dir"
        )
    if existing is None and not resume:
        taken = [name for name in RUN_FILES if (run_dir / name).exists()]
        if taken:
            raise ConfigError(
                f"run directory {run_dir} already holds {', '.join(taken)} but no checkpoint; "
                f"it would be overwritten: choose another --run-dir"
            )
    if resume and existing is None:
        raise checkpoint.CheckpointError(f"--resume: no checkpoint in {ckpt_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)

    model = build_model(cfg).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    start_step = 0
    trained_s = 0.0  # training time before this process (a resumed run's), so that elapsed_s counts the whole run
    if resume:
        ckpt = checkpoint.load(existing)
        if ckpt.config.model != cfg.model or ckpt.config.task != cfg.task:
            raise ConfigError(f"--resume: the config's task/model differ from the checkpoint's in {existing}")
        checkpoint.restore_model(model, ckpt)
        checkpoint.restore_training(optimizer, ckpt)
        start_step = ckpt.step
        trained_s = float(ckpt.meta.get("metrics", {}).get("trained_s", 0.0))
    if tc.compile:
        model.compile_ticks(dynamic=False)
    ddp_model = nn.parallel.DistributedDataParallel(model) if world > 1 else model

    parameters = [p for p in model.parameters() if p.requires_grad]
    gradient_step = make_gradient_step(model, cfg, dev, parameters, forward=ddp_model)
    run_step = (
        captured_step(gradient_step, parameters, dev) if tc.cuda_graphs else eager_step(gradient_step, parameters)
    )

    if rank == 0:
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    eval_x, eval_y = task.eval_set(cfg.task, tc.eval_samples, tc.seed)
    probe_x = eval_x[: tc.regime_probe_inputs].to(dev) if tc.regime_probe_inputs else None
    in_regime = True  # whether the last probe found every statistic in range (a warning when that changes)
    last_step = tc.steps if stop_after is None else min(tc.steps, stop_after)
    bar = _progress(progress and rank == 0, start_step, tc.steps, cfg.name)
    started = time.perf_counter()
    running, record = [], {}
    model.train()
    step = start_step
    while step < last_step:
        lr = learning_rate(step, tc)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if gradient_step.rate_weight is not None:
            gradient_step.rate_weight.fill_(rate_weight(step, tc.steps, cfg.model.spiking))
        x, y = task.sample(cfg.task, tc.batch_size, batch_generator(tc.seed, step, rank))
        x, y = x.to(dev), y.to(dev)
        loss, total, grad_norm = run_step(x, y)
        if not (torch.isfinite(total) and torch.isfinite(grad_norm)):
            kept = checkpoint.latest(ckpt_dir)
            raise TrainingDiverged(
                f"training diverged at step {step + 1}: loss {total.item():g}, gradient norm {grad_norm.item():g}; "
                f"no step was taken with them, the last finite checkpoint is {kept if kept else 'none (none was written yet)'}; "
                f"lower train.lr (now {tc.lr:g}) or keep train.grad_clip > 0"
            )
        optimizer.step()
        step += 1
        running.append(loss.item())
        elapsed = time.perf_counter() - started
        out_of_time = tc.time_budget_s > 0 and elapsed >= tc.time_budget_s
        done = step == last_step or out_of_time
        if rank == 0 and (step % tc.eval_every == 0 or done):
            record = {
                "step": step,
                "split": "eval",
                "lr": lr,
                "train_loss": sum(running) / len(running),
                "elapsed_s": round(trained_s + elapsed, 2),
                **evaluate(model, cfg, eval_x, eval_y),
            }
            running = []
            if gradient_step.rate_weight is not None:
                record["rate_weight"] = float(gradient_step.rate_weight)  # the homeostatic weight of this step
            if probe_x is not None:
                record.update(_regime_record(model, probe_x))
                if in_regime and record["regime_out"]:
                    log.warning("step %d: the model left the cortical regime: %s", step, record["regime_out"])
                in_regime = not record["regime_out"]
            metrics.write(record)
            if on_eval is not None:
                on_eval(record)
            primary = getattr(task, "PRIMARY", "bit_acc_certain")
            postfix = {"loss": f"{record['train_loss']:.3f}", primary: f"{record[primary]:.3f}"}
            if probe_x is not None:
                postfix["regime"] = f"{record['regime_in_range']}/{len(record['regime'])}"
            bar.set_postfix(postfix)
        if rank == 0 and (step % tc.checkpoint_every == 0 or done):
            checkpoint.save(
                ckpt_dir, step, cfg, model, optimizer, {**record, "trained_s": round(trained_s + elapsed, 2)}
            )
        bar.update(1)
        if out_of_time:
            log.info("time budget of %.0f s reached at step %d", tc.time_budget_s, step)
            break
    bar.close()
    result = {}
    if rank == 0:
        final_x, final_y = task.eval_set(cfg.task, tc.final_eval_samples, tc.seed)
        result = {
            "name": cfg.name,
            "steps": step,
            "elapsed_s": round(trained_s + time.perf_counter() - started, 2),
            "device": str(dev),
            "world_size": world,
            "eval_samples": int(final_x.shape[0]),
            "final": evaluate(model, cfg, final_x, final_y),
        }
        (run_dir / "results.json").write_text(json.dumps(checkpoint.finite_json(result), indent=2, allow_nan=False))
    if world > 1:
        torch.distributed.barrier()
    return result


def _regime_record(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """The regime probe's entries of an evaluation record: ``regime`` (each statistic's value),
    ``regime_in_range`` (how many lie in their range) and ``regime_out`` (those outside, with
    their values, in one line; empty when all are in)."""
    probe = regime_probe(model, x)
    return {
        "regime": probe["values"],
        "regime_in_range": len(probe["values"]) - len(probe["out"]),
        "regime_out": describe_out(probe),
    }


def _progress(enabled: bool, start: int, total: int, name: str):
    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=start,
        desc=name,
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.5 if interactive else 30.0,
        file=sys.stderr,
    )
