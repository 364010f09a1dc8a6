"""Plastic synapses: a fast Hebbian weight H that starts at zero for every sample and evolves
over the ticks of one thought, on top of slow weights learned by backprop.

At the synapse call of tick t, with s = s[t−1] the post-activations (spikes) of the last tick::

    traces   x[t−1] = λ x[t−2] + (1 − λ) s[t−1]         λ = exp(−1/τ), x = 0 at the start
    current  a[t]   = g(o[t]) + (W_rec + α ⊙ H[t]) · s + b

where g is the input pathway from the attention output o (``input_pathway``): ``linear``,
g(o) = W_in · o, or ``glu``, g(o) = LayerNorm(GLU(W_in · o)), the rate synapse's nonlinearity on
the attention drive alone. The drive comes from no neuron of the network, so Dale's law does
not constrain it; the recurrence stays linear in the spikes either way.

H = 0 at the start of every thought, updated once per tick with post = x[t−1] and
pre = x[t−2] (causal: the postsynaptic trace follows the presynaptic one) by one of three rules:

    miconi          H[t] = (1 − η) ⊙ H[t−1] + η ⊙ post ⊗ pre
    abcd            H[t] = clip(H[t−1] + η ⊙ (A ⊙ post ⊗ pre + B ⊙ pre + C ⊙ post + D), −h, h)
    neuromodulated  H[t] = (1 − η[t]) ⊙ H[t−1] + η[t] ⊙ post ⊗ pre,  η[t] = σ(η₀ + g ⊙ m[t])

η, η₀ and g are per postsynaptic neuron. A–D are per synapse (D × D) or per postsynaptic
neuron, starting as pure Hebb (A = 1, B = C = D = 0). The neuromodulator m[t] is a scalar
per sample computed by the network each tick: from its state (a learned readout w · x[t−1] + c
of the traces) or, for the certainty-gated variant, the CTM's certainty at the previous tick
(0 before the first). All of α, η, η₀, g, w, c and A–D are meta-parameters learned by
backprop through the ticks.

Dale's law (``excitatory`` given: a boolean per neuron): every outgoing weight of a neuron keeps
its sign, σ_j = +1 for an excitatory presynaptic neuron j, −1 for an inhibitory one. The
recurrent weight is then a magnitude times that sign, and so is the plastic part::

    W_ij = σ_j · relu(|W|_ij + α⁺_ij H_ij)        |W| = softplus(raw) ≥ 0,  α⁺ = softplus(raw) ≥ 0

(factorised: α⁺ = a⁺ ⊗ b⁺). The miconi and neuromodulated rules keep H ≥ 0 (convex combinations
of products of non-negative traces), so the relu never acts there; under the ABCD rule, whose H
may turn negative, it is what keeps a weight from crossing zero. Either way no Hebbian update
can flip a sign. The magnitudes start as recurrent_scale · abs(U(−1/√N, 1/√N)) (the default
linear init's, scaled: the 1/√K weights of the balanced state, van Vreeswijk & Sompolinsky 1996),
the inhibitory ones (f_E / f_I) · inhibition_dominance × larger: at dominance 1 the mean
recurrent input of a population firing at one rate is near zero (balance), above 1 inhibition
dominates (Brunel 2000's g > f_E / f_I).

Bounds: the miconi and neuromodulated updates are convex combinations, so ``|H|`` never exceeds
max|x_i x_j| (≤ 1 for spike traces); the ABCD update has no decay and is clipped to [−h, h].

Two parameterisations of the plastic gain, every rule in both:

- ``dense``: α a full (neurons × neurons) matrix of meta-parameters; the state is the trace and
  H itself, (batch, neurons, neurons), and autograd keeps one H per tick.
- ``factorised``: α = a ⊗ b (rank one, 2 · neurons meta-parameters), so that
  (α ⊙ H) s = a ⊙ H (b ⊙ s). For the miconi and neuromodulated rules H is held in chunks
  (:class:`TraceWindow`, the chunked form of linear attention)::

      H[t] = c ⊙ H₀ + Σ_{k in the window} Y[k] ⊗ X[k]

  H₀ the fast weight at the last fold, c = Π (1 − η) since then (per sample and postsynaptic
  neuron), Y[k] = η[k] Π_{k<m≤t} (1 − η[m]) ⊙ x[k−1] the decayed, rate-weighted post traces and
  X[k] = x[k−2] the pre traces of the last ≤ ``WINDOW`` ticks. When a window is full it is
  folded into H₀ (a thought of at most ``WINDOW`` ticks never folds: H₀ = 0 is skipped). The state's
  size is bounded by WINDOW (a thought of any length, an RL episode, a carried
  thought, rows restarted at different ticks: each row fills its own window), the work per tick
  is one matrix-vector product with H₀ plus O(ticks in the window · neurons), and autograd keeps one H₀ per
  WINDOW ticks instead of one H per tick (an earlier form kept every tick's traces and grew by
  concatenation: O(ticks²) work). The clipped ABCD rule has no such form; factorised, it keeps
  H as the dense form does, with α = a ⊗ b.

With α = a ⊗ b the two parameterisations give the same currents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from . import equations

# the rules' expressions, shared with the Brian2 export
_trace = equations.torch_function(equations.TRACE, "lam", "x", "s")
_miconi = equations.torch_function(equations.MICONI, "eta", "H", "post", "pre")
_abcd = equations.torch_function(equations.ABCD, "eta", "H", "post", "pre", "A", "B", "C", "D", "hclip")
_modulated_rate = equations.torch_function(equations.MODULATED_RATE, "eta0", "gain", "m")


WINDOW = 32  # ticks of traces a factorised state holds before folding them into H₀ (a thought this short never folds)


def holds_window(rule: str, implementation: str) -> bool:
    """Whether a fast weight of this rule and form keeps H as a :class:`TraceWindow` (factorised Miconi and
    neuromodulated rules; ABCD's update is not a sum of outer products, so it keeps H dense); refuses an
    unknown form."""
    if implementation not in ("dense", "factorised"):
        raise ValueError(f"implementation must be 'dense' or 'factorised', got {implementation!r}")
    return implementation == "factorised" and rule != "abcd"


@dataclass
class TraceWindow:
    """The factorised fast weight H = decay ⊙ base + Σ_k posts[k] ⊗ pres[k] (module docstring):
    base (batch, D, P), decay (batch, D), posts (batch, L, D) and pres (batch, L, P) with
    L ≤ WINDOW slots (P = D for the recurrent weight), filled (batch,) the slots used per row,
    folded (batch,) whether a row's base holds a fold (until one does, the base is zero and its
    product is skipped). Slots at or past a row's ``filled`` are zero, so they add nothing.

    The slots grow with the thought up to WINDOW and are folded into the base when full: the
    state's size is bounded by WINDOW whatever the length of the thought, and a short thought
    pays for the ticks it has had, not for WINDOW. Windows of different lengths (a row restarted
    while the others go on) are padded with zero slots to a common length (:meth:`aligned`).

    together (host int or None): the updates every row has had since it was empty, when they all
    have had the same number (a thought started together); ``filled`` and ``folded`` follow from
    it, so a tick reads them without waiting for the device (none of the host synchronisation a
    CUDA graph's capture forbids). None once rows differ (:func:`neurosync.ctm.map_rows` keeps a
    host value only where every state it combines agrees): then they are read from the device."""

    base: torch.Tensor
    decay: torch.Tensor
    posts: torch.Tensor
    pres: torch.Tensor
    filled: torch.Tensor
    folded: torch.Tensor
    together: int | None = None

    @classmethod
    def empty(cls, like: torch.Tensor, batch: int, neurons: int, inputs: int | None = None) -> TraceWindow:
        """H = 0 of shape (batch, neurons, inputs), inputs = neurons unless given (a fast weight
        from the afferents, :mod:`~neurosync.parts.plastic_input`); no slot yet."""
        inputs = neurons if inputs is None else inputs
        return cls(
            like.new_zeros(batch, neurons, inputs),
            like.new_ones(batch, neurons),
            like.new_zeros(batch, 0, neurons),
            like.new_zeros(batch, 0, inputs),
            torch.zeros(batch, dtype=torch.long, device=like.device),
            torch.zeros(batch, dtype=torch.bool, device=like.device),
            together=0,
        )

    def _padded(self, length: int) -> TraceWindow:
        """The same H with zero slots appended up to ``length``."""
        extra = length - self.posts.shape[1]
        if extra <= 0:
            return self
        pad = lambda slots: torch.cat((slots, slots.new_zeros(slots.shape[0], extra, slots.shape[2])), 1)  # noqa: E731
        return replace(self, posts=pad(self.posts), pres=pad(self.pres))

    @staticmethod
    def aligned(*windows: TraceWindow) -> tuple[TraceWindow, ...]:
        """The windows padded with zero slots to the longest one's length, so that their rows can
        be combined (:func:`neurosync.ctm.map_rows`); the fast weights they hold are unchanged."""
        length = max(window.posts.shape[1] for window in windows)
        return tuple(window._padded(length) for window in windows)

    def _window(self) -> torch.Tensor:
        return torch.einsum("bki,bkj->bij", self.posts, self.pres)

    def _any_folded(self) -> bool:
        """Whether a row's base holds a fold (from ``together`` when known, else one host sync)."""
        if self.together is not None:
            return self.together > WINDOW
        return bool(self.folded.any())

    def _slots_filled(self) -> tuple[int, int]:
        """(fewest, most) slots filled over the rows (from ``together`` when known, else one host sync)."""
        if self.together is not None:
            slots = (self.together - 1) % WINDOW + 1 if self.together else 0
            return slots, slots
        low, high = (int(v) for v in torch.stack((self.filled.min(), self.filled.max())).tolist())
        return low, high

    def dense(self) -> torch.Tensor:
        """H (batch, D, P)."""
        if not self._any_folded():
            return self._window()
        return self.decay.unsqueeze(-1) * self.base + self._window()

    def step(self, post: torch.Tensor, pre: torch.Tensor, eta: torch.Tensor) -> TraceWindow:
        """H ← (1 − η) ⊙ H + η ⊙ post ⊗ pre (Miconi's rule), post/pre (batch, D or P), η (1 or batch, D)."""
        state = self
        low, high = self._slots_filled()
        if high >= WINDOW:  # a full window: fold it into the base
            empty = TraceWindow.empty(self.base, *self.base.shape)
            state = replace(empty, base=self.dense(), folded=torch.ones_like(self.folded), together=self.together)
            low = high = 0
        keep = 1 - eta
        written = (eta * post).unsqueeze(1)
        if low == high == state.posts.shape[1]:  # every row at its last slot (a thought started together): append
            posts = torch.cat((keep.unsqueeze(1) * state.posts, written), 1)
            pres = torch.cat((state.pres, pre.unsqueeze(1)), 1)
        else:  # rows at different slots: each writes its own
            state = state._padded(high + 1)
            slot = (
                nn.functional.one_hot(state.filled, state.posts.shape[1]).to(post.dtype).unsqueeze(-1)
            )  # (batch, L, 1)
            posts = keep.unsqueeze(1) * state.posts + slot * written
            pres = state.pres + slot * pre.unsqueeze(1)
        together = None if self.together is None else self.together + 1
        return TraceWindow(state.base, keep * state.decay, posts, pres, state.filled + 1, state.folded, together)

    def apply(self, vector: torch.Tensor) -> torch.Tensor:
        """H · vector (batch, P → D) without forming H."""
        overlap = (self.pres * vector.unsqueeze(1)).sum(-1, keepdim=True)  # (batch, W, 1): X[k] · vector
        recent = (self.posts * overlap).sum(1)  # broadcast products: faster than einsum's batched matvecs here
        if not self._any_folded():  # a zero base
            return recent
        return self.decay * (self.base @ vector.unsqueeze(-1)).squeeze(-1) + recent


def hebbian_times(plastic, vector: torch.Tensor) -> torch.Tensor:
    """H · vector (batch, post) for a fast weight H held dense (batch, post, pre) or as a
    :class:`TraceWindow` (never formed)."""
    if isinstance(plastic, TraceWindow):
        return plastic.apply(vector)
    return (plastic @ vector.unsqueeze(-1)).squeeze(-1)


class HebbianRule(nn.Module):
    """What both fast-weight synapses share: the rule's plasticity rate η, one step of H (either
    form), the norm of α ⊙ H, and a fast weight on the afferents (its state, its tick and its read
    (α ⊙ H) · o). A subclass sets the rule's meta-parameters in its constructor."""

    rule: str
    modulator: str
    implementation: str
    windowed: bool  # H held as a TraceWindow
    d_model: int
    d_input: int
    trace_decay: float  # λ of the traces
    eta_raw: nn.Parameter  # (neurons,) logit of η (η₀ when neuromodulated)
    eta_gain: nn.Parameter  # (neurons,) g (neuromodulated)
    modulator_readout: nn.Module  # w · x + c (neuromodulated by the state)
    abcd: nn.Parameter  # (4, post, pre or 1) A, B, C, D (abcd)
    clip: float  # |H| bound (abcd)
    alpha: nn.Parameter  # (post, pre) α (dense)
    alpha_post: nn.Parameter  # (post,) a of α = a ⊗ b (factorised)
    alpha_pre: nn.Parameter  # (pre,) b of α = a ⊗ b (factorised)

    def learning_rate(self, trace: torch.Tensor | None = None, modulation: torch.Tensor | None = None) -> torch.Tensor:
        """η in (0, 1): (1, neurons) for the fixed rules, (batch, neurons) when neuromodulated."""
        if self.rule != "neuromodulated":
            return torch.sigmoid(self.eta_raw).unsqueeze(0)
        assert trace is not None, "the neuromodulated rule reads the traces"
        if self.modulator == "state":
            signal = self.modulator_readout(trace)
        else:
            signal = (modulation if modulation is not None else trace.new_zeros(trace.shape[0])).unsqueeze(-1)
        return _modulated_rate(self.eta_raw, self.eta_gain, signal)

    @staticmethod
    def hebbian(plastic) -> torch.Tensor:
        """H (batch, D, D) of a plastic state, either form."""
        return plastic.dense() if isinstance(plastic, TraceWindow) else plastic

    def update(self, hebb, post: torch.Tensor, pre: torch.Tensor, eta: torch.Tensor):
        """One rule step: H (batch, D, D) or a TraceWindow, post/pre (batch, D), η (1 or batch, D)."""
        if isinstance(hebb, TraceWindow):
            return hebb.step(post, pre, eta)
        eta, post, pre = eta.unsqueeze(-1), post.unsqueeze(2), pre.unsqueeze(1)
        if self.rule == "abcd":
            return _abcd(eta, hebb, post, pre, *self.abcd, self.clip)
        return _miconi(eta, hebb, post, pre)

    def alpha_matrix(self) -> torch.Tensor:
        """α as a (post, pre) matrix (each synapse states its own)."""
        raise NotImplementedError

    def fast_weight_norm(self, state) -> torch.Tensor:
        """Frobenius norm of α ⊙ H per sample (batch,), for recordings and plots."""
        return (self.alpha_matrix() * self.hebbian(state[1])).flatten(1).norm(dim=1)

    def afferent_start(self, batch: int):
        """(x, H, u[t−1], u[t−2]) of a fast weight on the afferents, all zero: the neurons' traces
        x, H (batch, neurons, d_input) or an empty :class:`TraceWindow` (factorised miconi and
        neuromodulated), and the afferents' traces u; of bounded size either way."""
        trace = self.eta_raw.new_zeros(batch, self.d_model)
        afferent = trace.new_zeros(batch, self.d_input)
        if self.windowed:
            return trace, TraceWindow.empty(trace, batch, self.d_model, inputs=self.d_input), afferent, afferent
        return trace, trace.new_zeros(batch, self.d_model, self.d_input), afferent, afferent

    def afferent_step(self, attention_out: torch.Tensor, spikes: torch.Tensor, state, modulation=None):
        """One tick of a fast weight on the afferents: H steps with post = the neurons' trace
        x[t−1] and pre = the afferents' trace u[t−2] (a response bound to the input of the tick
        before it); returns ((α ⊙ H) · o of this tick's input, the new state)."""
        previous_trace, hebb, afferent, earlier = state
        trace = _trace(self.trace_decay, previous_trace, spikes)
        hebb = self.update(hebb, trace, earlier, self.learning_rate(trace, modulation))
        read = self.afferent_current(attention_out, hebb)
        return read, (trace, hebb, _trace(self.trace_decay, afferent, attention_out), afferent)

    def afferent_current(self, attention_out: torch.Tensor, plastic) -> torch.Tensor:
        """(α ⊙ H) · o (batch, neurons): the afferent fast weight's read of this tick's input
        (factorised: a ⊙ H · (b ⊙ o), H never formed when windowed)."""
        if self.implementation == "dense":
            return ((self.alpha * plastic) @ attention_out.unsqueeze(-1)).squeeze(-1)
        return self.alpha_post * hebbian_times(plastic, self.alpha_pre * attention_out)


class PlasticSynapse(HebbianRule):
    """Linear synapse with a Hebbian fast weight; same interface as the rate synapses::

        state = synapse.start(batch)
        pre, state = synapse(attention_out, post_activation, state, modulation)

    ``modulation`` is the previous tick's certainty (batch,); only the certainty-gated
    neuromodulated rule reads it.
    """

    site = "recurrent"  # default: the fast weight binds the neurons' spikes to those of the tick before (or "afferent")
    input: nn.Module  # g(o): the attention output's pathway
    presynaptic_sign: torch.Tensor  # (neurons,) ±1 under Dale's law (a buffer)

    def __init__(
        self,
        d_input: int,
        d_model: int,
        *,
        rule: str = "miconi",
        implementation: str = "dense",
        learning_rate: float = 0.1,
        trace_timescale: float = 2.0,
        alpha_init: float = 0.1,
        coefficients: str = "neuron",
        clip: float = 1.0,
        modulator: str = "state",
        excitatory: torch.Tensor | None = None,
        input_pathway: str = "linear",
        recurrent_scale: float = 1.0,
        inhibition_dominance: float = 1.0,
        site: str = "recurrent",
    ):
        super().__init__()
        if site not in ("recurrent", "afferent"):
            raise ValueError(f"site must be 'recurrent' or 'afferent', got {site!r}")
        self.windowed = holds_window(rule, implementation)  # H in chunks (TraceWindow)
        self.rule, self.implementation, self.modulator = rule, implementation, modulator
        self.site, self.d_input = site, d_input
        pre = d_model if site == "recurrent" else d_input  # the fast weight's presynaptic side
        if input_pathway == "glu":
            self.input = nn.Sequential(nn.Linear(d_input, 2 * d_model), nn.GLU(dim=-1), nn.LayerNorm(d_model))
        elif input_pathway == "linear":
            self.input = nn.Linear(d_input, d_model)
        else:
            raise ValueError(f"input_pathway must be 'linear' or 'glu', got {input_pathway!r}")
        self.recurrent = nn.Linear(d_model, d_model, bias=False)
        self.eta_raw = nn.Parameter(torch.logit(torch.full((d_model,), learning_rate)))
        self.trace_decay = math.exp(-1.0 / trace_timescale)
        self.dale = excitatory is not None
        # Dale's law constrains a fast weight between the network's neurons, not one from its afferents
        self.dale_alpha = self.dale and site == "recurrent"
        if excitatory is not None:  # raw magnitudes: softplus(raw) ≥ 0, times the presynaptic sign
            sign = torch.where(excitatory.bool(), 1.0, -1.0)
            self.register_buffer("presynaptic_sign", sign)
            fraction = excitatory.float().mean().clamp(1e-6, 1 - 1e-6)
            # inhibition (f_E / f_I) · dominance stronger; every magnitude recurrent_scale × abs(U(−1/√N, 1/√N))
            balance = (
                torch.where(excitatory.bool(), 1.0, fraction / (1 - fraction) * inhibition_dominance) * recurrent_scale
            )
            with torch.no_grad():
                magnitude = self.recurrent.weight.abs().clamp_min(1e-4) * balance
                self.recurrent.weight.copy_(magnitude + torch.log(-torch.expm1(-magnitude)))  # softplus⁻¹
        if self.dale_alpha:
            alpha_init = max(alpha_init, 1e-4)
        alpha_raw = (lambda value: value + math.log(-math.expm1(-value))) if self.dale_alpha else (lambda value: value)
        if implementation == "dense":
            self.alpha = nn.Parameter(torch.full((d_model, pre), alpha_raw(alpha_init)))
        else:  # α = a ⊗ b, a = b = √|α₀| (the sign of α₀ on a)
            root = math.sqrt(abs(alpha_init))
            self.alpha_post = nn.Parameter(torch.full((d_model,), alpha_raw(math.copysign(root, alpha_init))))
            self.alpha_pre = nn.Parameter(torch.full((pre,), alpha_raw(root)))
        if rule == "abcd":
            shape = (d_model, pre) if coefficients == "synapse" else (d_model, 1)
            self.abcd = nn.Parameter(torch.stack([torch.ones(shape)] + [torch.zeros(shape)] * 3))
            self.clip = clip
        if rule == "neuromodulated":
            self.eta_gain = nn.Parameter(torch.zeros(d_model))
            if modulator == "state":
                self.modulator_readout = nn.Linear(d_model, 1)
        self.d_model = d_model

    def post_fan_out(self) -> int:
        """Output features of the layer that reads the post-activations (the recurrent one)."""
        return self.recurrent.out_features

    def recurrent_weight(self) -> torch.Tensor:
        """W_rec (post, pre): signed by the presynaptic neuron under Dale's law."""
        if self.dale:
            return nn.functional.softplus(self.recurrent.weight) * self.presynaptic_sign
        return self.recurrent.weight

    def plastic_gain(self) -> tuple[torch.Tensor, ...]:
        """α (dense, (post, pre)) or (a, b) (factorised): non-negative magnitudes under Dale's law
        (factorised: b carries the presynaptic sign)."""
        if self.implementation == "dense":
            return (nn.functional.softplus(self.alpha) if self.dale_alpha else self.alpha,)
        if self.dale_alpha:
            return nn.functional.softplus(self.alpha_post), nn.functional.softplus(
                self.alpha_pre
            ) * self.presynaptic_sign
        return self.alpha_post, self.alpha_pre

    def alpha_matrix(self) -> torch.Tensor:
        """α as a (post, pre) matrix: the magnitudes α⁺ ≥ 0 under Dale's law (the sign is the
        presynaptic neuron's), else the signed gains; a ⊗ b for the factorised form."""
        if self.implementation == "dense":
            return self.plastic_gain()[0]
        if self.dale_alpha:
            return torch.outer(nn.functional.softplus(self.alpha_post), nn.functional.softplus(self.alpha_pre))
        return torch.outer(self.alpha_post, self.alpha_pre)

    def start(self, batch: int):
        """(trace, H): trace (batch, neurons) = 0 and H = 0, as (batch, neurons, neurons) or an
        empty :class:`TraceWindow` (factorised miconi and neuromodulated): a state of bounded size,
        whatever the length of the thought. On the afferents: :meth:`afferent_start`."""
        if self.site == "afferent":
            return self.afferent_start(batch)
        trace = self.eta_raw.new_zeros(batch, self.d_model)
        if self.windowed:
            return trace, TraceWindow.empty(trace, batch, self.d_model)
        return trace, trace.new_zeros(batch, self.d_model, self.d_model)

    def forward(self, attention_out: torch.Tensor, post_activation: torch.Tensor, state, modulation=None):
        if self.site == "afferent":
            return self._forward_afferent(attention_out, post_activation, state, modulation)
        previous_trace, plastic = state
        trace = _trace(self.trace_decay, previous_trace, post_activation)
        eta = self.learning_rate(trace, modulation)
        new_plastic = self.update(plastic, trace, previous_trace, eta)
        recurrent, plastic_current = self.recurrent_terms(post_activation, new_plastic)
        current = self.input(attention_out) + recurrent
        if plastic_current is not None:
            current = current + plastic_current
        return current, (trace, new_plastic)

    def _forward_afferent(self, attention_out: torch.Tensor, spikes: torch.Tensor, state, modulation=None):
        """The fast weight on the afferents: g(o) + W_rec · s + (α ⊙ H) · o (:meth:`afferent_step`,
        as :class:`~neurosync.parts.plastic_input.PlasticInputSynapse` steps it)."""
        read, state = self.afferent_step(attention_out, spikes, state, modulation)
        return self.input(attention_out) + self.recurrent_terms(spikes, state[1])[0] + read, state

    def recurrent_terms(self, spikes: torch.Tensor, plastic) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(W_rec · spikes, (α ⊙ H) · spikes) with this tick's plastic state (the one forward
        returns); linear in ``spikes``, so spikes masked to one population give that population's
        share of the current. Under dense Dale's law the relu couples the two: one term, None.
        With the fast weight on the afferents the recurrence is W_rec alone: (W_rec · spikes, None)."""
        if self.site == "afferent":
            return nn.functional.linear(spikes, self.recurrent_weight()), None
        if self.dale and not self.windowed:  # a windowed H ≥ 0, so b's sign keeps Dale's law there without a relu
            weight = (
                torch.relu(nn.functional.softplus(self.recurrent.weight) + self.alpha_matrix() * plastic)
                * self.presynaptic_sign
            )
            return (weight @ spikes.unsqueeze(-1)).squeeze(-1), None  # (batch, post, pre) @ (batch, pre)
        recurrent = nn.functional.linear(spikes, self.recurrent_weight())
        if self.implementation == "dense":
            return recurrent, ((self.alpha * plastic) @ spikes.unsqueeze(-1)).squeeze(-1)
        alpha_post, alpha_pre = self.plastic_gain()  # (a ⊗ b ⊙ H) s = a ⊙ H (b ⊙ s)
        return recurrent, alpha_post * hebbian_times(plastic, alpha_pre * spikes)

    def fast_weight_read(self, attention_out: torch.Tensor, spikes: torch.Tensor, state) -> torch.Tensor | None:
        """(α ⊙ H) · spikes (batch, neurons) with the state forward returned for these inputs: the
        fast weight's share of the current (None under dense Dale's law, where one relu couples it
        to the slow weight); on the afferents, (α ⊙ H) · o."""
        if self.site == "afferent":
            return self.afferent_current(attention_out, state[1])
        return self.recurrent_terms(spikes, state[1])[1]

    def population_currents(self, spikes: torch.Tensor, state) -> tuple[torch.Tensor, torch.Tensor]:
        """Under Dale's law, the excitatory and inhibitory shares of the recurrent current
        (batch, neurons) each: the current from the excitatory and from the inhibitory
        presynaptic neurons' ``spikes``, with ``state`` the one forward returned for them.
        They sum to the recurrent current; the inhibitory share is ≤ 0 and the excitatory ≥ 0."""
        if not self.dale:
            raise ValueError("excitatory and inhibitory currents need Dale's law (model.spiking.dale = true)")
        excitatory = (self.presynaptic_sign > 0).to(spikes.dtype)
        shares = []
        for mask in (excitatory, 1 - excitatory):
            recurrent, plastic_current = self.recurrent_terms(spikes * mask, state[1])
            shares.append(recurrent if plastic_current is None else recurrent + plastic_current)
        return shares[0], shares[1]
