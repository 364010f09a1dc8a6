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

The zoo: ``models/zoo.toml`` lists the shipped checkpoints with the headline number of each card
and the command that reproduces it; :func:`pretrained` loads one by name and :func:`zoo` lists
them (``neurosync models``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .checkpoint import CheckpointError

FORMAT = "neurosync-model"
VERSION = 1
ZOO_KEYS = ("card", "metric", "value", "samples", "command")  # one [name] table of models/zoo.toml
REPO = Path(__file__).resolve().parents[1]


def _models_dir() -> Path:
    """The zoo's folder: $NEUROSYNC_MODELS, else the repository's models/."""
    return Path(os.environ.get("NEUROSYNC_MODELS", REPO / "models"))


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


def zoo() -> list[dict]:
    """The shipped checkpoints (``models/zoo.toml``), each with its card's headline: name, card,
    metric, value, samples, command, and the checkpoint's task, neuron, synapse, parameters, step and size."""
    from .config import ConfigError, read_toml

    index = _models_dir() / "zoo.toml"
    if not index.is_file():
        raise CheckpointError(f"no zoo index at {index} (set NEUROSYNC_MODELS to a models/ folder)")
    entries = read_toml(index, "zoo")
    entries.pop("name")  # read_toml's default, not a model
    rows = []
    for name, entry in entries.items():
        if not isinstance(entry, dict) or set(entry) != set(ZOO_KEYS):
            raise ConfigError(f"{index}: [{name}] must give exactly {', '.join(ZOO_KEYS)}")
        folder = index.parent / name
        meta = json.loads((folder / "checkpoint.json").read_text()) if (folder / "checkpoint.json").is_file() else {}
        config = meta.get("config", {})
        model = config.get("model", {})
        task = config["env"].get("id") if "env" in config else config.get("task", {}).get("name")
        rows.append(
            {
                "name": name,
                **entry,
                "task": task,
                "neuron": model.get("neuron"),
                "synapse": model.get("synapse"),
                "step": meta.get("step"),
                "size_mb": round(sum(f.stat().st_size for f in folder.iterdir()) / 1e6, 2) if folder.is_dir() else None,
            }
        )
    return rows


HEADLINE_TOLERANCE = 0.005  # a card's headline must be reproduced to ±0.5 point (of a percentage)
RETURN_TOLERANCE = 0.5  # an agent's mean return (greedy episodes from fixed seeds), to ±0.5


def headline_tolerance(metric: str) -> float:
    """How far a re-measured headline may lie from its card's: ±0.5 point."""
    return RETURN_TOLERANCE if metric == "mean_return" else HEADLINE_TOLERANCE


def headline_value(metric: str, value: float) -> str:
    """A headline's value as the zoo prints it: a return (495.7) or a percentage (97.76%)."""
    return f"{value:.1f}" if metric == "mean_return" else f"{100 * value:.2f}%"


def headline_text(metric: str, value: float, samples: int) -> str:
    """A headline as the zoo prints it: a percentage on inputs, or a return over episodes."""
    if metric == "mean_return":
        return f"mean return {headline_value(metric, value)} over {samples:,} greedy episodes"
    return f"{metric} {headline_value(metric, value)} on {samples:,} inputs"


def measure(row: dict) -> float:
    """Re-measure a zoo entry's headline: its checkpoint on the first ``samples`` inputs of the task's
    evaluation set, noise seeded 0 (``neurosync evaluate models/NAME --samples N`` prints the same);
    an RL agent's mean return over ``samples`` greedy episodes from the evaluation seeds
    (``neurosync.rl.evaluate_agent``)."""
    from .tasks import get_task
    from .training import evaluate

    model, config = from_pretrained(_models_dir() / row["name"])
    if row["metric"] == "mean_return":
        from .rl import evaluate_agent

        ctm = getattr(model.core, "ctm", None)  # None: the LSTM agent
        if ctm is not None and hasattr(ctm.neuron, "seed_noise"):
            ctm.neuron.seed_noise(0)
        return float(evaluate_agent(model, config, row["samples"])["mean_return"])
    if hasattr(model.neuron, "seed_noise"):
        model.neuron.seed_noise(0)
    x, y = get_task(config.task).eval_set(config.task, row["samples"], config.train.seed)
    return float(evaluate(model, config, x, y)[row["metric"]])


def pretrained(name: str):
    """(model in eval mode, Config) of a shipped checkpoint, by name (``neurosync models`` lists them)."""
    names = [row["name"] for row in zoo()]
    if name not in names:
        raise CheckpointError(f"no pretrained model {name!r}; shipped: {', '.join(names)}")
    return from_pretrained(_models_dir() / name)
