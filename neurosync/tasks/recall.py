"""Associative recall (Ba et al. 2016, "Using fast weights to attend to the recent past"): a
thought is shown ``pairs`` key–value pairs, one symbol per item, then a query marker and one of
the keys; it answers that key's value.

Keys are distinct letters drawn from the first ``vocabulary`` letters of the alphabet, values
digits 0–9 (repeats allowed), the query key one of the shown keys, uniformly. As in the paper's
``c9k8j3f1??c → 9``. The items reach the CTM one per ``ticks_per_input`` ticks through
:mod:`~neurosync.tasks.episodes` (attention sees only the current one), so the pairs must be
bound within the thought: the task a Hebbian fast weight is for.

An input row holds the ``2 · pairs + 2`` symbol codes: letter a..z = 0..25 (a key), then
:data:`DIGIT0` + d for digit d, :data:`QUERY` for the marker. The target is the digit.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig, TaskConfig
from ..parts.perception import TickTokens
from . import episodes

LETTERS = 26
DIGIT0 = LETTERS  # code of digit 0; digit d is DIGIT0 + d
QUERY = DIGIT0 + 10  # the query marker ("??" in the paper)
SYMBOLS = QUERY + 1
PRIMARY = "accuracy_certain"


def answer(row) -> int:
    """The digit that follows the query key among the pairs of one row of codes."""
    codes = [int(c) for c in row]
    query = codes[-1]
    for key, value in zip(codes[0:-2:2], codes[1:-2:2]):
        if key == query:
            return value - DIGIT0
    raise ValueError("the query key is not among the row's keys")


def frequency_baseline(pairs: int) -> float:
    """The accuracy of answering, without binding keys to values, the most frequent value shown
    (ties: one of them at random): the bag-of-values baseline, as Q&A's question-only one. A
    model at this level has learned which digits were shown, not which key each belongs to.
    Exact, over every count vector of ``pairs`` uniform digits (multinomial)."""
    from itertools import combinations_with_replacement
    from math import factorial

    total = 0.0
    for values in combinations_with_replacement(range(10), pairs):  # one multiset of shown values
        counts = np.bincount(values, minlength=10)
        ways = factorial(pairs) / np.prod([factorial(int(c)) for c in counts])
        top = counts == counts.max()
        total += ways / 10.0**pairs * (counts[top].sum() / pairs) / top.sum()  # the queried value is among the modes
    return float(total)


def make_batch(batch: int, pairs: int, vocabulary: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(codes (batch, 2·pairs + 2) int64, answers (batch,) int64)."""
    if not 1 <= pairs <= vocabulary <= LETTERS:
        raise ValueError(f"need 1 <= pairs <= vocabulary <= {LETTERS}, got pairs {pairs}, vocabulary {vocabulary}")
    keys = np.argsort(rng.random((batch, vocabulary)), axis=1)[:, :pairs]  # distinct letters per row
    values = rng.integers(0, 10, size=(batch, pairs))
    asked = rng.integers(0, pairs, size=batch)
    codes = np.empty((batch, 2 * pairs + 2), dtype=np.int64)
    codes[:, 0:-2:2], codes[:, 1:-2:2] = keys, DIGIT0 + values
    codes[:, -2], codes[:, -1] = QUERY, keys[np.arange(batch), asked]
    return codes, values[np.arange(batch), asked]


class RecallBackbone(nn.Module):
    """Codes (batch, items) -> TickTokens: one learned embedding per symbol, one item per tick."""

    def __init__(self, cfg: TaskConfig, width: int):
        super().__init__()
        self.items, self.ticks_per_input, self.answer_ticks = (
            cfg.items(),
            cfg.ticks_per_input,
            cfg.answer_ticks,
        )  # pairs, marker, query
        self.embedding = nn.Embedding(SYMBOLS, width)
        slots = torch.cat((torch.arange(self.items), torch.tensor([-1])))  # every item, then the blank
        self.register_buffer(
            "visible",
            episodes.item_visibility(slots, self.items, self.ticks_per_input, self.answer_ticks),
            persistent=False,
        )

    def forward(self, x: torch.Tensor) -> TickTokens:
        if x.dim() != 2 or x.shape[1] != self.items:
            raise ValueError(
                f"recall input must be (batch, {self.items}) symbol codes: {self.items // 2 - 1} key–value pairs, "
                f"the query marker and the query key, got {tuple(x.shape)}"
            )
        codes = x.round().long()
        if bool(((codes < 0) | (codes >= SYMBOLS) | (codes != x)).any()):
            raise ValueError(
                f"recall codes are integers in 0..{SYMBOLS - 1}, got {x[(codes < 0) | (codes >= SYMBOLS) | (codes != x)][0].item()!r}"
            )
        tokens = self.embedding(codes)
        tokens = torch.cat((tokens, tokens.new_zeros(x.shape[0], 1, tokens.shape[-1])), dim=1)
        return TickTokens(tokens, self.visible.unsqueeze(0).expand(x.shape[0], -1, -1))


def prediction_shape(cfg: TaskConfig) -> tuple[int]:
    """(10,): the queried key's digit."""
    return (10,)


def backbone(task: TaskConfig, model: ModelConfig):
    """(backbone, feature width): an episode row of symbol codes -> one token per symbol, each visible
    at its ticks."""
    return RecallBackbone(task, model.d_input), model.d_input


def _batch(cfg: TaskConfig, batch: int, rng: np.random.Generator):
    codes, answers = make_batch(batch, cfg.pairs, cfg.vocabulary, rng)
    return torch.from_numpy(codes.astype(np.float32)), torch.from_numpy(answers)


def sample(cfg: TaskConfig, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch of episodes: codes (batch, 2·pairs + 2) int64 and answers (batch,), from the
    generator's seed."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return _batch(cfg, batch, np.random.default_rng(seed))


def eval_set(cfg: TaskConfig, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed set of episodes, never drawn in training (another stream of the generator)."""
    return _batch(cfg, samples, np.random.default_rng([20_000_003, seed]))


def per_tick_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (batch, ticks) of logits (batch, ticks, 10) against the answers (batch,)."""
    return episodes.per_tick_loss(logits, y)


def loss(out, y: torch.Tensor, cfg: TaskConfig):
    """(loss, most-certain tick): the certainty loss over the answer ticks only."""
    return episodes.window_loss(out, y, cfg.answer_ticks)


def batch_metrics(out, y: torch.Tensor, cfg: TaskConfig) -> dict[str, float]:
    """Accuracy sums at the most-certain and the last answer tick."""
    return episodes.window_metrics(out, y, cfg.answer_ticks)[0]


def headline(final: dict) -> str:
    """One line: accuracy against chance (10%)."""
    return episodes.accuracy_headline(final, 0.1)


def baseline(cfg: TaskConfig) -> tuple[float, str]:
    """(accuracy, name) that a model must beat to show it binds keys to values: the bag-of-values
    baseline of ``cfg.pairs`` pairs."""
    return frequency_baseline(cfg.pairs), "the bag-of-values baseline"
