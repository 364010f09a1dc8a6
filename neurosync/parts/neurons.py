"""Neuron-level models (NLMs): each neuron turns the history of its own pre-activations into
its post-activation with a private MLP (no weights shared across neurons).

Interface (shared with the spiking neurons of later parts)::

    post, state = neuron.start(batch)          # learned start post-activation and history
    post, state = neuron(pre_activation, state)

State here is the pre-activation history laid out (neurons, batch, memory) so that the private
MLPs run as one batched matmul over neurons (``baddbmm``) without per-tick transposes of
weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PrivateGLU(nn.Module):
    """One gated linear map per neuron: (neurons, batch, d_in) -> (neurons, batch, d_out),

        out = (x·W_value + b_value) / T  ⊙  sigmoid((x·W_gate + b_gate) / T)

    i.e. the reference's ``SuperLinear`` (with its learned scalar temperature T) followed by
    GLU. Value and gate weights are stored apart so that each half is a contiguous batched
    matmul; this halves the cost of the neuron-level models against one matmul split by GLU.
    """

    def __init__(self, neurons: int, d_in: int, d_out: int, dropout: float = 0.0):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in + 2 * d_out)
        self.weight_value = nn.Parameter(torch.empty(neurons, d_in, d_out).uniform_(-bound, bound))
        self.weight_gate = nn.Parameter(torch.empty(neurons, d_in, d_out).uniform_(-bound, bound))
        self.bias_value = nn.Parameter(torch.zeros(neurons, 1, d_out))
        self.bias_gate = nn.Parameter(torch.zeros(neurons, 1, d_out))
        self.temperature = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(x)
        inv_t = 1.0 / self.temperature
        value = torch.baddbmm(self.bias_value * inv_t, x, self.weight_value * inv_t)
        gate = torch.baddbmm(self.bias_gate * inv_t, x, self.weight_gate * inv_t)
        return value * torch.sigmoid(gate)


class NeuronLevelModels(nn.Module):
    """Private GLU-MLPs over the last `memory_length` pre-activations of each neuron.

    deep:    history -(linear, 2·hidden)-> GLU -(linear, 2)-> GLU -> post-activation
    shallow: history -(linear, 2)-> GLU -> post-activation

    GLU keeps each layer's output gated and bounded-ish; the paper found it worked well.
    """

    state_batch_dim = 1  # the history is (neurons, batch, memory); see CTM.restart

    def __init__(self, neurons: int, memory_length: int, deep: bool = True, hidden: int = 16, dropout: float = 0.0):
        super().__init__()
        self.neurons = neurons
        self.memory_length = memory_length
        widths = [memory_length, hidden, 1] if deep else [memory_length, 1]
        self.layers = nn.ModuleList(
            PrivateGLU(neurons, d_in, d_out, dropout) for d_in, d_out in zip(widths[:-1], widths[1:])
        )
        self.start_post_activation = nn.Parameter(
            torch.empty(neurons).uniform_(-math.sqrt(1 / neurons), math.sqrt(1 / neurons))
        )
        bound = math.sqrt(1 / (neurons + memory_length))
        self.start_history = nn.Parameter(torch.empty(neurons, memory_length).uniform_(-bound, bound))

    def start(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> post-activation (batch, neurons), history (neurons, batch, memory)."""
        post = self.start_post_activation.unsqueeze(0).expand(batch, -1)
        history = self.start_history.unsqueeze(1).expand(-1, batch, -1)
        return post, history

    def forward(self, pre_activation: torch.Tensor, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pre_activation (batch, neurons) -> post-activation (batch, neurons), new history."""
        history = torch.cat((history[:, :, 1:], pre_activation.t().unsqueeze(-1)), dim=-1)
        h = history
        for layer in self.layers:
            h = layer(h)
        return h.squeeze(-1).t(), history
