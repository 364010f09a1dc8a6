"""Models in the Hugging Face Hub's layout, and the pretrained zoo shipped in ``models/``.

A NeuroSync model folder is what huggingface_hub's ``ModelHubMixin.save_pretrained`` writes::

    config.json        {"library": "neurosync", "format": "neurosync-model", "version": 1, "config": {...}}
    model.safetensors  the model's state_dict
    README.md          the model card (front matter ``library_name: neurosync``)

:func:`from_pretrained` reads such a folder, a NeuroSync checkpoint directory (``checkpoint.json``,
as ``neurosync train`` writes and ``models/<name>/`` ships), or a folder the reference CTM's
``PyTorchModelHubMixin`` wrote (``config.json`` of its constructor arguments beside
``model.safetensors``): the reference model becomes a RateCTM with the same outputs
(:mod:`neurosync.reference`). A name that is no local folder is a hub repository id, downloaded
with huggingface_hub (the ``hub`` extra) when the machine is online. Nothing is unpickled.

The pretrained zoo of shipped model folders is :mod:`neurosync.zoo`.
"""

from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import CheckpointError

FORMAT = "neurosync-model"
VERSION = 1


def save_pretrained(model, config, directory: str | Path, card: str | None = None) -> Path:
    """Write ``model`` and its training ``config`` (a :class:`~neurosync.config.Config`) as a hub
    model folder; ``card`` is the README's text (a short one naming the task is written otherwise)."""
    from safetensors.torch import save_model

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"library": "neurosync", "format": FORMAT, "version": VERSION, "config": config.to_dict()}
    (directory / "config.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    save_model(model, str(directory / "model.safetensors"))  # handles tied tensors, as the mixin does
    kind = "SpikingCTM" if config.model.neuron == "spiking" else "RateCTM"
    text = card or (
        f"A NeuroSync {kind} ({config.name}) trained on the {config.task.name} task.\n\n"
        f'    model, config = neurosync.from_pretrained("{directory.name}")\n'
    )
    (directory / "README.md").write_text(
        f"---\nlibrary_name: neurosync\ntags:\n- continuous-thought-machine\n- {kind}\n---\n\n{text}"
    )
    return directory


def from_pretrained(name_or_path: str | Path, revision: str | None = None, cache_dir: str | Path | None = None):
    """(model in eval mode, Config) from a local folder (hub layout, NeuroSync checkpoint, or the
    reference CTM's hub layout) or a hub repository id (``owner/name``; needs the network)."""
    path = Path(name_or_path)
    if not path.exists():
        if str(name_or_path).count("/") != 1 or str(name_or_path).startswith((".", "/")):
            raise CheckpointError(f"{name_or_path} is neither a local folder nor a hub repository id (owner/name)")
        from ._optional import require

        hub = require("huggingface_hub", "hub")
        try:
            path = Path(
                hub.snapshot_download(
                    str(name_or_path),
                    revision=revision,
                    cache_dir=cache_dir,
                    allow_patterns=["*.json", "*.safetensors", "README.md"],
                )
            )
        except Exception as err:  # offline, unknown repo, gated: one line either way
            raise CheckpointError(f"cannot download {name_or_path} from the hub: {type(err).__name__}: {err}") from None
    return _load_folder(path)


def _is_agent(folder: Path) -> bool:
    """Whether a checkpoint folder holds an RL agent (``neurosync rl``: its config has an env)."""
    try:
        return "env" in json.loads((folder / "checkpoint.json").read_text()).get("config", {})
    except (OSError, ValueError, AttributeError):
        return False


def _load_folder(path: Path):
    from . import checkpoint

    if _is_agent(path):  # an RL agent: (the agent with its CTM core and heads, RLConfig)
        from .rl import load_agent

        agent, ckpt = load_agent(path)
        return agent, ckpt.config
    if (path / "checkpoint.json").is_file() or (path / "checkpoints").is_dir():
        model, ckpt = checkpoint.load_model(path)
        return model, ckpt.config
    try:
        meta = json.loads((path / "config.json").read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} holds no model (expected config.json and model.safetensors, or checkpoint.json)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path / 'config.json'} is unreadable: {err}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path / 'config.json'} is not a model config (a JSON object)")
    if meta.get("format") == FORMAT:
        return _neurosync_model(path, meta)
    if "iterations" in meta and "backbone_type" in meta:  # the reference CTM's constructor arguments
        from .reference import reference_model

        return reference_model(_weights(path), meta)
    raise CheckpointError(f"{path / 'config.json'} is neither a NeuroSync model nor the reference CTM's configuration")


def _weights(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path / "model.safetensors"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} lacks model.safetensors") from None
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path / 'model.safetensors'} is corrupt: {err}") from None


def _neurosync_model(path: Path, meta: dict):
    from .build import build_model
    from .config import ConfigError, from_dict

    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: model version {meta.get('version')} is not supported (expected {VERSION})")
    try:
        config = from_dict(meta["config"])
    except (ConfigError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: stored config is invalid: {err}") from None
    weights = _weights(path)
    model = build_model(config)
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: weights do not fit the model: {' '.join(str(err).strip().splitlines()[:2])}"
        ) from None
    return model.eval(), config
