"""Build a model from a validated Config."""

from __future__ import annotations

import torch

from .config import Config, validate
from .ctm import CTM
from .lstm import LSTMBaseline
from .rate import RateCTM
from .spiking_ctm import SpikingCTM
from .tasks import get_task


def build_model(cfg: Config) -> CTM | LSTMBaseline:
    """Initialise a CTM for cfg's task; parameters and neuron pairs follow cfg.train.seed. The
    config is validated first (ConfigError naming the first impossible value)."""
    validate(cfg)
    task = get_task(cfg.task)
    torch.manual_seed(cfg.train.seed)
    backbone, d_features = task.backbone(cfg.task, cfg.model)
    if cfg.model.architecture == "lstm":
        return LSTMBaseline(cfg.model, backbone, d_features, task.prediction_shape(cfg.task))
    generator = torch.Generator().manual_seed(cfg.train.seed)
    cls = SpikingCTM if cfg.model.neuron == "spiking" else RateCTM
    return cls(cfg.model, backbone, d_features, task.prediction_shape(cfg.task), generator)
