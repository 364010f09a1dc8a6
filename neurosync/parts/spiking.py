"""Spiking neuron-level models in physical time: a private dendritic filter bank per neuron
driving a LIF or ALIF soma with an absolute refractory period and intrinsic noise. This is the
spiking analogue of the CTM's private history MLP: each neuron filters its own
pre-activations with K exponential kernels of learned time constants and weights.

Time is physical: the simulation step is ``dt_ms`` milliseconds, a CTM tick lasts
``substeps · dt_ms`` ms (the pre-activation held constant over a tick), and every time
constant is a duration in ms. This block is the single statement of the dynamics; the step
functions below evaluate the expressions of :mod:`neurosync.parts.equations` (from which the
Brian2 export is generated too), one simulation step at a time::

    dendrite   f_k[t] = α_k f_k[t−1] + (1 − α_k) a[t]           α_k = e^(−dt/τ_f,k),  k = 1..K
    current    I[t]   = Σ_k w_k f_k[t] + b                          (bounded input: floored softly at I_min)
    noise      n[t]   = ε n[t−1] + σ √(1 − ε²) ξ[t]               ε = e^(−dt/τ_n), ξ ~ N(0, 1)
    shared     g[t]   = ε_g g[t−1] + σ_g √(1 − ε_g²) ζ[t]         ε_g = e^(−dt/τ_g), ζ ~ N(0, 1), one per thought
    adaptation u[t]   = ρ u[t−1] + s[t−1]                          ρ = e^(−dt/τ_a)   (ALIF; LIF: u ≡ 0)
    threshold  ϑ[t]   = θ + κ u[t]
    refractory open[t] = [r[t−1] = 0];  r[t] = rsteps if s[t] else max(r[t−1] − 1, 0)
    soma       v[t]   = v[t−1] + open[t] (1 − β)(I[t] + n[t] + g[t] − v[t−1]) − ϑ[t−1] s[t−1]   β = e^(−dt/τ_m)
    spike      s[t]   = open[t] · H(v[t] − ϑ[t])                   (strict: v > ϑ)

and, with intrinsic homeostasis (``homeostasis_rate_hz`` ν_low > 0), once per tick from its
spike count c: h ← clip(h + (c − ν_low·tick)/(ν_low·τ_h), ln(min_scale), 0), θ ← θ e^h for the
next tick (:mod:`neurosync.parts.equations`): a neuron quieter than ν_low lowers its threshold.

The linear parts are integrated exactly for inputs held over a step (τ dv/dt = I + n − v), so
a model evaluated at dt/2 or dt/4 (twice or four times the sub-steps) simulates the same
continuous-time neuron. The membrane is dimensionless, in the units of the pre-activation
(it relaxes to I + n + g), and so are the threshold and the noise s.d.s σ and σ_g. The private
noise n is every neuron's own; the shared background g (``shared_noise_std`` σ_g > 0) is one
slow Ornstein–Uhlenbeck current per thought that every neuron of it receives, a stand-in for
the slow fluctuations of cortical state (e.g. Harris & Thiele 2011). Both enter the soma as
one noise current n + g, and that sum is what a recording observes and Brian2 replays. The refractory period t_ref lasts
``rsteps = round(t_ref / dt) − 1`` steps after the spike's own, so no two spikes are closer
than t_ref; while refractory the membrane is held (no leak, no input).

Learned time constants stay inside [tau_min_ms, tau_max_ms] by their parametrisation,
τ = exp(log τ_lo + (log τ_hi − log τ_lo) σ(raw)) (log-uniform between the bounds), θ and κ
are positive through a softplus: no clamp ever cuts a gradient. H has a surrogate derivative
(atan or fast sigmoid, as ``snntorch.surrogate``); the surrogate gradient also flows through
the reset. The post-activation of a tick is its spike count (dt-invariant: the same number of
spikes per tick at any dt); the noise is drawn from the model's noise generator (seeded, see
:meth:`SpikingNeurons.seed_noise`) and observable per step, so Brian2 can replay it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import overload

import torch
import torch.nn.functional as F
from torch import nn

from . import equations, kernels


class SpikeFunction(torch.autograd.Function):
    """Heaviside H(x) = [x > 0] forward; surrogate derivative backward:

    atan (slope α):         dH/dx ≈ (α/2) / (1 + (π/2 · α · x)²)
    fast-sigmoid (slope k): dH/dx ≈ ``1 / (k·|x| + 1)²``
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.kind, ctx.slope = kind, slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output * surrogate_derivative(x, ctx.kind, ctx.slope), None, None


def surrogate_derivative(x: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
    """The surrogate dH/dx of :class:`SpikeFunction`."""
    if kind == "atan":
        return (slope / 2) / (1 + (math.pi / 2 * slope * x) ** 2)
    return 1.0 / (slope * x.abs() + 1.0) ** 2


def spike(x: torch.Tensor, kind: str = "atan", slope: float = 2.0) -> torch.Tensor:
    """Heaviside spike H(x) of ``x = v − θ`` (any shape) with the ``kind`` surrogate gradient of slope
    ``slope`` (:class:`SpikeFunction`)."""
    return SpikeFunction.apply(x, kind, slope)


@overload
def decay(tau_ms: torch.Tensor, dt_ms: float) -> torch.Tensor: ...
@overload
def decay(tau_ms: float, dt_ms: float) -> float: ...
def decay(tau_ms: torch.Tensor | float, dt_ms: float) -> torch.Tensor | float:
    """The exact per-step decay e^(−dt/τ) of a time constant τ (ms) at the step dt (ms)."""
    if isinstance(tau_ms, torch.Tensor):
        return torch.exp(-dt_ms / tau_ms)
    return math.exp(-dt_ms / tau_ms)


def ou_constants(std: float, tau_ms: float, dt_ms: float) -> tuple[float, float]:
    """(ε, σ √(1 − ε²)) with ε = e^(−dt/τ): the exact one-step update of an Ornstein–Uhlenbeck
    process of stationary s.d. σ and correlation time τ (ms), ``equations.NOISE``."""
    return decay(tau_ms, dt_ms), std * math.sqrt(-math.expm1(-2 * dt_ms / tau_ms))


def refractory_steps(refractory_ms: float, dt_ms: float) -> int:
    """Steps a neuron stays closed after the step of its spike: round(t_ref / dt) − 1, ≥ 0."""
    return max(int(round(refractory_ms / dt_ms)) - 1, 0)


@dataclass
class SomaParameters:
    """Per-neuron soma parameters at one step size, (neurons,) each, in their valid ranges."""

    membrane_decay: torch.Tensor  # β = e^(−dt/τ_m) in (0, 1)
    threshold: torch.Tensor  # θ > 0
    adaptation_decay: torch.Tensor | None = None  # ρ = e^(−dt/τ_a); None for LIF
    adaptation_strength: torch.Tensor | None = None  # κ > 0; None for LIF
    refractory_steps: int = 0  # rsteps: closed steps after a spike's own
    noise_decay: float = 0.0  # ε = e^(−dt/τ_n)
    noise_scale: float = 0.0  # σ √(1 − ε²); 0: no noise
    shared_decay: float = 0.0  # ε_g = e^(−dt/τ_g)
    shared_scale: float = 0.0  # σ_g √(1 − ε_g²); 0: no shared background


@dataclass
class SpikingState:
    """Per-sample state, (batch, neurons) each; filters (batch, neurons, K). ``refractory``
    counts the closed steps left, ``noise`` is the private OU current of the last step and
    ``shared`` (batch, 1) the shared background current g."""

    filters: torch.Tensor
    membrane: torch.Tensor
    spikes: torch.Tensor
    adaptation: torch.Tensor
    refractory: torch.Tensor
    noise: torch.Tensor
    homeostasis: torch.Tensor  # h, the log-scale of the resting threshold (0 without homeostasis)
    shared: torch.Tensor  # g, (batch, 1): the shared background current (0 without one)

    def noise_current(self) -> torch.Tensor:
        """n + g, the noise current that the soma of every neuron receives, (batch, neurons)."""
        return self.noise + self.shared


# The step functions evaluate the expressions of neurosync.parts.equations (shared with Brian2).
_dendrite = equations.torch_function(equations.DENDRITE, "fdecay", "f", "a")
_current = equations.torch_function(equations.CURRENT, "f", "fweight", "fbias")
_adaptive_threshold = equations.torch_function(equations.ADAPTIVE_THRESHOLD, "theta", "kappa", "u")
_adaptation = equations.torch_function(equations.ADAPTATION, "rho", "u", "s")
_open = equations.torch_function(equations.OPEN, "ref")
_countdown = equations.torch_function(equations.COUNTDOWN, "ref", "rsteps")
_noise = equations.torch_function(equations.NOISE, "ndecay", "n", "nscale", "xi")
_membrane = equations.torch_function(equations.MEMBRANE, "open", "beta", "v", "I", "n", "thr_prev", "s")
_current_floor = equations.torch_function(equations.CURRENT_FLOOR, "I", "ifloor", "iwidth")
_relative_floor = equations.torch_function(equations.RELATIVE_FLOOR, "theta", "imargin")
_current_ceiling = equations.torch_function(equations.CURRENT_CEILING, "I", "iceil", "iwidth")
_relative_ceiling = equations.torch_function(equations.RELATIVE_CEILING, "theta", "icmargin")
_homeostasis = equations.torch_function(equations.HOMEOSTASIS, "h", "hstep", "c", "ctarget", "hmin")
_resting_threshold = equations.torch_function(equations.RESTING_THRESHOLD, "theta", "h")


def dendrite_step(filters: torch.Tensor, pre: torch.Tensor, filter_decay: torch.Tensor) -> torch.Tensor:
    """f_k[t] = α_k f_k[t−1] + (1 − α_k) a[t]. filters (batch, neurons, K), pre (batch, neurons), decay (neurons, K)."""
    return _dendrite(filter_decay, filters, pre.unsqueeze(-1))


def dendritic_current(filters: torch.Tensor, filter_weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """I[t] = Σ_k w_k f_k[t] + b. filters (batch, neurons, K), weight (neurons, K), bias (neurons,)."""
    return _current(filters, filter_weight, bias)


def noise_step(noise: torch.Tensor, params: SomaParameters, xi: torch.Tensor | None) -> torch.Tensor:
    """n[t] = ε n[t−1] + σ √(1 − ε²) ξ[t] with ξ[t] ~ N(0, 1) given; unchanged when the model has no noise."""
    if params.noise_scale == 0:
        return noise
    return _noise(params.noise_decay, noise, params.noise_scale, xi)


def shared_step(shared: torch.Tensor, params: SomaParameters, zeta: torch.Tensor | None) -> torch.Tensor:
    """g[t] = ε_g g[t−1] + σ_g √(1 − ε_g²) ζ[t] (the same OU statement as the private noise);
    unchanged when the model has no shared background."""
    if params.shared_scale == 0:
        return shared
    return _noise(params.shared_decay, shared, params.shared_scale, zeta)


def ou_sequence(
    start: torch.Tensor, decay: float, scale: float, innovations: torch.Tensor | None, steps: int
) -> torch.Tensor:
    """The OU process n[m] = ε n[m−1] + c ξ[m] (``equations.NOISE``) over the ``steps`` sub-steps
    of a tick from n[0] = ``start``: ``(steps, *start.shape)``; constant when the model has none."""
    if scale == 0 or innovations is None:
        return start.expand(steps, *start.shape)
    if kernels.available(start, innovations):  # the same recursion, compiled
        return kernels.ou_sequence(decay, scale, start, innovations)
    sequence, n = [], start
    for m in range(steps):
        n = _noise(decay, n, scale, innovations[m])
        sequence.append(n)
    return torch.stack(sequence)


def noise_innovations(
    shape: tuple[int, ...], params: SomaParameters, like: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(ξ, ζ) for one tick: ξ (substeps, batch, neurons) for the private noise, then ζ
    (substeps, batch, 1) for the shared background, each drawn in one call (both paths draw the
    same blocks in the same order, so they see the same noise); None for a process the model
    does not have."""
    xi = zeta = None
    if params.noise_scale:
        xi = torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
    if params.shared_scale:
        zeta = torch.randn((*shape[:-1], 1), generator=generator, device=like.device, dtype=like.dtype)
    return xi, zeta


def soma_step(
    current: torch.Tensor,
    noise: torch.Tensor,
    state: SpikingState,
    params: SomaParameters,
    surrogate: str = "atan",
    slope: float = 2.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One soma update (module docstring) with this step's noise current n + g; returns (spikes,
    membrane, adaptation, refractory steps left)."""
    if params.adaptation_decay is None:  # LIF
        previous_threshold = threshold = params.threshold
        adaptation = state.adaptation
    else:  # ALIF: ϑ[t−1] from u[t−1], then u[t] and ϑ[t]
        previous_threshold = _adaptive_threshold(params.threshold, params.adaptation_strength, state.adaptation)
        adaptation = _adaptation(params.adaptation_decay, state.adaptation, state.spikes)
        threshold = _adaptive_threshold(params.threshold, params.adaptation_strength, adaptation)
    if params.refractory_steps == 0:
        is_open, refractory = 1.0, state.refractory
    else:
        is_open = _open(state.refractory).to(current.dtype)
        refractory = _countdown(state.refractory, params.refractory_steps)
    membrane = _membrane(
        is_open, params.membrane_decay, state.membrane, current, noise, previous_threshold, state.spikes
    )
    spikes = spike(membrane - threshold, surrogate, slope) * is_open
    if params.refractory_steps:
        refractory = torch.where(spikes > 0, float(params.refractory_steps), refractory)
    return spikes, membrane, adaptation, refractory


def softplus_inverse(y: float) -> float:
    """x with softplus(x) = y (y > 0): the raw parameter that starts a positive quantity at y."""
    return y + math.log(-math.expm1(-y))


class BoundedTimeConstant(nn.Module):
    """Learned time constants (ms) inside [low, high] by parametrisation, log-uniformly:
    τ = exp(log low + (log high − log low) · σ(raw)). ``initial`` (any shape) must lie strictly
    inside the bounds."""

    def __init__(self, initial: torch.Tensor, low: float, high: float):
        super().__init__()
        self.log_low, self.log_span = math.log(low), math.log(high) - math.log(low)
        self.raw = nn.Parameter(torch.logit((torch.log(initial) - self.log_low) / self.log_span))

    def forward(self) -> torch.Tensor:
        return torch.exp(self.log_low + self.log_span * torch.sigmoid(self.raw))


class SpikingNeurons(nn.Module):
    """Module shell around the step functions; same interface as the rate NLMs::

        post, state = neurons.start(batch)
        post, state = neurons(pre_activation, state)     # post (batch, neurons): spikes in the tick

    Filter time constants start log-spaced between `filter_tau_min_ms` and `filter_tau_max_ms`,
    filter weights at `dendritic_gain`/K (a pre-activation a held long moves the current by
    dendritic_gain · a); every neuron then learns its own time constants (inside
    [tau_min_ms, tau_max_ms]), weights, threshold and bias. The bias starts at 0, or, for a
    neuron whose current is floored relative to its threshold, halfway between the floor
    θ − input_floor_margin and θ: with no input the neuron then sits below threshold, where its
    noise, not its mean drive, makes it fire (the fluctuation-driven regime). ``dt_ms`` and ``substeps`` may be
    changed after training (:meth:`set_step`) to simulate the same model at a finer step.
    """

    def __init__(
        self,
        neurons: int,
        filters: int = 3,
        dt_ms: float = 1.0,
        substeps: int = 1,
        tau_min_ms: float = 1.0,
        tau_max_ms: float = 1000.0,
        filter_tau_min_ms: float = 1.5,
        filter_tau_max_ms: float = 4.0,
        tau_membrane_ms: float = 1.5,
        threshold: float = 0.25,
        adaptive: bool = False,
        tau_adaptation_ms: float = 20.0,
        adaptation_strength: float = 0.2,
        refractory_ms: float = 0.0,
        noise_std: float = 0.0,
        noise_tau_ms: float = 5.0,
        shared_noise_std: float = 0.0,
        shared_noise_tau_ms: float = 200.0,
        surrogate: str = "atan",
        surrogate_slope: float = 2.0,
        homeostasis_rate_hz: float = 0.0,
        homeostasis_tau_ms: float = 1000.0,
        homeostasis_min_scale: float = 0.1,
        bounded_input: bool = False,
        input_floor: float = 0.05,
        input_floor_width: float = 0.02,
        input_floor_margin: float = 0.0,
        input_ceiling_margin: float = 0.0,
        dendritic_gain: float = 1.0,
    ):
        super().__init__()
        if filters > 1:
            taus = torch.logspace(
                math.log10(filter_tau_min_ms), math.log10(filter_tau_max_ms), filters, dtype=torch.float64
            )
        else:
            taus = torch.tensor([filter_tau_min_ms], dtype=torch.float64)
        self.filter_tau = BoundedTimeConstant(taus.repeat(neurons, 1).float(), tau_min_ms, tau_max_ms)
        self.filter_weight = nn.Parameter(torch.full((neurons, filters), dendritic_gain / filters))
        resting = threshold - input_floor_margin / 2 if bounded_input and input_floor_margin > 0 else 0.0
        self.dendrite_bias = nn.Parameter(torch.full((neurons,), resting))
        self.membrane_tau = BoundedTimeConstant(torch.full((neurons,), tau_membrane_ms), tau_min_ms, tau_max_ms)
        self.threshold_raw = nn.Parameter(torch.full((neurons,), softplus_inverse(threshold)))
        self.adaptive = adaptive
        if adaptive:
            self.adaptation_tau = BoundedTimeConstant(torch.full((neurons,), tau_adaptation_ms), tau_min_ms, tau_max_ms)
            self.adaptation_strength_raw = nn.Parameter(torch.full((neurons,), softplus_inverse(adaptation_strength)))
        self.neurons, self.n_filters = neurons, filters
        self.surrogate, self.surrogate_slope = surrogate, surrogate_slope
        self.refractory_ms, self.noise_std, self.noise_tau_ms = refractory_ms, noise_std, noise_tau_ms
        self.shared_noise_std, self.shared_noise_tau_ms = shared_noise_std, shared_noise_tau_ms
        self.dt_ms, self.substeps = dt_ms, substeps
        self.homeostasis_rate_hz, self.homeostasis_tau_ms = homeostasis_rate_hz, homeostasis_tau_ms
        self.homeostasis_min_scale = homeostasis_min_scale
        self.bounded_input, self.input_floor, self.input_floor_width = bounded_input, input_floor, input_floor_width
        self.input_floor_margin, self.input_ceiling_margin = input_floor_margin, input_ceiling_margin
        self.noise_generator: torch.Generator | None = None  # None: torch's global generator
        self.substep_observers: list = []  # callables(state) run after every simulation step (recordings)

    @property
    def noisy(self) -> bool:
        """Whether the neurons receive any noise current (private or shared): repeats differ."""
        return self.noise_std > 0 or self.shared_noise_std > 0

    @property
    def tick_ms(self) -> float:
        """The duration of one CTM tick in ms: substeps · dt."""
        return self.substeps * self.dt_ms

    def ticks_in(self, seconds: float) -> int:
        """The number of ticks (at least one) that lasts ``seconds``, rounded."""
        return max(int(round(seconds * 1e3 / self.tick_ms)), 1)

    def set_step(self, dt_ms: float) -> None:
        """Simulate the same model at another step: ``dt_ms`` must divide the tick's duration."""
        substeps = self.tick_ms / dt_ms
        if not dt_ms > 0 or abs(substeps - round(substeps)) > 1e-9:
            raise ValueError(f"dt_ms must divide the tick's {self.tick_ms:g} ms, got {dt_ms}")
        if self.refractory_ms and abs(self.refractory_ms / dt_ms - round(self.refractory_ms / dt_ms)) > 1e-9:
            raise ValueError(f"dt_ms must divide the refractory period of {self.refractory_ms:g} ms, got {dt_ms}")
        self.dt_ms, self.substeps = dt_ms, int(round(substeps))

    @contextmanager
    def at_step(self, dt_ms: float):
        """Within the block, simulate at ``dt_ms`` (as :meth:`set_step`); the model's own step
        is restored afterwards."""
        native = self.dt_ms
        self.set_step(dt_ms)
        try:
            yield self
        finally:
            self.set_step(native)

    def seed_noise(self, seed: int | None) -> None:
        """Draw the intrinsic noise from a generator seeded with ``seed`` (None: torch's global one)."""
        if seed is None:
            self.noise_generator = None
        else:
            self.noise_generator = torch.Generator(device=self.filter_weight.device).manual_seed(seed)

    def filter_decay(self) -> torch.Tensor:
        """α = e^(−dt/τ_f), (neurons, K)."""
        return decay(self.filter_tau(), self.dt_ms)

    def soma_parameters(self) -> SomaParameters:
        params = SomaParameters(
            decay(self.membrane_tau(), self.dt_ms),
            F.softplus(self.threshold_raw),
            refractory_steps=refractory_steps(self.refractory_ms, self.dt_ms),
        )
        if self.adaptive:
            params.adaptation_decay = decay(self.adaptation_tau(), self.dt_ms)
            params.adaptation_strength = F.softplus(self.adaptation_strength_raw)
        if self.noise_std > 0:
            params.noise_decay, params.noise_scale = ou_constants(self.noise_std, self.noise_tau_ms, self.dt_ms)
        if self.shared_noise_std > 0:
            params.shared_decay, params.shared_scale = ou_constants(
                self.shared_noise_std, self.shared_noise_tau_ms, self.dt_ms
            )
        return params

    def homeostasis_constants(self) -> dict[str, float] | None:
        """(hstep, ctarget, hmin) of the per-tick homeostasis (``equations.HOMEOSTASIS``): the
        target spikes per tick ν_low·tick, the step 1 / (ν_low·τ_h) per spike and the floor
        ln(min_scale); None without homeostasis. None depends on dt: the process is per tick."""
        if self.homeostasis_rate_hz <= 0:
            return None
        return {
            "hstep": 1000.0 / (self.homeostasis_rate_hz * self.homeostasis_tau_ms),
            "ctarget": self.homeostasis_rate_hz * self.tick_ms / 1000.0,
            "hmin": math.log(self.homeostasis_min_scale),
        }

    def _bounded(self, current: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        """The dendritic current of a bounded input, floored softly (``equations.CURRENT_FLOOR``):
        at ``input_floor``, or at θ − ``input_floor_margin`` of each neuron's resting ``threshold``
        of this tick (``equations.RELATIVE_FLOOR``; (neurons,) or (batch, neurons)), then capped
        softly at θ + ``input_ceiling_margin`` when that is not 0 (``equations.CURRENT_CEILING``; a
        negative margin puts the ceiling below the threshold: the fluctuation-driven band)."""
        if not self.bounded_input:
            return current
        floor = _relative_floor(threshold, self.input_floor_margin) if self.input_floor_margin > 0 else self.input_floor
        current = _current_floor(current, floor, self.input_floor_width)
        if self.input_ceiling_margin != 0:
            current = _current_ceiling(
                current, _relative_ceiling(threshold, self.input_ceiling_margin), self.input_floor_width
            )
        return current

    def _with_homeostasis(self, params: SomaParameters, state: SpikingState) -> SomaParameters:
        """The soma parameters of this tick: θ e^h per sample under homeostasis (batch, neurons)."""
        if self.homeostasis_rate_hz <= 0:
            return params
        return replace(params, threshold=_resting_threshold(params.threshold, state.homeostasis))

    @torch.no_grad()
    def _homeostasis_step(self, homeostasis: torch.Tensor, spike_count: torch.Tensor) -> torch.Tensor:
        """h after a tick with ``spike_count`` spikes per neuron (no gradient: a slow process)."""
        constants = self.homeostasis_constants()
        if constants is None:
            return homeostasis
        return _homeostasis(homeostasis, constants["hstep"], spike_count, constants["ctarget"], constants["hmin"])

    def rate_hz(self, activity: torch.Tensor) -> torch.Tensor:
        """Firing rates (Hz) from spikes per tick (any shape)."""
        return activity * (1000.0 / self.tick_ms)

    def start(self, batch: int) -> tuple[torch.Tensor, SpikingState]:
        zeros = self.filter_weight.new_zeros(batch, self.neurons)
        filters = self.filter_weight.new_zeros(batch, self.neurons, self.n_filters)
        noise, shared = zeros, zeros[:, :1]
        if self.noise_std > 0:  # each OU process starts in its stationary distribution
            noise = self.noise_std * torch.randn(
                zeros.shape, generator=self.noise_generator, device=zeros.device, dtype=zeros.dtype
            )
        if self.shared_noise_std > 0:
            shared = self.shared_noise_std * torch.randn(
                shared.shape, generator=self.noise_generator, device=zeros.device, dtype=zeros.dtype
            )
        return zeros, SpikingState(filters, zeros, zeros, zeros, zeros, noise, zeros, shared)

    def forward(self, pre_activation: torch.Tensor, state: SpikingState) -> tuple[torch.Tensor, SpikingState]:
        """One tick: ``substeps`` simulation steps with the pre-activation held. Several sub-steps
        without observers run fused (:mod:`neurosync.parts.substeps`): in compiled C where the
        kernels serve these tensors (:mod:`neurosync.parts.kernels`), else with one autograd node
        for the soma. A single step, and a recording's observers, take the stepwise reference
        path, whose operation order Brian2's exact mode repeats (for one step the kernel's
        fixed cost exceeds the few operations it would save: ``benchmarks/results/cpu_tick.md``)."""
        if self.substeps > 1 and not self.substep_observers:
            return self.forward_fused(pre_activation, state)
        return self.forward_stepwise(pre_activation, state)

    def _compiled(self, pre_activation: torch.Tensor, state: SpikingState) -> bool:
        """Whether this tick runs in the compiled kernels."""
        if torch.compiler.is_compiling() or not kernels.available(pre_activation, state.filters, self.filter_weight):
            return False
        return self.n_filters <= kernels.max_filters()

    def forward_fused(self, pre_activation: torch.Tensor, state: SpikingState) -> tuple[torch.Tensor, SpikingState]:
        """The tick with the filters in closed form over the sub-steps and the fused soma: in
        compiled C where :mod:`neurosync.parts.kernels` serves these tensors, else in PyTorch."""
        from .substeps import CompiledTick, SomaSequence

        filter_decay, params = self.filter_decay(), self._with_homeostasis(self.soma_parameters(), state)
        steps = self.substeps
        powers = filter_decay.unsqueeze(0) ** torch.arange(1, steps + 1, device=filter_decay.device).view(
            -1, 1, 1
        )  # (M, N, K)
        xi, zeta = noise_innovations((steps, *state.noise.shape), params, state.noise, self.noise_generator)
        with torch.no_grad():
            noises = ou_sequence(state.noise, params.noise_decay, params.noise_scale, xi, steps)
            shareds = ou_sequence(state.shared, params.shared_decay, params.shared_scale, zeta, steps)
        noise, shared = noises[-1], shareds[-1]
        noisy = xi is not None or zeta is not None
        if self._compiled(pre_activation, state):
            count, last_filters, membrane, spikes, adaptation, refractory = CompiledTick.apply(
                pre_activation,
                state.filters,
                powers,
                self.filter_weight,
                self.dendrite_bias,
                params.threshold,
                noises + shareds if noisy else None,
                state.membrane,
                state.spikes,
                state.adaptation,
                state.refractory,
                params.membrane_decay,
                params.adaptation_strength,
                params.adaptation_decay,
                self._tick_shape(params, pre_activation.shape[0]),
            )
            if not self.adaptive:
                adaptation = state.adaptation
        else:
            held = pre_activation.unsqueeze(-1)  # (B, N, 1)
            # f_k[m] = a + (f_k[0] − a) α_k^m, so I[m] = a Σ_k w_k + b + Σ_k w_k (f_k[0] − a) α_k^m: one contraction over k
            gap = state.filters - held  # f_k[0] − a, (B, N, K)
            departure = self.filter_weight * gap
            current = (pre_activation * self.filter_weight.sum(-1) + self.dendrite_bias).unsqueeze(0)  # (1, B, N)
            for k in range(self.n_filters):  # K broadcast products: a CPU bmm over neurons would loop over them
                current = current + departure[:, :, k].unsqueeze(0) * powers[:, :, k].unsqueeze(1)  # (M, B, N)
            current = self._bounded(current, params.threshold)
            last_filters = held + gap * powers[-1]
            spike_train, membranes, adaptations, refractory = SomaSequence.apply(
                current + (noises + shareds),
                state.membrane,
                state.spikes,
                state.adaptation,
                state.refractory,
                params.membrane_decay,
                params.threshold,
                params.adaptation_strength,
                params.adaptation_decay,
                params.refractory_steps,
                self.surrogate,
                self.surrogate_slope,
            )
            adaptation = adaptations[-1] if self.adaptive else state.adaptation
            count, membrane, spikes = spike_train.sum(0), membranes[-1], spike_train[-1]
        return count, SpikingState(
            last_filters,
            membrane,
            spikes,
            adaptation,
            refractory,
            noise,
            self._homeostasis_step(state.homeostasis, count),
            shared,
        )

    def _tick_shape(self, params: SomaParameters, batch: int) -> kernels.TickShape:
        """The constants of one tick for :class:`~neurosync.parts.substeps.CompiledTick`."""
        return kernels.TickShape(
            steps=self.substeps,
            rows=batch,
            neurons=self.neurons,
            filters=self.n_filters,
            threshold_per_sample=int(params.threshold.dim() == 2),
            bounded=int(self.bounded_input),
            relative_floor=int(self.input_floor_margin > 0),
            floor_value=self.input_floor,
            floor_margin=self.input_floor_margin,
            ceiling_margin=self.input_ceiling_margin,
            width=self.input_floor_width,
            refractory_steps=params.refractory_steps,
            surrogate=0 if self.surrogate == "atan" else 1,
            slope=self.surrogate_slope,
        )

    def forward_stepwise(self, pre_activation: torch.Tensor, state: SpikingState) -> tuple[torch.Tensor, SpikingState]:
        """The tick one simulation step at a time: the reference statement of the dynamics."""
        filter_decay, params = self.filter_decay(), self._with_homeostasis(self.soma_parameters(), state)
        homeostasis = state.homeostasis
        xi, zeta = noise_innovations((self.substeps, *state.noise.shape), params, state.noise, self.noise_generator)
        spike_count: torch.Tensor | float = 0.0  # (batch, neurons) spikes in this tick, after the first step
        for m in range(self.substeps):
            filters = dendrite_step(state.filters, pre_activation, filter_decay)
            current = self._bounded(
                dendritic_current(filters, self.filter_weight, self.dendrite_bias), params.threshold
            )
            noise = noise_step(state.noise, params, None if xi is None else xi[m])
            shared = shared_step(state.shared, params, None if zeta is None else zeta[m])
            spikes, membrane, adaptation, refractory = soma_step(
                current, noise + shared, state, params, self.surrogate, self.surrogate_slope
            )
            state = SpikingState(filters, membrane, spikes, adaptation, refractory, noise, homeostasis, shared)
            for observe in self.substep_observers:
                observe(state)
            spike_count = spike_count + spikes
        assert isinstance(spike_count, torch.Tensor)  # substeps >= 1
        return spike_count, replace(state, homeostasis=self._homeostasis_step(homeostasis, spike_count))
