"""Synapse models: pre-activations from [attention output, previous post-activations].

Interface (shared with the plastic synapses)::

    state = synapse.start(batch)                                  # per-thought state, or None
    pre, state = synapse(attention_out, post_activation, state, modulation)   # all (batch, ·)

``modulation`` (batch,) is the CTM's certainty at the previous tick; only a neuromodulated
plastic synapse reads it.

The synapse is the CTM's only cross-neuron recurrence; the rate versions here are the paper's
and stateless.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class GLUSynapse(nn.Module):
    """Depth-1 synapse: dropout -> linear -> GLU -> LayerNorm."""

    def __init__(self, d_in: int, d_model: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(d_in, 2 * d_model)
        self.norm = nn.LayerNorm(d_model)

    def start(self, batch: int) -> None:
        return None

    def post_fan_out(self) -> int:
        """Output features of the layer that reads the post-activations."""
        return self.linear.out_features

    def forward(self, attention_out: torch.Tensor, post_activation: torch.Tensor, state=None, modulation=None):
        x = torch.cat((attention_out, post_activation), dim=-1)
        return self.norm(nn.functional.glu(self.linear(self.dropout(x)), dim=-1)), state


def _block(d_in: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(d_in, d_out), nn.LayerNorm(d_out), nn.SiLU())


class UNetSynapse(nn.Module):
    """Depth > 1 synapse: a U-Net of linear layers with skip connections (the paper's deep
    synapse). Widths fall linearly from d_model to `minimum_width` over `depth` levels; the
    up path adds each level's down output and normalises, so information mixes at several
    widths."""

    def __init__(self, d_in: int, d_model: int, depth: int, minimum_width: int = 16, dropout: float = 0.0):
        super().__init__()
        widths = [int(w) for w in np.linspace(d_model, minimum_width, depth)]
        self.first = nn.Sequential(nn.Linear(d_in, widths[0]), nn.LayerNorm(widths[0]), nn.SiLU())
        self.down = nn.ModuleList(_block(widths[i], widths[i + 1], dropout) for i in range(depth - 1))
        self.up = nn.ModuleList(_block(widths[i + 1], widths[i], dropout) for i in range(depth - 1))
        self.skip_norms = nn.ModuleList(nn.LayerNorm(widths[i]) for i in range(depth - 1))

    def post_fan_out(self) -> int:
        """Output features of the first layer, which reads the post-activations."""
        first: nn.Linear = self.first[0]  # type: ignore[assignment]  # Sequential indexes as Module
        return first.out_features

    def start(self, batch: int) -> None:
        return None

    def forward(self, attention_out: torch.Tensor, post_activation: torch.Tensor, state=None, modulation=None):
        levels = [self.first(torch.cat((attention_out, post_activation), dim=-1))]
        for layer in self.down:
            levels.append(layer(levels[-1]))
        out = levels[-1]
        for i in reversed(range(len(self.up))):
            out = self.skip_norms[i](self.up[i](out) + levels[i])
        return out, state


def build_synapse(d_in: int, d_model: int, depth: int, dropout: float) -> GLUSynapse | UNetSynapse:
    """The CTM's synapse from ``d_in`` inputs to ``d_model`` pre-activations: the GLU synapse at depth
    1, the U-Net one deeper."""
    if depth == 1:
        return GLUSynapse(d_in, d_model, dropout)
    return UNetSynapse(d_in, d_model, depth, dropout=dropout)
