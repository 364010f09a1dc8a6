"""The compiled CPU tick (neurosync/parts/kernels.c) against the PyTorch statement it compiles, in
float32 on the cortical neurons; its independence of the thread count; the fallback without a
compiler; and whole training curves with and without it."""

import warnings

import pytest
import torch

from neurosync import cortical
from neurosync.build import build_model
from neurosync.config import from_dict
from neurosync.parts import kernels
from neurosync.parts.spiking import SpikingNeurons
from neurosync.tasks import get_task, task_loss

pytestmark = pytest.mark.skipif(not kernels.available(torch.zeros(1)), reason="no C compiler for the kernels")


def _neurons(adaptive: bool, homeostatic: bool) -> SpikingNeurons:
    """Neurons with the cortical preset's bounds, noise and refractory period, 20 sub-steps."""
    options = dict(cortical.PRESET["model"]["spiking"])
    for key in ("dale", "excitatory_fraction", "recurrent_scale", "inhibition_dominance", "rate_band_hz",
                "band_regularisation"):  # fmt: skip
        options.pop(key)
    torch.manual_seed(0)
    neurons = SpikingNeurons(
        64,
        **options,
        adaptive=adaptive,
        tau_adaptation_ms=50.0,
        adaptation_strength=0.05,
        homeostasis_rate_hz=5.0 if homeostatic else 0.0,
    )
    with torch.no_grad():
        for parameter in neurons.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return neurons


def _thought(neurons: SpikingNeurons, drives: torch.Tensor, compiled: bool):
    """Spike counts and membranes over the ticks, and the gradients of a readout of both."""
    neurons.seed_noise(3)
    _, state = neurons.start(drives.shape[1])
    counts, membranes = [], []
    with kernels.use_kernels(compiled):
        for drive in drives:
            count, state = neurons(drive, state)
            counts.append(count)
            membranes.append(state.membrane)
    counts, membranes = torch.stack(counts), torch.stack(membranes)
    gen = torch.Generator().manual_seed(1)
    loss = (counts * torch.randn(counts.shape, generator=gen)).sum() + (membranes**2).sum()
    parameters = [drives, *neurons.parameters()]
    return counts, membranes, torch.autograd.grad(loss, parameters)


@pytest.mark.parametrize("adaptive, homeostatic", [(False, False), (True, False), (False, True)])
def test_the_compiled_tick_equals_pytorch_in_float32(adaptive, homeostatic):
    neurons = _neurons(adaptive, homeostatic)
    gen = torch.Generator().manual_seed(0)
    drives = (0.5 * torch.randn(6, 16, 64, generator=gen)).requires_grad_()
    counts, membranes, grads = _thought(neurons, drives, compiled=True)
    counts_ref, membranes_ref, grads_ref = _thought(neurons, drives, compiled=False)
    assert 0.002 < counts.mean() / neurons.substeps < 0.5  # spikes per 1-ms step: 2-500 Hz
    assert torch.equal(counts, counts_ref)
    torch.testing.assert_close(membranes, membranes_ref, rtol=1e-5, atol=1e-6)
    names = ["drive"] + [name for name, _ in neurons.named_parameters()]
    for name, grad, reference in zip(names, grads, grads_ref):
        scale = reference.abs().max().clamp_min(1e-12)
        assert (grad - reference).abs().max() / scale < 1e-4, name


def test_the_compiled_tick_does_not_depend_on_the_thread_count():
    neurons = _neurons(adaptive=True, homeostatic=False)
    drives = (0.5 * torch.randn(3, 8, 64, generator=torch.Generator().manual_seed(0))).requires_grad_()
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_thought(neurons, drives, compiled=True))
    finally:
        torch.set_num_threads(before)
    (c1, m1, g1), (c2, m2, g2) = results
    assert torch.equal(c1, c2) and torch.equal(m1, m2)
    assert all(torch.equal(a, b) for a, b in zip(g1, g2))


def test_without_a_compiler_the_pytorch_loops_run_after_one_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setenv("NEUROSYNC_CACHE", str(tmp_path))
    monkeypatch.setattr(kernels, "_library", None)
    monkeypatch.setattr(kernels, "_failed", False)
    with pytest.warns(UserWarning, match="no-such-compiler"):
        assert not kernels.available(torch.zeros(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        assert not kernels.available(torch.zeros(1))
    neurons = _neurons(adaptive=False, homeostatic=False)
    _, state = neurons.start(2)
    count, _ = neurons(torch.ones(2, 64), state)  # the PyTorch path
    assert count.shape == (2, 64)


def test_only_cpu_float_tensors_take_the_kernels():
    assert not kernels.available(torch.zeros(1, dtype=torch.float16))
    assert not kernels.available(torch.zeros(1), torch.zeros(1, dtype=torch.float64))
    with kernels.use_kernels(False):
        assert not kernels.available(torch.zeros(1))


def _curve(compiled: bool, steps: int = 6) -> list[float]:
    cfg = from_dict(
        {
            "name": "curve",
            "task": {"sequence_length": 8},
            "model": {"regime": "cortical", "ticks": 4, "d_model": 32, "d_input": 16, "heads": 2},
            "train": {"batch_size": 8, "lr": 3e-3, "seed": 0},
        }
    )
    torch.manual_seed(0)
    model = build_model(cfg).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    task = get_task(cfg.task)
    losses = []
    with kernels.use_kernels(compiled):
        for step in range(steps):
            x, y = task.sample(cfg.task, cfg.train.batch_size, torch.Generator().manual_seed(step))
            loss, _ = task_loss(task, model(x), y, cfg.task)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def test_a_cortical_training_curve_is_the_same_with_and_without_the_kernels():
    compiled, reference = _curve(True), _curve(False)
    assert compiled != pytest.approx([compiled[0]] * len(compiled))  # it trains
    assert compiled == pytest.approx(reference, rel=1e-4)
