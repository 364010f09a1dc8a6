"""Equations of the CTM parts against explicit forms and properties over random inputs."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosync.ctm import normalised_entropy
from neurosync.losses import certainty_loss
from neurosync.parts.neurons import NeuronLevelModels
from neurosync.parts.synchrony import DecayedPairwiseSynchrony, pair_indices


@settings(max_examples=25, deadline=None)
@given(
    pairing=st.sampled_from(["random-pairing", "first-last", "random"]),
    ticks=st.integers(1, 12),
    seed=st.integers(0, 10_000),
)
def test_synchrony_recurrence_equals_explicit_decayed_sum(pairing, ticks, seed):
    """S_ij(t) = Σ_τ r^(t−τ) z_i z_j / sqrt(Σ_τ r^(t−τ)) over all past ticks (start state included)."""
    gen = torch.Generator().manual_seed(seed)
    d_model, batch = 12, 3
    sync = DecayedPairwiseSynchrony(
        d_model, 4, 5, pairing, n_self_pairs=2 if pairing == "random-pairing" else 0, generator=gen
    )
    with torch.no_grad():
        sync.decay_action.uniform_(-1, 17, generator=gen)  # outside [0, 15] on purpose: must be clamped
        sync.decay_out.uniform_(0, 3, generator=gen)
    z = torch.randn(ticks + 1, batch, d_model, generator=gen, dtype=torch.float64)
    sync = sync.double()
    state = sync.start(z[0])
    for t in range(1, ticks + 1):
        state = sync(z[t], state)
    action, out = sync.read(state)
    for readout, got in (("action", action), ("out", out)):
        left, right = pair_indices(
            pairing, getattr(sync, f"{readout}_neurons_left"), getattr(sync, f"{readout}_neurons_right")
        )
        decay = getattr(sync, f"decay_{readout}").detach()
        assert decay.min() >= 0 and decay.max() <= 15
        weights = torch.exp(
            -decay.unsqueeze(0) * torch.arange(ticks, -1, -1, dtype=torch.float64).unsqueeze(1)
        )  # (ticks+1, pairs)
        products = z[:, :, left] * z[:, :, right]  # (ticks+1, batch, pairs)
        expected = (weights.unsqueeze(1) * products).sum(0) / weights.sum(0).sqrt()
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_first_last_pairs_use_first_and_last_neurons():
    sync = DecayedPairwiseSynchrony(10, 3, 4, "first-last")
    assert sync.out_neurons_left.tolist() == [0, 1, 2, 3]
    assert sync.action_neurons_left.tolist() == [7, 8, 9]
    assert sync.size_out == 10 and sync.size_action == 6


def test_self_pairs_pair_a_neuron_with_itself():
    sync = DecayedPairwiseSynchrony(50, 8, 9, "random-pairing", n_self_pairs=3)
    assert torch.equal(sync.out_neurons_left[:3], sync.out_neurons_right[:3])
    assert torch.equal(sync.action_neurons_left[:3], sync.action_neurons_right[:3])


@pytest.mark.parametrize("deep", [True, False])
def test_neuron_level_models_are_private_per_neuron(deep):
    """Each neuron's output depends only on its own history: the Jacobian of the outputs with
    respect to the histories is block-diagonal over neurons."""
    neurons, batch, memory = 7, 2, 5
    nlm = NeuronLevelModels(neurons, memory, deep=deep, hidden=3).double()
    history = torch.randn(neurons, batch, memory, dtype=torch.float64)
    pre = torch.randn(batch, neurons, dtype=torch.float64)

    def outputs(hist):
        return nlm(pre, hist)[0]

    jac = torch.autograd.functional.jacobian(outputs, history)  # (batch, neurons, neurons, batch, memory)
    for i in range(neurons):
        for j in range(neurons):
            if i != j:
                assert torch.count_nonzero(jac[:, i, j]) == 0
        assert torch.count_nonzero(jac[:, i, i]) > 0


def test_neuron_history_shifts_in_the_newest_pre_activation():
    nlm = NeuronLevelModels(3, 4)
    _, history = nlm.start(2)
    pre = torch.arange(6.0).reshape(2, 3)
    _, new = nlm(pre, history)
    torch.testing.assert_close(new[:, :, :3], history[:, :, 1:])
    torch.testing.assert_close(new[:, :, 3], pre.t())


def test_private_glu_layer_hand_computed():
    nlm = NeuronLevelModels(1, 2, deep=False)
    layer = nlm.layers[0]
    with torch.no_grad():
        layer.weight_value.copy_(torch.tensor([[[1.0], [2.0]]]))
        layer.weight_gate.copy_(torch.tensor([[[0.5], [-1.0]]]))
        layer.bias_value.fill_(0.1)
        layer.bias_gate.fill_(0.2)
        layer.temperature.fill_(2.0)
    x = torch.tensor([[[3.0, 4.0]]])  # (neurons=1, batch=1, memory=2)
    value, gate = (3 + 8 + 0.1) / 2, (1.5 - 4 + 0.2) / 2
    expected = value / (1 + math.exp(-gate))
    assert layer(x).item() == pytest.approx(expected, rel=1e-6)


def test_normalised_entropy_bounds_and_known_values():
    uniform = torch.zeros(4, 6)
    assert torch.allclose(normalised_entropy(uniform, (3, 2)), torch.ones(4))
    confident = torch.tensor([[50.0, -50.0] * 3])
    assert normalised_entropy(confident, (3, 2)).item() == pytest.approx(0.0, abs=1e-6)
    random = torch.randn(100, 12) * 5
    ne = normalised_entropy(random, (4, 3))
    assert ne.min() >= 0 and ne.max() <= 1 + 1e-6


def test_certainty_loss_picks_min_loss_and_most_certain_ticks():
    per_tick = torch.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, 6.0]])
    certainty = torch.tensor([[0.1, 0.2, 0.9], [0.3, 0.8, 0.1]])
    loss, tick = certainty_loss(per_tick, certainty)
    assert tick.tolist() == [2, 1]
    # sample 0: min 1.0, certain 2.0; sample 1: min 0.5, certain 4.0
    assert loss.item() == pytest.approx(((1.0 + 0.5) / 2 + (2.0 + 4.0) / 2) / 2)


def test_dropout_acts_in_training_only():
    """model.dropout (synapse input, attention weights) and model.nlm.dropout (NLM inputs)."""
    from conftest import tiny_config
    from neurosync.build import build_model

    cfg = tiny_config()
    cfg.model.dropout = 0.3
    cfg.model.nlm.dropout = 0.3
    model = build_model(cfg)
    x = torch.ones(4, 6)
    model.train()
    a, b = model(x).logits, model(x).logits
    assert not torch.equal(a, b)
    model.eval()
    torch.testing.assert_close(model(x).logits, model(x).logits, rtol=0, atol=0)
    plain = build_model(tiny_config())
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(x).logits, plain.eval()(x).logits, rtol=0, atol=0)
