"""The declared interfaces of the CTM's parts: what the tick loop, the recordings, the analysis,
the exports and Brian2 may ask of a neuron, a synapse (with its fast weight) and a synchrony
readout, whatever class implements them.

Code outside a part asks ``isinstance(part, SpikingNeuron)`` or ``isinstance(synapse,
FastWeightSynapse)`` (structural checks of these :class:`typing.Protocol` classes), never for a
concrete class, so that a new part that states the interface works everywhere its kind does.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Neuron(Protocol):
    """A population of neuron-level models: one tick from pre- to post-activations.

    ::

        state = neuron.start(batch)
        post, state = neuron(pre_activation, state)     # (batch, neurons) each
    """

    def start(self, batch: int) -> Any: ...

    def __call__(self, pre_activation: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...


@runtime_checkable
class SpikingNeuron(Neuron, Protocol):
    """Spiking neurons in physical time: a tick lasts ``tick_ms`` = ``substeps`` · ``dt_ms``, the
    post-activation is the tick's spike count, the intrinsic noise is seeded, and the same weights
    run at a finer step."""

    dt_ms: float
    substeps: int

    @property
    def tick_ms(self) -> float: ...

    def ticks_in(self, seconds: float) -> int: ...

    def rate_hz(self, activity: torch.Tensor) -> torch.Tensor: ...

    def seed_noise(self, seed: int | None) -> None: ...

    def at_step(self, dt_ms: float) -> AbstractContextManager[None]: ...

    def soma_parameters(self) -> Any: ...


@runtime_checkable
class Synapse(Protocol):
    """The synapse: the neurons' pre-activations from attention's output and the last
    post-activations.

    ::

        state = synapse.start(batch)
        pre, state = synapse(attention_out, post_activation, state, modulation)

    ``post_fan_out()`` is the number of output features of the first layer that reads the
    post-activations (the energy proxy's fan-out per spike or activation)."""

    def start(self, batch: int) -> Any: ...

    def post_fan_out(self) -> int: ...


@runtime_checkable
class FastWeightSynapse(Synapse, Protocol):
    """A synapse with a Hebbian fast weight H (zero at the start of a thought) under a
    meta-learned ``rule``; ``site`` is where it sits: ``"recurrent"`` (neurons onto neurons) or
    ``"afferent"`` (attention's output onto the neurons)."""

    site: str
    rule: str
    modulator: str

    def alpha_matrix(self) -> torch.Tensor: ...

    def fast_weight_norm(self, state: Any) -> torch.Tensor: ...

    def fast_weight_read(
        self, attention_out: torch.Tensor, spikes: torch.Tensor, state: Any
    ) -> torch.Tensor | None: ...


@runtime_checkable
class RecurrentSynapse(Synapse, Protocol):
    """A synapse whose recurrence is a weight matrix of its own, W_rec (post, pre), linear in the
    spikes (signed by the presynaptic neuron under Dale's law, ``dale``), beside an input
    pathway ``input`` from attention's output: Brian2 simulates W_rec and replays ``input``'s output
    as the drive."""

    dale: bool
    input: torch.nn.Module

    def recurrent_weight(self) -> torch.Tensor: ...


@runtime_checkable
class Synchrony(Protocol):
    """The synchronisation readouts: pairwise products of post-activations (or their traces)
    accumulated over the ticks with a learned decay per pair.

    ::

        state = synchrony.start(post)
        state = synchrony(post, state)
        action, out = synchrony.read(state)
    """

    def start(self, post: torch.Tensor) -> Any: ...

    def read(self, state: Any) -> tuple[torch.Tensor, torch.Tensor]: ...


def fast_weight_site(synapse: Any) -> str | None:
    """Where a synapse's fast weight sits (``"recurrent"`` or ``"afferent"``), None without one."""
    return synapse.site if isinstance(synapse, FastWeightSynapse) else None
