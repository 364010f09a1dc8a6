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
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    tensors = {"rng.torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.torch_cuda.{i}"] = state
    return tensors


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
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
        (tmp / "checkpoint.json").write_text(json.dumps(meta, indent=2))
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
    return Checkpoint(path, int(meta["step"]), config, tensors["model.safetensors"], meta, tensors["training.safetensors"])


def restore_model(model: torch.nn.Module, ckpt: Checkpoint) -> None:
    try:
        model.load_state_dict(ckpt.model_state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0:2]
        raise CheckpointError(f"{ckpt.path}: weights do not fit the model: {' '.join(first)}") from None


def restore_training(optimizer: torch.optim.Optimizer, ckpt: Checkpoint) -> None:
    if ckpt.meta.get("optimizer") is None:
        raise CheckpointError(f"{ckpt.path} holds no optimizer state; cannot resume training from it")
    optimizer.load_state_dict(_optimizer_state(ckpt.training_tensors, ckpt.meta["optimizer"]))
    restore_rng(ckpt.training_tensors)


def load_model(path: str | Path):
    """(model in eval mode, checkpoint) from a checkpoint or run directory."""
    from .build import build_model

    ckpt = load(path)
    model = build_model(ckpt.config)
    restore_model(model, ckpt)
    return model.eval(), ckpt
