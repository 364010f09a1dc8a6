"""Q&A digits (the paper's Q&A MNIST on 8×8 digits): the data generator.

A question shows ``digits`` images, then asks for a modular computation over them: a first
index, then ``operations`` pairs of (operator, index). The answer is computed left to right
with the modulo taken after every operation (as the reference's QAMNIST)::

    value = label[i0] mod 10;  value = (value ± label[i_k]) mod 10 for each operation k

As a thought, every input (image, index, operator) is shown for ``repeats`` ticks, followed by
``answer_ticks`` ticks with no new input, during which the CTM answers
(:func:`tick_schedule`).

Only the data side is here. Training needs the tick loop to read a different token set per
tick, which it does not yet do (the CTM prepares keys and values once per thought), so the
task is not registered in ``neurosync.tasks.TASKS``.
"""

from __future__ import annotations

import numpy as np

PLUS, MINUS = -1, -2  # operator codes in a question (indices are >= 0)
MODULO = 10


def answer(labels: np.ndarray, question: list[int]) -> int:
    """The answer to `question` (first index, then operator/index pairs) about digits `labels`."""
    if len(question) % 2 == 0 or question[0] < 0:
        raise ValueError("a question is an index followed by (operator, index) pairs")
    value = int(labels[question[0]]) % MODULO
    for operator, index in zip(question[1::2], question[2::2]):
        if operator not in (PLUS, MINUS) or index < 0:
            raise ValueError(f"bad (operator, index) pair ({operator}, {index})")
        value = (value + int(labels[index])) % MODULO if operator == PLUS else (value - int(labels[index])) % MODULO
    return value


def make_batch(images: np.ndarray, labels: np.ndarray, batch: int, digits: int, operations: int,
               rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw `batch` questions from a pool of images (n, C, H, W) with their labels (n,).

    Returns images (batch, digits, C, H, W), digit labels (batch, digits), questions
    (batch, 1 + 2·operations) and answers (batch,)."""
    if digits < 1 or operations < 1:
        raise ValueError(f"need at least one digit and one operation, got {digits}, {operations}")
    chosen = rng.integers(0, len(labels), size=(batch, digits))
    questions = np.empty((batch, 1 + 2 * operations), dtype=np.int64)
    questions[:, 0::2] = rng.integers(0, digits, size=(batch, operations + 1))
    questions[:, 1::2] = np.where(rng.random((batch, operations)) < 0.5, PLUS, MINUS)
    digit_labels = labels[chosen]
    answers = np.array([answer(digit_labels[b], questions[b].tolist()) for b in range(batch)], dtype=np.int64)
    return {"images": images[chosen], "labels": digit_labels, "questions": questions, "answers": answers}


def tick_schedule(digits: int, operations: int, repeats: int, answer_ticks: int) -> list[tuple[str, int]]:
    """What the CTM sees at each tick: ("digit", k), ("question", k) or ("answer", -1)."""
    schedule = [("digit", k) for k in range(digits) for _ in range(repeats)]
    schedule += [("question", k) for k in range(1 + 2 * operations) for _ in range(repeats)]
    return schedule + [("answer", -1)] * answer_ticks
