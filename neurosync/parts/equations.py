"""The equations of the spiking core, stated once, in physical time.

Both simulators are generated from these strings. The PyTorch step functions
(:mod:`neurosync.parts.spiking`, :mod:`neurosync.parts.plastic`) compile each right-hand side
into a plain Python function at import (:func:`torch_function`: traceable by torch.compile, no
per-step parsing). The Brian2 export (:mod:`neurosync.brian`) writes the same expressions into
its generated code (:func:`brian_expression`: per-filter names expanded). Because both evaluate
the same expression with the same operation order, float64 runs agree to the bit.

One update is one simulation step of ``dt`` ms. Every decay is exp(−dt/τ) of a time constant
τ in ms, and every linear part is integrated exactly for an input held over the step, so the
same parameters simulate the same continuous-time model at any dt::

    τ_f df/dt = a − f           ->  f ← fdecay·f + (1 − fdecay)·a             fdecay = e^(−dt/τ_f)
    τ_m dv/dt = I + n − v       ->  v ← v + open·(1 − beta)·(I + n − v)        beta   = e^(−dt/τ_m)
    τ_n dn   = −n dt + σ√(2τ_n) dW  ->  n ← ndecay·n + σ√(1 − ndecay²)·ξ        ndecay = e^(−dt/τ_n)

A bounded input (optional, ``bounded_input``) floors the dendritic current softly,
I ← ifloor + iwidth·softplus((I − ifloor)/iwidth): as inhibitory conductances stop pulling a
membrane once it nears their reversal potential, no input holds a neuron further below threshold
than the floor, and the noise keeps a maximally inhibited neuron firing, rarely. The floor is
either one constant for every neuron or follows each neuron's resting threshold,
ifloor = θ − imargin (``input_floor_margin``), so that no neuron can leave the noise's reach by
learning a higher threshold. With ``input_ceiling_margin`` > 0 the current is also capped softly
from above at iceil = θ + icmargin, I ← iceil − iwidth·softplus((iceil − I)/iwidth), as
excitatory conductances stop depolarising a membrane near their reversal potential: the mean
drive then holds no neuron far above threshold, so a neuron fires at most at the rate that
θ + icmargin gives (τ_m ln((θ + icmargin)/icmargin) per spike) plus what its noise adds.

Intrinsic homeostasis (optional, Desai et al. 1999; Turrigiano 2011) acts once per tick of
``substeps · dt`` ms, from the tick's spike count c::

    h ← clip(h + hstep·(c − ctarget), hmin, 0)     θ_rest = θ·e^h
    ctarget = ν_low·tick    hstep = 1 / (ν_low·τ_h)    hmin = ln(min_scale)

A neuron that fires below ν_low lowers its resting threshold, by a factor e per τ_h while
silent; each spike raises it back, and h never exceeds 0, so a neuron at or above ν_low keeps
its trained threshold. Every factor is per tick of physical duration, so the process is the
same at any dt. h starts at 0 in every thought and carries no gradient (a slow process that
training sees as part of the threshold).

n is an Ornstein–Uhlenbeck current (stationary s.d. σ, correlation time τ_n) with ξ ~ N(0, 1)
drawn per step and neuron. ``open`` is 0 while the neuron is refractory (the membrane is then
held, as Brian2's ``(unless refractory)``), 1 otherwise.

Names are per neuron (per synapse for H): f a dendritic filter with decay fdecay and weight
fweight, a the pre-activation, I the dendritic current, v the membrane with decay beta,
s the spike, u the adaptation with decay rho, theta/kappa the threshold and its adaptation
strength, ref the refractory steps left (rsteps after a spike), n the noise current, x a spike
trace with decay lam, and for the plastic weight H the traces post and pre, the learning rate
eta, the ABCD coefficients A–D and the bound hclip.
"""

from __future__ import annotations

import re

import torch

DENDRITE = "fdecay*f + (1 - fdecay)*a"  # f_k[t], for each filter k
CURRENT = "sum_k(f*fweight) + fbias"  # I[t]
# I bounded softly from below at ifloor (width iwidth): floor + width·softplus((I − floor)/width), written stably
CURRENT_FLOOR = "ifloor + iwidth*(clip((I - ifloor)/iwidth, 0, inf) + log(1 + exp(-abs(I - ifloor)/iwidth)))"
RELATIVE_FLOOR = "theta - imargin"  # ifloor that follows the resting threshold θ (θ e^h under homeostasis)
# I bounded softly from above at iceil: the mirror image of CURRENT_FLOOR
CURRENT_CEILING = "iceil - iwidth*(clip((iceil - I)/iwidth, 0, inf) + log(1 + exp(-abs(iceil - I)/iwidth)))"
RELATIVE_CEILING = "theta + icmargin"  # iceil above the resting threshold θ
ADAPTIVE_THRESHOLD = "theta + kappa*u"  # ϑ from the adaptation u (ALIF; LIF: theta)
ADAPTATION = "rho*u + s"  # u[t] from u[t−1] and s[t−1]: +1 per spike, decaying with τ_a
OPEN = "int(ref < 0.5)"  # 1 when the neuron may integrate and fire at this step
COUNTDOWN = "clip(ref - 1, 0, rsteps)"  # refractory steps left; a spike sets ref = rsteps
NOISE = "ndecay*n + nscale*xi"  # OU current, exact update; nscale = σ·√(1 − ndecay²)
MEMBRANE = "v + open*(1 - beta)*(I + n - v) - thr_prev*s"  # v[t], reset by subtraction of ϑ[t−1]
SPIKE = "v > thr"  # s[t] (H(v − ϑ) with a surrogate gradient in PyTorch), only when open
TRACE = "lam*x + (1 - lam)*s"  # spike trace for the plasticity rules
MICONI = "(1 - eta)*H + eta*(post*pre)"
ABCD = "clip(H + eta*(A*(post*pre) + B*pre + C*post + D), -hclip, hclip)"
MODULATED_RATE = "sigmoid(eta0 + gain*m)"  # η[t] of the neuromodulated rule
HOMEOSTASIS = "clip(h + hstep*(c - ctarget), hmin, 0)"  # h after a tick of c spikes (once per tick)
RESTING_THRESHOLD = "theta*exp(h)"  # θ under intrinsic homeostasis: lowered while the neuron is too quiet

_TORCH_HELPERS = {
    "sum_k": lambda x: x.sum(-1),
    "clip": lambda x, low, high: x.clamp(low, high),
    "sigmoid": torch.sigmoid,
    "exp": torch.exp,
    "log": torch.log,
    "abs": torch.abs,
    "inf": float("inf"),
    "int": lambda condition: condition.to(torch.get_default_dtype()),
}


def torch_function(expression: str, *names: str):
    """`expression` as a Python function of `names` on tensors (sum_k sums the filter axis, the
    last one; clip clamps; sigmoid is torch.sigmoid; int turns a condition into 0/1)."""
    return eval(f"lambda {', '.join(names)}: {expression}", dict(_TORCH_HELPERS))  # noqa: S307 (module constants only)


def brian_expression(
    expression: str, filters: int | None = None, k: int | None = None, rename: dict | None = None
) -> str:
    """`expression` as Brian2 code: sum_k(...) unrolled over `filters` filters, the per-filter
    names f, fdecay, fweight indexed by `k`, sigmoid written out, other names renamed."""

    def per_filter(text: str, j: int) -> str:
        return re.sub(r"\b(f|fdecay|fweight)\b", lambda match: f"{match.group(1)}{j}", text)

    if "sum_k(" in expression and filters is None:
        raise ValueError("an expression with sum_k(...) needs the number of filters")
    count = filters or 0
    expression = re.sub(
        r"sum_k\(([^()]*)\)",
        lambda match: " + ".join(per_filter(match.group(1), j) for j in range(count)),
        expression,
    )
    if k is not None:
        expression = per_filter(expression, k)
    expression = re.sub(r"sigmoid\(([^()]*)\)", r"1/(1 + exp(-(\1)))", expression)
    for old, new in (rename or {}).items():
        expression = re.sub(rf"\b{old}\b", new, expression)
    return expression
