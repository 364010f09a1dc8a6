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


def firing_rate_penalty(rate_hz: torch.Tensor, target_hz: float | torch.Tensor) -> torch.Tensor:
    """Homeostatic regulariser: mean_i ((r_i − target_i) · 1 ms)², r_i = neuron i's firing rate
    in Hz averaged over the batch. rate_hz (batch, neurons) (``neurons.rate_hz(out.activity)``);
    target_hz a number or one per neuron (neurons,)."""
    return ((rate_hz.mean(0) - target_hz) * 1e-3).square().mean()


def rate_band_penalty(rate_hz: torch.Tensor, low_hz: float, high_hz: float) -> torch.Tensor:
    """Per-neuron rate band (Zenke & Vogels 2021): mean_i (relu(low − r_i)² + relu(r_i − high)²)
    in (spikes per ms)², r_i averaged over the batch: zero while every neuron stays in the band."""
    rate = rate_hz.mean(0) * 1e-3
    return (torch.relu(low_hz * 1e-3 - rate).square() + torch.relu(rate - high_hz * 1e-3).square()).mean()


def rate_weight(step: int, steps: int, spiking) -> float:
    """The rate term's weight at training step ``step`` of ``steps``: spiking.rate_regularisation, or,
    with rate_regularisation_final > 0, a linear ramp from it (from step rate_ramp_start · steps on) to
    rate_regularisation_final at the last step."""
    start, final = spiking.rate_regularisation, spiking.rate_regularisation_final
    if final <= 0:
        return start
    first, last = spiking.rate_ramp_start * steps, max(steps - 1, 1)
    progress = min(max((step - first) / max(last - first, 1e-9), 0.0), 1.0)
    return start + (final - start) * progress


def rate_homeostasis(rate_hz: torch.Tensor, spiking, weight: float | torch.Tensor | None = None) -> torch.Tensor:
    """The rate terms a SpikingConfig asks for: rate_regularisation (or ``weight``, e.g. this step's
    :func:`rate_weight`) · firing_rate_penalty toward target_rate_hz (under dale: the excitatory neurons;
    the inhibitory ones toward target_rate_inhibitory_hz) plus band_regularisation · rate_band_penalty
    over rate_band_hz."""
    neurons = rate_hz.shape[-1]
    target: float | torch.Tensor = spiking.target_rate_hz
    if spiking.dale:
        excitatory = torch.arange(neurons, device=rate_hz.device) < spiking.excitatory_count(neurons)
        target = torch.where(excitatory, spiking.target_rate_hz, spiking.target_rate_inhibitory_hz).to(rate_hz.dtype)
    total = rate_hz.new_zeros(())
    if spiking.rate_regularisation > 0:
        weight = spiking.rate_regularisation if weight is None else weight
        total = total + weight * firing_rate_penalty(rate_hz, target)
    if spiking.band_regularisation > 0:
        total = total + spiking.band_regularisation * rate_band_penalty(rate_hz, *spiking.rate_band_hz)
    return total
