"""Q&A digits (the paper's Q&A MNIST, on scikit-learn's 8×8 digits by default).

A question shows ``images_shown`` digit images, then asks for a modular computation over
them: a first index, then 1 to ``operations`` pairs of (operator, index). The answer is
computed left to right with the modulo taken after every operation (as the reference's
QAMNIST)::

    value = label[i0] mod 10;  value = (value ± label[i_k]) mod 10 for each operation k

As a thought, every input (image, index, operator) is shown for ``ticks_per_input`` ticks,
then ``answer_ticks`` ticks show nothing and the CTM answers (:func:`tick_schedule`). A
question with fewer operations than the most is preceded by blank ticks, so every thought has
the same number of ticks and ends with the answer. The loss is the CTM's certainty loss over
the answer ticks only, as the reference's ``qamnist_loss``.

The backbone returns one bank of tokens per question (:class:`~neurosync.parts.perception.
TickTokens`): each image's CNN tokens, one embedding per question part (sinusoidal for an
index, learned for an operator, as the reference's) and one blank (zero) token, with the
tick-by-tick visibility of the schedule. The reference feeds the question embeddings to the
synapses directly instead of through attention; attention over a single visible token gives
an affine map of it, which the synapse's first linear layer absorbs.

An input row packs the images (flattened) and then the question's codes: an index (>= 0),
:data:`PLUS`, :data:`MINUS`, or :data:`PAD` after the last part. Targets are (answer,
operations) per row, so accuracy is reported by number of operations.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig, TaskConfig
from ..parts.perception import TickTokens
from . import episodes, images

PLUS, MINUS, PAD = -1, -2, -3  # codes in a question (indices are >= 0)
MODULO = 10
PRIMARY = "accuracy_certain"


def answer(labels: np.ndarray, question: list[int]) -> int:
    """The answer to `question` (first index, then operator/index pairs, then any PADs)
    about digits `labels`."""
    question = [c for c in question if c != PAD]
    if len(question) % 2 == 0 or question[0] < 0:
        raise ValueError("a question is an index followed by (operator, index) pairs")
    value = int(labels[question[0]]) % MODULO
    for operator, index in zip(question[1::2], question[2::2]):
        if operator not in (PLUS, MINUS) or index < 0:
            raise ValueError(f"bad (operator, index) pair ({operator}, {index})")
        value = (value + int(labels[index])) % MODULO if operator == PLUS else (value - int(labels[index])) % MODULO
    return value


def make_batch(
    pool_images: np.ndarray,
    labels: np.ndarray,
    batch: int,
    digits: int,
    operations: int,
    rng: np.random.Generator,
    asked: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Draw `batch` questions about images from a pool (n, C, H, W) with their labels (n,).

    Each row asks `asked[b]` operations (default: uniform in 1..operations). Returns images
    (batch, digits, C, H, W), digit labels (batch, digits), questions (batch, 1 + 2·operations)
    padded with PAD, the operations asked (batch,) and answers (batch,)."""
    if digits < 1 or operations < 1:
        raise ValueError(f"need at least one digit and one operation, got {digits}, {operations}")
    asked = rng.integers(1, operations + 1, size=batch) if asked is None else np.asarray(asked)
    if asked.shape != (batch,) or asked.min() < 1 or asked.max() > operations:
        raise ValueError(f"asked must hold {batch} operation counts in 1..{operations}")
    chosen = rng.integers(0, len(labels), size=(batch, digits))
    questions = np.empty((batch, 1 + 2 * operations), dtype=np.int64)
    questions[:, 0::2] = rng.integers(0, digits, size=(batch, operations + 1))
    questions[:, 1::2] = np.where(rng.random((batch, operations)) < 0.5, PLUS, MINUS)
    questions[np.arange(1 + 2 * operations)[None, :] >= 1 + 2 * asked[:, None]] = PAD
    digit_labels = labels[chosen]
    answers = np.array([answer(digit_labels[b], questions[b].tolist()) for b in range(batch)], dtype=np.int64)
    return {
        "images": pool_images[chosen],
        "labels": digit_labels,
        "questions": questions,
        "asked": asked,
        "answers": answers,
    }


def question_only_accuracy(digits: int, operations: int) -> float:
    """The best accuracy without looking at the images, for questions of `operations`
    operations about `digits` uniformly random digits: per question, the probability of its
    most likely answer (e.g. ``i - i`` is always 0), averaged over questions. A model at this
    level has learned the questions' structure but not to read the digits."""
    labels = np.stack(np.meshgrid(*[np.arange(MODULO)] * digits, indexing="ij"), -1).reshape(-1, digits)
    total, count = 0.0, 0
    for indices in itertools.product(range(digits), repeat=operations + 1):
        for signs in itertools.product((1, -1), repeat=operations):
            value = labels[:, indices[0]] % MODULO
            for sign, index in zip(signs, indices[1:]):
                value = (value + sign * labels[:, index]) % MODULO
            total += np.bincount(value, minlength=MODULO).max() / len(value)
            count += 1
    return total / count


def tick_schedule(
    digits: int, operations: int, repeats: int, answer_ticks: int, max_operations: int | None = None
) -> list[tuple[str, int]]:
    """What the CTM sees at each tick of a question with `operations` operations, in a task
    asking up to `max_operations`: ("digit", k), ("blank", -1), ("question", part k) or
    ("answer", -1)."""
    padding = 2 * ((max_operations or operations) - operations)
    schedule = [("digit", k) for k in range(digits) for _ in range(repeats)]
    schedule += [("blank", -1)] * (padding * repeats)
    schedule += [("question", k) for k in range(1 + 2 * operations) for _ in range(repeats)]
    return schedule + [("answer", -1)] * answer_ticks


def _sinusoid(positions: int, width: int) -> torch.Tensor:
    """(positions, width) sine/cosine embedding (the reference's index embedding)."""
    position = torch.arange(positions, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(positions, width)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : width // 2]
    return table


def image_tokens(channels: int, width: int) -> nn.Sequential:
    """Two 3×3 conv blocks and a 2×2 max-pool: an image (C, H, W) -> width × H/2 × W/2 tokens."""
    return nn.Sequential(
        nn.Conv2d(channels, width // 2, 3, padding=1),
        nn.BatchNorm2d(width // 2),
        nn.ReLU(),
        nn.Conv2d(width // 2, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class QABackbone(nn.Module):
    """Packed questions (batch, images·C·H·W + 1 + 2·operations) -> :class:`TickTokens`.

    Bank per row: each image's tokens (two 3×3 conv blocks and a 2×2 max-pool: H/2·W/2 tokens),
    then one token per question part, then the blank token."""

    def __init__(self, cfg: TaskConfig, width: int):
        super().__init__()
        self.shape = images.image_shape(cfg)
        self.digits, self.operations = cfg.images_shown, cfg.operations
        self.repeats, self.answer_ticks = cfg.ticks_per_input, cfg.answer_ticks
        self.image = image_tokens(self.shape[0], width)
        self.register_buffer("index_embedding", _sinusoid(self.digits, width))
        self.operator_embedding = nn.Embedding(2, width)

    @property
    def columns(self) -> int:
        return self.digits * math.prod(self.shape) + 1 + 2 * self.operations

    def forward(self, x: torch.Tensor) -> TickTokens:
        if x.dim() != 2 or x.shape[1] != self.columns:
            raise ValueError(
                f"Q&A digits input must be (batch, {self.columns}): {self.digits} images of "
                f"{'×'.join(map(str, self.shape))} then {1 + 2 * self.operations} question codes, got {tuple(x.shape)}"
            )
        batch, pixels = x.shape[0], self.digits * math.prod(self.shape)
        tokens = self.image(x[:, :pixels].reshape(batch * self.digits, *self.shape)).flatten(2).transpose(1, 2)
        per_image = tokens.shape[1]
        tokens = tokens.reshape(batch, self.digits * per_image, -1)
        codes = x[:, pixels:].round().long()
        index = self.index_embedding[codes.clamp(0, self.digits - 1)]
        operator = self.operator_embedding((-codes - 1).clamp(0, 1))
        parts = torch.where((codes >= 0).unsqueeze(-1), index, operator) * (codes != PAD).unsqueeze(-1)
        blank = tokens.new_zeros(batch, 1, tokens.shape[-1])
        return TickTokens(torch.cat((tokens, parts.to(tokens.dtype), blank), dim=1), self.visibility(codes, per_image))

    def visibility(self, codes: torch.Tensor, per_image: int) -> torch.Tensor:
        """(batch, ticks, bank) bool following :func:`tick_schedule` row by row."""
        parts = codes.shape[1]
        image_ticks, question_ticks = self.digits * self.repeats, parts * self.repeats
        total = image_ticks + question_ticks + self.answer_ticks
        bank = self.digits * per_image + parts + 1
        tick = torch.arange(total, device=codes.device)
        slot = torch.arange(bank, device=codes.device)
        showing_image = (tick < image_ticks).unsqueeze(1) & (slot < self.digits * per_image).unsqueeze(0)
        showing_image = showing_image & ((slot // per_image).unsqueeze(0) == (tick // self.repeats).unsqueeze(1))
        asked_parts = (codes != PAD).sum(1, keepdim=True)  # (batch, 1)
        part = (tick - image_ticks).div(self.repeats, rounding_mode="floor").unsqueeze(0) - (parts - asked_parts)
        in_question = ((tick >= image_ticks) & (tick < image_ticks + question_ticks)).unsqueeze(0) & (part >= 0)
        single = torch.where(in_question, self.digits * per_image + part.clamp(min=0), bank - 1)  # (batch, ticks)
        one_hot = F.one_hot(single, bank).bool() & (tick >= image_ticks).view(1, -1, 1)
        return showing_image.unsqueeze(0) | one_hot


def prediction_shape(cfg: TaskConfig) -> tuple[int]:
    """(10,): the answer modulo 10."""
    return (MODULO,)


def backbone(task: TaskConfig, model: ModelConfig):
    """(backbone, feature width): a question row -> the tokens of its images and question parts, each
    visible at its ticks."""
    return QABackbone(task, model.d_input), model.d_input


def _draw(cfg: TaskConfig, split: str, batch: int, rng: np.random.Generator, asked=None):
    pool, labels = images._dataset(cfg.dataset, cfg.data_path)[split]
    drawn = make_batch(pool.numpy(), labels.numpy(), batch, cfg.images_shown, cfg.operations, rng, asked)
    x = np.concatenate((drawn["images"].reshape(batch, -1), drawn["questions"].astype(np.float32)), axis=1)
    y = np.stack((drawn["answers"], drawn["asked"]), axis=1)
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))


def sample(cfg: TaskConfig, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Questions about training images: x packed as the module docstring says, y (batch, 2) =
    (answer, operations asked)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return _draw(cfg, "train", batch, np.random.default_rng(seed))


def eval_set(cfg: TaskConfig, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`samples` questions about test images, as many with each number of operations."""
    asked = 1 + np.arange(samples) % cfg.operations
    return _draw(cfg, "test", samples, np.random.default_rng(10_000_019 + seed), asked)


def per_tick_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (batch, ticks) of logits (batch, ticks, 10) against the answers (y[:, 0])."""
    return episodes.per_tick_loss(logits, y[:, 0])


def loss(out, y: torch.Tensor, cfg: TaskConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The certainty loss over the answer ticks (:mod:`.episodes`)."""
    return episodes.window_loss(out, y[:, 0], cfg.answer_ticks)


def batch_metrics(out, y: torch.Tensor, cfg: TaskConfig) -> dict[str, float]:
    """Right answers at the most-certain answer tick and at the last tick, overall and per
    number of operations (``right_ops{k}`` and ``count_ops{k}``, divided in :func:`finalise`)."""
    metrics, right = episodes.window_metrics(out, y[:, 0], cfg.answer_ticks)
    for k in range(1, cfg.operations + 1):
        asked = y[:, 1] == k
        metrics[f"right_ops{k}"] = (right & asked).float().sum().item()
        metrics[f"count_ops{k}"] = asked.float().sum().item()
    return metrics


def finalise(metrics: dict) -> dict:
    """Accuracy per number of operations (``accuracy_ops{k}``; NaN when none was asked)."""
    metrics = dict(metrics)
    for key in [k for k in metrics if k.startswith("count_ops")]:
        k = key[len("count_ops") :]
        count, right = metrics.pop(key), metrics.pop(f"right_ops{k}")
        metrics[f"accuracy_ops{k}"] = right / count if count > 0 else float("nan")
    return metrics


def headline(final: dict) -> str:
    """One line: accuracy, and accuracy by number of operations."""
    counts = sorted((int(k[len("accuracy_ops") :]), v) for k, v in final.items() if k.startswith("accuracy_ops"))
    by_ops = ", ".join(f"{k} op{'s' if k > 1 else ''}: {100 * v:.1f}%" for k, v in counts)
    return (
        f"accuracy {100 * final['accuracy_certain']:.2f}% (last tick {100 * final['accuracy_last']:.2f}%; "
        f"chance 10%); by operations {by_ops}; mean most-certain tick {final['certain_tick']:.1f}"
    )


def baseline(cfg: TaskConfig) -> tuple[float, str]:
    """(accuracy, name) that a model must beat to show it reads the digits: the question-only
    baseline, averaged over the 1..operations operations asked uniformly."""
    value = float(np.mean([question_only_accuracy(cfg.images_shown, k) for k in range(1, cfg.operations + 1)]))
    return value, "the question-only baseline"
