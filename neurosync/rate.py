"""RateCTM: the CTM of the paper (Darlow et al. 2025), rate neurons with private MLPs over their
own history (neuron-level models), MLP/U-Net or plastic synapses and learned-decay pairwise
synchrony; it reproduces the reference implementation's outputs from its weights
(:mod:`neurosync.reference`)."""

from __future__ import annotations

from .assembly import ConfiguredCTM
from .config import ModelConfig


class RateCTM(ConfiguredCTM):
    """The CTM with rate neuron-level models (``cfg.neuron == "nlm"``)."""

    def __init__(self, cfg: ModelConfig, *args, **kwargs):
        if cfg.neuron == "spiking":
            raise ValueError("RateCTM needs rate neurons (model.neuron = 'nlm'), got 'spiking' (use SpikingCTM)")
        super().__init__(cfg, *args, **kwargs)
