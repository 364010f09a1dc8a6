"""Adaptive compute that saves time: CTM.think_until_certain stops each sample at its
first certain tick and drops it from the batch; for a model without intrinsic noise every sample's
answer equals the full thought's at that tick, in any batch composition."""

import json

import pytest
import torch

from conftest import set_model_keys, tiny_config
from neurosync import compare
from neurosync.build import build_model
from neurosync.cli import main
from neurosync.config import from_dict
from neurosync.tasks import recall

VARIANTS = [
    {},
    {"neuron": "spiking", "synchrony": "spike-multiscale"},
    {"neuron": "spiking", "synapse": "plastic", "plasticity": {"implementation": "factorised"}},
    {"neuron": "spiking", "synapse": "plastic-input"},
]


def _configure(cfg, variant):
    set_model_keys(cfg, variant)
    if cfg.model.neuron == "spiking":  # a tiny untrained core fires more with a low threshold: the state matters
        cfg.model.spiking.threshold = 0.02
    torch.manual_seed(0)
    return build_model(cfg).eval()


def _expected(full, threshold, first):
    """Per sample: the first tick >= first whose certainty reaches the threshold, else the last (0-based)."""
    reached = full.certainty >= threshold
    reached[:, :first] = False
    last = torch.full((full.certainty.shape[0],), full.certainty.shape[1] - 1)
    return torch.where(reached.any(1), reached.float().argmax(1), last)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_sample_stops_at_its_first_certain_tick_with_the_full_thoughts_answer(variant):
    cfg = tiny_config()
    cfg.model.ticks = 6
    model = _configure(cfg, variant)
    x = torch.randint(0, 2, (40, cfg.task.sequence_length)).float() * 2 - 1
    with torch.no_grad():
        full = model(x)
    spread = 0  # the most distinct stopping ticks one threshold gave: rows left the batch at several ticks
    for threshold in [full.certainty[:, 1:].quantile(q).item() for q in (0.3, 0.5, 0.7, 0.9)] + [0.0, 1.0]:
        halted = model.think_until_certain(x, threshold)
        tick = _expected(full, threshold, 0)
        assert torch.equal(halted.ticks, tick + 1)
        rows = torch.arange(x.shape[0])
        assert torch.allclose(halted.logits, full.logits[rows, tick], atol=1e-5)
        assert torch.allclose(halted.certainty, full.certainty[rows, tick], atol=1e-6)
        spread = max(spread, len(set(tick.tolist())))
    assert spread >= 2
    assert torch.equal(model.think_until_certain(x, 0.0).ticks, torch.ones(40, dtype=torch.long))


def test_an_episodic_task_stops_only_in_its_answer_window_and_each_row_keeps_its_visible_tokens():
    cfg = from_dict(
        {
            "task": {"name": "recall", "pairs": 3, "vocabulary": 10, "ticks_per_input": 1, "answer_ticks": 3},
            "model": {"ticks": 11, "d_model": 16, "d_input": 8, "heads": 2, "n_synch_out": 6, "n_synch_action": 5},
        }
    )
    model = _configure(cfg, {})
    x, _ = recall.eval_set(cfg.task, 30, 0)
    first = cfg.model.ticks - cfg.task.answer_ticks
    with torch.no_grad():
        full = model(x)
    threshold = full.certainty[:, first:].median().item()
    halted = model.think_until_certain(x, threshold, first)
    tick = _expected(full, threshold, first)
    assert (halted.ticks > first).all() and len(set(halted.ticks.tolist())) > 1
    assert torch.allclose(halted.logits, full.logits[torch.arange(30), tick], atol=1e-5)
    with pytest.raises(ValueError, match="from_tick must lie in"):
        model.think_until_certain(x, 0.5, cfg.model.ticks)
    with pytest.raises(ValueError, match="certainty in"):
        model.think_until_certain(x, 1.5)


def test_compare_halting_accuracy_against_the_full_thought():
    cfg = tiny_config()
    cfg.model.ticks = 5
    model = _configure(cfg, {})
    x = torch.randint(0, 2, (64, cfg.task.sequence_length)).float() * 2 - 1
    y = ((x == -1).cumsum(1) % 2).long()
    result = compare.halting(model, cfg, x, y, thresholds=(0.0, 1.0), batch_size=16)
    never, always = result["thresholds"][1], result["thresholds"][0]
    assert never["mean_ticks"] == 5 and never["accuracy"] == pytest.approx(result["full_accuracy_last"])
    assert always["mean_ticks"] == 1
    with torch.no_grad():
        first_tick = model(x).logits[:, 0].reshape(64, -1, 2).argmax(-1) == y
    assert always["accuracy"] == pytest.approx(first_tick.float().mean().item())
    assert always["whole_accuracy"] == pytest.approx(first_tick.all(1).float().mean().item())
    cfg.task.name = "sort"
    with pytest.raises(ValueError, match="CTC"):
        compare.halting(model, cfg, x, y)


def test_evaluate_halt_at_from_the_cli(tmp_path, capsys):
    from neurosync.training import train

    cfg = tiny_config()
    train(cfg, tmp_path / "run", progress=False)
    assert main(["evaluate", str(tmp_path / "run"), "--samples", "32", "--halt-at", "0.5", "0.9"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["threshold"] for row in result["halting"]["thresholds"]] == [0.5, 0.9]
    assert all(1 <= row["mean_ticks"] <= cfg.model.ticks for row in result["halting"]["thresholds"])
    assert main(["evaluate", str(tmp_path / "run"), "--halt-at", "1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--halt-at takes certainties in [0, 1], got 1.5" in err[0]
