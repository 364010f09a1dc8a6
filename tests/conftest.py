import json
from pathlib import Path

import pytest
import torch

from neurosync.config import from_dict

REPO = Path(__file__).resolve().parents[1]


def config_path(name: str) -> Path:
    """A training config of the repository by name: configs/<task>/<name>.toml."""
    found = sorted((REPO / "configs").glob(f"*/{name}.toml"))
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


FIXTURE_DIR = REPO / "tests" / "fixtures"
# the reference CTM's parity model and image classifier (resnet18-2), run by the reference code (fixtures/README.md)
REFERENCE_PARITY16 = FIXTURE_DIR / "reference_ctm_parity16.npz"
REFERENCE_IMAGE = FIXTURE_DIR / "reference_ctm_image_resnet18_2.npz"


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.set_num_threads(min(2, torch.get_num_threads()))


def tiny_config(**train):
    """A config small enough for a training step in milliseconds."""
    return from_dict(
        {
            "name": "tiny",
            "task": {"sequence_length": 6},
            "model": {
                "ticks": 4,
                "d_model": 16,
                "d_input": 8,
                "heads": 2,
                "n_synch_out": 6,
                "n_synch_action": 5,
                "nlm": {"memory_length": 3, "hidden": 4},
            },
            "train": {
                "steps": 6,
                "batch_size": 8,
                "eval_every": 3,
                "eval_samples": 32,
                "final_eval_samples": 64,
                "checkpoint_every": 3,
                "warmup_steps": 2,
                **train,
            },
        }
    )


def set_model_keys(cfg, keys):
    """Set [model] keys on a config: {"neuron": "spiking", "plasticity": {"rule": "abcd"}} sets
    cfg.model.neuron and cfg.model.plasticity.rule; returns the config."""
    for key, value in keys.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                setattr(getattr(cfg.model, key), sub, v)
        else:
            setattr(cfg.model, key, value)
    return cfg


def parity3_config(**model):
    """tiny_config on 3-bit parity with settings under which 60 steps visibly learn;
    `model` sets [model] keys, e.g. neuron="spiking"."""
    cfg = tiny_config(steps=60, eval_every=10, lr=1e-2, warmup_steps=5)
    cfg.task.sequence_length = 3
    for key, value in model.items():
        setattr(cfg.model, key, value)
    return cfg


def read_metrics(run_dir):
    """The evaluation records a run wrote to metrics.jsonl, in order."""
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
