"""The CTM assembled from a model config: the one tick loop (:class:`~neurosync.ctm.CTM`) with
the parts that ``model.*`` names. :class:`~neurosync.rate.RateCTM` (rate neuron-level models, the
paper's CTM) and :class:`~neurosync.spiking_ctm.SpikingCTM` (spiking neuron-level models) are this
assembly with their kind of neuron; every other part can be swapped independently, so ablations are
one-line config changes (e.g. rate neurons with plastic synapses, or spiking neurons read by the
rate synchrony)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import ModelConfig
from .ctm import CTM
from .parts.neurons import NeuronLevelModels
from .parts.perception import DirectInput, SynchronyAttention
from .parts.plastic import PlasticSynapse
from .parts.plastic_input import PlasticInputSynapse
from .parts.spiking import SpikingNeurons
from .parts.synapses import build_synapse
from .parts.synchrony import DecayedPairwiseSynchrony


class ConfiguredCTM(CTM):
    """The CTM assembled from a model config around a task backbone producing (batch, tokens,
    d_features): the synchrony, attention, synapse and neuron-level models that ``cfg`` names."""

    def __init__(
        self,
        cfg: ModelConfig,
        backbone: nn.Module,
        d_features: int,
        prediction_shape: tuple[int, ...],
        generator: torch.Generator | None = None,
    ):
        multiscale = cfg.synchrony == "spike-multiscale"
        tick_ms = cfg.spiking.substeps * cfg.spiking.dt_ms  # a spiking tick's duration (ms)
        synchrony = DecayedPairwiseSynchrony(
            cfg.d_model,
            cfg.n_synch_action,
            cfg.n_synch_out,
            cfg.neuron_pairing,
            cfg.n_self_pairs,
            generator,
            timescales=[tau / tick_ms for tau in cfg.spike_synchrony.timescales_ms] if multiscale else None,
            normalised=multiscale and cfg.spike_synchrony.normalised,
        )
        attention: nn.Module
        synapse: nn.Module
        if cfg.heads == 0:  # the reference's sort CTM: the input vector straight into the synapse
            attention = DirectInput()
        else:
            attention = SynchronyAttention(d_features, cfg.d_input, cfg.heads, synchrony.size_action, cfg.dropout)
        pl = cfg.plasticity
        trace_ticks = pl.trace_timescale_ms / tick_ms if cfg.neuron == "spiking" else pl.trace_timescale
        rule: dict[str, Any] = {  # the fast weight's rule and meta-parameters, the same on either site
            "rule": pl.rule,
            "implementation": pl.implementation,
            "learning_rate": pl.learning_rate,
            "trace_timescale": trace_ticks,
            "alpha_init": pl.alpha_init,
            "coefficients": pl.coefficients,
            "clip": pl.clip,
            "modulator": pl.modulator,
        }
        if cfg.synapse == "plastic-input":
            synapse = PlasticInputSynapse(
                cfg.d_input, cfg.d_model, depth=cfg.synapse_depth, dropout=cfg.dropout, **rule
            )
        elif cfg.synapse == "plastic":
            excitatory = None
            if cfg.neuron == "spiking" and cfg.spiking.dale:
                excitatory = torch.arange(cfg.d_model) < cfg.spiking.excitatory_count(cfg.d_model)
            synapse = PlasticSynapse(
                cfg.d_input,
                cfg.d_model,
                excitatory=excitatory,
                input_pathway=pl.input_pathway,
                recurrent_scale=cfg.spiking.recurrent_scale,
                inhibition_dominance=cfg.spiking.inhibition_dominance,
                site=pl.site,
                **rule,
            )
        else:
            synapse = build_synapse(cfg.d_input + cfg.d_model, cfg.d_model, cfg.synapse_depth, cfg.dropout)
        if cfg.synapse != "mlp" and not pl.learn_alpha:
            for name, param in synapse.named_parameters():
                if name.startswith("alpha"):
                    param.requires_grad_(False)
        neuron = build_neuron(cfg)
        super().__init__(backbone, attention, synapse, neuron, synchrony, cfg.ticks, prediction_shape)
        self.config = cfg


def build_neuron(cfg: ModelConfig) -> nn.Module:
    """The neuron-level models chosen by ``cfg.neuron``."""
    if cfg.neuron == "spiking":
        return SpikingNeurons(cfg.d_model, **cfg.spiking.neuron_options())
    return NeuronLevelModels(cfg.d_model, cfg.nlm.memory_length, cfg.nlm.deep, cfg.nlm.hidden, cfg.nlm.dropout)
