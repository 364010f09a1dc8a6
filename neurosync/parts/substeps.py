"""The sub-steps of one tick in one autograd node: the spiking neurons' inner loop, fused.

Within a tick the pre-activation a is held, so the dendritic filters have a closed form over
the tick's M sub-steps (exact, vectorised over m = 1..M)::

    f_k[m] = a + (f_k[0] − a) · α_k^m          I[m] = Σ_k w_k f_k[m] + b

and only the soma (:mod:`neurosync.parts.spiking`, noise, refractory period, ALIF) is a
nonlinear recursion. :class:`SomaSequence` runs it forward without an autograd graph, storing
v, s, u and the open mask (M, B, N), and walks back once with the adjoints

    δs[m] = ∂L/∂s[m] − ϑ'[m+1] δv[m+1] + δu[m+1]                  ϑ'[m+1] = θ + κ u[m]
    δv[m] = ∂L/∂v[m] + o[m] σ'(v[m] − ϑ[m]) δs[m] + (1 − o[m+1](1 − β)) δv[m+1]
    δu[m] = −κ o[m] σ'(v[m] − ϑ[m]) δs[m] − κ s[m] δv[m+1] + ρ δu[m+1]

(σ' the surrogate derivative, o the open mask), after which the gradients of the drive, β, θ,
κ, ρ and the start state are reductions over all sub-steps at once. The stepwise functions of
:mod:`neurosync.parts.spiking` are the reference: both paths give the same spikes, membranes
and gradients (tests), and the fused one records ~2·M instead of ~20·M autograd nodes per tick.
"""

from __future__ import annotations

import torch

from . import kernels
from .spiking import surrogate_derivative


class SomaSequence(torch.autograd.Function):
    """(drive x (M, B, N) = I + n, start state v0, s0, u0, refractory steps left r0 (B, N),
    β, κ, ρ (N,), θ (N,) or (B, N), closed steps after a spike) -> spikes, membranes, adaptations (M, B, N) and
    the refractory steps left after the last sub-step; κ = ρ = None for LIF."""

    @staticmethod
    def forward(
        ctx, drive, v0, s0, u0, r0, beta, threshold, strength, decay, refractory_steps: int, kind: str, slope: float
    ):
        steps = drive.shape[0]
        membranes, spikes = torch.empty_like(drive), torch.empty_like(drive)
        open_mask = torch.ones_like(drive)
        adaptive = strength is not None
        adaptations = torch.empty_like(drive) if adaptive else drive  # written only when adaptive
        leak = 1 - beta
        gate = leak.expand_as(v0)  # o (1 − β); o = 1 without a refractory period
        v, s, u, refractory = v0, s0, u0, r0
        for m in range(steps):
            if refractory_steps:
                torch.lt(refractory, 0.5, out=open_mask[m])
                gate = open_mask[m] * leak
            previous_threshold = threshold + strength * u if adaptive else threshold
            if adaptive:
                u = torch.addcmul(s, decay, u, out=adaptations[m])  # ρ u + s
                current_threshold = threshold + strength * u
            else:
                current_threshold = threshold
            v = torch.addcmul(v, gate, drive[m] - v, out=membranes[m]).addcmul_(previous_threshold, s, value=-1)
            s = torch.gt(v, current_threshold, out=spikes[m])
            if refractory_steps:  # r ← rsteps after a spike, else max(r − 1, 0): one maximum, as s ∈ {0, 1}
                s.mul_(open_mask[m])
                refractory = torch.maximum(refractory - 1, s * refractory_steps)
        ctx.mark_non_differentiable(refractory)
        ctx.save_for_backward(
            drive, v0, s0, u0, beta, threshold, strength, decay, open_mask, membranes, spikes, adaptations
        )
        ctx.kind, ctx.slope = kind, slope
        ctx.set_materialize_grads(False)
        return spikes, membranes, adaptations if adaptive else membranes.new_zeros(0), refractory

    @staticmethod
    def backward(ctx, grad_spikes, grad_membranes, grad_adaptations, grad_refractory):
        (drive, v0, s0, u0, beta, threshold, strength, decay, open_mask, membranes, spikes, adaptations) = (
            ctx.saved_tensors
        )
        adaptive = strength is not None
        steps = drive.shape[0]
        leak = 1 - beta
        thresholds = threshold + strength * adaptations if adaptive else threshold  # ϑ[m]
        sigma = open_mask * surrogate_derivative(membranes - thresholds, ctx.kind, ctx.slope)  # o σ'
        carry_factor = 1 - open_mask * leak  # ∂v[m]/∂v[m−1]
        # ϑ'[m+1] = θ + κ u[m], the threshold that s[m] subtracts at the next step
        reset_threshold = threshold + strength * adaptations if adaptive else threshold.expand_as(v0)
        grad_v = torch.empty_like(drive) if grad_membranes is None else grad_membranes.clone()
        grad_s = torch.zeros_like(drive) if grad_spikes is None else grad_spikes.clone()
        if grad_membranes is None:
            grad_v.zero_()
        grad_u = torch.empty_like(drive) if adaptive else None
        for m in range(steps - 1, -1, -1):
            g_s, g_v = grad_s[m], grad_v[m]
            if m + 1 < steps:
                next_v = grad_v[m + 1]
                g_s.addcmul_(reset_threshold[m] if adaptive else reset_threshold, next_v, value=-1)
                if adaptive:
                    g_s.add_(grad_u[m + 1])
                g_v.addcmul_(next_v, carry_factor[m + 1])
            g_v.addcmul_(sigma[m], g_s)
            if adaptive:  # δu[m] = −κ (σ' δs[m] + s[m] δv[m+1]) + ρ δu[m+1]
                g_u = torch.mul(sigma[m], g_s, out=grad_u[m])
                if m + 1 < steps:
                    g_u.addcmul_(spikes[m], grad_v[m + 1])
                g_u.mul_(-strength)
                if m + 1 < steps:
                    g_u.addcmul_(decay, grad_u[m + 1])
                if grad_adaptations is not None and grad_adaptations.numel():
                    g_u.add_(grad_adaptations[m])
        previous_v = torch.cat((v0.unsqueeze(0), membranes[:-1]))
        previous_s = torch.cat((s0.unsqueeze(0), spikes[:-1]))
        grad_drive = grad_v * open_mask * leak
        grad_beta = -(grad_v * open_mask * (drive - previous_v)).sum((0, 1))
        grad_threshold = -(grad_s * sigma).sum(0) - (grad_v * previous_s).sum(0)  # (B, N)
        if threshold.dim() == 1:  # one θ per neuron; (B, N) under homeostasis, θ e^h per sample
            grad_threshold = grad_threshold.sum(0)
        # the start state: v0 carries into v[1], s0 resets v[1] and raises u[1], u0 sets ϑ'[1] and decays into u[1]
        grad_v0 = grad_v[0] * (1 - open_mask[0] * leak)
        start_threshold = threshold + strength * u0 if adaptive else threshold
        grad_s0 = -start_threshold * grad_v[0] + (grad_u[0] if adaptive else 0)
        grad_strength = grad_decay = grad_u0 = None
        if adaptive:
            previous_u = torch.cat((u0.unsqueeze(0), adaptations[:-1]))
            grad_strength = (-(grad_s * sigma * adaptations) - grad_v * previous_u * previous_s).sum((0, 1))
            grad_decay = (grad_u * previous_u).sum((0, 1))
            grad_u0 = decay * grad_u[0] - strength * s0 * grad_v[0]
        return (
            grad_drive,
            grad_v0,
            grad_s0,
            grad_u0,
            None,
            grad_beta,
            grad_threshold,
            grad_strength,
            grad_decay,
            None,
            None,
            None,
        )


class CompiledTick(torch.autograd.Function):
    """The whole fused tick in compiled C (:mod:`neurosync.parts.kernels`): the dendritic current
    in closed form, its soft bounds, the noise and the soma over the M sub-steps, forward and
    backward, each in one pass over memory. The same equations as the PyTorch statement
    (:meth:`SpikingNeurons.forward_fused` with :class:`SomaSequence`), equal to it within float
    rounding (tests). It keeps the drives, spikes, membranes, adaptations, open mask and the
    slopes of the bounds (M, B, N) for the backward.

    (a (B, N), filters (B, N, K), powers α^(m+1) (M, N, K), filter weights (N, K), bias (N,),
    θ (N,) or (B, N), noise currents (M, B, N) or None, v0, s0, u0, r0 (B, N), β, κ, ρ (N,) or
    κ = ρ = None, the tick's constants) -> spike count, filters after the tick, membrane, spikes,
    adaptation (empty for LIF), refractory steps left."""

    @staticmethod
    def forward(
        ctx, pre, filters, powers, weight, bias, threshold, noise, v0, s0, u0, r0, beta, strength, decay, shape
    ):
        adaptive = strength is not None
        if not adaptive:  # LIF is ALIF with κ = ρ = 0: the same v and s
            strength, decay = beta.new_zeros(beta.shape), beta.new_zeros(beta.shape)
        if not shape.refractory_steps:  # r stays 0 and every step is open
            r0 = torch.zeros_like(v0)
        # the kernels' layout: neurons last (filters (K, B, N), powers (M, K, N), weights (K, N))
        filters, powers, weight = filters.permute(2, 0, 1), powers.transpose(1, 2), weight.t()
        pre, filters, powers, weight, bias, threshold, v0, s0, u0, r0, beta, strength, decay = (
            t.contiguous()
            for t in (pre, filters, powers, weight, bias, threshold, v0, s0, u0, r0, beta, strength, decay)
        )
        noise = None if noise is None else noise.contiguous()
        sequence = (shape.steps, shape.rows, shape.neurons)
        saved = [pre.new_empty(sequence) for _ in range(5)]  # spikes, membranes, adaptations, open, drives
        saved.append(pre.new_empty(sequence) if shape.bounded else None)  # the slopes of the floor
        saved.append(pre.new_empty(sequence) if shape.bounded and shape.ceiling_margin != 0 else None)
        count, refractory, last_filters = torch.empty_like(pre), torch.empty_like(pre), torch.empty_like(filters)
        kernels.tick_forward(
            shape, pre, filters, powers, weight, bias, threshold, noise, v0, s0, u0, r0, beta, strength, decay,
            *saved, count, last_filters, refractory,
        )  # fmt: skip
        ctx.save_for_backward(pre, filters, powers, weight, threshold, v0, s0, u0, beta, strength, decay, *saved)
        ctx.shape, ctx.adaptive = shape, adaptive
        ctx.mark_non_differentiable(refractory)
        ctx.set_materialize_grads(False)
        spikes, membranes, adaptations = saved[:3]
        adaptation = adaptations[-1].clone() if adaptive else pre.new_zeros(0)
        return count, last_filters.permute(1, 2, 0), membranes[-1].clone(), spikes[-1].clone(), adaptation, refractory

    @staticmethod
    def backward(ctx, grad_count, grad_last_filters, grad_membrane, grad_spike, grad_adaptation, grad_refractory):
        pre, filters, powers, weight, threshold, v0, s0, u0, beta, strength, decay, *saved = ctx.saved_tensors
        if grad_adaptation is not None and not grad_adaptation.numel():
            grad_adaptation = None
        if grad_last_filters is not None:
            grad_last_filters = grad_last_filters.permute(2, 0, 1)
        incoming = [
            None if g is None else g.contiguous()
            for g in (grad_count, grad_membrane, grad_spike, grad_adaptation, grad_last_filters)
        ]
        grads = [torch.zeros_like(t) for t in (pre, filters, powers, weight)]
        grads += [pre.new_zeros(ctx.shape.neurons), torch.zeros_like(threshold)]  # the bias (not kept), θ
        grads += [torch.zeros_like(t) for t in (v0, s0, u0, beta, strength, decay)]
        kernels.tick_backward(
            ctx.shape, pre, filters, powers, weight, threshold, v0, s0, u0, beta, strength, decay,
            *saved, *incoming, *grads,
        )  # fmt: skip
        (grad_pre, grad_filters, grad_powers, grad_weight, grad_bias, grad_threshold) = grads[:6]
        grad_v0, grad_s0, grad_u0, grad_beta, grad_strength, grad_decay = grads[6:]
        adaptive = ctx.adaptive
        return (
            grad_pre,
            grad_filters.permute(1, 2, 0),
            grad_powers.transpose(1, 2),
            grad_weight.t(),
            grad_bias,
            grad_threshold,
            None,
            grad_v0,
            grad_s0,
            grad_u0 if adaptive else None,
            None,
            grad_beta,
            grad_strength if adaptive else None,
            grad_decay if adaptive else None,
            None,
        )
