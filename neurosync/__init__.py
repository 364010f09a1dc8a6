"""NeuroSync: biologically plausible Continuous Thought Machines.

Importing the package is light: torch-backed parts load on first use, and optional stacks
(Brian2, analysis, I/O) only where they are used.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_LAZY = {
    "CTM": "neurosync.ctm",
    "CTMOutput": "neurosync.ctm",
    "RateCTM": "neurosync.rate",
    "SpikingCTM": "neurosync.spiking_ctm",
    "Config": "neurosync.config",
    "ConfigError": "neurosync.config",
    "load_config": ("neurosync.config", "load"),
    "build_model": "neurosync.build",
    "load_model": ("neurosync.checkpoint", "load_model"),
    "train": ("neurosync.training", "train"),
    "evaluate": ("neurosync.training", "evaluate"),
    "Recording": ("neurosync.recording", "Recording"),
    "from_pretrained": ("neurosync.hub", "from_pretrained"),
    "save_pretrained": ("neurosync.hub", "save_pretrained"),
    "pretrained": ("neurosync.zoo", "pretrained"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'neurosync' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    return getattr(importlib.import_module(module), attr)
