"""Plastic synapses: Miconi's rule against explicit loops; dense = factorised; bounded; trains."""

import pytest
import torch

from conftest import parity3_config, read_metrics
from neurosync.config import ConfigError, from_dict
from neurosync.parts.plastic import PlasticSynapse
from neurosync.training import train


def _run(synapse, attended, posts, modulations=None):
    state = synapse.start(posts.shape[1])
    currents, states = [], []
    for t, (o, s) in enumerate(zip(attended, posts)):
        current, state = synapse(o, s, state, None if modulations is None else modulations[t])
        currents.append(current)
        states.append(state)
    return torch.stack(currents), states


def _inputs(ticks=6, batch=3, d_input=4, d_model=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(ticks, batch, d_input, generator=gen, dtype=torch.float64),
        (torch.rand(ticks, batch, d_model, generator=gen) < 0.5).double(),
    )


def _explicit_run(synapse, attended, posts, modulations, rule_step):
    """Reference: the synapse's equations written as loops over samples and synapses."""
    lam = synapse.trace_decay
    ticks, batch, d = posts.shape
    x_prev = torch.zeros(batch, d, dtype=torch.float64)
    hebb = torch.zeros(batch, d, d, dtype=torch.float64)
    currents, hebbs = [], []
    with torch.no_grad():
        for t in range(ticks):
            x = lam * x_prev + (1 - lam) * posts[t]
            expected = (synapse.input(attended[t]) + synapse.recurrent(posts[t])).clone()
            new = torch.zeros_like(hebb)
            for b in range(batch):
                eta = rule_step(x[b], modulations[t, b])
                for i in range(d):
                    for j in range(d):
                        new[b, i, j] = _rule(synapse, hebb[b, i, j], x[b, i], x_prev[b, j], eta[i], i, j)
                        expected[b, i] += synapse.alpha[i, j] * new[b, i, j] * posts[t, b, j]
            hebb, x_prev = new, x
            currents.append(expected)
            hebbs.append(hebb)
    return currents, hebbs


def _rule(synapse, h, post, pre, eta, i, j):
    if synapse.rule == "abcd":
        a, b, c, d = (coef[i, j] if coef.shape[1] > 1 else coef[i, 0] for coef in synapse.abcd)
        return min(max(h + eta * (a * post * pre + b * pre + c * post + d), -synapse.clip), synapse.clip)
    return (1 - eta) * h + eta * post * pre


def _randomise(synapse, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in synapse.parameters():
            param.copy_(torch.randn(param.shape, generator=gen, dtype=param.dtype))


@pytest.mark.parametrize(
    "rule, options",
    [
        ("miconi", {}),
        ("abcd", {"coefficients": "synapse", "clip": 0.3}),
        ("abcd", {"coefficients": "neuron", "clip": 0.5}),
        ("neuromodulated", {"modulator": "state"}),
        ("neuromodulated", {"modulator": "certainty"}),
    ],
)
def test_dense_updates_equal_explicit_loops(rule, options):
    synapse = PlasticSynapse(4, 5, rule=rule, implementation="dense", learning_rate=0.3, **options).double()
    _randomise(synapse)
    attended, posts = _inputs()
    modulations = torch.rand(posts.shape[:2], generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def rule_step(x, m):  # η for one sample, by hand
        if rule != "neuromodulated":
            return torch.sigmoid(synapse.eta_raw)
        signal = (
            (synapse.modulator_readout.weight[0] @ x + synapse.modulator_readout.bias[0])
            if options["modulator"] == "state"
            else m
        )
        return torch.sigmoid(synapse.eta_raw + synapse.eta_gain * signal)

    currents, states = _run(synapse, attended, posts, modulations)
    expected_currents, expected_hebbs = _explicit_run(synapse, attended, posts, modulations, rule_step)
    for t in range(posts.shape[0]):
        torch.testing.assert_close(states[t][1].detach(), expected_hebbs[t])
        torch.testing.assert_close(currents[t].detach(), expected_currents[t])
    if rule == "abcd":  # the clip was reached, so the test covers it
        assert states[-1][1].abs().max().item() == pytest.approx(options["clip"])


@pytest.mark.parametrize(
    "rule, modulator",
    [("miconi", "state"), ("neuromodulated", "state"), ("neuromodulated", "certainty"), ("abcd", "state")],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_dense_and_factorised_agree(rule, modulator, seed):
    dense = PlasticSynapse(4, 6, rule=rule, implementation="dense", modulator=modulator, clip=0.4).double()
    factorised = PlasticSynapse(4, 6, rule=rule, implementation="factorised", modulator=modulator, clip=0.4).double()
    _randomise(factorised, seed)
    shared = {k: v for k, v in factorised.state_dict().items() if not k.startswith("alpha")}
    dense.load_state_dict({**shared, "alpha": torch.outer(factorised.alpha_post, factorised.alpha_pre).detach()})
    attended, posts = _inputs(ticks=70, d_model=6, seed=seed)  # > 2 windows: the folds are covered
    modulations = torch.rand(posts.shape[:2], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    current_d, states_d = _run(dense, attended, posts, modulations)
    current_f, states_f = _run(factorised, attended, posts, modulations)
    assert (current_d - current_f).abs().max() <= 1e-5
    torch.testing.assert_close(dense.fast_weight_norm(states_d[-1]), factorised.fast_weight_norm(states_f[-1]))
    (current_d.square().sum()).backward()
    (current_f.square().sum()).backward()
    torch.testing.assert_close(dense.eta_raw.grad, factorised.eta_raw.grad, rtol=1e-6, atol=1e-8)
    if rule == "neuromodulated":
        torch.testing.assert_close(dense.eta_gain.grad, factorised.eta_gain.grad, rtol=1e-6, atol=1e-8)
    assert factorised.alpha_pre.grad.abs().sum() > 0 and dense.alpha.grad.abs().sum() > 0


def test_abcd_coefficients_and_learning_rates_get_gradients():
    synapse = PlasticSynapse(4, 5, rule="abcd", implementation="dense", coefficients="synapse").double()
    attended, posts = _inputs()
    currents, _ = _run(synapse, attended, posts)
    currents.square().sum().backward()
    assert all(synapse.abcd.grad[k].abs().sum() > 0 for k in range(4))
    assert synapse.eta_raw.grad.abs().sum() > 0 and synapse.alpha.grad.abs().sum() > 0


@pytest.mark.parametrize("rule, bound", [("miconi", 1.0), ("neuromodulated", 1.0), ("abcd", 0.7)])
def test_fast_weight_starts_at_zero_and_stays_bounded(rule, bound):
    synapse = PlasticSynapse(3, 8, rule=rule, implementation="dense", learning_rate=0.9, clip=0.7)
    trace, hebb = synapse.start(2)
    assert hebb.abs().sum() == 0 and trace.abs().sum() == 0
    state = (trace, hebb)
    for _ in range(50):  # always-on neurons: the strongest Hebbian drive there is
        _, state = synapse(torch.randn(2, 3), torch.ones(2, 8), state, torch.ones(2))
        assert state[1].abs().max() <= bound + 1e-6  # miconi-type: a convex combination of products in [0, 1]
    assert state[1].abs().max() > 0.5 * bound


@pytest.mark.parametrize(
    "rule, implementation, modulator",
    [
        ("miconi", "dense", "state"),
        ("miconi", "factorised", "state"),
        ("abcd", "dense", "state"),
        ("neuromodulated", "factorised", "certainty"),
    ],
)
def test_ctm_with_plastic_synapses_trains(tmp_path, rule, implementation, modulator):
    cfg = parity3_config(synapse="plastic")
    pl = cfg.model.plasticity
    pl.rule, pl.implementation, pl.modulator = rule, implementation, modulator
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
        ({"coefficients": "layer"}, "model.plasticity.coefficients = 'layer' is not one of neuron, synapse"),
        ({"modulator": "dopamine"}, "model.plasticity.modulator = 'dopamine' is not one of state, certainty"),
        ({"clip": 0}, "model.plasticity.clip must be > 0"),
        ({"input_pathway": "mlp"}, "model.plasticity.input_pathway = 'mlp' is not one of linear, glu"),
    ],
)
def test_invalid_plasticity_configs_are_rejected(plasticity, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"model": {"synapse": "plastic", "plasticity": plasticity}})


@pytest.mark.parametrize("implementation", ["dense", "factorised"])
def test_glu_input_pathway_is_the_rate_synapses_nonlinearity_on_the_drive_alone(implementation):
    """input_pathway = 'glu': the current is LayerNorm(GLU(W_in · o)) plus the same linear
    recurrence as the linear pathway; the spikes never pass the GLU."""
    linear = PlasticSynapse(4, 5, rule="miconi", implementation=implementation).double()
    glu = PlasticSynapse(4, 5, rule="miconi", implementation=implementation, input_pathway="glu").double()
    _randomise(glu, 1)
    linear.load_state_dict({k: v for k, v in glu.state_dict().items() if not k.startswith("input.")}, strict=False)
    attended, posts = _inputs()
    currents_glu, _ = _run(glu, attended, posts)
    currents_linear, _ = _run(linear, attended, posts)
    with torch.no_grad():
        weight, bias = glu.input[0].weight, glu.input[0].bias
        for t in range(attended.shape[0]):
            value, gate = (attended[t] @ weight.T + bias).chunk(2, dim=-1)
            drive = torch.nn.functional.layer_norm(
                value * torch.sigmoid(gate), (5,), glu.input[2].weight, glu.input[2].bias
            )
            torch.testing.assert_close(currents_glu[t] - drive, currents_linear[t] - linear.input(attended[t]))
    with pytest.raises(ValueError, match="input_pathway must be 'linear' or 'glu'"):
        PlasticSynapse(4, 5, input_pathway="mlp")


def _shapes(state):
    trace, plastic = state
    parts = (
        [plastic]
        if isinstance(plastic, torch.Tensor)
        else [getattr(plastic, f) for f in ("base", "decay", "posts", "pres", "filled", "folded")]
    )
    return [tuple(trace.shape)] + [tuple(part.shape) for part in parts]


@pytest.mark.parametrize("implementation", ["dense", "factorised"])
def test_the_plastic_state_keeps_its_size_through_a_long_thought(implementation):
    """The factorised state used to grow by one trace per tick without bound (O(ticks²)
    work); now its slots grow to WINDOW and fold, so a 200-tick thought never holds more than a
    32-tick one, and every other part of the state keeps its shape."""
    from neurosync.parts.plastic import WINDOW

    synapse = PlasticSynapse(4, 6, rule="neuromodulated", implementation=implementation, modulator="state")
    state = synapse.start(3)
    shapes = _shapes(state)
    gen = torch.Generator().manual_seed(0)
    slots = []
    for _ in range(200):
        _, state = synapse(torch.randn(3, 4, generator=gen), (torch.rand(3, 6, generator=gen) < 0.3).float(), state)
        now = _shapes(state)
        if implementation == "factorised":
            slots.append(now[3][1])
            assert now[3] == now[4] == (3, slots[-1], 6)
            now[3:5] = shapes[3:5]
        assert now == shapes
    if implementation == "dense":
        assert shapes == [(3, 6), (3, 6, 6)]
    else:
        assert shapes == [(3, 6), (3, 6, 6), (3, 6), (3, 0, 6), (3, 0, 6), (3,), (3,)]
        assert max(slots) == WINDOW and slots[:WINDOW] == list(range(1, WINDOW + 1)) and slots[WINDOW] == 1  # folded
    assert sum(p.numel() for n, p in synapse.named_parameters() if n.startswith("alpha")) == (
        36 if implementation == "dense" else 12
    )


def test_rows_restarted_at_different_ticks_keep_their_own_windows():
    """A factorised state whose rows restart at different ticks (RL episodes end at any step)
    equals the dense form restarted alike, through several folds of the window."""
    from neurosync.ctm import map_rows

    dense = PlasticSynapse(4, 6, rule="neuromodulated", implementation="dense", modulator="state").double()
    factorised = PlasticSynapse(4, 6, rule="neuromodulated", implementation="factorised", modulator="state").double()
    _randomise(factorised, 2)
    shared = {k: v for k, v in factorised.state_dict().items() if not k.startswith("alpha")}
    dense.load_state_dict({**shared, "alpha": torch.outer(factorised.alpha_post, factorised.alpha_pre).detach()})
    attended, posts = _inputs(ticks=90, batch=3, d_model=6, seed=4)
    restarts = {
        10: torch.tensor([False, True, False]),
        45: torch.tensor([True, False, False]),
        77: torch.tensor([False, True, True]),
    }

    def blend(dim, old, fresh, keep):
        view = [1] * old.dim()
        view[dim] = -1
        return torch.where(keep.view(view), old, fresh)

    states = {"d": dense.start(3), "f": factorised.start(3)}
    with torch.no_grad():
        for t in range(90):
            if t in restarts:
                keep = ~restarts[t]
                for key, synapse in (("d", dense), ("f", factorised)):
                    states[key] = map_rows(
                        lambda dim, old, fresh, keep=keep: blend(dim, old, fresh, keep),
                        0,
                        3,
                        states[key],
                        synapse.start(3),
                    )
            current_d, states["d"] = dense(attended[t], posts[t], states["d"])
            current_f, states["f"] = factorised(attended[t], posts[t], states["f"])
            torch.testing.assert_close(current_f, current_d, rtol=1e-9, atol=1e-9)
    assert states["f"][1].folded.tolist() == [
        True,
        False,
        False,
    ]  # row 0 folded since its restart; rows 1, 2 restarted at 77


def test_a_frozen_zero_gain_is_a_plastic_synapse_with_plasticity_off(tmp_path):
    """The control of the ablations (experiments/reports/recall-probes.md): learn_alpha = false keeps α at
    alpha_init through training; at 0 the currents are the plain linear recurrence's."""
    cfg = parity3_config(synapse="plastic")
    cfg.model.plasticity.alpha_init, cfg.model.plasticity.learn_alpha = 0.0, False
    train(cfg, tmp_path, progress=False)
    from neurosync.checkpoint import load_model

    model, _ = load_model(tmp_path)
    synapse = model.synapse
    assert synapse.alpha.abs().max() == 0 and not synapse.alpha.requires_grad
    attended, posts = _inputs(d_input=synapse.input.in_features, d_model=synapse.d_model)
    currents, states = _run(synapse, attended.float(), posts.float())
    assert states[-1][1].abs().max() > 0  # H evolves, but α = 0 keeps it out of the current
    for t in range(posts.shape[0]):
        torch.testing.assert_close(
            currents[t], synapse.input(attended[t].float()) + synapse.recurrent(posts[t].float())
        )
