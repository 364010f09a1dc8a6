"""neurosync.analysis.plasticity: the recorded currents add up to the synapse's output, the lesion
from tick 0 is the model with alpha = 0 and from past the end changes nothing, the decoder reads
what is there and nothing that is not."""

import copy

import numpy as np
import pytest
import torch

from conftest import tiny_config
from neurosync.analysis import plasticity
from neurosync.build import build_model


def _model(implementation, seed=0):
    cfg = tiny_config()
    site = "plastic-input" if implementation == "input" else "plastic"
    cfg.model.neuron, cfg.model.synapse, cfg.model.synchrony = "spiking", site, "spike-multiscale"
    implementation = "dense" if implementation == "input" else implementation
    cfg.model.ticks = 6
    cfg.model.plasticity.implementation = implementation
    cfg.model.spiking.threshold = 0.1
    torch.manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape))
        model.neuron.dendrite_bias.add_(0.15)
        for name, p in model.synapse.named_parameters():
            if name.startswith("alpha"):  # a fast weight strong enough to move spikes within 6 ticks
                p.mul_(0).add_(1.5 + 0.2 * torch.randn(p.shape))
    return model.eval()


def _input():
    return torch.randint(0, 2, (5, 6), generator=torch.Generator().manual_seed(3)).float() * 2 - 1


@pytest.mark.parametrize("implementation", ["dense", "factorised", "input"])
def test_recorded_currents_add_up_to_the_pre_activation(implementation):
    model, x = _model(implementation), _input()
    pres = []
    with torch.no_grad():
        reference = model(x, observe=lambda pre, **_: pres.append(pre))
    trace = plasticity.record_plasticity(model, x)
    np.testing.assert_allclose(
        trace["slow_current"] + trace["plastic_current"], torch.stack(pres, 1).numpy(), atol=1e-5
    )
    if implementation != "input":  # the recurrent site's slow current splits into the drive and the recurrence
        np.testing.assert_allclose(trace["drive"] + trace["recurrent_current"], trace["slow_current"], atol=1e-5)
    np.testing.assert_allclose(trace["logits"], reference.logits.numpy(), atol=1e-6)
    assert trace["hebbian_norm"].shape == (5, 6) and np.all(
        trace["hebbian_norm"][:, : 1 + (implementation == "input")] == 0
    )  # no pre trace yet
    assert trace["fast_weight_norm"][:, -1].min() > 0 and np.abs(trace["plastic_current"]).max() > 0
    assert trace["learning_rate"].shape == (5, 6, 16) and np.allclose(
        trace["learning_rate"], trace["learning_rate"][:, :1]
    )


def _thought(model, x):
    """(batch, ticks, neurons + classes): every tick's spikes and logits."""
    spikes = []
    logits = model(x, observe=lambda post, **_: spikes.append(post)).logits
    return torch.cat((torch.stack(spikes, 1), logits), -1)


@pytest.mark.parametrize("implementation", ["dense", "factorised", "input"])
def test_lesion_from_tick_0_is_alpha_0_and_past_the_end_is_nothing(implementation):
    model, x = _model(implementation), _input()
    with torch.no_grad():
        intact = _thought(model, x)
        control = copy.deepcopy(model)
        for name, p in control.synapse.named_parameters():
            if name.startswith("alpha"):
                p.zero_()
        without = _thought(control, x)
        with plasticity.fast_weight_lesion(model, 0):
            lesioned = _thought(model, x)
            again = _thought(model, x)  # a second thought counts its ticks from 0 again
        with plasticity.fast_weight_lesion(model, 6):
            untouched = _thought(model, x)
        with plasticity.fast_weight_lesion(model, 3):
            late = _thought(model, x)
        after = _thought(model, x)  # the hooks are gone
    assert (intact - without).abs().max() > 1e-4  # the fast weight matters in this model
    torch.testing.assert_close(lesioned, without, atol=1e-5, rtol=0)
    torch.testing.assert_close(again, without, atol=1e-5, rtol=0)
    torch.testing.assert_close(untouched, intact, atol=0, rtol=0)
    torch.testing.assert_close(late[:, :3], intact[:, :3], atol=0, rtol=0)  # before the lesion, the same thought
    torch.testing.assert_close(after, intact, atol=0, rtol=0)
    assert "start" not in vars(model.synapse)


def test_decoder_reads_what_is_there_and_not_what_is_not():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    separable = np.eye(4)[labels] * 3 + 0.3 * rng.standard_normal((400, 4))
    assert plasticity.decode(separable, labels)[0] > 0.95
    assert plasticity.decode(rng.standard_normal((400, 4)), labels)[0] < 0.4  # chance 0.25
    with pytest.raises(ValueError, match="features"):
        plasticity.decode(separable[:, 0], labels)


def test_a_model_without_plasticity_is_refused():
    cfg = tiny_config()
    with pytest.raises(ValueError, match="not a plastic one"):
        plasticity.record_plasticity(build_model(cfg), _input())
