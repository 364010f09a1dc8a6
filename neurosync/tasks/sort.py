"""Sorting: given N real numbers, emit the indices of the numbers in ascending order, one
index per tick where the model chooses, with "blank" ticks in between; trained with the CTC
loss over the ticks (as the reference's sort task). The answer is read from all ticks by greedy
CTC decoding (best class per tick, repeats merged, blanks dropped).

Each number becomes one token (its value through a linear map plus a learned embedding of its
position), which the CTM attends to; classes are the N indices plus the blank (index N).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig, TaskConfig

PRIMARY = "sorted_exact"


class SortBackbone(nn.Module):
    """(batch, N) numbers -> (batch, N, width) tokens: value · w + b + position embedding."""

    def __init__(self, numbers: int, width: int):
        super().__init__()
        self.value = nn.Linear(1, width)
        self.position = nn.Embedding(numbers, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        numbers = self.position.num_embeddings
        if x.dim() != 2 or x.shape[1] != numbers:
            raise ValueError(
                f"this model sorts {numbers} numbers: its input has shape (batch, {numbers}), got shape {tuple(x.shape)}"
            )
        positions = torch.arange(x.shape[1], device=x.device)
        return self.value(x.unsqueeze(-1)) + self.position(positions)


def prediction_shape(cfg: TaskConfig) -> tuple[int]:
    """(sequence_length + 1,): an index per tick, or the CTC blank."""
    return (cfg.sequence_length + 1,)  # N indices + blank


def backbone(task: TaskConfig, model: ModelConfig):
    """(backbone, feature width): real numbers (batch, N) -> one token per number; with
    ``model.heads = 0`` (no attention, the reference's sort CTM) the numbers themselves."""
    if model.heads == 0:
        return nn.Identity(), task.sequence_length
    return SortBackbone(task.sequence_length, model.d_input), model.d_input


def sample(cfg: TaskConfig, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard-normal numbers (batch, N) and the indices that sort them (batch, N)."""
    x = torch.randn(batch, cfg.sequence_length, generator=generator)
    return x, torch.argsort(x, dim=1)


def eval_set(cfg: TaskConfig, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed evaluation set of ``samples`` sequences (seeded apart from training)."""
    return sample(cfg, samples, torch.Generator().manual_seed(10_000_019 + seed))


def loss(out, y: torch.Tensor, cfg: TaskConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """CTC loss over the ticks (blank = N); the most-certain tick is reported for bookkeeping."""
    logits = out.logits.float()
    batch, ticks, classes = logits.shape
    log_probs = logits.log_softmax(-1).transpose(0, 1)  # (T, B, C)
    lengths = torch.full((batch,), ticks, dtype=torch.long, device=logits.device)
    target_lengths = torch.full((batch,), y.shape[1], dtype=torch.long, device=logits.device)
    value = F.ctc_loss(log_probs, y, lengths, target_lengths, blank=classes - 1, reduction="mean", zero_infinity=True)
    return value, out.certainty.argmax(1)


def decode(logits: torch.Tensor) -> tuple[list[list[int]], list[list[int]]]:
    """Greedy CTC decoding of (batch, ticks, N + 1) logits: per sample the emitted indices and,
    for each, the number of ticks waited since the previous emission (or the start)."""
    best = logits.argmax(-1).cpu().numpy()
    blank = logits.shape[-1] - 1
    sequences, waits = [], []
    for row in best:
        emitted, waited, previous, wait = [], [], -1, 0
        for label in row:
            if label != blank and label != previous:
                emitted.append(int(label))
                waited.append(wait)
                wait = 0
            else:
                wait += 1
            previous = label
        sequences.append(emitted)
        waits.append(waited)
    return sequences, waits


def batch_metrics(out, y: torch.Tensor, cfg: TaskConfig) -> dict[str, float]:
    """Exact-sort count (the decoded sequence equals the target), and the count of positions
    whose decoded index is right (a sequence of the wrong length counts its overlap)."""
    sequences, _ = decode(out.logits)
    targets = y.cpu().numpy()
    exact = sum(seq == list(t) for seq, t in zip(sequences, targets))
    positions = sum(
        np.mean([a == b for a, b in zip(seq, t)] + [False] * (len(t) - min(len(seq), len(t))))
        for seq, t in zip(sequences, targets)
    )
    return {"sorted_exact": float(exact), "position_acc": float(positions)}


def headline(final: dict) -> str:
    """One line: exactly sorted sequences and positions right (greedy CTC decoding)."""
    return (
        f"exactly sorted {100 * final['sorted_exact']:.2f}%, positions right {100 * final['position_acc']:.2f}% "
        f"(greedy CTC decoding over all ticks)"
    )


def wait_vs_gap(model, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The paper's finding, measured: for correctly sorted inputs, the ticks waited before
    emitting each number against the gap between it and the previous number in sorted order.
    Returns the pairs and their Pearson correlation."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train(was_training)
    sequences, waits = decode(out.logits)
    gaps, waited = [], []
    values = x.cpu().numpy()
    for seq, wait, target, row in zip(sequences, waits, y.cpu().numpy(), values):
        if seq == list(target):
            ordered = row[target]
            gaps.extend(np.diff(ordered).tolist())
            waited.extend(wait[1:])
    gaps, waited = np.asarray(gaps), np.asarray(waited, dtype=float)
    correlation = (
        float(np.corrcoef(gaps, waited)[0, 1])
        if gaps.size > 2 and gaps.std() > 0 and waited.std() > 0
        else float("nan")
    )
    return {
        "gaps": gaps,
        "waits": waited,
        "correlation": correlation,
        "sorted_inputs": int(sum(s == list(t) for s, t in zip(sequences, y.cpu().numpy()))),
    }
