"""A Hebbian fast weight on the afferent synapses (``model.synapse = "plastic-input"``): the rate
synapse of the CTM (GLU over [o, s], :mod:`~neurosync.parts.synapses`) plus a plastic weight from
the attention output o, the input the neurons receive, onto every neuron::

    traces   x[t−1] = λ x[t−2] + (1 − λ) s[t−1]          (the neurons' spikes or activations)
             u[t]   = λ u[t−1] + (1 − λ) o[t]            (the afferents)
    current  a[t]   = GLU(o[t], s[t−1]) + (α ⊙ H[t]) · o[t]

with H[t] (neurons × d_input) = 0 at the start of every thought and one rule step per tick
(:mod:`~neurosync.parts.plastic`: miconi, abcd with per-neuron coefficients, neuromodulated)
with post = x[t−1] and pre = u[t−2]: a neuron's response at one tick is bound to the input of
the tick before it. Shown a key at tick k and its value at k + 1, H gains the value's response
⊗ the key's input at tick k + 2; shown the key again, (α ⊙ H) · o reads that response back in
the same tick: Ba et al.'s (2016) "attention to the recent past" as a synapse, the fast weight
sitting where the key and the value meet.

The afferents are not neurons of the network, so Dale's law does not constrain this weight (as
it does not constrain the drive of :class:`~neurosync.parts.plastic.PlasticSynapse`).

Two parameterisations of the gain, as for the recurrent fast weight: ``dense``, α a full
(neurons × d_input) matrix, the state H itself (autograd keeps one H per tick); ``factorised``,
α = a ⊗ b (neurons + d_input meta-parameters), so that (α ⊙ H) · o = a ⊙ H · (b ⊙ o), and for the
miconi and neuromodulated rules H is held as a :class:`~neurosync.parts.plastic.TraceWindow` (the
last ticks' traces and a fold): a bounded state whose read costs O(window · (neurons +
d_input)) per tick instead of a (neurons × d_input) update. With α = a ⊗ b the two give the same
currents; the clipped ABCD rule keeps H dense in both.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .plastic import HebbianRule, holds_window
from .synapses import build_synapse


class PlasticInputSynapse(HebbianRule):
    """The rate synapse plus a Hebbian fast weight on the afferents.

    The synapse interface::

        state = synapse.start(batch)          # (x, H, u[t−1], u[t−2])
        pre, state = synapse(attention_out, post_activation, state, modulation)
    """

    dale = False
    site = "afferent"  # the fast weight binds the neurons' response to attention's input

    def __init__(
        self,
        d_input: int,
        d_model: int,
        *,
        depth: int = 1,
        dropout: float = 0.0,
        rule: str = "miconi",
        learning_rate: float = 0.1,
        trace_timescale: float = 2.0,
        alpha_init: float = 0.1,
        coefficients: str = "neuron",
        clip: float = 1.0,
        modulator: str = "state",
        implementation: str = "dense",
    ):
        super().__init__()
        if rule == "abcd" and coefficients != "neuron":
            raise ValueError(
                "the afferent fast weight takes ABCD coefficients per neuron (model.plasticity.coefficients = 'neuron')"
            )
        self.windowed = holds_window(rule, implementation)  # H in chunks (TraceWindow)
        self.rule, self.modulator, self.d_model, self.d_input = rule, modulator, d_model, d_input
        self.implementation = implementation
        self.base = build_synapse(d_input + d_model, d_model, depth, dropout)
        if implementation == "dense":
            self.alpha = nn.Parameter(torch.full((d_model, d_input), float(alpha_init)))
        else:  # α = a ⊗ b, a = b = √α₀ (the sign of α₀ on a)
            root = math.sqrt(abs(float(alpha_init)))
            self.alpha_post = nn.Parameter(torch.full((d_model,), math.copysign(root, float(alpha_init))))
            self.alpha_pre = nn.Parameter(torch.full((d_input,), root))
        self.eta_raw = nn.Parameter(torch.logit(torch.full((d_model,), learning_rate)))
        self.trace_decay = math.exp(-1.0 / trace_timescale)
        if rule == "abcd":
            self.abcd = nn.Parameter(torch.stack([torch.ones(d_model, 1)] + [torch.zeros(d_model, 1)] * 3))
            self.clip = clip
        if rule == "neuromodulated":
            self.eta_gain = nn.Parameter(torch.zeros(d_model))
            if modulator == "state":
                self.modulator_readout = nn.Linear(d_model, 1)

    def alpha_matrix(self) -> torch.Tensor:
        """α (neurons, d_input); a ⊗ b when factorised."""
        if self.implementation == "dense":
            return self.alpha
        return torch.outer(self.alpha_post, self.alpha_pre)

    def post_fan_out(self) -> int:
        """Output features of the layer that reads the post-activations (inside the rate synapse)."""
        return self.base.post_fan_out()

    def start(self, batch: int):
        """(x, H, u[t−1], u[t−2]), all zero (:meth:`afferent_start`)."""
        return self.afferent_start(batch)

    def forward(self, attention_out: torch.Tensor, post_activation: torch.Tensor, state, modulation=None):
        read, state = self.afferent_step(attention_out, post_activation, state, modulation)
        slow, _ = self.base(attention_out, post_activation, None)
        return slow + read, state

    def fast_weight_read(self, attention_out: torch.Tensor, post_activation: torch.Tensor, state) -> torch.Tensor:
        """(α ⊙ H) · o with the state forward returned for these inputs (the interface of
        :meth:`PlasticSynapse.fast_weight_read`)."""
        return self.afferent_current(attention_out, state[1])
