"""A recurrent LIF layer over a whole input sequence, with a hand-written BPTT backward.

Equations (snnTorch ``RLeaky`` semantics, reset by subtraction from the previous step's
spike, the reset term detached as in snnTorch)::

    v[t] = β ⊙ v[t−1] + x[t] + W s[t−1] + b − θ ⊙ sg(s[t−1])        v[−1] = s[−1] = 0
    s[t] = H(v[t] − θ)                                              (strict: v > θ)

with H's derivative replaced by the surrogate of :mod:`neurosync.parts.spiking`.

Why a custom autograd function: unrolled by autograd, every step records ~6 small nodes and
the backward walks them one by one. Here the forward stores only v and s (T, B, N), and the
backward is one reverse loop of a single (B, N) × (N, N) matmul plus fused elementwise work
per step::

    g_s[t] = ∂L/∂s[t] + ∂L/∂v[t+1] W
    g_v[t] = g_s[t] ⊙ H'(v[t] − θ) + β ⊙ g_v[t+1] + ∂L/∂v[t]

after which the weight, bias, decay and threshold gradients are each one reduction over all
steps at once (∂L/∂W = Σ_t g_v[t]ᵀ s[t−1] is a single matmul). The forward repeats RLeaky's
arithmetic in the same order, so the spikes are identical to snnTorch's
(``benchmarks/lif_core.py`` measures both).

This is the standalone spiking core (the recurrent network Brian2 re-simulates). Inside the
CTM the recurrence closes through attention every tick, so the tick loop uses the per-step
functions of :mod:`neurosync.parts.spiking` instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .spiking import softplus_inverse, surrogate_derivative


class RecurrentLIFFunction(torch.autograd.Function):
    """Forward and hand-written BPTT backward of a recurrent LIF layer over a sequence
    (:func:`lif_sequence`), with snnTorch's RLeaky arithmetic."""

    @staticmethod
    def forward(ctx, inputs, weight, bias, beta, threshold, kind: str, slope: float):
        # Same arithmetic, in the same order, as snnTorch's RLeaky (so identical spikes), written
        # into preallocated (steps, batch, neurons) buffers with in-place ops.
        membranes = torch.empty_like(inputs)
        spikes = torch.empty_like(inputs)
        v = s = torch.zeros_like(inputs[0])
        for t in range(inputs.shape[0]):
            v_new = torch.mul(v, beta, out=membranes[t]).add_(inputs[t])  # β v + x
            if weight is not None:
                v_new.add_(F.linear(s, weight, bias))  # + (W s + b)
            v_new.sub_(s * threshold)  # − θ s
            s = spikes[t].copy_(v_new > threshold)
            v = v_new
        ctx.save_for_backward(membranes, spikes, weight, beta, threshold)
        ctx.kind, ctx.slope = kind, slope
        ctx.set_materialize_grads(False)
        return spikes, membranes

    @staticmethod
    def backward(ctx, grad_spikes, grad_membranes):
        membranes, spikes, weight, beta, threshold = ctx.saved_tensors
        derivative = surrogate_derivative(membranes - threshold, ctx.kind, ctx.slope)
        if grad_spikes is None:
            grad_spikes = torch.zeros_like(spikes)
        steps, n = membranes.shape[0], membranes.shape[-1]
        grad_v = torch.empty_like(membranes)
        grad_s = torch.empty_like(membranes) if ctx.needs_input_grad[4] else None
        carry = None  # ∂L/∂v[t+1]
        for t in range(steps - 1, -1, -1):
            if carry is None:
                g_s = grad_spikes[t]
                g = torch.mul(g_s, derivative[t], out=grad_v[t])
            else:
                g_s = grad_spikes[t] if weight is None else torch.addmm(grad_spikes[t], carry, weight)
                g = torch.mul(carry, beta, out=grad_v[t]).addcmul_(g_s, derivative[t])
            if grad_membranes is not None:
                g.add_(grad_membranes[t])
            if grad_s is not None:
                grad_s[t] = g_s
            carry = g
        later = grad_v[1:].reshape(-1, n)
        grad_weight = later.t() @ spikes[:-1].reshape(-1, n) if ctx.needs_input_grad[1] else None
        grad_bias = grad_v.sum((0, 1)) if ctx.needs_input_grad[2] else None
        grad_beta = (grad_v[1:] * membranes[:-1]).sum((0, 1)) if ctx.needs_input_grad[3] else None
        grad_threshold = None
        if grad_s is not None:  # θ in the spike condition and in the reset
            grad_threshold = -(grad_s * derivative).sum((0, 1)) - (grad_v[1:] * spikes[:-1]).sum((0, 1))
        return grad_v, grad_weight, grad_bias, grad_beta, grad_threshold, None, None


class RecurrentLIF(nn.Module):
    """Recurrent LIF layer: ``spikes, membranes = layer(inputs)`` for inputs (steps, batch, neurons).

    Per-neuron decay β = σ(raw) in (0, 1) and threshold θ = softplus(raw) > 0 are learned,
    as in the CTM's spiking neurons; W and b are an all-to-all recurrent linear map
    (RLeaky's ``recurrent``).
    """

    def __init__(
        self, neurons: int, beta: float = 0.9, threshold: float = 1.0, surrogate: str = "atan", slope: float = 2.0
    ):
        super().__init__()
        self.recurrent = nn.Linear(neurons, neurons)
        self.beta_raw = nn.Parameter(torch.logit(torch.full((neurons,), beta)))
        self.threshold_raw = nn.Parameter(torch.full((neurons,), softplus_inverse(threshold)))
        self.surrogate, self.slope = surrogate, slope

    def beta(self) -> torch.Tensor:
        return torch.sigmoid(self.beta_raw)

    def threshold(self) -> torch.Tensor:
        return F.softplus(self.threshold_raw)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if inputs.dim() != 3 or inputs.shape[-1] != self.recurrent.in_features:
            raise ValueError(
                f"RecurrentLIF expects inputs (steps, batch, {self.recurrent.in_features}), got {tuple(inputs.shape)}"
            )
        return lif_sequence(
            inputs,
            self.beta(),
            self.threshold(),
            self.recurrent.weight,
            self.recurrent.bias,
            self.surrogate,
            self.slope,
        )


def lif_sequence(inputs, beta, threshold, weight=None, bias=None, kind="atan", slope=2.0):
    """Functional form: spikes, membranes (steps, batch, neurons). Without ``weight`` the layer
    has no recurrence (a feed-forward LIF over precomputed input currents: drive all steps
    with one matmul first, as a Linear over (steps·batch, features))."""
    # state in the parameters' precision even when the drive comes from a bf16 autocast matmul
    return RecurrentLIFFunction.apply(inputs.to(beta.dtype), weight, bias, beta, threshold, kind, slope)


def recurrent_lif_autograd(inputs, weight, bias, beta, threshold, kind="atan", slope=2.0):
    """The same equations unrolled by autograd (the reference for the fused backward)."""
    from .spiking import spike

    v = inputs.new_zeros(inputs.shape[1:])
    s = torch.zeros_like(v)
    spikes, membranes = [], []
    for x in inputs.unbind(0):
        v = beta * v + x
        if weight is not None:
            v = v + F.linear(s, weight, bias)
        v = v - s.detach() * threshold
        s = spike(v - threshold, kind, slope)
        spikes.append(s)
        membranes.append(v)
    return torch.stack(spikes), torch.stack(membranes)
