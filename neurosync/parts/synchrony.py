"""Synchronisation as representation.

For neuron pairs (i, j) the CTM reads

    S_ij(t) = Σ_{τ≤t} r^(t−τ) z_i(τ) z_j(τ) / sqrt(Σ_{τ≤t} r^(t−τ)),    r = exp(−decay_ij)

which is computed recurrently in O(pairs) per tick instead of re-summing the whole history:

    α ← r·α + z_i z_j,    β ← r·β + 1,    S = α / sqrt(β)

with α = z_i z_j and β = 1 at the start state. β does not depend on the sample, so it is kept
once per pair, not per batch element. The decay is a learned parameter per pair, clamped to
[0, 15] (r from 1 down to 3e-7) at the start of every thought, as in the reference.

Two readouts share the recurrence: *action* synchrony (queries attention) and *output*
synchrony (projected to logits). Their pairs are concatenated so that one gather and one
multiply serve both.

For spike trains the same recurrence runs on traces filtered at several timescales, and an
optional normalised (coherence-like) form bounds it; see :class:`DecayedPairwiseSynchrony`.
"""

from __future__ import annotations

import torch
from torch import nn

DECAY_MAX = 15.0


def select_neurons(
    pairing: str, d_model: int, n_synch: int, readout: str, n_self_pairs: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose the neurons one readout synchronises: (left, right), n_synch each.

    - ``random-pairing``: n_synch pairs (left[k], right[k]); the first n_self_pairs are i-i.
    - ``first-last``: the first n_synch neurons for the output readout, the last n_synch for
      the action readout, paired densely.
    - ``random``: random neuron lists, paired densely (left × right).
    """
    if pairing == "first-last":
        start = 0 if readout == "out" else d_model - n_synch
        left = torch.arange(start, start + n_synch)
        return left, left.clone()
    left = torch.randint(0, d_model, (n_synch,), generator=generator)
    right = torch.randint(0, d_model, (n_synch,), generator=generator)
    if pairing == "random-pairing":
        right = torch.cat((left[:n_self_pairs], right[n_self_pairs:]))
    return left, right


def pair_indices(pairing: str, left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Neuron index of each side of every pair in the representation: element-wise pairs for
    random-pairing, the upper triangle (incl. diagonal) of left × right otherwise."""
    if pairing == "random-pairing":
        return left, right
    i, j = torch.triu_indices(left.numel(), left.numel(), device=left.device)
    return left[i], right[j]


def synchrony_size(pairing: str, n_synch: int) -> int:
    """Pairs one readout synchronises: ``n_synch`` for random-pairing, the upper triangle with the
    diagonal, n(n + 1)/2, otherwise."""
    return n_synch if pairing == "random-pairing" else n_synch * (n_synch + 1) // 2


def _one_row(rows: torch.Tensor) -> torch.Tensor:
    """A (batch, …) state whose rows are one row expanded (stride 0: every row equal) as that one row, so
    that work on it is done once, not per sample; any other tensor as it is. Either broadcasts alike."""
    return rows[:1] if rows.shape[0] > 1 and rows.stride(0) == 0 else rows


class DecayedPairwiseSynchrony(nn.Module):
    """Action and output synchrony with a learned exponential decay per pair.

    With ``timescales=None`` (the paper's CTM) the pairwise products are taken of the
    post-activations themselves. With timescales τ_m (ticks), post-activations (spikes) are
    first low-pass filtered into one trace per timescale, x_m[t] = λ_m x_m[t−1] + (1 − λ_m) s[t]
    with λ_m = exp(−1/τ_m) (running firing-rate estimates from fast to slow); synchrony runs on
    each trace with its own learned per-pair decays, and the timescales are concatenated
    (scale-major) in the representation.

        S_ij = Σ_τ r^(t−τ) x_i x_j / sqrt(Σ_τ r^(t−τ))                                (default)
        C_ij = Σ_τ r^(t−τ) x_i x_j / sqrt(Σ r^(t−τ) x_i² · Σ r^(t−τ) x_j² + ε)       (normalised)

    The normalised form is a decayed (uncentred) correlation coefficient: ``|C| ≤ 1`` by
    Cauchy–Schwarz, 1 for proportional traces, 0 when either neuron is silent.

    Interface (shared by every synchrony part)::

        state = synchrony.start(post)           # post (batch, neurons)
        state = synchrony(post, state)          # one tick
        action, out = synchrony.read(state)     # (batch, size_action), (batch, size_out)
    """

    EPSILON = 1e-6

    trace_decay: torch.Tensor | None  # (1, scales, 1) e^(−1/τ) per tick of each trace timescale (buffer)
    pair_left: torch.Tensor  # (pairs,) flattened (scale, neuron) index of each pair's left neuron (buffer)
    pair_right: torch.Tensor
    decay_action: nn.Parameter  # (pairs of the action readout,) learned decay per pair
    decay_out: nn.Parameter

    def __init__(
        self,
        d_model,
        n_synch_action,
        n_synch_out,
        pairing,
        n_self_pairs=0,
        generator=None,
        timescales=None,
        normalised=False,
    ):
        super().__init__()
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.pairing, self.d_model, self.normalised = pairing, d_model, normalised
        self.scales = len(timescales) if timescales else 1
        decay = torch.exp(-1.0 / torch.tensor(timescales, dtype=torch.float32)).view(1, -1, 1) if timescales else None
        self.register_buffer("trace_decay", decay)
        for readout, n_synch in (("action", n_synch_action), ("out", n_synch_out)):
            left, right = select_neurons(pairing, d_model, n_synch, readout, n_self_pairs, generator)
            self.register_buffer(f"{readout}_neurons_left", left)
            self.register_buffer(f"{readout}_neurons_right", right)
            size = self.scales * synchrony_size(pairing, n_synch)
            self.register_parameter(f"decay_{readout}", nn.Parameter(torch.zeros(size)))
        self.size_action = self.decay_action.numel()
        self.size_out = self.decay_out.numel()
        self.register_buffer("pair_left", torch.empty(0, dtype=torch.long), persistent=False)
        self.register_buffer("pair_right", torch.empty(0, dtype=torch.long), persistent=False)
        self.rebuild_pairs()

    def rebuild_pairs(self) -> None:
        """Derive the (action ++ out) pair index lists from the stored neuron lists; with
        timescales, pairs index the flattened (scale, neuron) traces: m·D + i."""
        lefts, rights = [], []
        for readout in ("action", "out"):
            left, right = pair_indices(
                self.pairing, getattr(self, f"{readout}_neurons_left"), getattr(self, f"{readout}_neurons_right")
            )
            for m in range(self.scales):
                lefts.append(left + m * self.d_model)
                rights.append(right + m * self.d_model)
        self.pair_left, self.pair_right = torch.cat(lefts), torch.cat(rights)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self.rebuild_pairs()

    def _update(self, traces: torch.Tensor, state=None):
        """Add one tick of pairwise products to the decayed sums (state None: start)."""
        flat = traces.flatten(1)
        # index_select, not flat[:, idx]: its backward (index_add) is several times cheaper
        left, right = flat.index_select(1, self.pair_left), flat.index_select(1, self.pair_right)
        product = left * right
        powers = (left * left, right * right) if self.normalised else (None, None)
        if state is None:
            rate = torch.exp(-torch.cat((self.decay_action, self.decay_out))).unsqueeze(0)  # (1, pairs): not per sample
            # the normaliser is per sample, so that a thought carried on (neurosync.rl) can restart one row, but
            # stored as one row expanded while every row has the same age (_one_row); a restart materialises it
            return traces, product, torch.ones_like(rate).expand_as(product), *powers, rate
        _, weighted, normaliser, power_left, power_right, rate = state
        if self.normalised:
            powers = (rate * power_left + powers[0], rate * power_right + powers[1])
        return traces, rate * weighted + product, (rate * _one_row(normaliser) + 1).expand_as(normaliser), *powers, rate

    def _filter(self, post: torch.Tensor, traces: torch.Tensor | None) -> torch.Tensor:
        if self.trace_decay is None:
            return post
        drive = (1 - self.trace_decay) * post.unsqueeze(1)  # (batch, scales, neurons)
        return drive if traces is None else self.trace_decay * traces + drive

    def start(self, post: torch.Tensor):
        """Start the recurrence from the start post-activations; clamps the decays."""
        with torch.no_grad():
            self.decay_action.clamp_(0, DECAY_MAX)
            self.decay_out.clamp_(0, DECAY_MAX)
        return self._update(self._filter(post, None))

    def forward(self, post: torch.Tensor, state):
        return self._update(self._filter(post, state[0]), state)

    def read(self, state) -> tuple[torch.Tensor, torch.Tensor]:
        _, weighted, normaliser, power_left, power_right, _ = state
        if self.normalised:
            synchrony = weighted * torch.rsqrt(power_left * power_right + self.EPSILON)
        else:
            synchrony = weighted * torch.rsqrt(_one_row(normaliser))
        return synchrony[:, : self.size_action], synchrony[:, self.size_action :]
