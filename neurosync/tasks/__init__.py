"""Tasks: data, the backbone that reads it, the prediction shape, and metrics."""

from __future__ import annotations

from ..config import TaskConfig
from . import parity

TASKS = {"parity": parity}


def get_task(cfg: TaskConfig):
    return TASKS[cfg.name]
