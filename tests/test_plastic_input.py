"""The afferent fast weight (model.synapse = "plastic-input"): its equations against explicit loops
(the lag that binds a response to the input one tick before it), a key read back in the same
tick, the rules' bounds, training, and what the config refuses."""

import pytest
import torch

from conftest import parity3_config, read_metrics
from neurosync.config import ConfigError, from_dict
from neurosync.parts.plastic_input import PlasticInputSynapse
from neurosync.training import train


def _inputs(ticks=6, batch=3, d_input=4, d_model=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(ticks, batch, d_input, generator=gen, dtype=torch.float64),
        (torch.rand(ticks, batch, d_model, generator=gen) < 0.5).double(),
    )


def _synapse(rule="miconi", seed=0, **options):
    synapse = PlasticInputSynapse(4, 5, rule=rule, trace_timescale=1.5, **options).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in synapse.parameters():
            param.copy_(torch.randn(param.shape, generator=gen, dtype=param.dtype))
    return synapse


@pytest.mark.parametrize(
    "rule, options",
    [
        ("miconi", {}),
        ("abcd", {"clip": 0.4}),
        ("neuromodulated", {"modulator": "state"}),
        ("neuromodulated", {"modulator": "certainty"}),
    ],
)
def test_updates_equal_explicit_loops(rule, options):
    synapse = _synapse(rule, **options)
    attended, posts = _inputs()
    modulations = torch.rand(6, 3, dtype=torch.float64)
    lam = synapse.trace_decay
    state = synapse.start(3)
    x_prev = torch.zeros(3, 5, dtype=torch.float64)
    u = [torch.zeros(3, 4, dtype=torch.float64)] * 2  # traces of the input through the last tick and the one before
    hebb = torch.zeros(3, 5, 4, dtype=torch.float64)
    with torch.no_grad():
        for t in range(6):
            current, state = synapse(attended[t], posts[t], state, modulations[t])
            x = lam * x_prev + (1 - lam) * posts[t]
            eta = synapse.learning_rate(x, modulations[t]).expand(3, 5)
            expected = synapse.base(attended[t], posts[t])[0].clone()
            new = torch.zeros_like(hebb)
            for b in range(3):
                for i in range(5):
                    for j in range(4):
                        h, post, pre, e = hebb[b, i, j], x[b, i], u[1][b, j], eta[b, i]
                        if rule == "abcd":
                            a, bb, c, d = (coef[i, 0] for coef in synapse.abcd)
                            new[b, i, j] = min(
                                max(h + e * (a * post * pre + bb * pre + c * post + d), -synapse.clip), synapse.clip
                            )
                        else:
                            new[b, i, j] = (1 - e) * h + e * post * pre
                        expected[b, i] += synapse.alpha[i, j] * new[b, i, j] * attended[t, b, j]
            hebb, x_prev = new, x
            u = [lam * u[0] + (1 - lam) * attended[t], u[0]]
            torch.testing.assert_close(current, expected, rtol=0, atol=1e-12)
            torch.testing.assert_close(state[1], hebb, rtol=0, atol=1e-12)


def test_a_key_reads_back_the_response_to_its_value_in_the_same_tick():
    """Key k at tick 0, value at tick 1 (neuron 0 responds), then nothing, then k again: the fast
    weight's current at the query tick drives neuron 0 and no other."""
    synapse = PlasticInputSynapse(
        3, 2, trace_timescale=1e-6, learning_rate=0.5, alpha_init=1.0
    ).double()  # λ ≈ 0: no smearing
    key, value, blank = (torch.tensor([[1.0, 0, 0]]), torch.tensor([[0, 1.0, 0]]), torch.zeros(1, 3))
    responses = [torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[1.0, 0]]), torch.zeros(1, 2), torch.zeros(1, 2)]
    inputs = [key, value, blank, blank, key]  # spikes arrive one tick after their input: s[t−1] at call t
    state = synapse.start(1)
    with torch.no_grad():
        for o, s in zip(inputs, responses):
            _, state = synapse(o.double(), s.double(), state)
        read = synapse.afferent_current(key.double(), state[1])
    assert (
        read[0, 0] > 0.1 and read[0, 1] == 0
    )  # H[0, key] was written at tick 2 (post: tick 1's response, pre: tick 0's input)
    assert (
        state[1][0, 0, 0] > 0 and state[1][0, :, 1:].abs().max() == 0
    )  # nothing bound to the value's or the blank's input


def test_ctm_with_an_afferent_fast_weight_trains(tmp_path):
    cfg = parity3_config(synapse="plastic-input")
    train(cfg, tmp_path, progress=False)
    records = read_metrics(tmp_path)
    assert records[-1]["loss"] < 0.9 * records[0]["loss"]


@pytest.mark.parametrize(
    "rule, modulator",
    [("miconi", "state"), ("neuromodulated", "state"), ("neuromodulated", "certainty"), ("abcd", "state")],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_dense_and_factorised_afferent_weights_agree(rule, modulator, seed):
    """α = a ⊗ b: the windowed state (miconi, neuromodulated; 70 ticks, so the window folds twice)
    and the dense one give the same currents, H and gradients."""
    factorised = _synapse(rule, seed, modulator=modulator, clip=0.4, implementation="factorised")
    dense = PlasticInputSynapse(4, 5, rule=rule, trace_timescale=1.5, modulator=modulator, clip=0.4).double()
    shared = {k: v for k, v in factorised.state_dict().items() if not k.startswith("alpha")}
    dense.load_state_dict({**shared, "alpha": factorised.alpha_matrix().detach()})
    assert factorised.windowed == (rule != "abcd")
    attended, posts = _inputs(ticks=70, seed=seed)
    modulations = torch.rand(posts.shape[:2], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    runs = []
    for synapse in (dense, factorised):
        state, currents = synapse.start(3), []
        for t in range(posts.shape[0]):
            current, state = synapse(attended[t], posts[t], state, modulations[t])
            currents.append(current)
        runs.append((torch.stack(currents), state))
    (current_d, state_d), (current_f, state_f) = runs
    assert (current_d - current_f).abs().max() <= 1e-5
    torch.testing.assert_close(dense.hebbian(state_d[1]), factorised.hebbian(state_f[1]))
    torch.testing.assert_close(dense.fast_weight_norm(state_d), factorised.fast_weight_norm(state_f))
    current_d.square().sum().backward()
    current_f.square().sum().backward()
    torch.testing.assert_close(dense.eta_raw.grad, factorised.eta_raw.grad, rtol=1e-6, atol=1e-8)
    assert factorised.alpha_pre.grad.abs().sum() > 0 and factorised.alpha_post.grad.abs().sum() > 0


def test_the_factorised_afferent_state_has_a_bounded_size():
    synapse = _synapse("miconi", implementation="factorised")
    attended, posts = _inputs(ticks=80)
    state = synapse.start(3)
    sizes = set()
    with torch.no_grad():
        for t in range(80):
            _, state = synapse(attended[t], posts[t], state)
            sizes.add(tuple(tuple(getattr(state[1], name).shape) for name in ("base", "decay", "posts", "pres")))
    assert sizes == {
        ((3, 5, 4), (3, 5), (3, slots, 5), (3, slots, 4)) for slots in range(1, 33)
    }  # bounded: folded at 32


def test_ctm_with_a_factorised_afferent_fast_weight_trains(tmp_path):
    cfg = parity3_config(synapse="plastic-input")
    cfg.model.plasticity.implementation = "factorised"
    train(cfg, tmp_path, progress=False)
    records = read_metrics(tmp_path)
    assert records[-1]["loss"] < 0.9 * records[0]["loss"]


@pytest.mark.parametrize(
    "plasticity, message",
    [
        ({"input_pathway": "glu"}, "no input_pathway of its own"),
        ({"rule": "abcd", "coefficients": "synapse"}, "per-neuron ABCD"),
    ],
)
def test_what_the_afferent_synapse_refuses(plasticity, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"model": {"synapse": "plastic-input", "plasticity": plasticity}})


def _dale_afferent(implementation, seed=0):
    from neurosync.parts.plastic import PlasticSynapse

    excitatory = torch.tensor([True, True, True, False, False])
    synapse = PlasticSynapse(
        4, 5, implementation=implementation, trace_timescale=1.5, excitatory=excitatory, site="afferent"
    ).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in synapse.parameters():
            param.copy_(torch.randn(param.shape, generator=gen, dtype=param.dtype))
    return synapse


def test_a_dale_recurrence_beside_an_afferent_fast_weight_equals_explicit_loops():
    """model.plasticity.site = "afferent": g(o) + σ_pre |W| s + (α ⊙ H) o, H bound as the afferent
    fast weight's (post x[t−1], pre u[t−2]); every recurrent weight keeps its presynaptic sign, and
    the factorised form equals the dense one with α = a ⊗ b."""
    dense, factorised = _dale_afferent("dense"), _dale_afferent("factorised")
    with torch.no_grad():
        dense.load_state_dict(
            {k: v for k, v in factorised.state_dict().items() if not k.startswith("alpha")}, strict=False
        )
        dense.alpha.copy_(torch.outer(factorised.alpha_post, factorised.alpha_pre))
    weight = dense.recurrent_weight()
    assert (weight[:, :3] >= 0).all() and (weight[:, 3:] <= 0).all()
    attended, posts = _inputs()
    lam = dense.trace_decay
    eta = dense.learning_rate().reshape(5)
    states = dense.start(3), factorised.start(3)
    x = torch.zeros(3, 5, dtype=torch.float64)
    u = [torch.zeros(3, 4, dtype=torch.float64)] * 2
    hebb = torch.zeros(3, 5, 4, dtype=torch.float64)
    with torch.no_grad():
        for t in range(6):
            x = lam * x + (1 - lam) * posts[t]
            hebb = (1 - eta[None, :, None]) * hebb + eta[None, :, None] * x[:, :, None] * u[1][:, None, :]
            expected = dense.input(attended[t]) + posts[t] @ weight.T
            expected = expected + torch.einsum("ij,bij,bj->bi", dense.alpha, hebb, attended[t])
            u = [lam * u[0] + (1 - lam) * attended[t], u[0]]
            outputs = []
            for k, synapse in enumerate((dense, factorised)):
                current, state = synapse(attended[t], posts[t], states[k])
                states = states[:k] + (state,) + states[k + 1 :]
                outputs.append(current)
            torch.testing.assert_close(outputs[0], expected, rtol=0, atol=1e-12)
            torch.testing.assert_close(outputs[1], expected, rtol=0, atol=1e-12)
            torch.testing.assert_close(
                dense.fast_weight_read(attended[t], posts[t], states[0]),
                torch.einsum("ij,bij,bj->bi", dense.alpha, hebb, attended[t]),
            )
        excitatory_share, inhibitory_share = dense.population_currents(posts[-1], states[0])
        torch.testing.assert_close(excitatory_share + inhibitory_share, posts[-1] @ weight.T)


def test_the_site_is_refused_where_it_has_no_meaning():
    with pytest.raises(ConfigError, match="model.plasticity.site"):
        from_dict({"model": {"synapse": "plastic", "plasticity": {"site": "dendrite"}}})
    with pytest.raises(ConfigError, match="plastic-input"):
        from_dict({"model": {"synapse": "plastic-input", "plasticity": {"site": "afferent"}}})
