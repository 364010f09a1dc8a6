"""The parts' declared interfaces (neurosync.parts.interfaces): every neuron, synapse and synchrony
the configs build states its Protocol, and the code outside the parts dispatches on the Protocols
(a spiking neuron, where a fast weight sits) rather than on concrete classes."""

import pytest

from conftest import set_model_keys, tiny_config
from neurosync.build import build_model
from neurosync.parts.interfaces import (
    FastWeightSynapse,
    Neuron,
    SpikingNeuron,
    Synapse,
    Synchrony,
    fast_weight_site,
)

CASES = [
    ({}, False, None),
    ({"synapse_depth": 3}, False, None),
    ({"synapse": "plastic"}, False, "recurrent"),
    ({"synapse": "plastic-input"}, False, "afferent"),
    ({"neuron": "spiking", "synchrony": "spike-multiscale"}, True, None),
    ({"neuron": "spiking", "synchrony": "spike-multiscale", "synapse": "plastic"}, True, "recurrent"),
    ({"neuron": "spiking", "synchrony": "spike-multiscale", "synapse": "plastic-input"}, True, "afferent"),
    ({"regime": "cortical"}, True, "recurrent"),
]


@pytest.mark.parametrize("keys, spiking, site", CASES)
def test_every_built_part_states_its_interface(keys, spiking, site):
    if keys.get("regime"):
        from neurosync.config import from_dict

        model_keys = {"ticks": 4, "d_model": 16, "d_input": 8, "heads": 2, "n_synch_out": 6, "n_synch_action": 5}
        cfg = from_dict({"task": {"sequence_length": 6}, "model": {"regime": "cortical", **model_keys}})
    else:
        cfg = set_model_keys(tiny_config(), keys)
    model = build_model(cfg)
    assert isinstance(model.neuron, Neuron)
    assert isinstance(model.neuron, SpikingNeuron) is spiking
    assert isinstance(model.synapse, Synapse) and model.synapse.post_fan_out() >= 1
    assert isinstance(model.synchrony, Synchrony)
    assert fast_weight_site(model.synapse) == site
    assert isinstance(model.synapse, FastWeightSynapse) is (site is not None)


def test_a_part_of_ones_own_that_states_the_interface_is_taken_for_its_kind():
    class Counter:  # no base class: only the interface
        dt_ms, substeps = 0.5, 4
        tick_ms = 2.0

        def start(self, batch):
            return None

        def __call__(self, pre, state):
            return pre, state

        def ticks_in(self, seconds):
            return round(seconds * 1e3 / self.tick_ms)

        def rate_hz(self, activity):
            return activity / (self.tick_ms / 1e3)

        def seed_noise(self, seed):
            pass

        def at_step(self, dt_ms):
            raise NotImplementedError

        def soma_parameters(self):
            return None

    assert isinstance(Counter(), SpikingNeuron)
    assert not isinstance(object(), Neuron)
