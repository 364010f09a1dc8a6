"""Parity: for a sequence of ±1, predict at every position whether the number of −1 seen so
far is odd (cumulative parity). The CTM answers all positions at once at every tick.

Targets follow the reference: target[k] = (#{−1 in x[0..k]}) mod 2.
"""

from __future__ import annotations

import torch

from ..config import ModelConfig, TaskConfig
from ..parts.perception import ParityBackbone


def prediction_shape(cfg: TaskConfig) -> tuple[int, int]:
    """(sequence_length, 2): the cumulative parity at every position."""
    return (cfg.sequence_length, 2)


def backbone(task: TaskConfig, model: ModelConfig) -> tuple[ParityBackbone, int]:
    """(backbone, feature width): ±1 sequences (batch, L) -> embedded tokens with the positional
    embedding."""
    return ParityBackbone(model.d_input, model.positional_embedding, task.sequence_length), model.d_input


def targets_for(x: torch.Tensor) -> torch.Tensor:
    """x (batch, length) of ±1 -> cumulative parity (batch, length) in {0, 1}."""
    return torch.remainder(torch.cumsum((x == -1).long(), dim=1), 2)


def sample(cfg: TaskConfig, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ±1 sequences (batch, length) float32 and their targets (batch, length) int64."""
    x = torch.randint(0, 2, (batch, cfg.sequence_length), generator=generator).float() * 2 - 1
    return x, targets_for(x)


def all_sequences(length: int) -> torch.Tensor:
    """Every ±1 sequence of `length` (2**length, length), for exhaustive evaluation."""
    codes = torch.arange(2**length).unsqueeze(1)
    bits = (codes >> torch.arange(length)) & 1
    return bits.float() * 2 - 1


def eval_set(cfg: TaskConfig, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed evaluation set: every sequence when there are at most `samples` of them,
    otherwise `samples` random ones from a generator seeded apart from training."""
    if 2**cfg.sequence_length <= samples:
        x = all_sequences(cfg.sequence_length)
        return x, targets_for(x)
    return sample(cfg, samples, torch.Generator().manual_seed(10_000_019 + seed))


def per_tick_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """logits (batch, ticks, length·2), targets (batch, length) -> CE per tick (batch, ticks),
    averaged over positions."""
    batch, ticks, _ = logits.shape
    logits = logits.reshape(batch, ticks, -1, 2).float()
    expanded = targets.unsqueeze(1).expand(batch, ticks, -1)
    ce = torch.nn.functional.cross_entropy(logits.permute(0, 3, 1, 2), expanded, reduction="none")
    return ce.mean(-1)


def correct_units(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """logits (batch, length·2) at one tick -> boolean (batch, length)."""
    return logits.reshape(logits.shape[0], -1, 2).argmax(-1) == targets
