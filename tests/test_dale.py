"""Excitatory and inhibitory populations under Dale's law: no outgoing weight of a neuron, recurrent
or plastic, ever changes sign, through training and Hebbian updates; Brian2 replays the core."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import tiny_config
from neurosync.build import build_model
from neurosync.config import ConfigError, from_dict


def _dale_model(rule="miconi", implementation="dense", seed=0, fraction=0.75):
    cfg = tiny_config()
    cfg.train.seed = seed
    cfg.model.neuron, cfg.model.synapse, cfg.model.synchrony = "spiking", "plastic", "spike-multiscale"
    cfg.model.plasticity.rule, cfg.model.plasticity.implementation = rule, implementation
    cfg.model.spiking.dale, cfg.model.spiking.excitatory_fraction = True, fraction
    cfg.model.spiking.threshold = 0.1
    return build_model(cfg), cfg


def _effect_of_each_presynaptic_spike(synapse, attended, post, state):
    """(batch, post, pre): how the current of each neuron changes when one presynaptic neuron j spikes
    once more, with the fast weights of this tick (the state the synapse returns for ``post``): column j
    of the effective recurrent weight, slow and plastic parts together. Holding the fast weights is what
    isolates j's own weights: under the state-modulated rule j's extra spike would also move every
    neuron's learning rate, and so the fast weights of synapses that are not j's."""
    _, plastic = synapse(attended, post, state)

    def recurrent(spikes):
        slow, fast = synapse.recurrent_terms(spikes, plastic[1])
        return slow if fast is None else slow + fast

    base = recurrent(post)
    effects = []
    for j in range(post.shape[1]):
        more = post.clone()
        more[:, j] += 1.0
        effects.append(recurrent(more) - base)
    return torch.stack(effects, dim=-1)


@settings(max_examples=12, deadline=None)
@given(rule=st.sampled_from(["miconi", "abcd", "neuromodulated"]), seed=st.integers(0, 1000), steps=st.integers(0, 6))
def test_no_outgoing_weight_changes_sign_under_training_and_plasticity(rule, seed, steps):
    model, cfg = _dale_model(rule, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.2)  # large steps: a sign flip would show
    for _ in range(steps):
        x = torch.randint(0, 2, (8, 6), generator=gen).float() * 2 - 1
        out = model(x)
        (out.logits.square().mean() - out.activity.mean()).backward()
        optimizer.step()
        optimizer.zero_grad()
    sign = model.synapse.presynaptic_sign
    n_e = cfg.model.spiking.excitatory_count(cfg.model.d_model)
    assert sign[:n_e].eq(1).all() and sign[n_e:].eq(-1).all()
    torch.testing.assert_close(model.synapse.recurrent_weight().sign(), sign.expand(16, 16))
    with torch.no_grad():  # drive the core so that it spikes whatever training did: an idle core proves nothing
        model.neuron.dendrite_bias.add_(0.15)
    states = []
    model(
        torch.randint(0, 2, (4, 6), generator=gen).float() * 2 - 1,
        observe=lambda **tick: states.append((tick["post"].detach(), tick["synapse_state"])),
    )
    attended = torch.randn(4, cfg.model.d_input, generator=gen)
    for post, state in states[1:]:
        effect = _effect_of_each_presynaptic_spike(model.synapse, attended, post, state)
        signed = (effect * sign)[~effect.isnan()]
        assert (
            signed >= -1e-6
        ).all()  # excitatory spikes never lower another neuron's current, inhibitory never raise one
    assert sum(post.sum() for post, _ in states) > 0  # the core spiked
    assert states[-1][1][1].abs().sum() > 0  # and the fast weights did evolve


def test_factorised_plasticity_keeps_dale_signs_and_equals_the_dense_form():
    dense, _ = _dale_model("miconi", "dense")
    factorised, _ = _dale_model("miconi", "factorised")
    assert torch.all(factorised.synapse.plastic_gain()[1] * factorised.synapse.presynaptic_sign >= 0)
    with torch.no_grad():  # α = a ⊗ b in the dense model: the same currents
        a, b = factorised.synapse.plastic_gain()
        dense.synapse.load_state_dict(
            {k: v for k, v in factorised.synapse.state_dict().items() if "alpha" not in k}, strict=False
        )
        dense.synapse.alpha.copy_(torch.log(torch.expm1(torch.outer(a, b.abs()))))
    synapse_d, synapse_f = dense.synapse, factorised.synapse
    gen = torch.Generator().manual_seed(3)
    state_d, state_f = synapse_d.start(2), synapse_f.start(2)
    for _ in range(5):
        attended = torch.randn(2, 8, generator=gen)
        spikes = (torch.rand(2, 16, generator=gen) < 0.4).float()
        current_d, state_d = synapse_d(attended, spikes, state_d)
        current_f, state_f = synapse_f(attended, spikes, state_f)
        torch.testing.assert_close(current_d, current_f, rtol=1e-5, atol=1e-5)


def test_brian2_exact_mode_replays_a_dale_core():
    pytest.importorskip("brian2")
    from neurosync import brian

    model, _ = _dale_model("abcd")
    with torch.no_grad():
        model.neuron.dendrite_bias.add_(0.15)
    x = torch.randint(0, 2, (2, 6), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    recording = brian.record_core(model, x, ticks=300)
    assert 0.02 < recording.spikes.mean() < 0.9
    report = brian.validate_exact(model, recording)
    assert report["mismatched_bins"] == 0 and report["passed"], report


@pytest.mark.parametrize(
    "spiking, model, message",
    [
        (
            {"dale": True},
            {"neuron": "spiking", "synapse": "mlp"},
            "model.spiking.dale needs model.neuron = 'spiking' and model.synapse = 'plastic'",
        ),
        ({"excitatory_fraction": 1.0}, {"neuron": "spiking"}, r"model.spiking.excitatory_fraction must be in \(0, 1\)"),
        ({"excitatory_fraction": 0.0}, {"neuron": "spiking"}, r"model.spiking.excitatory_fraction must be in \(0, 1\)"),
        (
            {"dale": True, "excitatory_fraction": 0.999},
            {
                "neuron": "spiking",
                "synapse": "plastic",
                "d_model": 16,
                "d_input": 16,
                "n_synch_out": 4,
                "n_synch_action": 4,
            },
            "leaves no excitatory or no inhibitory",
        ),
    ],
)
def test_invalid_populations_are_rejected(spiking, model, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"model": {**model, "spiking": spiking}})


@pytest.mark.parametrize("implementation", ["dense", "factorised"])
def test_recorded_ei_currents_are_the_population_shares_of_the_soma_current(implementation):
    """Two paths: the recording's per-step excitatory + inhibitory currents equal the dendritic
    filtering of (pre-activation − attention drive), replayed here step by step; the excitatory
    share is ≥ 0 and the inhibitory ≤ 0 (positive filter weights at initialisation)."""
    from neurosync.parts.spiking import dendrite_step, dendritic_current

    model, cfg = _dale_model(implementation=implementation)
    model.neuron.set_step(0.5)  # 2 sub-steps per tick of 1 ms
    drives = []
    hook = model.synapse.register_forward_hook(lambda synapse, args, out: drives.append(synapse.input(args[0])))
    x = torch.randint(0, 2, (3, 6), generator=torch.Generator().manual_seed(1)).float() * 2 - 1
    recording = model.record(x, ticks=5)
    hook.remove()
    assert recording.current_excitatory.shape == recording.membrane.shape == (3, 10, cfg.model.d_model)
    assert (recording.current_excitatory >= 0).all() and (recording.current_inhibitory <= 0).all()
    assert recording.current_excitatory.max() > 0 and recording.current_inhibitory.min() < 0
    neuron = model.neuron
    filters, replayed = torch.zeros(3, cfg.model.d_model, neuron.n_filters), []
    with torch.no_grad():
        for tick in range(5):
            recurrent = torch.from_numpy(recording.pre[:, tick]) - drives[tick]
            for _ in range(neuron.substeps):
                filters = dendrite_step(filters, recurrent, neuron.filter_decay())
                replayed.append(dendritic_current(filters, neuron.filter_weight, torch.zeros(cfg.model.d_model)))
    replayed = torch.stack(replayed, dim=1).numpy()
    torch.testing.assert_close(
        torch.from_numpy(recording.current_excitatory + recording.current_inhibitory),
        torch.from_numpy(replayed),
        atol=1e-5,
        rtol=1e-4,
    )
