"""One-shot digits: N-way 1-shot classification with labels bound within the thought (as
Omniglot, Lake et al. 2015; Miconi et al. 2018 train plastic networks on it).

A thought is shown ``ways`` labelled digit images, one per item: an image of each of N
distinct classes together with its label token, the tokens a fresh random assignment of the N
labels to the classes in every episode. Then a query: another image of one of the N classes,
alone. The answer is the query's label token (N-way), which only the binding made within this
thought gives: a class is not tied to a label across episodes. The training episodes draw their
classes and images from the training classes and images; the evaluation episodes from the
``test_classes`` held-out classes (the last ones: 5–9 of the digits by default) and the test
images, so no class of the evaluation was ever seen in training.

An input row packs the N + 1 images (flattened; the query last), then the N support labels
(0..N−1). The target is the query's label.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig, TaskConfig
from ..parts.perception import TickTokens
from . import episodes, images
from .qa_digits import image_tokens

PRIMARY = "accuracy_certain"
CLASSES = 10


def classes(cfg: TaskConfig, split: str) -> np.ndarray:
    """The classes of a split: the last ``test_classes`` for the test split, the others for training."""
    return np.arange(CLASSES - cfg.test_classes, CLASSES) if split == "test" else np.arange(CLASSES - cfg.test_classes)


def make_batch(
    pool_images: np.ndarray,
    labels: np.ndarray,
    allowed: np.ndarray,
    batch: int,
    ways: int,
    rng: np.random.Generator,
    same_image_fraction: float = 0.0,
) -> dict[str, np.ndarray]:
    """Episodes from a pool (n, C, H, W) with class labels (n,), classes from ``allowed``: images
    (batch, ways + 1, C, H, W) (the query last), the support's classes (batch, ways), label
    tokens (batch, ways), the query's index among the support (batch,) and the answer (its label
    token, batch,). The query is never the support's image of its class, except in a
    ``same_image_fraction`` of the episodes (drawn per episode), whose query repeats it: matching,
    not generalising (a curriculum's first step)."""
    if not 2 <= ways <= len(allowed):
        raise ValueError(f"need 2 <= ways <= {len(allowed)} classes, got {ways}")
    members = {c: np.flatnonzero(labels == c) for c in allowed}
    if min(len(m) for m in members.values()) < 2:
        raise ValueError("every class needs at least two images (a support image and another as the query)")
    support_classes = np.stack([rng.permutation(allowed)[:ways] for _ in range(batch)])
    tokens = np.stack([rng.permutation(ways) for _ in range(batch)])
    asked = rng.integers(0, ways, size=batch)
    chosen = np.empty((batch, ways + 1), dtype=np.int64)
    for b in range(batch):
        for k, c in enumerate(support_classes[b]):
            if k == asked[b]:  # two different images of the asked class: the support's and the query
                chosen[b, k], chosen[b, ways] = rng.choice(members[c], size=2, replace=False)
            else:
                chosen[b, k] = rng.choice(members[c])
    if same_image_fraction > 0:
        same = rng.random(batch) < same_image_fraction
        chosen[same, ways] = chosen[same, asked[same]]
    return {
        "images": pool_images[chosen],
        "classes": support_classes,
        "tokens": tokens,
        "asked": asked,
        "answers": tokens[np.arange(batch), asked],
    }


def answer(support_classes, tokens, query_class) -> int:
    """The label token bound to ``query_class`` in one episode's support."""
    for c, token in zip(support_classes, tokens):
        if c == query_class:
            return int(token)
    raise ValueError("the query's class is not in the support")


class OneShotBackbone(nn.Module):
    """Packed episodes -> TickTokens: each image's CNN tokens (those of Q&A digits), one learned
    token per label; item k shows support image k with its label token, item N the query."""

    def __init__(self, cfg: TaskConfig, width: int):
        super().__init__()
        self.shape, self.ways = images.image_shape(cfg), cfg.ways
        self.ticks_per_input, self.answer_ticks = cfg.ticks_per_input, cfg.answer_ticks
        self.image = image_tokens(self.shape[0], width)
        self.label_embedding = nn.Embedding(self.ways, width)
        per_image = math.prod(self.shape[1:]) // 4  # tokens per image: the 2×2 max-pool's output
        images_ = torch.arange(self.ways + 1).repeat_interleave(per_image)  # image k's tokens: item k
        slots = torch.cat((images_, torch.arange(self.ways), torch.tensor([-1])))  # then the labels, the blank
        self.register_buffer(
            "visible",
            episodes.item_visibility(slots, self.ways + 1, self.ticks_per_input, self.answer_ticks),
            persistent=False,
        )

    @property
    def columns(self) -> int:
        return (self.ways + 1) * math.prod(self.shape) + self.ways

    def forward(self, x: torch.Tensor) -> TickTokens:
        if x.dim() != 2 or x.shape[1] != self.columns:
            raise ValueError(
                f"one-shot input must be (batch, {self.columns}): {self.ways + 1} images of "
                f"{'×'.join(map(str, self.shape))} then {self.ways} label tokens, got {tuple(x.shape)}"
            )
        batch, pixels = x.shape[0], (self.ways + 1) * math.prod(self.shape)
        labels = x[:, pixels:]
        if bool(((labels != labels.round()) | (labels < 0) | (labels >= self.ways)).any()):
            raise ValueError(f"one-shot label tokens are integers in 0..{self.ways - 1}")
        tokens = self.image(x[:, :pixels].reshape(batch * (self.ways + 1), *self.shape)).flatten(2).transpose(1, 2)
        tokens = tokens.reshape(batch, -1, tokens.shape[-1])
        bank = torch.cat(
            (
                tokens,
                self.label_embedding(labels.long()).to(tokens.dtype),
                tokens.new_zeros(batch, 1, tokens.shape[-1]),
            ),
            1,
        )
        return TickTokens(bank, self.visible.unsqueeze(0).expand(batch, -1, -1))


def prediction_shape(cfg: TaskConfig) -> tuple[int]:
    """(ways,): the query's label token."""
    return (cfg.ways,)


def backbone(task: TaskConfig, model: ModelConfig):
    """(backbone, feature width): an episode row -> the tokens of its images and labels, each visible at
    its tick (:class:`~neurosync.parts.perception.TickTokens`)."""
    return OneShotBackbone(task, model.d_input), model.d_input


def _draw(cfg: TaskConfig, split: str, batch: int, rng: np.random.Generator):
    pool, labels = images._dataset(cfg.dataset, cfg.data_path)[split]  # cached per process
    same = cfg.same_image_fraction if split == "train" else 0.0  # evaluation always asks for a new image
    drawn = make_batch(pool.numpy(), labels.numpy(), classes(cfg, split), batch, cfg.ways, rng, same)
    x = np.concatenate((drawn["images"].reshape(batch, -1), drawn["tokens"].astype(np.float32)), axis=1)
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(drawn["answers"].astype(np.int64))


def sample(cfg: TaskConfig, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Episodes of the training classes and images."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return _draw(cfg, "train", batch, np.random.default_rng(seed))


def eval_set(cfg: TaskConfig, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Episodes of the held-out classes and the test images."""
    return _draw(cfg, "test", samples, np.random.default_rng([30_000_001, seed]))


def per_tick_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (batch, ticks) of logits (batch, ticks, ways) against the answers (batch,)."""
    return episodes.per_tick_loss(logits, y)


def loss(out, y: torch.Tensor, cfg: TaskConfig):
    """(loss, most-certain tick): the certainty loss over the answer ticks only."""
    return episodes.window_loss(out, y, cfg.answer_ticks)


def batch_metrics(out, y: torch.Tensor, cfg: TaskConfig) -> dict[str, float]:
    """Accuracy sums in the answer window, and chance (1 / ways) as a sum over the batch."""
    metrics = episodes.window_metrics(out, y, cfg.answer_ticks)[0]
    metrics["chance"] = y.shape[0] / cfg.ways  # the accuracy of a guess, 1 / ways (a sum, as every metric here)
    return metrics


def headline(final: dict) -> str:
    """One line: accuracy against chance (1 / ways)."""
    return episodes.accuracy_headline(final, final["chance"])


def baseline(cfg: TaskConfig) -> tuple[float, str]:
    """(accuracy, name) of guessing: 1 / ways (no label is tied to a class across episodes)."""
    return 1.0 / cfg.ways, "chance"
