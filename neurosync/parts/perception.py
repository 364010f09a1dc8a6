"""Perception: input features (keys/values) and the synchrony-driven attention query.

The CTM reads its input once per thought: the backbone turns ``x`` into tokens and the
key/value projections are computed **once**, not once per tick (the reference re-projects
keys and values inside ``nn.MultiheadAttention`` at every tick). Each tick only the query,
computed from the *action* synchronisation, changes.

An input that changes over the ticks (Q&A digits: images, then question parts, then
nothing) is one bank of tokens with a per-tick visibility mask (:class:`TickTokens`): keys
and values are still projected once, and each tick attends only to the tokens visible then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .capture import capturing


class RotationalEmbedding1D(nn.Module):
    """Positional embedding of a 1-D sequence: a unit vector rotated from 0 to 180 degrees
    along the sequence, projected linearly to the feature width (the reference's
    ``custom-rotational-1d``)."""

    def __init__(self, width: int):
        super().__init__()
        self.projection = nn.Linear(2, width)

    def forward(self, length: int, device: torch.device) -> torch.Tensor:
        """Returns (length, width)."""
        angle = torch.deg2rad(torch.linspace(0, 180, length, device=device, dtype=self.projection.weight.dtype))
        # R(angle) @ (0, 1) = (-sin, cos)
        unit = torch.stack((-torch.sin(angle), torch.cos(angle)), dim=-1)
        return self.projection(unit)


class ParityBackbone(nn.Module):
    """Embeds a ±1 sequence (batch, length) as tokens (batch, length, width), plus an
    optional positional embedding. ``length`` (when given) is the one sequence length the
    model was built for; any other input shape, or a value other than ±1, is a ValueError."""

    def __init__(self, width: int, positional_embedding: str = "rotational-1d", length: int | None = None):
        super().__init__()
        self.embedding = nn.Embedding(2, width)
        self.positional = RotationalEmbedding1D(width) if positional_embedding == "rotational-1d" else None
        self.length = length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = f"(batch, {self.length})" if self.length else "(batch, length)"
        if x.dim() != 2 or (self.length and x.shape[1] != self.length):
            raise ValueError(f"a parity input must have shape {expected} of ±1 values, got shape {tuple(x.shape)}")
        if not capturing() and not bool(((x == 1) | (x == -1)).all()):  # a host read: not inside a CUDA graph's capture
            bad = x[(x != 1) & (x != -1)].flatten()[0].item()
            raise ValueError(f"a parity input holds only ±1 values, got {bad!r} (shape {tuple(x.shape)})")
        tokens = self.embedding((x == 1).long())
        if self.positional is not None:
            tokens = tokens + self.positional(x.shape[1], x.device)
        return tokens


@dataclass
class TickTokens:
    """A backbone's output for an input that changes over the ticks.

    tokens (batch, length, d_features): every token the thought will see;
    visible (batch, ticks, length) bool: which of them tick t may attend to (at least one per
    tick). A thought longer than ``ticks`` keeps the last tick's mask.
    direct (batch, ticks, d_input), optional, with ``direct_ticks`` (one bool per tick): on the
    ticks marked true attention is bypassed and ``direct[:, t]`` itself enters the synapse (the
    reference's QA-MNIST CTM feeds its question embeddings, and zeros while it answers, so).
    thought_ticks, optional: the input sets the thought's length (the reference's QA-MNIST: one
    tick per shown item, then the answer ticks), instead of the model's ``ticks``.
    """

    tokens: torch.Tensor
    visible: torch.Tensor
    direct: torch.Tensor | None = None
    direct_ticks: tuple[bool, ...] = ()
    thought_ticks: int | None = None

    def direct_input(self, tick: int) -> torch.Tensor | None:
        """(batch, d_input) entering the synapse instead of attention at ``tick``, or None."""
        if self.direct is None or not self.direct_ticks[min(tick, len(self.direct_ticks) - 1)]:
            return None
        return self.direct[:, min(tick, self.direct.shape[1] - 1)]

    def rows(self, keep: torch.Tensor) -> TickTokens:
        """The same input for the samples ``keep`` (indices into the batch)."""
        return TickTokens(
            self.tokens.index_select(0, keep),
            self.visible.index_select(0, keep),
            None if self.direct is None else self.direct.index_select(0, keep),
            self.direct_ticks,
            self.thought_ticks,
        )

    def at(self, tick: int) -> torch.Tensor:
        return self.visible[:, min(tick, self.visible.shape[1] - 1)]


class SynchronyAttention(nn.Module):
    """Multi-head attention with one query per tick, derived from the action synchronisation.

    Parameters follow ``nn.MultiheadAttention`` (``in_proj_weight`` stacks the q, k, v
    projections) so that trained reference weights load unchanged.

    ``prepare(tokens)`` projects the tokens to keys and values once per thought;
    ``forward(synchrony, keys, values)`` runs one tick. The query path is two linear maps in
    a row (``q_proj`` then the attention's own query projection); they are composed once per
    thought into one matrix, which is exact algebra and saves a matmul per tick.
    """

    def __init__(self, d_features: int, d_input: int, heads: int, d_synchrony: int, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.d_input = d_input
        self.dropout = dropout
        self.kv_proj = nn.Sequential(nn.Linear(d_features, d_input), nn.LayerNorm(d_input))
        self.q_proj = nn.Linear(d_synchrony, d_input)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_input, d_input))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_input))
        self.out_proj = nn.Linear(d_input, d_input)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def prepare(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (batch, length, d_features) -> (keys, values, query_weight, query_bias).

        keys, values: (batch, heads, length, head_dim). The query weight already includes
        q_proj and the 1/sqrt(head_dim) scale.
        """
        batch, length, _ = tokens.shape
        head_dim = self.d_input // self.heads
        kv = self.kv_proj(tokens)
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        keys = F.linear(kv, w_k, b_k).view(batch, length, self.heads, head_dim)
        values = F.linear(kv, w_v, b_v).view(batch, length, self.heads, head_dim)
        scale = 1.0 / math.sqrt(head_dim)
        query_weight = (w_q @ self.q_proj.weight) * scale
        query_bias = (w_q @ self.q_proj.bias + b_q) * scale
        return keys.transpose(1, 2).contiguous(), values.transpose(1, 2).contiguous(), query_weight, query_bias

    def forward(self, synchrony, keys, values, query_weight, query_bias, visible=None):
        """synchrony (batch, d_synchrony) -> output (batch, d_input), weights (batch, heads, length).
        ``visible`` (batch, length) bool, when given, hides the other tokens (weight 0).

        With one query per head, scores and outputs are broadcast products summed over one
        axis; on CPU this is 2-4x faster than batched matmuls of 1-row matrices.
        """
        batch = synchrony.shape[0]
        query = F.linear(synchrony, query_weight, query_bias).view(batch, self.heads, 1, -1)
        scores = (query * keys).sum(-1)  # (batch, heads, length)
        if visible is not None:
            scores = scores.masked_fill(~visible.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if self.dropout > 0 and self.training:
            weights = F.dropout(weights, self.dropout)
        out = (weights.unsqueeze(-1) * values).sum(-2).reshape(batch, self.d_input)
        return self.out_proj(out), weights


class DirectInput(nn.Module):
    """No attention: the backbone's output vector (batch, d_input) itself enters the synapse at
    every tick (the reference's sort CTM, ``heads = 0``, which also has no action synchrony).
    Same interface as :class:`SynchronyAttention`; the attention weights it reports are a
    single 1 (one head, one token: the input)."""

    def prepare(self, features: torch.Tensor):
        """features (batch, d_input) -> (keys = values = features, no query weight or bias)."""
        if features.dim() != 2:
            raise ValueError(
                f"without attention (model.heads = 0) the input is one vector per sample, (batch, d_input); "
                f"got shape {tuple(features.shape)}"
            )
        return features, features, None, None

    def forward(self, synchrony, keys, values, query_weight=None, query_bias=None, visible=None):
        return values, values.new_ones(values.shape[0], 1, 1)
