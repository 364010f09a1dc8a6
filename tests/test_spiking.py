"""Spiking neuron-level models: equations against hand-computed traces, snnTorch and explicit sums."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import parity3_config, read_metrics, tiny_config
from neurosync.config import ConfigError, from_dict
from neurosync.parts.spiking import SomaParameters, SpikingNeurons, SpikingState, dendrite_step, soma_step, spike
from neurosync.training import train


def _run_soma(currents, params, noise=None):
    """currents (steps, batch, neurons) -> spikes, membranes, adaptations, refractory counts over time."""
    zeros = torch.zeros_like(currents[0])
    state = SpikingState(zeros.unsqueeze(-1), zeros, zeros, zeros, zeros, zeros, zeros, zeros[..., :1])
    out = []
    for t, current in enumerate(currents):
        spikes, membrane, adaptation, refractory = soma_step(
            current, zeros if noise is None else noise[t], state, params
        )
        state = SpikingState(
            state.filters, membrane, spikes, adaptation, refractory, state.noise, state.homeostasis, state.shared
        )
        out.append((spikes, membrane, adaptation, refractory))
    return [torch.stack(x) for x in zip(*out)]


def test_lif_hand_computed_trace():
    # beta = e^(−dt/τ) = 0.5, theta 1, constant current 1.6: v ← v + 0.5 (1.6 − v) − s
    # v1 = 0.8 (no spike); v2 = 0.8 + 0.4 = 1.2 > 1 spike; v3 = 1.2 + 0.2 − 1 = 0.4; v4 = 0.4 + 0.6 = 1.0 (not > 1)
    # v5 = 1.0 + 0.3 = 1.3 spike; v6 = 1.3 + 0.15 − 1 = 0.45
    params = SomaParameters(torch.tensor([0.5]), torch.tensor([1.0]))
    spikes, membrane, _, _ = _run_soma(torch.full((6, 1, 1), 1.6), params)
    assert spikes.flatten().tolist() == [0, 1, 0, 0, 1, 0]
    torch.testing.assert_close(membrane.flatten(), torch.tensor([0.8, 1.2, 0.4, 1.0, 1.3, 0.45]))


def test_alif_hand_computed_trace():
    # beta 0.5, theta 1, rho 0.5, kappa 1, current 3.0 (v ← 0.5 v + 1.5 − ϑ_prev s):
    # t1: u=0, thr=1, v=1.5 spike
    # t2: thr_prev=1, u=0*0.5+1=1, thr=2, v=0.75+1.5-1*1=1.25 (no spike, 1.25<2)
    # t3: thr_prev=2, u=0.5, thr=1.5, v=0.625+1.5-0=2.125 spike
    # t4: thr_prev=1.5, u=0.25+1=1.25, thr=2.25, v=1.0625+1.5-1.5=1.0625 no spike
    params = SomaParameters(torch.tensor([0.5]), torch.tensor([1.0]), torch.tensor([0.5]), torch.tensor([1.0]))
    spikes, membrane, adaptation, _ = _run_soma(torch.full((4, 1, 1), 3.0), params)
    assert spikes.flatten().tolist() == [1, 0, 1, 0]
    torch.testing.assert_close(membrane.flatten(), torch.tensor([1.5, 1.25, 2.125, 1.0625]))
    torch.testing.assert_close(adaptation.flatten(), torch.tensor([0.0, 1.0, 0.5, 1.25]))


def test_lif_soma_equals_snntorch_leaky_spike_for_spike():
    """snnTorch's Leaky, v ← βv + x − θ s, is ours with the exactly integrated input x = (1 − β) I."""
    snn = pytest.importorskip("snntorch")
    gen = torch.Generator().manual_seed(3)
    neurons, steps = 64, 200
    beta = (torch.rand(neurons, generator=gen) * 0.5 + 0.45).double()
    threshold = (torch.rand(neurons, generator=gen) + 0.5).double()
    currents = (torch.randn(steps, 8, neurons, generator=gen, dtype=torch.float64) * 0.7 + 0.3) / (1 - beta)
    ours, membrane, _, _ = _run_soma(currents, SomaParameters(beta, threshold))
    leaky = snn.Leaky(beta=beta, threshold=threshold, reset_mechanism="subtract")
    mem = leaky.init_leaky()
    theirs, their_mem = [], []
    for current in currents:
        s, mem = leaky((1 - beta) * current, mem)
        theirs.append(s)
        their_mem.append(mem)
    assert ours.sum() > 100  # the comparison covers real spiking
    assert torch.equal(ours, torch.stack(theirs).to(ours.dtype))
    torch.testing.assert_close(
        membrane, torch.stack(their_mem), rtol=0, atol=1e-12
    )  # the same update, rounded differently


@pytest.mark.parametrize(
    "kind, slope, factory", [("atan", 2.0, "atan"), ("atan", 5.0, "atan"), ("fast-sigmoid", 25.0, "fast_sigmoid")]
)
def test_surrogate_gradient_equals_snntorch(kind, slope, factory):
    surrogate = pytest.importorskip("snntorch.surrogate")
    x = torch.linspace(-2, 2, 101, requires_grad=True)
    spike(x, kind, slope).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    getattr(surrogate, factory)(slope)(x).sum().backward()
    torch.testing.assert_close(ours, x.grad)
    if kind == "atan":  # and the closed form, d/dx (1/π) arctan(π/2 · α · x)
        torch.testing.assert_close(ours, (slope / 2) / (1 + (math.pi / 2 * slope * x.detach()) ** 2))


def test_heaviside_is_strict():
    assert spike(torch.tensor([-1e-6, 0.0, 1e-6])).tolist() == [0.0, 0.0, 1.0]


@settings(max_examples=20, deadline=None)
@given(steps=st.integers(1, 15), seed=st.integers(0, 1000))
def test_dendritic_filters_equal_explicit_exponential_sums(steps, seed):
    gen = torch.Generator().manual_seed(seed)
    decay = torch.rand(5, 3, generator=gen, dtype=torch.float64)
    pre = torch.randn(steps, 2, 5, generator=gen, dtype=torch.float64)
    filters = torch.zeros(2, 5, 3, dtype=torch.float64)
    for t in range(steps):
        filters = dendrite_step(filters, pre[t], decay)
    lags = torch.arange(steps - 1, -1, -1, dtype=torch.float64)
    expected = ((1 - decay) * decay.unsqueeze(0) ** lags.view(-1, 1, 1, 1) * pre.unsqueeze(-1)).sum(0)
    torch.testing.assert_close(filters, expected)


def test_time_constants_stay_inside_their_bounds_without_clamping():
    neurons = SpikingNeurons(4, adaptive=True, tau_min_ms=2.0, tau_max_ms=300.0, dt_ms=0.5)
    with torch.no_grad():
        for p in neurons.parameters():
            p.copy_(torch.linspace(-60, 60, p.numel()).view_as(p))
    taus = torch.cat([neurons.filter_tau().flatten(), neurons.membrane_tau(), neurons.adaptation_tau()])
    assert taus.min() >= 2.0 - 1e-5 and taus.max() <= 300.0 + 1e-3
    params = neurons.soma_parameters()
    assert params.threshold.min() >= 0 and params.adaptation_strength.min() >= 0
    raw = torch.tensor([-3.0, 0.0, 3.0], requires_grad=True)  # the gradient is never cut
    bounded = SpikingNeurons(1).membrane_tau
    bounded.raw = torch.nn.Parameter(raw)
    bounded().sum().backward()
    assert (bounded.raw.grad > 0).all()


def test_decays_are_exact_exponentials_of_the_time_constants_in_ms():
    neurons = SpikingNeurons(
        6,
        filters=3,
        filter_tau_min_ms=2.0,
        filter_tau_max_ms=32.0,
        tau_membrane_ms=20.0,
        threshold=0.5,
        adaptive=True,
        tau_adaptation_ms=200.0,
        dt_ms=0.5,
        noise_std=0.2,
        noise_tau_ms=4.0,
    )
    torch.testing.assert_close(neurons.filter_tau()[0], torch.tensor([2.0, 8.0, 32.0]))
    torch.testing.assert_close(neurons.filter_decay()[0], torch.exp(-0.5 / torch.tensor([2.0, 8.0, 32.0])))
    params = neurons.soma_parameters()
    torch.testing.assert_close(params.membrane_decay, torch.full((6,), math.exp(-0.5 / 20.0)))
    torch.testing.assert_close(params.adaptation_decay, torch.full((6,), math.exp(-0.5 / 200.0)))
    torch.testing.assert_close(params.threshold, torch.full((6,), 0.5))
    assert params.noise_decay == pytest.approx(math.exp(-0.5 / 4.0))
    assert params.noise_scale == pytest.approx(0.2 * math.sqrt(1 - math.exp(-1.0 / 4.0)))
    neurons.set_step(0.25)
    assert neurons.substeps == 2 and neurons.tick_ms == 0.5
    torch.testing.assert_close(neurons.soma_parameters().membrane_decay, torch.full((6,), math.exp(-0.25 / 20.0)))


def test_initial_values_and_gradients_reach_every_parameter():
    neurons = SpikingNeurons(6, filters=3, threshold=0.5, adaptive=True)
    post, state = neurons.start(3)
    total = 0
    for _ in range(6):
        post, state = neurons(torch.randn(3, 6) + 3.0, state)
        total = total + post.sum() + state.membrane.sum()
    total.backward()
    for name, p in neurons.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_sub_steps_give_spike_counts_per_tick():
    neurons = SpikingNeurons(5, substeps=4, tau_membrane_ms=2.0, filter_tau_min_ms=1.5, filter_tau_max_ms=2.0)
    post, state = neurons.start(2)
    post, state = neurons(torch.full((2, 5), 6.0), state)
    assert set(post.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert post.max() > 0


def test_spiking_ctm_trains_and_its_loss_falls(tmp_path):
    train(parity3_config(neuron="spiking"), tmp_path, progress=False)
    records = read_metrics(tmp_path)
    assert records[-1]["loss"] < 0.9 * records[0]["loss"]
    assert 0 < records[-1]["firing_rate_hz"] < 1000 and 0 <= records[-1]["silent_fraction"] <= 1


def test_firing_rate_penalty_is_the_mean_squared_rate_error_in_spikes_per_ms():
    from neurosync.losses import firing_rate_penalty

    rates = torch.tensor([[0.0, 500.0, 1000.0], [200.0, 500.0, 1000.0]])  # per-neuron rates 100, 500, 1000 Hz
    expected = ((0.1 - 0.2) ** 2 + (0.5 - 0.2) ** 2 + (1.0 - 0.2) ** 2) / 3
    assert firing_rate_penalty(rates, 200.0).item() == pytest.approx(expected)
    neurons = SpikingNeurons(3, dt_ms=0.5, substeps=4)  # ticks of 2 ms: 1 spike per tick is 500 Hz
    torch.testing.assert_close(neurons.rate_hz(torch.tensor([1.0, 0.5])), torch.tensor([500.0, 250.0]))


def test_rate_regulariser_pulls_firing_toward_the_target(tmp_path):
    rates = {}
    for weight in (0.0, 20.0):
        cfg = parity3_config(neuron="spiking")
        cfg.model.spiking.threshold = 0.3  # starts far above the target
        cfg.model.spiking.target_rate_hz, cfg.model.spiking.rate_regularisation = 50.0, weight
        train(cfg, tmp_path / str(weight), progress=False)
        rates[weight] = read_metrics(tmp_path / str(weight))[-1]["firing_rate_hz"]
    assert abs(rates[20.0] - 50.0) < 0.5 * abs(rates[0.0] - 50.0)


@pytest.mark.parametrize(
    "spiking, message",
    [
        ({"filters": 0}, "model.spiking.filters must be >= 1"),
        (
            {"tau_membrane_ms": 0.0},
            r"model.spiking.tau_membrane_ms must lie strictly inside \(tau_min_ms, tau_max_ms\)",
        ),
        ({"tau_membrane_ms": -5.0}, r"model.spiking.tau_membrane_ms must lie strictly inside"),
        ({"adaptive": True, "tau_adaptation_ms": 5000.0}, "model.spiking.tau_adaptation_ms must lie strictly inside"),
        ({"tau_min_ms": 0.0}, r"0 < tau_min_ms < tau_max_ms"),
        ({"dt_ms": 2.0}, r"model.spiking.dt_ms \(2.0\) must be <= tau_min_ms \(1.0\)"),
        ({"dt_ms": 0.0}, "model.spiking.dt_ms must be > 0"),
        ({"surrogate": "relu"}, "model.spiking.surrogate = 'relu' is not one of"),
        ({"filter_tau_min_ms": 9.0, "filter_tau_max_ms": 2.0}, "filter_tau_min_ms <= filter_tau_max_ms"),
        ({"threshold": -1.0}, "model.spiking.threshold must be > 0"),
        ({"substeps": 0}, "model.spiking.substeps must be >= 1"),
        ({"noise_std": -0.1}, "model.spiking.noise_std must be >= 0"),
        ({"noise_tau_ms": 0.0}, "model.spiking.noise_tau_ms must be > 0"),
        ({"shared_noise_std": -0.1}, "model.spiking.shared_noise_std must be >= 0"),
        ({"shared_noise_tau_ms": -5.0}, "model.spiking.shared_noise_tau_ms must be > 0"),
        (
            {"shared_noise_std": 0.1, "shared_noise_tau_ms": 0.5},
            r"shared_noise_tau_ms \(0.5\) must be >= dt_ms \(1.0\)",
        ),
        ({"refractory_ms": -1.0}, "model.spiking.refractory_ms must be >= 0"),
        ({"dt_ms": 0.4, "refractory_ms": 1.0}, r"refractory_ms \(1.0\) must be a multiple of dt_ms \(0.4\)"),
        ({"target_rate_hz": 1500.0}, r"model.spiking.target_rate_hz must be <= 1 / dt = 1000 Hz"),
        ({"target_rate_hz": -1.0}, r"model.spiking.target_rate_hz must be >= 0"),
        ({"rate_regularisation": -0.1}, "model.spiking.rate_regularisation must be >= 0"),
    ],
)
def test_invalid_spiking_configs_are_rejected(spiking, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"model": {"neuron": "spiking", "spiking": spiking}})


def _explicit_multiscale(sync, spikes, readout):
    """Explicit form: traces per timescale, then decayed sums over all past ticks, per scale."""
    from neurosync.parts.synchrony import pair_indices

    ticks = spikes.shape[0] - 1
    decay_trace = sync.trace_decay.view(-1).double()
    left, right = pair_indices(
        sync.pairing, getattr(sync, f"{readout}_neurons_left"), getattr(sync, f"{readout}_neurons_right")
    )
    pair_decay = getattr(sync, f"decay_{readout}").detach().double().view(len(decay_trace), -1)
    results = []
    for m, lam in enumerate(decay_trace):
        trace = torch.zeros_like(spikes[0])
        traces = []
        for s in spikes:  # x[t] = λ x[t−1] + (1 − λ) s[t], x[−1] = 0
            trace = lam * trace + (1 - lam) * s
            traces.append(trace)
        traces = torch.stack(traces)  # (ticks+1, batch, neurons)
        weights = torch.exp(-pair_decay[m].unsqueeze(0) * torch.arange(ticks, -1, -1, dtype=torch.float64).unsqueeze(1))
        xi, xj = traces[:, :, left], traces[:, :, right]
        weighted = (weights.unsqueeze(1) * xi * xj).sum(0)
        if sync.normalised:
            power = (weights.unsqueeze(1) * xi * xi).sum(0) * (weights.unsqueeze(1) * xj * xj).sum(0)
            results.append(weighted / torch.sqrt(power + sync.EPSILON))
        else:
            results.append(weighted / weights.sum(0).sqrt())
    return torch.cat(results, dim=1)


@settings(max_examples=20, deadline=None)
@given(
    normalised=st.booleans(),
    pairing=st.sampled_from(["random-pairing", "first-last"]),
    ticks=st.integers(1, 10),
    seed=st.integers(0, 1000),
)
def test_multiscale_spike_synchrony_equals_explicit_form(normalised, pairing, ticks, seed):
    from neurosync.parts.synchrony import DecayedPairwiseSynchrony

    gen = torch.Generator().manual_seed(seed)
    sync = DecayedPairwiseSynchrony(
        10, 3, 4, pairing, generator=gen, timescales=[1.5, 4.0, 16.0], normalised=normalised
    ).double()
    with torch.no_grad():
        sync.decay_action.uniform_(0, 2, generator=gen)
        sync.decay_out.uniform_(0, 2, generator=gen)
    spikes = (torch.rand(ticks + 1, 2, 10, generator=gen) < 0.4).double()
    state = sync.start(spikes[0])
    for t in range(1, ticks + 1):
        state = sync(spikes[t], state)
    action, out = sync.read(state)
    assert action.shape[1] == 3 * (3 if pairing == "random-pairing" else 6)
    torch.testing.assert_close(action, _explicit_multiscale(sync, spikes, "action"))
    torch.testing.assert_close(out, _explicit_multiscale(sync, spikes, "out"))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), rate=st.floats(0.0, 1.0))
def test_normalised_spike_synchrony_is_bounded(seed, rate):
    from neurosync.parts.synchrony import DecayedPairwiseSynchrony

    gen = torch.Generator().manual_seed(seed)
    sync = DecayedPairwiseSynchrony(
        12, 6, 6, "random-pairing", n_self_pairs=2, generator=gen, timescales=[2.0, 8.0], normalised=True
    )
    state = sync.start(torch.zeros(3, 12))
    for _ in range(20):
        state = sync((torch.rand(3, 12, generator=gen) < rate).float(), state)
    action, out = sync.read(state)
    both = torch.cat((action, out), 1)
    assert torch.isfinite(both).all() and both.min() >= 0 and both.max() <= 1


def test_normalised_synchrony_of_a_neuron_with_itself_is_one_and_silence_is_zero():
    from neurosync.parts.synchrony import DecayedPairwiseSynchrony

    sync = DecayedPairwiseSynchrony(4, 2, 2, "first-last", timescales=[3.0], normalised=True)
    state = sync.start(torch.zeros(1, 4))
    for t in range(12):  # neurons 0 and 2 fire every other tick, 1 and 3 never
        state = sync(torch.tensor([[float(t % 2), 0.0, float(t % 2), 0.0]]), state)
    action, out = sync.read(state)  # out: neurons (0, 1) -> pairs (0,0), (0,1), (1,1); action: (2,2), (2,3), (3,3)
    assert out[0, 0].item() == pytest.approx(1.0, abs=1e-4) and out[0, 1].item() == 0.0 and out[0, 2].item() == 0.0
    assert action[0, 0].item() == pytest.approx(1.0, abs=1e-4)


def test_spiking_ctm_with_spike_synchrony_trains(tmp_path):
    cfg = parity3_config(neuron="spiking", synchrony="spike-multiscale")
    cfg.model.spike_synchrony.timescales_ms = [2.0, 8.0]
    train(cfg, tmp_path, progress=False)
    records = read_metrics(tmp_path)
    assert records[-1]["loss"] < 0.9 * records[0]["loss"]


def test_normalised_spike_synchrony_passes_finite_gradients_to_every_parameter():
    from neurosync.build import build_model

    cfg = tiny_config()
    cfg.model.neuron = "spiking"
    cfg.model.synchrony = "spike-multiscale"
    cfg.model.spike_synchrony.normalised = True
    model = build_model(cfg)
    out = model(torch.randint(0, 2, (8, 6), generator=torch.Generator().manual_seed(0)).float() * 2 - 1)
    (out.logits.square().mean() + out.certainty.mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.synchrony.size_out == 3 * cfg.model.n_synch_out


def test_recurrent_lif_core_equals_snntorch_rleaky_spike_for_spike():
    snn = pytest.importorskip("snntorch")
    from neurosync.parts.lif_core import RecurrentLIFFunction

    torch.manual_seed(0)
    neurons, steps = 32, 120
    # float32, as snnTorch's spike function returns float32 whatever the input
    rleaky = snn.RLeaky(beta=0.9, linear_features=neurons, threshold=1.0, reset_mechanism="subtract")
    inputs = torch.randn(steps, 4, neurons) * 0.6 + 0.15
    spk = mem = torch.zeros_like(inputs[0])
    expected = []
    for x in inputs:
        spk, mem = rleaky(x, spk, mem)
        expected.append(spk)
    expected = torch.stack(expected)
    spikes, _ = RecurrentLIFFunction.apply(
        inputs,
        rleaky.recurrent.weight,
        rleaky.recurrent.bias,
        torch.full((neurons,), 0.9),
        torch.ones(neurons),
        "atan",
        2.0,
    )
    assert 0.02 < expected.mean() < 0.8
    assert torch.equal(spikes, expected.detach())


@pytest.mark.parametrize("kind", ["atan", "fast-sigmoid"])
def test_recurrent_lif_fused_backward_equals_autograd(kind):
    from neurosync.parts.lif_core import RecurrentLIF, recurrent_lif_autograd

    torch.manual_seed(1)
    layer = RecurrentLIF(12, surrogate=kind, slope=3.0).double()
    with torch.no_grad():
        layer.beta_raw.normal_()
        layer.threshold_raw.normal_()
    inputs = (torch.randn(25, 3, 12, dtype=torch.float64) * 1.5).requires_grad_()
    weights = torch.randn(2, 25, 3, 12, dtype=torch.float64)
    params = [inputs, *layer.parameters()]
    spikes, membranes = layer(inputs)
    fused = torch.autograd.grad((spikes * weights[0]).sum() + (membranes * weights[1]).sum(), params)
    spikes2, membranes2 = recurrent_lif_autograd(
        inputs, layer.recurrent.weight, layer.recurrent.bias, layer.beta(), layer.threshold(), kind, 3.0
    )
    unrolled = torch.autograd.grad((spikes2 * weights[0]).sum() + (membranes2 * weights[1]).sum(), params)
    assert torch.equal(spikes, spikes2) and 0.05 < spikes.mean() < 0.95
    for a, b in zip(fused, unrolled):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_feed_forward_lif_sequence_backward_equals_autograd():
    from neurosync.parts.lif_core import lif_sequence, recurrent_lif_autograd

    torch.manual_seed(2)
    inputs = (torch.randn(40, 3, 6, dtype=torch.float64) * 1.2).requires_grad_()
    beta = torch.rand(6, dtype=torch.float64, requires_grad=True)
    threshold = (torch.rand(6, dtype=torch.float64) + 0.5).requires_grad_()
    readout = torch.randn(40, 3, 6, dtype=torch.float64)
    spikes, _ = lif_sequence(inputs, beta, threshold)
    fused = torch.autograd.grad((spikes * readout).sum(), [inputs, beta, threshold])
    spikes2, _ = recurrent_lif_autograd(inputs, None, None, beta, threshold)
    unrolled = torch.autograd.grad((spikes2 * readout).sum(), [inputs, beta, threshold])
    assert torch.equal(spikes, spikes2) and spikes.sum() > 10
    for a, b in zip(fused, unrolled):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_recurrent_lif_rejects_wrong_input_shape():
    from neurosync.parts.lif_core import RecurrentLIF

    with pytest.raises(ValueError, match=r"expects inputs \(steps, batch, 8\)"):
        RecurrentLIF(8)(torch.zeros(5, 8))


@pytest.mark.parametrize(
    "neuron, synchrony", [("nlm", "decayed-pairwise"), ("spiking", "decayed-pairwise"), ("spiking", "spike-multiscale")]
)  # multiscale: time constants in ms
@pytest.mark.parametrize("synapse", ["mlp", "plastic"])
def test_every_part_combination_builds_runs_and_backpropagates(neuron, synapse, synchrony):
    from neurosync.build import build_model
    from neurosync.rate import RateCTM
    from neurosync.spiking_ctm import SpikingCTM

    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synapse, cfg.model.synchrony = neuron, synapse, synchrony
    model = build_model(cfg)
    assert type(model) is (SpikingCTM if neuron == "spiking" else RateCTM)
    out = model(torch.randint(0, 2, (3, 6)).float() * 2 - 1)
    assert out.logits.shape == (3, 4, 12) and out.activity.shape == (3, 16)
    out.logits.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_each_ctm_refuses_the_other_kind_of_neuron():
    from neurosync.rate import RateCTM
    from neurosync.spiking_ctm import SpikingCTM

    with pytest.raises(ValueError, match="SpikingCTM needs model.neuron = 'spiking'"):
        SpikingCTM(tiny_config().model, torch.nn.Identity(), 4, (6, 2))
    spiking = tiny_config().model
    spiking.neuron = "spiking"
    with pytest.raises(ValueError, match="RateCTM needs rate neurons"):
        RateCTM(spiking, torch.nn.Identity(), 4, (6, 2))


def test_rate_band_and_population_targets_by_hand():
    from neurosync.config import SpikingConfig
    from neurosync.losses import rate_band_penalty, rate_homeostasis

    rates = torch.tensor([[0.5, 10.0, 50.0, 40.0]])  # Hz, one sample
    # band [1, 20] Hz: 0.5 Hz is 0.5 below, 50 Hz 30 above, 40 Hz 20 above; in spikes per ms
    expected = ((0.5e-3) ** 2 + 0 + (30e-3) ** 2 + (20e-3) ** 2) / 4
    assert rate_band_penalty(rates, 1.0, 20.0).item() == pytest.approx(expected)
    assert rate_band_penalty(torch.tensor([[5.0, 19.0]]), 1.0, 20.0).item() == 0.0
    sp = SpikingConfig(
        dale=True,
        excitatory_fraction=0.5,
        target_rate_hz=10.0,
        target_rate_inhibitory_hz=40.0,
        rate_regularisation=2.0,
        rate_band_hz=[1.0, 20.0],
        band_regularisation=3.0,
    )
    # neurons 0, 1 excitatory (target 10 Hz), 2, 3 inhibitory (target 40 Hz)
    target_term = ((9.5e-3) ** 2 + 0 + (10e-3) ** 2 + 0) / 4
    assert rate_homeostasis(rates, sp).item() == pytest.approx(2.0 * target_term + 3.0 * expected)


def test_rate_weight_ramps_linearly_over_the_end_of_the_schedule():
    from neurosync.config import SpikingConfig
    from neurosync.losses import rate_homeostasis, rate_weight

    constant = SpikingConfig(rate_regularisation=30.0)
    assert [rate_weight(s, 101, constant) for s in (0, 50, 100)] == [30.0, 30.0, 30.0]
    ramp = SpikingConfig(rate_regularisation=30.0, rate_regularisation_final=90.0, rate_ramp_start=0.5)
    # 101 steps: flat up to step 50.5, then linear to 90 at the last step (100)
    weights = [rate_weight(s, 101, ramp) for s in (0, 50, 51, 75, 100)]
    assert weights == pytest.approx([30.0, 30.0, 30.0 + 60.0 * 0.5 / 49.5, 30.0 + 60.0 * 24.5 / 49.5, 90.0])
    rates = torch.tensor([[20.0, 0.0]])  # Hz; target 10 Hz: penalty ((10e-3)² + (10e-3)²) / 2
    sp = SpikingConfig(target_rate_hz=10.0, rate_regularisation=30.0)
    assert rate_homeostasis(rates, sp, torch.tensor(90.0)).item() == pytest.approx(90.0 * 1e-4)
    assert rate_homeostasis(rates, sp).item() == pytest.approx(30.0 * 1e-4)


def test_training_follows_the_rate_weight_schedule(tmp_path, monkeypatch):
    """The loop sets the step's rate weight from the schedule before every step (the tensor a captured
    graph reads): the weights the loss saw are the ramp's."""
    from neurosync import training

    seen = []
    real = training.rate_homeostasis

    def recording(rate_hz, spiking, weight=None):
        seen.append(float(weight))
        return real(rate_hz, spiking, weight)

    monkeypatch.setattr(training, "rate_homeostasis", recording)
    cfg = parity3_config(neuron="spiking")
    cfg.train.steps, cfg.train.eval_every, cfg.train.checkpoint_every = 5, 5, 5
    cfg.model.spiking.rate_regularisation, cfg.model.spiking.rate_regularisation_final = 10.0, 20.0
    cfg.model.spiking.rate_ramp_start = 0.0
    train(cfg, tmp_path / "ramp", progress=False)
    assert seen == pytest.approx([10.0, 12.5, 15.0, 17.5, 20.0])
    assert read_metrics(tmp_path / "ramp")[-1]["rate_weight"] == pytest.approx(20.0)


@pytest.mark.parametrize(
    "spiking, message",
    [
        ({"rate_regularisation_final": -1.0}, "rate_regularisation_final must be >= 0"),
        ({"rate_regularisation_final": 5.0}, "ramps from rate_regularisation, which must then be > 0"),
        (
            {"rate_regularisation": 1.0, "rate_regularisation_final": 5.0, "rate_ramp_start": 1.0},
            r"rate_ramp_start must be in \[0, 1\)",
        ),
    ],
)
def test_invalid_rate_ramps_are_rejected(spiking, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"model": {"neuron": "spiking", "spiking": spiking}})


@pytest.mark.parametrize(
    "spiking, message",
    [
        ({"rate_band_hz": [20.0, 5.0]}, r"rate_band_hz must be \[\] or \[low, high\]"),
        ({"rate_band_hz": [1.0, 2.0, 3.0]}, r"rate_band_hz must be \[\] or \[low, high\]"),
        ({"band_regularisation": 1.0}, r"band_regularisation > 0 needs model.spiking.rate_band_hz"),
        ({"target_rate_inhibitory_hz": -2.0}, "target_rate_inhibitory_hz must be >= 0"),
    ],
)
def test_invalid_rate_targets_are_rejected(spiking, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"model": {"neuron": "spiking", "spiking": spiking}})
