"""SpikingCTM: the CTM with spiking neuron-level models in physical time (dendritic filters, a
LIF/ALIF soma, a refractory period, intrinsic noise; :mod:`neurosync.parts.spiking`), typically
with plastic synapses under Dale's law and spike synchrony across timescales; ``model.regime =
"cortical"`` builds it in the cortical regime (:mod:`neurosync.cortical`)."""

from __future__ import annotations

from .assembly import ConfiguredCTM
from .config import ModelConfig


class SpikingCTM(ConfiguredCTM):
    """The CTM with spiking neuron-level models (``cfg.neuron == "spiking"``)."""

    def __init__(self, cfg: ModelConfig, *args, **kwargs):
        if cfg.neuron != "spiking":
            raise ValueError(f"SpikingCTM needs model.neuron = 'spiking', got {cfg.neuron!r} (use RateCTM)")
        super().__init__(cfg, *args, **kwargs)
