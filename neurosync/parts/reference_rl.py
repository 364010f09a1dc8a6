"""The parts of the reference CTM's RL agent (``models/ctm_rl.py``), for loading its weights.

The reference's RL CTM differs from its base CTM in four places, each a part here with the
reference's parameter names:

- no attention: the observation's features (a vector) enter the synapse directly
  (:class:`~neurosync.parts.perception.DirectInput`), from :class:`ClassicControlBackbone`
  (CartPole and the like: two Linear → GLU → LayerNorm blocks) or :class:`MiniGridBackbone`
  (object, colour, state and position embeddings of a symbolic grid, then the same blocks);
- the depth-1 synapse is two Linear → GLU → LayerNorm blocks (:class:`TwoBlockSynapse`);
- the synchrony (:class:`WindowedSynchrony`) is computed over the last ``memory_length``
  post-activations only (the activation trace the agent carries between environment steps),
  for every pair i ≤ j of the last ``n_synch_out`` neurons, each product weighted by
  exp(−(M − 1 − τ)·r_ij) with r_ij = clamp(decay_ij, 0, 4), divided by sqrt(Σ_τ of those weights);
- there is no readout: the agent's actor and critic read the synchrony. NeuroSync's CTM keeps
  a readout; :func:`neurosync.reference.from_reference` gives it zero weights, and nothing
  reads it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

RL_BACKBONES = ("classic-control-backbone", "navigation-backbone")
DECAY_MAX = 4.0  # the reference RL synchrony's clamp of the decay rates


def _glu_blocks(d_in: int, width: int) -> list[nn.Module]:
    return [
        nn.Linear(d_in, 2 * width),
        nn.GLU(),
        nn.LayerNorm(width),
        nn.Linear(width, 2 * width),
        nn.GLU(),
        nn.LayerNorm(width),
    ]


class ClassicControlBackbone(nn.Module):
    """Observation vectors (batch, ...) -> features (batch, width): flatten, two GLU blocks."""

    def __init__(self, observation: int, width: int):
        super().__init__()
        self.input_projector = nn.Sequential(nn.Flatten(), *_glu_blocks(observation, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.input_projector(x)


class MiniGridBackbone(nn.Module):
    """Symbolic grids (batch, H, W, 3) of (object, colour, state) codes -> features (batch, H·W·width)."""

    def __init__(
        self, width: int, grid: int = 7, objects: int = 11, colours: int = 6, states: int = 3, embedding: int = 8
    ):
        super().__init__()
        self.object_embedding = nn.Embedding(objects, embedding)
        self.color_embedding = nn.Embedding(colours, embedding)
        self.state_embedding = nn.Embedding(states, embedding)
        self.position_embedding = nn.Embedding(grid * grid, embedding)
        self.project_to_d_projection = nn.Sequential(*_glu_blocks(4 * embedding, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.long()
        batch, height, width, _ = x.shape
        position = torch.arange(height * width, device=x.device).view(1, height, width).expand(batch, -1, -1)
        parts = (
            self.object_embedding(x[..., 0]),
            self.color_embedding(x[..., 1]),
            self.state_embedding(x[..., 2]),
            self.position_embedding(position),
        )
        return self.project_to_d_projection(torch.cat(parts, dim=-1)).reshape(batch, -1)


class TwoBlockSynapse(nn.Module):
    """[features, post-activations] -> two Linear → GLU → LayerNorm blocks -> pre-activations."""

    def __init__(self, d_in: int, d_model: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear, self.norm = nn.Linear(d_in, 2 * d_model), nn.LayerNorm(d_model)
        self.linear2, self.norm2 = nn.Linear(d_model, 2 * d_model), nn.LayerNorm(d_model)

    def start(self, batch: int) -> None:
        return None

    def post_fan_out(self) -> int:
        """Output features of the first block, which reads the post-activations."""
        return self.linear.out_features

    def forward(self, features: torch.Tensor, post_activation: torch.Tensor, state=None, modulation=None):
        x = self.norm(nn.functional.glu(self.linear(self.dropout(torch.cat((features, post_activation), dim=-1)))))
        return self.norm2(nn.functional.glu(self.linear2(x))), state


class WindowedSynchrony(nn.Module):
    """Synchrony over the last ``window`` post-activations (see the module docstring).

    Its state is that window, (batch, neurons, window), starting from the learned
    ``start_activated_trace``; ``read`` gives no action synchrony (the agent has no attention).
    ``out_neurons_left/right`` are the reference's buffers, loaded but unused: its RL synchrony
    pairs the last ``n_synch_out`` neurons."""

    diagonal_mask_out: torch.Tensor  # (n, n) upper triangle of the pairs (buffer)

    def __init__(self, d_model: int, n_synch_out: int, window: int):
        super().__init__()
        bound = math.sqrt(1 / (d_model + window))
        self.start_activated_trace = nn.Parameter(torch.empty(d_model, window).uniform_(-bound, bound))
        self.size_action, self.size_out = 0, n_synch_out * (n_synch_out + 1) // 2
        self.n_synch = n_synch_out
        self.decay_out = nn.Parameter(torch.zeros(self.size_out))
        self.register_buffer("out_neurons_left", torch.arange(n_synch_out))
        self.register_buffer("out_neurons_right", torch.arange(n_synch_out))
        self.register_buffer("diagonal_mask_out", torch.triu(torch.ones(n_synch_out, n_synch_out, dtype=torch.bool)))

    def start(self, post: torch.Tensor) -> torch.Tensor:
        return self.start_activated_trace.unsqueeze(0).expand(post.shape[0], -1, -1)

    def forward(self, post: torch.Tensor, trace: torch.Tensor) -> torch.Tensor:
        return torch.cat((trace[:, :, 1:], post.unsqueeze(-1)), dim=-1)

    def read(self, trace: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        window = trace.shape[-1]
        lags = torch.arange(window - 1, -1, -1, device=trace.device, dtype=trace.dtype).unsqueeze(1)
        weights = torch.exp(-lags * torch.clamp(self.decay_out, 0, DECAY_MAX).unsqueeze(0))  # (window, pairs)
        last = trace[:, -self.n_synch :].transpose(1, 2)  # (batch, window, n)
        products = (last.unsqueeze(-1) * last.unsqueeze(-2))[:, :, self.diagonal_mask_out]  # (batch, window, pairs)
        out = (weights.unsqueeze(0) * products).sum(1) / torch.sqrt(weights.sum(0, keepdim=True))
        return trace.new_zeros(trace.shape[0], 0), out
