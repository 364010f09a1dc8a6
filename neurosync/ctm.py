"""The Continuous Thought Machine: one tick loop over interchangeable parts.

Per thought (Darlow et al. 2025, Alg. 1)::

    tokens      = backbone(x);  keys, values = attention.prepare(tokens)      # once
    z, memory   = neuron.start(batch);  sync = synchrony.start(z);  syn = synapse.start(batch)
    c = 0
    for tick in 1..T:                                      # CTM.tick
        o, attn = attention(action_synchrony(sync))        # perceive
        a, syn  = synapse(o, z, syn, c)                    # pre-activations (batch, neurons)
        z, mem  = neuron(a, mem)                           # post-activations (batch, neurons)
        sync    = synchrony(z, sync)                       # decayed pairwise products
        logits  = readout(output_synchrony(sync)); c = 1 - normalised entropy   # certainty

Parts only meet through these calls, so a spiking neuron, a plastic synapse or spike-train
synchrony replace the rate parts without touching this loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def normalised_entropy(logits: torch.Tensor, prediction_shape: tuple[int, ...]) -> torch.Tensor:
    """Entropy of the softmax over the last axis of `prediction_shape`, divided by its maximum
    log(classes), averaged over the other axes. logits (batch, prod(shape)) -> (batch,)."""
    logits = logits.reshape(logits.shape[0], -1, prediction_shape[-1]).float()
    log_p = F.log_softmax(logits, dim=-1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    return (entropy / math.log(prediction_shape[-1])).mean(-1)


@dataclass
class CTMOutput:
    """logits (batch, ticks, outputs); certainty (batch, ticks) = 1 - normalised entropy;
    output synchrony after the last tick (batch, size_out); activity (batch, neurons) = the
    post-activations averaged over ticks (for spiking neurons: the firing probability per
    simulation step)."""

    logits: torch.Tensor
    certainty: torch.Tensor
    synchrony_out: torch.Tensor
    activity: torch.Tensor


class CTM(nn.Module):
    """A CTM assembled from parts (see module docstring for the interfaces)."""

    def __init__(self, backbone, attention, synapse, neuron, synchrony, ticks: int, prediction_shape: tuple[int, ...]):
        super().__init__()
        self.backbone = backbone
        self.attention = attention
        self.synapse = synapse
        self.neuron = neuron
        self.synchrony = synchrony
        self.ticks = ticks
        self.prediction_shape = tuple(prediction_shape)
        self.readout = nn.Linear(synchrony.size_out, math.prod(self.prediction_shape))
        self._compiled_tick = None

    def compile_ticks(self, **options) -> None:
        """Compile the tick body with torch.compile for training (fuses the per-tick
        elementwise work and removes most per-op overhead). Evaluation keeps the eager tick,
        so other batch sizes do not trigger recompilation."""
        self._compiled_tick = torch.compile(self.tick, **options)

    def tick(self, sync, post, memory, synapse_state, certainty, keys, values, query_weight, query_bias, observe=None):
        """One thought tick: perceive, synapse, neuron, synchrony, readout. ``observe``, when
        given, is called with the tick's intermediate values (see neurosync.recording)."""
        action, _ = self.synchrony.read(sync)
        attended, attention = self.attention(action, keys, values, query_weight, query_bias)
        pre, synapse_state = self.synapse(attended, post, synapse_state, certainty)
        post, memory = self.neuron(pre, memory)
        sync = self.synchrony(post, sync)
        _, out = self.synchrony.read(sync)
        logits = self.readout(out)
        certainty = 1.0 - normalised_entropy(logits, self.prediction_shape)
        if observe is not None:
            observe(attention=attention, pre=pre, post=post, memory=memory, synapse_state=synapse_state,
                    synchrony=self.synchrony.read(sync), logits=logits, certainty=certainty)
        return sync, post, memory, synapse_state, logits, certainty

    def forward(self, x: torch.Tensor, observe=None) -> CTMOutput:
        batch = x.shape[0]
        keys, values, query_weight, query_bias = self.attention.prepare(self.backbone(x))
        post, memory = self.neuron.start(batch)
        sync = self.synchrony.start(post)
        synapse_state = self.synapse.start(batch)
        certainty = post.new_zeros(batch)
        tick = self._compiled_tick if self.training and self._compiled_tick is not None else self.tick
        logits, certainties, activity = [], [], 0.0
        for _ in range(self.ticks):
            sync, post, memory, synapse_state, tick_logits, certainty = tick(
                sync, post, memory, synapse_state, certainty, keys, values, query_weight, query_bias, observe
            )
            logits.append(tick_logits)
            certainties.append(certainty)
            activity = activity + post
        return CTMOutput(torch.stack(logits, dim=1), torch.stack(certainties, dim=1), self.synchrony.read(sync)[1],
                         activity / self.ticks)

    @torch.no_grad()
    def record(self, x: torch.Tensor, dt: float = 1e-3, config=None, ticks: int | None = None):
        """Run one thought per input and return a :class:`neurosync.recording.Recording` of it
        (every tick's spikes or activations, pre-activations, membranes, synchrony, attention,
        logits, certainty, plastic-weight norms). ``dt`` is the declared duration of a tick in
        seconds; ``ticks`` lets the thought run longer (or shorter) than the trained number, e.g.
        for spectra with a finer frequency resolution 1 / (ticks · dt). No autograd graph is kept."""
        from .recording import record_thought

        return record_thought(self, x, dt, config, ticks)
