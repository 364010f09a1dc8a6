"""The Brian2 statements and equations of a spiking core, generated from the expressions of
:mod:`neurosync.parts.equations` that the PyTorch step evaluates too: the discrete step
(:func:`neuron_update_code`), the state variables, the plasticity rules, the recurrent weight
and the ODE form of the continuous mode (:func:`continuous_equations`)."""

from __future__ import annotations

from ..parts import equations as eq
from .core import SpikingCore


def neuron_update_code(core: SpikingCore, drive: str = "drive(t, i)") -> str:
    """The Brian2 statements of one simulation step of the neuron (run in the 'groups' slot),
    generated from neurosync.parts.equations in the order of the PyTorch step."""
    k = core.filter_decay.shape[1]
    lines = [f"a = {drive} + Isyn"]
    lines += [f"f{j} = {eq.brian_expression(eq.DENDRITE, k=j)}" for j in range(k)]
    lines.append(f"I = {eq.brian_expression(eq.CURRENT, filters=k)}")
    resting = resting_threshold(core)
    if core.input_floor:
        lines.append(f"I = {bounded_current(core, 'I')}")
    if core.adaptive:
        threshold = eq.brian_expression(eq.ADAPTIVE_THRESHOLD, rename={"theta": resting})
        lines += [f"thr_prev = {threshold}", f"u = {eq.ADAPTATION}", f"thr = {threshold}"]
    else:
        lines += [f"thr_prev = {resting}", f"thr = {resting}"]
    if core.refractory_steps:
        lines += [f"open = {eq.OPEN}", f"ref = {eq.COUNTDOWN}"]
    lines.append("n = noise(t, i)" if core.noisy else "n = 0")
    lines += [f"v = {eq.MEMBRANE}", "s = 0"]
    return "\n".join(lines)


def resting_threshold(core: SpikingCore) -> str:
    """The Brian2 name of the resting threshold: thb (θ e^h, set once a tick by
    network.homeostasis) under homeostasis, else the constant theta."""
    return "thb" if core.homeostasis else "theta"


def bounded_current(core: SpikingCore, current: str) -> str:
    """The bounded input around ``current``: its floor (CURRENT_FLOOR) at the constant ifloor, or
    at RELATIVE_FLOOR, θ − imargin of the resting threshold (thb under homeostasis); then its
    ceiling (CURRENT_CEILING at RELATIVE_CEILING, θ + icmargin) when the core has one."""
    rename = {"I": current}
    theta = {"theta": resting_threshold(core)}
    if "imargin" in core.input_floor:
        rename["ifloor"] = f"({eq.brian_expression(eq.RELATIVE_FLOOR, rename=theta)})"
    floored = eq.brian_expression(eq.CURRENT_FLOOR, rename=rename)
    if "icmargin" not in core.input_floor:
        return floored
    ceiling = f"({eq.brian_expression(eq.RELATIVE_CEILING, rename=theta)})"
    return eq.brian_expression(eq.CURRENT_CEILING, rename={"I": f"({floored})", "iceil": ceiling})


def neuron_equations(core: SpikingCore) -> str:
    """The core's state variables and per-neuron constants as Brian2 model equations (all
    dimensionless)."""
    k = core.filter_decay.shape[1]
    names = ["v", "s", "c", "Isyn", "Irec", "Iaff", "x", "x_prev", "ext", "m", "n", "open", "ref"] + [
        f"f{j}" for j in range(k)
    ]
    constants = ["beta", "theta", "fbias"] + [f"fdecay{j}" for j in range(k)] + [f"fweight{j}" for j in range(k)]
    if core.adaptive:
        names += ["u", "thr"]
        constants += ["rho", "kappa"]
    else:
        names.append("thr")
    if core.homeostasis:
        names += HOMEOSTASIS_VARIABLES
    return "\n".join([f"{n} : 1" for n in names] + [f"{c} : 1 (constant)" for c in constants])


HOMEOSTASIS_VARIABLES = ["h", "thb", "ch"]  # log-scale of θ, the resting threshold θ e^h, the tick's spike count


def homeostasis_code() -> str:
    """The once-a-tick homeostasis of the resting threshold (neurosync.parts.equations), from
    ch, the spike count of the tick before."""
    return f"h = {eq.brian_expression(eq.HOMEOSTASIS, rename={'c': 'ch'})}\nthb = {eq.RESTING_THRESHOLD}\nch = 0"


def plasticity_code(rule: str = "miconi", modulator: str = "certainty") -> tuple[str, str]:
    """(neuron trace update, synaptic H update) for a rule of neurosync.parts.plastic, run at
    the start of every tick with c, the spike count of the tick before: the post-activation
    that tick's synapse call sees. post = x_post, pre = x_prev_pre (the causal pair of traces)."""
    traces = f"x_prev = x\nx = {eq.brian_expression(eq.TRACE, rename={'s': 'c'})}"
    names = {"post": "x_post", "pre": "x_prev_pre", "eta": "eta_syn"}
    if rule == "abcd":
        return traces, f"H = {eq.brian_expression(eq.ABCD, rename=names)}"
    if rule == "neuromodulated":
        # η[t] from the certainty this tick's synapse call receives (replayed), or from the state:
        # m = w · x + c, a population readout of the updated traces (a summed variable)
        signal = "modulation(t)" if modulator == "certainty" else "(m_post + cmod)"
        rate = eq.brian_expression(eq.MODULATED_RATE, rename={"m": signal})
        return traces, f"eta_t = {rate}\nH = {eq.brian_expression(eq.MICONI, rename={**names, 'eta': 'eta_t'})}"
    return traces, f"H = {eq.brian_expression(eq.MICONI, rename=names)}"


def synaptic_weight(core: SpikingCore) -> str:
    """The Brian2 expression of one recurrent synapse's weight W_rec + α H (under Dale's law
    ``σ_pre · relu(|W| + α⁺ H)``, as neurosync.parts.plastic)."""
    if core.presynaptic_sign is None:
        return "w + alpha*H"
    return "sgn*clip(w + alpha*H, 0, inf)"


def continuous_equations(core: SpikingCore) -> str:
    """The ODE form of the core: each discrete decay d at the step Δ = core.dt_ms is the time
    constant τ = −Δ / ln d of τ df/dt = a − f and τ_m dv/dt = I + n − v (the discrete update is
    their exact solution for inputs held over a step). The noise current n is the recorded
    realisation, held over each discrete step. Spikes are threshold crossings at the fine step;
    the reset subtracts the threshold at once; the refractory period holds the membrane (as the
    discrete neuron does); without one, a neuron still fires at most once per step Δ, as the
    discrete neuron does, and keeps integrating meanwhile. Adaptation jumps by 1 per spike. A
    plastic synapse acts once a tick, as in the CTM (:func:`tick_synapse`): its input Isyn is
    part of the held drive."""
    k = core.filter_decay.shape[1]
    lines = [f"df{j}/dt = (a - f{j})/tauf{j} : 1" for j in range(k)]
    current = " + ".join(f"f{j}*fweight{j}" for j in range(k)) + " + fbias"
    if core.input_floor:  # the floor of the bounded input, around the dendritic current
        current = bounded_current(core, f"({current})")
    lines.append(f"I = {current} : 1")
    lines.append("a = drive(t, i) + Isyn : 1" if core.plastic else "a = drive(t, i) : 1")
    lines.append("n = noise(t, i) : 1" if core.noisy else "n = 0 : 1")
    lines.append("dv/dt = (I + n - v)/taum : 1" + (" (unless refractory)" if core.refractory_steps else ""))
    resting = resting_threshold(core)
    if core.adaptive:
        lines += ["du/dt = -u/taua : 1", f"thr = {resting} + kappa*u : 1"]
    else:
        lines.append(f"thr = {resting} : 1")
    if core.homeostasis:
        lines += [f"{name} : 1" for name in HOMEOSTASIS_VARIABLES]
    if core.plastic:
        lines += [f"{name} : 1" for name in ("Isyn", "Irec", "c", "x", "x_prev")]
    constants = ["beta", "theta", "fbias", "taum"] + [
        f"{n}{j}" for j in range(k) for n in ("fdecay", "fweight", "tauf")
    ]
    if core.adaptive:
        constants += ["kappa", "taua"]
    return "\n".join(lines + [f"{c} : {'second' if c.startswith('tau') else '1'} (constant)" for c in constants])
