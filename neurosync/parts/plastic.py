"""Plastic synapses: a fast Hebbian weight H that starts at zero for every sample and evolves
over the ticks of one thought, on top of slow weights learned by backprop.

At the synapse call of tick t, with s = s[t−1] the post-activations (spikes) of the last tick::

    traces   x[t−1] = λ x[t−2] + (1 − λ) s[t−1]              λ = exp(−1/τ), x = 0 at the start
    Miconi   H[t]   = (1 − η) ⊙ H[t−1] + η ⊙ x[t−1] ⊗ x[t−2]  post ⊗ pre (causal), H = 0 at the start
    current  a[t]   = W_in · o[t] + (W_rec + α ⊙ H[t]) · s + b

η ∈ (0, 1) is learned per postsynaptic neuron (a sigmoid, no clamping). Miconi's update is a
convex combination, so |H| never exceeds max|x_i x_j| (≤ 1 for spike traces): it cannot
explode. The meta-parameters α, η (and W_in, W_rec, b) are learned by backprop through the
ticks.

Two implementations of the same rule:

- ``dense``: H materialised, (batch, neurons, neurons) per tick; α a full matrix.
- ``factorised``: α = a ⊗ b (rank one). Then (α ⊙ H) s = a ⊙ H (b ⊙ s) and, unrolling H,

      H[t] (b ⊙ s) = Σ_k η (1 − η)^(t−k) ⊙ x[k−1] · (x[k−2] · (b ⊙ s))

  so only the traces are kept (linear-attention form): memory O(ticks · neurons), not
  O(ticks · neurons²). With α = a ⊗ b both give the same currents.
"""

from __future__ import annotations

import math

import torch
from torch import nn

class PlasticSynapse(nn.Module):
    """Linear synapse with a Miconi-rule fast weight; same interface as the rate synapses."""

    def __init__(self, d_input: int, d_model: int, implementation: str = "dense", learning_rate: float = 0.1,
                 trace_timescale: float = 2.0, alpha_init: float = 0.1):
        super().__init__()
        self.implementation = implementation
        self.input = nn.Linear(d_input, d_model)
        self.recurrent = nn.Linear(d_model, d_model, bias=False)
        self.eta_raw = nn.Parameter(torch.logit(torch.full((d_model,), learning_rate)))
        self.trace_decay = math.exp(-1.0 / trace_timescale)
        if implementation == "dense":
            self.alpha = nn.Parameter(torch.full((d_model, d_model), alpha_init))
        else:
            self.alpha_post = nn.Parameter(torch.full((d_model,), math.sqrt(alpha_init)))
            self.alpha_pre = nn.Parameter(torch.full((d_model,), math.sqrt(alpha_init)))
        self.d_model = d_model

    def learning_rate(self) -> torch.Tensor:
        """η per postsynaptic neuron, in (0, 1)."""
        return torch.sigmoid(self.eta_raw)

    def start(self, batch: int):
        """(trace, plastic state): trace (batch, neurons) = 0; dense: H (batch, neurons, neurons) = 0;
        factorised: the traces so far, (batch, 0, neurons) post and pre."""
        trace = self.input.weight.new_zeros(batch, self.d_model)
        if self.implementation == "dense":
            return trace, trace.new_zeros(batch, self.d_model, self.d_model)
        empty = trace.new_zeros(batch, 0, self.d_model)
        return trace, (empty, empty)

    def forward(self, attention_out: torch.Tensor, post_activation: torch.Tensor, state):
        previous_trace, plastic = state
        trace = self.trace_decay * previous_trace + (1 - self.trace_decay) * post_activation
        eta = self.learning_rate()
        if self.implementation == "dense":
            hebb = (1 - eta).view(1, -1, 1) * plastic + eta.view(1, -1, 1) * trace.unsqueeze(2) * previous_trace.unsqueeze(1)
            plastic_current = ((self.alpha * hebb) @ post_activation.unsqueeze(-1)).squeeze(-1)
            new_plastic = hebb
        else:
            posts = torch.cat((plastic[0], trace.unsqueeze(1)), dim=1)  # (batch, k, neurons): x[k−1]
            pres = torch.cat((plastic[1], previous_trace.unsqueeze(1)), dim=1)  # x[k−2]
            ticks = posts.shape[1]
            age = torch.arange(ticks - 1, -1, -1, device=posts.device, dtype=posts.dtype).view(1, -1, 1)
            weights = eta * torch.exp(age * torch.log1p(-eta))  # (1, k, neurons): η (1 − η)^(t−k)
            overlap = (pres * (self.alpha_pre * post_activation).unsqueeze(1)).sum(-1, keepdim=True)  # (batch, k, 1)
            plastic_current = self.alpha_post * (weights * posts * overlap).sum(1)
            new_plastic = (posts, pres)
        current = self.input(attention_out) + self.recurrent(post_activation) + plastic_current
        return current, (trace, new_plastic)
