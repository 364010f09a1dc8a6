"""The Continuous Thought Machine: one tick loop over interchangeable parts.

Per thought (Darlow et al. 2025, Alg. 1)::

    tokens      = backbone(x);  keys, values = attention.prepare(tokens)      # once
                  (an input that changes over the ticks also gives which tokens each tick sees)
    z, memory   = neuron.start(batch);  sync = synchrony.start(z);  syn = synapse.start(batch)
    c = 0
    for tick in 1..T:                                      # CTM.tick
        o, attn = attention(action_synchrony(sync), visible_at(tick))        # perceive
        a, syn  = synapse(o, z, syn, c)                    # pre-activations (batch, neurons)
        z, mem  = neuron(a, mem)                           # post-activations (batch, neurons)
        sync    = synchrony(z, sync)                       # decayed pairwise products
        logits  = readout(output_synchrony(sync)); c = 1 - normalised entropy   # certainty

Parts only meet through these calls, so a spiking neuron, a plastic synapse or spike-train
synchrony replace the rate parts without touching this loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from .parts.capture import capturing
from .parts.perception import TickTokens


def normalised_entropy(logits: torch.Tensor, prediction_shape: tuple[int, ...]) -> torch.Tensor:
    """Entropy of the softmax over the last axis of `prediction_shape`, divided by its maximum
    log(classes), averaged over the other axes. logits (batch, prod(shape)) -> (batch,)."""
    logits = logits.reshape(logits.shape[0], -1, prediction_shape[-1]).float()
    log_p = F.log_softmax(logits, dim=-1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    return (entropy / math.log(prediction_shape[-1])).mean(-1)


def check_finite(x: torch.Tensor) -> None:
    """Refuse an input with a non-finite value (NaN, inf) in one line: a model would turn it into
    NaN logits for its sample. Skipped inside a CUDA graph's capture (the check reads the host)."""
    if x.is_floating_point() and not capturing() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(
            f"the input holds {bad} non-finite value(s) (NaN or inf) among its {x.numel()} "
            f"(shape {tuple(x.shape)}): every input value must be finite"
        )


@dataclass
class CTMOutput:
    """logits (batch, ticks, outputs); certainty (batch, ticks) = 1 - normalised entropy;
    output synchrony after the last tick (batch, size_out); activity (batch, neurons) = the
    post-activations averaged over ticks (for spiking neurons: spikes per tick; rates in Hz
    through ``neuron.rate_hz``)."""

    logits: torch.Tensor
    certainty: torch.Tensor
    synchrony_out: torch.Tensor
    activity: torch.Tensor


@dataclass
class HaltedOutput:
    """A thought that stopped each sample at its first certain tick (:meth:`CTM.think_until_certain`):
    logits (batch, outputs) and certainty (batch,) at the tick where the sample stopped, and
    ticks (batch,) the ticks it used (1 … T)."""

    logits: torch.Tensor
    certainty: torch.Tensor
    ticks: torch.Tensor


@dataclass
class ThoughtState:
    """Where a thought stands after a tick: the neurons' post-activations and memory (history,
    or the spiking state), the synchrony's running sums, the synapse's state (a plastic
    synapse's fast weights) and the certainty. Pass it back to :meth:`CTM.think` to carry a
    thought on over several inputs (one per environment step in RL)."""

    post: torch.Tensor
    memory: Any
    sync: Any
    synapse: Any
    certainty: torch.Tensor


def map_rows(fn, dim: int, batch: int, *states):
    """Apply ``fn(dim, *tensors)`` to the per-sample tensors of one or more states of the same structure (a
    tensor, None, or a tuple/dataclass of them) whose batch axis ``dim`` has ``batch`` rows;
    other tensors (parameter-derived, shared by the batch) are returned from the first state. A
    dataclass state with an ``aligned(*states)`` method is first brought to one shape by it. A host
    value (an int or a bool a state keeps about all of its rows, e.g. ``TraceWindow.together``) is
    kept where every state agrees on it and becomes None (unknown) where they differ."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, (bool, int, float)):
        return first if all(s == first for s in states[1:]) else None
    if isinstance(first, torch.Tensor):
        if first.dim() <= dim or first.shape[dim] != batch:
            return first
        if any(s.shape != first.shape for s in states[1:]):
            raise ValueError(
                f"cannot combine states of shapes {[tuple(s.shape) for s in states]} "
                "(every part's state must keep its shape from tick to tick)"
            )
        return fn(dim, *states)
    if is_dataclass(first):
        if len(states) > 1 and hasattr(
            first, "aligned"
        ):  # a state that grows within a bound (TraceWindow): pad to one shape
            states = type(first).aligned(*states)  # type: ignore[union-attr]  # hasattr checked
            first = states[0]
        return replace(
            first, **{f.name: map_rows(fn, dim, batch, *(getattr(s, f.name) for s in states)) for f in fields(first)}
        )
    return type(first)(map_rows(fn, dim, batch, *parts) for parts in zip(*states))


class CTM(nn.Module):
    """A CTM assembled from parts (see module docstring for the interfaces)."""

    def __init__(self, backbone, attention, synapse, neuron, synchrony, ticks: int, prediction_shape: tuple[int, ...]):
        super().__init__()
        self.backbone = backbone
        self.attention = attention
        self.synapse = synapse
        self.neuron = neuron
        self.synchrony = synchrony
        self.ticks = ticks
        self.prediction_shape = tuple(prediction_shape)
        self.readout = nn.Linear(synchrony.size_out, math.prod(self.prediction_shape))
        self._compiled_tick: Callable[..., Any] | None = None

    def compile_ticks(self, **options) -> None:
        """Compile the tick body with torch.compile for training (fuses the per-tick
        elementwise work and removes most per-op overhead). Evaluation keeps the eager tick,
        so other batch sizes do not trigger recompilation."""
        self._compiled_tick = torch.compile(self.tick, **options)

    def perceive(self, x: torch.Tensor):
        """x -> (keys, values, query_weight, query_bias, tick_tokens): the backbone and the
        key/value projections, once per thought. ``tick_tokens`` is the backbone's
        :class:`TickTokens` when the input changes over the ticks, else None. An input with a
        non-finite value (NaN, inf) is a ValueError: it would turn its sample's logits into NaN."""
        check_finite(x)
        features = self.backbone(x)
        tick_tokens = features if isinstance(features, TickTokens) else None
        return (*self.attention.prepare(features.tokens if tick_tokens is not None else features), tick_tokens)

    def tick(
        self,
        sync,
        post,
        memory,
        synapse_state,
        certainty,
        keys,
        values,
        query_weight,
        query_bias,
        observe=None,
        visible=None,
        direct=None,
    ):
        """One thought tick: perceive, synapse, neuron, synchrony, readout. ``observe``, when
        given, is called with the tick's intermediate values (see neurosync.recording);
        ``visible`` (batch, tokens) masks the tokens this tick may attend to; ``direct``
        (batch, d_input), when given, enters the synapse in place of attention's output (the
        attention weights it reports are zero)."""
        action, _ = self.synchrony.read(sync)
        if direct is None:
            attended, attention = self.attention(action, keys, values, query_weight, query_bias, visible)
        else:
            attended, attention = direct, keys.new_zeros(keys.shape[:3])
        pre, synapse_state = self.synapse(attended, post, synapse_state, certainty)
        post, memory = self.neuron(pre, memory)
        sync = self.synchrony(post, sync)
        _, out = self.synchrony.read(sync)
        logits = self.readout(out)
        certainty = 1.0 - normalised_entropy(logits, self.prediction_shape)
        if observe is not None:
            observe(
                attention=attention,
                pre=pre,
                post=post,
                memory=memory,
                synapse_state=synapse_state,
                synchrony=self.synchrony.read(sync),
                logits=logits,
                certainty=certainty,
            )
        return sync, post, memory, synapse_state, logits, certainty

    def start(self, batch: int) -> ThoughtState:
        """The state before the first tick (learned start activations and histories)."""
        post, memory = self.neuron.start(batch)
        return ThoughtState(post, memory, self.synchrony.start(post), self.synapse.start(batch), post.new_zeros(batch))

    def _map_state(self, fn, batch: int, *states: ThoughtState) -> ThoughtState:
        memory_dim = getattr(self.neuron, "state_batch_dim", 0)
        return ThoughtState(
            *(
                map_rows(fn, memory_dim if f.name == "memory" else 0, batch, *(getattr(s, f.name) for s in states))
                for f in fields(ThoughtState)
            )
        )

    def restart(self, state: ThoughtState, done: torch.Tensor) -> ThoughtState:
        """Start afresh the rows where ``done`` (batch,) is true (a finished episode); keep the others."""
        keep = ~done.bool()

        def blend(dim, old, fresh):
            view = [1] * old.dim()
            view[dim] = -1
            return torch.where(keep.view(view), old, fresh)

        return self._map_state(blend, keep.shape[0], state, self.start(keep.shape[0]))

    def state_rows(self, state: ThoughtState, rows: torch.Tensor) -> ThoughtState:
        """The state of the samples ``rows`` (indices into the batch)."""
        return self._map_state(lambda dim, t: t.index_select(dim, rows), state.post.shape[0], state)

    def thought_ticks(self, tick_tokens: TickTokens | None) -> int:
        """The ticks of a thought about this input: the model's, unless the input sets them."""
        if tick_tokens is None or tick_tokens.thought_ticks is None:
            return self.ticks
        return tick_tokens.thought_ticks

    def forward(self, x: torch.Tensor, observe=None) -> CTMOutput:
        return self.think(x, None, observe)[0]

    def think(self, x: torch.Tensor, state: ThoughtState | None = None, observe=None) -> tuple[CTMOutput, ThoughtState]:
        """Run ``self.ticks`` ticks on input ``x`` from ``state`` (None: a new thought) and
        return the output and the state after the last tick, to continue from."""
        keys, values, query_weight, query_bias, tick_tokens = self.perceive(x)
        if state is None:
            state = self.start(x.shape[0])
        post, memory, sync, synapse_state, certainty = (
            state.post,
            state.memory,
            state.sync,
            state.synapse,
            state.certainty,
        )
        tick = self._compiled_tick if self.training and self._compiled_tick is not None else self.tick
        logits, certainties, activity = [], [], 0.0
        ticks = self.thought_ticks(tick_tokens)
        for t in range(ticks):
            visible = None if tick_tokens is None else tick_tokens.at(t)
            direct = None if tick_tokens is None else tick_tokens.direct_input(t)
            sync, post, memory, synapse_state, tick_logits, certainty = tick(
                sync,
                post,
                memory,
                synapse_state,
                certainty,
                keys,
                values,
                query_weight,
                query_bias,
                observe,
                visible,
                direct,
            )
            logits.append(tick_logits)
            certainties.append(certainty)
            activity = activity + post
        output = CTMOutput(
            torch.stack(logits, dim=1),
            torch.stack(certainties, dim=1),
            self.synchrony.read(sync)[1],
            cast(torch.Tensor, activity) / ticks,
        )
        return output, ThoughtState(post, memory, sync, synapse_state, certainty)

    @torch.no_grad()
    def think_until_certain(self, x: torch.Tensor, threshold: float, from_tick: int = 0) -> HaltedOutput:
        """Adaptive compute: think about every input until its certainty reaches ``threshold``
        (or the last tick), and stop computing it there: finished rows leave the batch, so the
        ticks saved are time saved. ``from_tick`` (0-based) is the first tick that may stop a
        sample (an episodic task answers only after its question). Without intrinsic noise each
        sample's logits equal those of the full thought at its first tick ≥ ``from_tick`` with
        certainty ≥ threshold (tested); a noisy neuron draws its noise for the rows still
        thinking, so its realisation differs (not its law)."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"the halting threshold is a certainty in [0, 1], got {threshold}")
        keys, values, query_weight, query_bias, tick_tokens = self.perceive(x)
        ticks = self.thought_ticks(tick_tokens)
        if not 0 <= from_tick < ticks:
            raise ValueError(f"from_tick must lie in [0, {ticks - 1}] (the thought's ticks), got {from_tick}")
        batch = x.shape[0]
        state = self.start(batch)
        rows = torch.arange(batch, device=keys.device)  # the samples still thinking
        logits_out = keys.new_empty(batch, self.readout.out_features)
        certainty_out = keys.new_empty(batch)
        ticks_out = torch.full((batch,), ticks, dtype=torch.long, device=keys.device)
        for t in range(ticks):
            visible = None if tick_tokens is None else tick_tokens.at(t)
            direct = None if tick_tokens is None else tick_tokens.direct_input(t)
            sync, post, memory, synapse_state, logits, certainty = self.tick(
                state.sync,
                state.post,
                state.memory,
                state.synapse,
                state.certainty,
                keys,
                values,
                query_weight,
                query_bias,
                None,
                visible,
                direct,
            )
            if t == ticks - 1:
                done = torch.ones_like(certainty, dtype=torch.bool)
            else:
                done = (certainty >= threshold) & (t >= from_tick)
            finished = rows[done]
            logits_out[finished], certainty_out[finished], ticks_out[finished] = logits[done], certainty[done], t + 1
            if bool(done.all()):
                break
            state = ThoughtState(post, memory, sync, synapse_state, certainty)
            if bool(done.any()):
                keep = (~done).nonzero().squeeze(1)
                state = self.state_rows(state, keep)
                keys, values = keys.index_select(0, keep), values.index_select(0, keep)
                tick_tokens = None if tick_tokens is None else tick_tokens.rows(keep)
                rows = rows[keep]
        return HaltedOutput(logits_out, certainty_out, ticks_out)

    @torch.no_grad()
    def record(
        self,
        x: torch.Tensor,
        dt: float | None = None,
        config=None,
        ticks: int | None = None,
        repeats: int = 1,
        noise_seed: int | None = 0,
    ):
        """Run one thought per input and return a :class:`neurosync.recording.Recording` of it
        (every tick's spikes or activations, pre-activations, membranes, synchrony, attention,
        logits, certainty, plastic-weight norms). A SpikingCTM's tick lasts its own
        substeps · dt_ms; ``dt`` (seconds per tick) is only declared for a RateCTM (default
        1 ms), whose ticks have no duration. ``ticks`` lets the thought run longer (or shorter) than the trained number, e.g.
        for spectra with a finer frequency resolution 1 / (ticks · dt). ``repeats`` thinks about
        each input that many times with different intrinsic noise (seeded by ``noise_seed``), so
        that trial-to-trial variability (a Fano factor) is defined. No autograd graph is kept."""
        from .recording import record_thought

        return record_thought(self, x, dt, config, ticks, repeats, noise_seed)
