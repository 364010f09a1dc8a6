import torch

from conftest import tiny_config
from neurosync.build import build_model
from neurosync.config import TaskConfig
from neurosync.tasks import parity
from neurosync.training import evaluate


def test_cumulative_parity_hand_case():
    x = torch.tensor([[1.0, -1.0, -1.0, 1.0, -1.0]])
    assert parity.targets_for(x).tolist() == [[0, 1, 0, 0, 1]]


def test_all_sequences_is_exhaustive_and_unique():
    x = parity.all_sequences(5)
    assert x.shape == (32, 5)
    assert len({tuple(row.tolist()) for row in x}) == 32
    assert set(x.unique().tolist()) == {-1.0, 1.0}


def test_eval_set_is_exhaustive_when_small_and_fixed_otherwise():
    x, _ = parity.eval_set(TaskConfig(sequence_length=4), 100, seed=0)
    assert x.shape[0] == 16
    a, _ = parity.eval_set(TaskConfig(sequence_length=20), 50, seed=0)
    b, _ = parity.eval_set(TaskConfig(sequence_length=20), 50, seed=0)
    assert torch.equal(a, b)


def test_per_tick_loss_is_mean_cross_entropy_over_positions():
    logits = torch.zeros(1, 2, 6)
    logits[0, 1] = torch.tensor([5.0, 0.0, 0.0, 5.0, 5.0, 0.0])  # tick 1 right on all 3 positions
    targets = torch.tensor([[0, 1, 0]])
    loss = parity.per_tick_loss(logits, targets)
    assert torch.allclose(loss[0, 0], torch.log(torch.tensor(2.0)))
    assert torch.allclose(loss[0, 1], torch.log1p(torch.exp(torch.tensor(-5.0))))


def test_evaluate_metrics_on_a_model_forced_to_answer():
    cfg = tiny_config()
    model = build_model(cfg)
    x, y = parity.eval_set(cfg.task, 64, 0)
    metrics = evaluate(model, cfg, x, y)
    assert set(metrics) == {
        "bit_acc_certain",
        "seq_acc_certain",
        "bit_acc_last",
        "seq_acc_last",
        "loss",
        "certain_tick",
    }
    with torch.no_grad():  # make the readout answer "always 0": per-bit accuracy = fraction of zero targets
        model.readout.weight.zero_()
        model.readout.bias.copy_(torch.tensor([4.0, -4.0] * cfg.task.sequence_length))
    metrics = evaluate(model, cfg, x, y)
    expected_bits = (y == 0).float().mean().item()
    assert abs(metrics["bit_acc_last"] - expected_bits) < 1e-6
    assert abs(metrics["seq_acc_last"] - (y == 0).all(1).float().mean().item()) < 1e-6


def test_the_model_refuses_inputs_that_are_not_its_parity_sequences():
    """NaN, inf, 0 or 2 are not silently read as −1, nor another length or rank accepted."""
    import pytest

    cfg = tiny_config()
    model = build_model(cfg)
    good = torch.ones(2, cfg.task.sequence_length)
    assert model(good).logits.shape[0] == 2
    for value, message in (
        (float("nan"), "non-finite"),
        (float("inf"), "non-finite"),
        (0.0, "only ±1 values"),
        (2.0, "only ±1 values"),
    ):
        bad = good.clone()
        bad[1, 3] = value
        with pytest.raises(ValueError, match=message):
            model(bad)
    for shape in ((2, cfg.task.sequence_length + 1), (cfg.task.sequence_length,), (2, cfg.task.sequence_length, 1)):
        with pytest.raises(ValueError, match=rf"must have shape \(batch, {cfg.task.sequence_length}\)"):
            model(torch.ones(shape))
