"""The CTM's certainty-based loss: each sample contributes the loss at the tick where it is
best (minimum loss) and at the tick where it is most certain, so the model is pushed both to
get the answer right at some point and to be confident when it is right."""

from __future__ import annotations

import torch


def certainty_loss(per_tick: torch.Tensor, certainty: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """per_tick (batch, ticks) loss, certainty (batch, ticks) -> (scalar loss, most-certain tick (batch,)).

    loss = mean_b( (L[b, argmin_t L[b]] + L[b, argmax_t certainty[b]]) / 2 )
    """
    rows = torch.arange(per_tick.shape[0], device=per_tick.device)
    min_loss_tick = per_tick.argmin(dim=1)
    certain_tick = certainty.argmax(dim=1)
    loss = (per_tick[rows, min_loss_tick].mean() + per_tick[rows, certain_tick].mean()) / 2
    return loss, certain_tick


def firing_rate_penalty(rate_hz: torch.Tensor, target_hz: float) -> torch.Tensor:
    """Homeostatic regulariser: mean_i ((r_i − target) · 1 ms)², r_i = neuron i's firing rate
    in Hz averaged over the batch. rate_hz (batch, neurons) (``neurons.rate_hz(out.activity)``)."""
    return ((rate_hz.mean(0) - target_hz) * 1e-3).square().mean()
