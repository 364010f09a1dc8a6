"""Closed-loop mode: the whole thought in Brian2, attention recomputed every tick from Brian2's own
spikes by the PyTorch modules, so that nothing is replayed."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from .core import CoreRecording, extract_core, record_core
from .exact import compare, simulate_exact


@torch.no_grad()
def simulate_closed_loop(
    model, x: torch.Tensor, sample: int = 0, ticks: int | None = None, target: str = "numpy"
) -> dict[str, Any]:
    """The whole thought in Brian2: at every tick a ``network_operation`` feeds Brian2's own
    spikes to the CTM's synchrony, attention and input synapse (the PyTorch modules, float64)
    and sets the next drive from them, so nothing is replayed. Returns Brian2's spikes and
    membranes and the logits read from its synchrony at every tick, (ticks, outputs)."""
    from ..parts.interfaces import fast_weight_site

    core = extract_core(model)
    if core.substeps != 1:
        raise ValueError("the closed loop needs model.spiking.substeps = 1 (one Brian2 step per tick)")
    if core.noisy:
        raise ValueError("the closed loop does not replay intrinsic noise yet; validate a noisy core in exact mode")
    if core.plastic and core.rule == "neuromodulated" and core.modulator == "certainty":
        raise ValueError("the closed loop does not compute the certainty-gated rule's modulation yet")
    net = copy.deepcopy(model).double().eval()
    ticks = ticks or net.ticks
    keys, values, query_weight, query_bias, tick_tokens = net.perceive(x[sample : sample + 1].double())
    post, _ = net.neuron.start(1)
    plastic = fast_weight_site(net.synapse) == "recurrent"
    state = {"sync": net.synchrony.start(post), "logits": []}

    def advance(spikes: np.ndarray) -> torch.Tensor:
        post = torch.from_numpy(spikes).double().unsqueeze(0)
        state["sync"] = net.synchrony(post, state["sync"])
        state["logits"].append(net.readout(net.synchrony.read(state["sync"])[1])[0].numpy())
        return post

    def closed_loop(step: int, previous_spikes: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            post = advance(previous_spikes) if step > 0 else torch.zeros(1, core.neurons, dtype=torch.float64)
            action, _ = net.synchrony.read(state["sync"])
            visible = None if tick_tokens is None else tick_tokens.at(step)
            attended = None if tick_tokens is None else tick_tokens.direct_input(step)
            if attended is None:
                attended, _ = net.attention(action, keys, values, query_weight, query_bias, visible)
            drive = net.synapse.input(attended) if plastic else net.synapse(attended, post, None)[0]
            return drive[0].numpy()

    result = simulate_exact(core, np.zeros((ticks, core.neurons)), target, closed_loop=closed_loop)
    advance(result["spikes"][-1])
    return {**result, "logits": np.stack(state["logits"])}


def validate_closed_loop(
    model,
    x: torch.Tensor,
    sample: int = 0,
    ticks: int | None = None,
    target: str = "numpy",
    recording: CoreRecording | None = None,
) -> dict[str, Any]:
    """Closed-loop Brian2 thought vs the PyTorch thought (`recording`, recorded here if not
    given): spike bins and logits."""
    if recording is None:
        recording = record_core(model, x, sample, ticks)
    net = copy.deepcopy(model).double().eval()
    if ticks:
        net.ticks = ticks
    with torch.no_grad():
        logits = net(x.double()).logits[sample].numpy()
    result = simulate_closed_loop(model, x, sample, ticks, target)
    return {
        "mode": "closed-loop",
        **compare(recording, result),
        "max_abs_logit_difference": float(np.abs(result["logits"] - logits).max()),
    }
