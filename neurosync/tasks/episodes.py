"""What the episodic tasks share (qa_digits, recall, oneshot): a thought that is shown one item
after another, each for ``ticks_per_input`` ticks, and then answers in ``answer_ticks`` ticks
that show nothing.

Every item is a group of tokens in one bank (:class:`~neurosync.parts.perception.TickTokens`):
at the ticks of item k only its tokens are visible, so attention cannot reach back to an item
already shown; whatever the CTM remembers of it must be held in its own state (its neurons'
histories, its synchrony, a plastic synapse's fast weight). The loss is the CTM's certainty
loss over the answer ticks only, and the most-certain tick is counted from the thought's start.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import certainty_loss


def item_visibility(item_of_slot: torch.Tensor, items: int, ticks_per_input: int, answer_ticks: int) -> torch.Tensor:
    """(ticks, bank) bool: slot j is visible at the ticks of item ``item_of_slot[j]`` (−1: the
    blank slot, visible at the answer ticks). Items run 0..items−1, ``ticks_per_input`` ticks each."""
    ticks = items * ticks_per_input + answer_ticks
    tick = torch.arange(ticks, device=item_of_slot.device)
    item_at_tick = torch.where(tick < items * ticks_per_input, tick // ticks_per_input, -1)
    return item_at_tick.unsqueeze(1) == item_of_slot.unsqueeze(0)


def per_tick_loss(logits: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every tick's logits (batch, ticks, classes) against answers (batch,)."""
    batch, ticks, _ = logits.shape
    return F.cross_entropy(logits.float().permute(0, 2, 1), answers.unsqueeze(1).expand(batch, ticks), reduction="none")


def window_loss(out, answers: torch.Tensor, answer_ticks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The certainty loss over the last ``answer_ticks`` ticks; (loss, most-certain tick counted
    from the start of the thought)."""
    value, certain = certainty_loss(
        per_tick_loss(out.logits[:, -answer_ticks:], answers), out.certainty[:, -answer_ticks:]
    )
    return value, certain + out.logits.shape[1] - answer_ticks


def window_metrics(out, answers: torch.Tensor, answer_ticks: int) -> tuple[dict[str, float], torch.Tensor]:
    """Right answers summed over the batch at the most-certain answer tick and at the last tick,
    and the (batch,) bool of the former."""
    _, certain = window_loss(out, answers, answer_ticks)
    rows = torch.arange(answers.shape[0], device=answers.device)
    right = out.logits[rows, certain].argmax(-1) == answers
    return {
        "accuracy_certain": right.float().sum().item(),
        "accuracy_last": (out.logits[:, -1].argmax(-1) == answers).float().sum().item(),
    }, right


def accuracy_headline(final: dict, chance: float) -> str:
    """One line of an episodic task's final accuracy against ``chance``."""
    return (
        f"accuracy {100 * final['accuracy_certain']:.2f}% (last tick {100 * final['accuracy_last']:.2f}%; "
        f"chance {100 * chance:.0f}%); mean most-certain tick {final['certain_tick']:.1f}"
    )
