"""Checkpoints: safetensors for tensors, JSON for everything else; nothing is ever unpickled.

A checkpoint is a directory ``<run>/checkpoints/step-<NNNNNNNN>/`` holding

    model.safetensors      model state_dict
    training.safetensors   optimizer state tensors and RNG states
    checkpoint.json        format, step, config, optimizer hyper-parameters, metrics

It is written to a hidden temporary directory beside its final place and renamed into place
in one step, so a crash leaves either the complete checkpoint or none, and an existing
checkpoint is never overwritten by a half-written one.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import Config, ConfigError, from_dict

FORMAT = "neurosync-checkpoint"
VERSION = 1
_STEP_DIR = re.compile(r"^step-(\d{8})$")


class CheckpointError(ValueError):
    """A checkpoint is missing or unreadable; the message is one line."""


@dataclass
class Checkpoint:
    path: Path
    step: int
    config: Config
    model_state: dict[str, torch.Tensor]
    meta: dict[str, Any]
    training_tensors: dict[str, torch.Tensor]


def finite_json(value: Any) -> Any:
    """``value`` ready for strict JSON: every non-finite number becomes None (null, not a bare
    NaN), numpy scalars become Python numbers, arrays lists; dicts, lists and tuples are walked."""
    if isinstance(value, np.ndarray):
        return finite_json(value.tolist())
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _optimizer_split(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else g for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def rng_tensors() -> dict[str, torch.Tensor]:
    """The RNG states a checkpoint carries (torch CPU, and every CUDA device in use), as tensors."""
    tensors = {"rng.torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.torch_cuda.{i}"] = state
    return tensors


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    """Set the RNG states :func:`rng_tensors` saved."""
    torch.set_rng_state(tensors["rng.torch_cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.torch_cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def save(
    directory: Path,
    step: int,
    config: Config,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``directory/step-<step>`` atomically and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-step-{step:08d}-", dir=directory))
    try:
        model_state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(model_state, str(tmp / "model.safetensors"))
        tensors, optimizer_meta = _optimizer_split(optimizer) if optimizer is not None else ({}, None)
        tensors.update(rng_tensors())
        save_file(tensors, str(tmp / "training.safetensors"))
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "step": step,
            "config": config.to_dict(),
            "optimizer": optimizer_meta,
            "metrics": metrics or {},
            "torch_version": torch.__version__,
        }
        (tmp / "checkpoint.json").write_text(json.dumps(finite_json(meta), indent=2, allow_nan=False))
        for name in ("model.safetensors", "training.safetensors", "checkpoint.json"):
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():  # same step saved again: swap, then remove the old copy
            old = Path(tempfile.mkdtemp(prefix=f".old-step-{step:08d}-", dir=directory))
            os.replace(final, old / "ckpt")
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def drop_training_state(path: str | Path, parse=None) -> int:
    """Turn a checkpoint into a final one: remove its optimizer state (two thirds of an Adam
    checkpoint), keep the weights, config, metrics and RNG states. The checkpoint still loads
    and evaluates; ``--resume`` from it is refused with one line. Each file is replaced
    atomically. Returns the bytes saved. ``parse`` reads its config (as :func:`load`; an RL
    agent's: ``neurosync.rl.rl_from_dict``)."""
    ckpt = load(path, parse)
    if ckpt.meta.get("optimizer") is None:
        return 0
    before = (ckpt.path / "training.safetensors").stat().st_size
    # checkpoint.json first: a kill between the two replaces leaves unused optimizer tensors, never
    # a checkpoint whose metadata promises a state its tensors lack
    partial = ckpt.path / ".checkpoint.json.partial"
    partial.write_text(json.dumps(finite_json(dict(ckpt.meta, optimizer=None)), indent=2, allow_nan=False))
    os.replace(partial, ckpt.path / "checkpoint.json")
    rng = {k: v for k, v in ckpt.training_tensors.items() if k.startswith("rng.")}
    partial = ckpt.path / ".training.safetensors.partial"
    save_file(rng, str(partial))
    os.replace(partial, ckpt.path / "training.safetensors")
    return before - (ckpt.path / "training.safetensors").stat().st_size


def clean_stale(directory: Path) -> list[str]:
    """Tidy what a kill during :func:`save` can leave in ``directory``; returns what was removed.
    A ``.tmp-step-*`` folder is an unfinished write and goes. A ``.old-step-N-*`` folder holds
    the previous copy of step N while it is replaced; if the kill came between the two renames
    (no ``step-N``), that copy is the complete checkpoint and is put back, else it goes."""
    removed: list[str] = []
    if not directory.is_dir():
        return removed
    for stale in sorted(directory.iterdir()):
        match = re.match(r"^\.(tmp|old)-step-(\d{8})-", stale.name)
        if not match or not stale.is_dir():
            continue
        final = directory / f"step-{match.group(2)}"
        if match.group(1) == "old" and not final.exists() and (stale / "ckpt" / "checkpoint.json").is_file():
            os.replace(stale / "ckpt", final)
        shutil.rmtree(stale, ignore_errors=True)
        removed.append(stale.name)
    return removed


def latest(directory: Path) -> Path | None:
    """The highest-step complete checkpoint under ``directory``, or None."""
    if not directory.is_dir():
        return None
    steps = sorted(p for p in directory.iterdir() if _STEP_DIR.match(p.name) and (p / "checkpoint.json").is_file())
    return steps[-1] if steps else None


def resolve(path: str | Path) -> Path:
    """Accept a checkpoint directory, a run directory or its checkpoints/ folder."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if (path / "checkpoint.json").is_file():
        return path
    for candidate in (path / "checkpoints", path):
        found = latest(candidate)
        if found is not None:
            return found
    raise CheckpointError(f"no checkpoint in {path} (expected checkpoint.json or checkpoints/step-*/)")


def load(path: str | Path, parse=None) -> Checkpoint:
    """Read a checkpoint; any missing or corrupt part raises CheckpointError with one line.
    ``parse`` turns the stored config dict into a config (default: a training Config)."""
    path = resolve(path)
    try:
        meta = json.loads((path / "checkpoint.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path / 'checkpoint.json'} is unreadable: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path / 'checkpoint.json'} is not a NeuroSync checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {meta.get('version')} is not supported (expected {VERSION})")
    try:
        config = (parse or from_dict)(meta["config"])
    except (ConfigError, KeyError) as err:
        raise CheckpointError(f"{path}: stored config is invalid: {err}") from None
    tensors = {}
    for name in ("model.safetensors", "training.safetensors"):
        try:
            tensors[name] = load_file(str(path / name))
        except FileNotFoundError:
            raise CheckpointError(f"{path} lacks {name}") from None
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path / name} is corrupt: {err}") from None
    step = meta.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{path / 'checkpoint.json'}: 'step' must be a non-negative integer, got {step!r}")
    return Checkpoint(path, step, config, tensors["model.safetensors"], meta, tensors["training.safetensors"])


def restore_model(model: torch.nn.Module, ckpt: Checkpoint) -> None:
    """Load a checkpoint's weights into ``model``; weights of another model raise CheckpointError in one
    line."""
    try:
        model.load_state_dict(ckpt.model_state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0:2]
        raise CheckpointError(f"{ckpt.path}: weights do not fit the model: {' '.join(first)}") from None


def restore_training(optimizer: torch.optim.Optimizer, ckpt: Checkpoint) -> None:
    """Load a checkpoint's optimizer state and RNG states to resume training; a missing, corrupt or
    foreign optimizer state raises CheckpointError in one line."""
    if ckpt.meta.get("optimizer") is None:
        raise CheckpointError(f"{ckpt.path} holds no optimizer state; cannot resume training from it")
    try:
        state = _optimizer_state(ckpt.training_tensors, ckpt.meta["optimizer"])
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for index, entry in state["state"].items():
            for name, value in entry.items():  # per-parameter moments must have the parameter's shape
                if (
                    isinstance(value, torch.Tensor)
                    and value.dim() > 0
                    and (index >= len(params) or value.shape != params[index].shape)
                ):
                    shape = tuple(params[index].shape) if index < len(params) else "none (no such parameter)"
                    raise CheckpointError(
                        f"{ckpt.path / 'training.safetensors'}: the optimizer state belongs to another model "
                        f"(parameter {index} {name}: {tuple(value.shape)}, the model's: {shape})"
                    )
        optimizer.load_state_dict(state)
    except CheckpointError:
        raise  # already one line naming the parameter (CheckpointError is a ValueError)
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(
            f"{ckpt.path}: the optimizer state is corrupt or belongs to another model: {err}"
        ) from None
    restore_rng(ckpt.training_tensors)


def load_model(path: str | Path):
    """(model in eval mode, checkpoint) from a checkpoint or run directory."""
    from .build import build_model

    ckpt = load(path)
    model = build_model(ckpt.config)
    restore_model(model, ckpt)
    return model.eval(), ckpt
