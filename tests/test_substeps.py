"""The fused sub-step path, in PyTorch and in the compiled kernels, equals the stepwise reference:
spikes, membranes, states and gradients."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosync.parts.kernels import use_kernels
from neurosync.parts.spiking import SpikingNeurons


def _pair(seed, adaptive, refractory_ms, noise_std, substeps, homeostatic=False, bounded="none", shared_std=0.0):
    torch.manual_seed(seed)
    neurons = SpikingNeurons(
        12,
        filters=3,
        substeps=substeps,
        dt_ms=0.5,
        tau_min_ms=0.5,
        filter_tau_min_ms=1.0,
        filter_tau_max_ms=8.0,
        tau_membrane_ms=4.0,
        threshold=0.4,
        adaptive=adaptive,
        tau_adaptation_ms=30.0,
        adaptation_strength=0.1,
        refractory_ms=refractory_ms,
        noise_std=noise_std,
        noise_tau_ms=3.0,
        shared_noise_std=shared_std,
        shared_noise_tau_ms=20.0,
        homeostasis_rate_hz=300.0 if homeostatic else 0.0,
        homeostasis_tau_ms=10.0,
        bounded_input=bounded != "none",
        input_floor=0.2,
        input_floor_width=0.05,
        input_floor_margin=0.15 if bounded in ("relative", "ceiling") else 0.0,
        input_ceiling_margin=0.1 if bounded == "ceiling" else 0.0,
    ).double()
    with torch.no_grad():
        for p in neurons.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return neurons


def _thought(neurons, drives, fused, seed):
    neurons.seed_noise(seed)
    _, state = neurons.start(drives.shape[1])
    posts, membranes = [], []
    step = neurons.forward_fused if fused else neurons.forward_stepwise
    for drive in drives:
        post, state = step(drive, state)
        posts.append(post)
        membranes.append(state.membrane)
    return torch.stack(posts), torch.stack(membranes), state


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    adaptive=st.booleans(),
    refractory_ms=st.sampled_from([0.0, 1.0, 2.5]),
    noise_std=st.sampled_from([0.0, 0.3]),
    substeps=st.integers(1, 6),
    homeostatic=st.booleans(),
    bounded=st.sampled_from(["none", "absolute", "relative", "ceiling"]),
    shared_std=st.sampled_from([0.0, 0.2]),
    compiled=st.booleans(),
)
def test_fused_sub_steps_equal_the_stepwise_reference(
    seed, adaptive, refractory_ms, noise_std, substeps, homeostatic, bounded, shared_std, compiled
):
    neurons = _pair(seed, adaptive, refractory_ms, noise_std, substeps, homeostatic, bounded, shared_std)
    gen = torch.Generator().manual_seed(seed)
    drives = (torch.randn(12, 3, 12, generator=gen, dtype=torch.float64) + 2.0).requires_grad_()
    readout = torch.randn(12, 3, 12, generator=gen, dtype=torch.float64)
    names = ["drive"] + [name for name, _ in neurons.named_parameters()]
    params = [drives, *neurons.parameters()]
    results = {}
    for fused in (False, True):
        with use_kernels(compiled):
            posts, membranes, state = _thought(neurons, drives, fused, seed)
        loss = (posts * readout).sum() + (membranes * readout).sum() + state.membrane.sum()
        results[fused] = (posts, membranes, state, torch.autograd.grad(loss, params, allow_unused=True))
    (p0, m0, s0, g0), (p1, m1, s1, g1) = results[False], results[True]
    assert p0.sum() > 0 and torch.equal(p0, p1)  # real spiking, the same spikes
    carried = {name: g for name, g in zip(names, g0) if name in ("drive", "membrane_tau.raw", "threshold_raw")}
    assert all(g.abs().sum() > 0 for g in carried.values())  # gradients that carry something
    torch.testing.assert_close(m0, m1, rtol=1e-9, atol=1e-9)
    for name in ("filters", "spikes", "adaptation", "refractory", "noise", "homeostasis", "shared"):
        torch.testing.assert_close(getattr(s0, name), getattr(s1, name), rtol=1e-9, atol=1e-9)
    for reference, fused in zip(g0, g1):
        if reference is None:
            assert fused is None or fused.abs().max() == 0
        else:
            torch.testing.assert_close(fused, reference, rtol=1e-7, atol=1e-9)


def test_a_recording_observes_every_step_of_the_stepwise_path():
    neurons = _pair(0, True, 1.0, 0.2, substeps=4)
    seen = []
    neurons.substep_observers.append(lambda state: seen.append(state.spikes))
    _, state = neurons.start(2)
    neurons(torch.ones(2, 12, dtype=torch.float64), state)
    assert len(seen) == 4
