"""Plastic synapses: Miconi's rule against explicit loops; dense = factorised; bounded; trains."""

import pytest
import torch

from conftest import parity3_config, read_metrics
from neurosync.config import ConfigError, from_dict
from neurosync.parts.plastic import PlasticSynapse
from neurosync.training import train


def _run(synapse, attended, posts):
    state = synapse.start(posts.shape[1])
    currents, states = [], []
    for o, s in zip(attended, posts):
        current, state = synapse(o, s, state)
        currents.append(current)
        states.append(state)
    return torch.stack(currents), states


def _inputs(ticks=6, batch=3, d_input=4, d_model=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(ticks, batch, d_input, generator=gen, dtype=torch.float64),
            (torch.rand(ticks, batch, d_model, generator=gen) < 0.5).double())


def test_miconi_dense_update_equals_explicit_loops():
    torch.manual_seed(0)
    synapse = PlasticSynapse(4, 5, "dense", learning_rate=0.3, trace_timescale=2.0).double()
    with torch.no_grad():
        synapse.eta_raw.copy_(torch.linspace(-2, 2, 5))
        synapse.alpha.copy_(torch.randn(5, 5))
    attended, posts = _inputs()
    currents, states = _run(synapse, attended, posts)
    lam, eta = synapse.trace_decay, torch.sigmoid(synapse.eta_raw.detach())
    batch, d = posts.shape[1], posts.shape[2]
    x_prev = torch.zeros(batch, d, dtype=torch.float64)
    hebb = torch.zeros(batch, d, d, dtype=torch.float64)
    for t in range(posts.shape[0]):
        x = lam * x_prev + (1 - lam) * posts[t]
        new = torch.zeros_like(hebb)
        expected = synapse.input(attended[t]) + synapse.recurrent(posts[t])
        expected = expected.detach().clone()
        for b in range(batch):
            for i in range(d):
                for j in range(d):
                    new[b, i, j] = (1 - eta[i]) * hebb[b, i, j] + eta[i] * x[b, i] * x_prev[b, j]
                    expected[b, i] += synapse.alpha[i, j].item() * new[b, i, j] * posts[t, b, j]
        hebb, x_prev = new, x
        torch.testing.assert_close(states[t][1].detach(), hebb)
        torch.testing.assert_close(currents[t].detach(), expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_and_factorised_agree(seed):
    torch.manual_seed(seed)
    dense = PlasticSynapse(4, 6, "dense", learning_rate=0.2).double()
    factorised = PlasticSynapse(4, 6, "factorised", learning_rate=0.2).double()
    with torch.no_grad():
        factorised.input.load_state_dict(dense.input.state_dict())
        factorised.recurrent.load_state_dict(dense.recurrent.state_dict())
        factorised.eta_raw.copy_(torch.randn(6))
        dense.eta_raw.copy_(factorised.eta_raw)
        factorised.alpha_post.copy_(torch.randn(6))
        factorised.alpha_pre.copy_(torch.randn(6))
        dense.alpha.copy_(torch.outer(factorised.alpha_post, factorised.alpha_pre))
    attended, posts = _inputs(ticks=12, d_model=6, seed=seed)
    current_d, _ = _run(dense, attended, posts)
    current_f, _ = _run(factorised, attended, posts)
    assert (current_d - current_f).abs().max() <= 1e-5
    (current_d.square().sum()).backward()
    (current_f.square().sum()).backward()
    torch.testing.assert_close(dense.eta_raw.grad, factorised.eta_raw.grad, rtol=1e-6, atol=1e-8)
    assert factorised.alpha_pre.grad.abs().sum() > 0 and dense.alpha.grad.abs().sum() > 0


def test_fast_weight_starts_at_zero_and_stays_bounded():
    synapse = PlasticSynapse(3, 8, "dense", learning_rate=0.9)
    trace, hebb = synapse.start(2)
    assert hebb.abs().sum() == 0 and trace.abs().sum() == 0
    state = (trace, hebb)
    for _ in range(50):
        _, state = synapse(torch.randn(2, 3), torch.ones(2, 8), state)
        assert state[1].abs().max() <= 1.0 + 1e-6  # spike traces lie in [0, 1]; H is a convex combination


@pytest.mark.parametrize("implementation", ["dense", "factorised"])
def test_ctm_with_plastic_synapses_trains(tmp_path, implementation):
    cfg = parity3_config(synapse="plastic")
    cfg.model.plasticity.implementation = implementation
    train(cfg, tmp_path, progress=False)
    records = read_metrics(tmp_path)
    assert records[-1]["loss"] < 0.9 * records[0]["loss"]


@pytest.mark.parametrize(
    "plasticity, message",
    [
        ({"rule": "bcm"}, "model.plasticity.rule = 'bcm' is not one of"),
        ({"implementation": "sparse"}, "model.plasticity.implementation = 'sparse' is not one of"),
        ({"learning_rate": 1.0}, r"model.plasticity.learning_rate must be in \(0, 1\)"),
        ({"trace_timescale": 0.0}, "model.plasticity.trace_timescale must be > 0"),
    ],
)
def test_invalid_plasticity_configs_are_rejected(plasticity, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"model": {"synapse": "plastic", "plasticity": plasticity}})
