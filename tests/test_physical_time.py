"""Physical time in the spiking neurons: exact integration against the ODE, convergence under dt
refinement, the refractory period, the Ornstein–Uhlenbeck noise against theory, dt-invariance
of a whole neuron population, and the noise's seeded reproducibility."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosync.parts.spiking import SpikingNeurons


def _single_neuron(dt_ms, tau_f=5.0, tau_m=20.0, threshold=100.0, **options):
    """One neuron, one dendritic filter of weight 1: τ_f df/dt = a − f, τ_m dv/dt = f − v."""
    neurons = SpikingNeurons(
        1,
        filters=1,
        dt_ms=dt_ms,
        tau_min_ms=min(dt_ms, 1.0),
        filter_tau_min_ms=tau_f,
        filter_tau_max_ms=tau_f,
        tau_membrane_ms=tau_m,
        threshold=threshold,
        **options,
    ).double()
    with torch.no_grad():
        neurons.filter_weight.fill_(1.0)
    return neurons


def _membrane_trace(neurons, drive, duration_ms):
    """v at the end of every step over `duration_ms` under a constant drive (one tick per step)."""
    _, state = neurons.start(1)
    trace = []
    for _ in range(int(round(duration_ms / neurons.dt_ms))):
        _, state = neurons(torch.full((1, 1), drive, dtype=torch.float64), state)
        trace.append(state.membrane.item())
    return np.array(trace)


@pytest.mark.parametrize("dt", [1.0, 0.25])
def test_a_linear_compartment_is_integrated_exactly_at_any_step(dt):
    """Under a constant drive the filter is f(t) = a (1 − e^(−t/τ_f)) at every step, whatever dt."""
    neurons = _single_neuron(dt, tau_f=5.0)
    tau = neurons.filter_tau().item()  # 5 ms to float32 precision
    _, state = neurons.start(1)
    filters = []
    for _ in range(30):
        _, state = neurons(torch.full((1, 1), 2.0, dtype=torch.float64), state)
        filters.append(state.filters.item())
    t = np.arange(1, 31) * dt
    np.testing.assert_allclose(filters, 2.0 * (1 - np.exp(-t / tau)), rtol=0, atol=1e-12)


def test_the_dendrite_soma_cascade_converges_to_the_ode_solution_under_dt_refinement():
    # τ_f df/dt = a − f, τ_m dv/dt = f − v from rest under a constant a:
    # v(t) = a [1 − (τ_m e^(−t/τ_m) − τ_f e^(−t/τ_f)) / (τ_m − τ_f)]
    a, tau_f, tau_m, duration = 1.5, 5.0, 20.0, 40.0
    errors = []
    for dt in (1.0, 0.5, 0.25, 0.125):
        trace = _membrane_trace(_single_neuron(dt, tau_f, tau_m), a, duration)
        t = np.arange(1, trace.size + 1) * dt
        exact = a * (1 - (tau_m * np.exp(-t / tau_m) - tau_f * np.exp(-t / tau_f)) / (tau_m - tau_f))
        errors.append(np.abs(trace - exact).max())
    assert errors[-1] < 5e-3
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 1.8) & (ratios < 2.2)), errors  # first order: halving dt halves the error


def test_the_first_spike_time_converges_to_the_analytical_crossing():
    # a fast filter (τ_f = 0.1 ms ≪ τ_m) makes the soma see ≈ a at once: v(t) = a (1 − e^(−t/τ_m)),
    # crossing θ at t* = −τ_m ln(1 − θ/a)
    a, theta, tau_m = 2.0, 1.0, 20.0
    crossing = -tau_m * math.log(1 - theta / a)
    for dt in (0.5, 0.1, 0.02):
        neurons = SpikingNeurons(
            1,
            filters=1,
            dt_ms=dt,
            tau_min_ms=0.01,
            filter_tau_min_ms=0.1,
            filter_tau_max_ms=0.1,
            tau_membrane_ms=tau_m,
            threshold=theta,
        ).double()
        with torch.no_grad():
            neurons.filter_weight.fill_(1.0)
        _, state = neurons.start(1)
        for step in range(1, int(40 / dt)):  # noqa: B007 (the crossing step is read after the loop)
            _, state = neurons(torch.full((1, 1), a, dtype=torch.float64), state)
            if state.spikes.item():
                break
        assert abs(step * dt - crossing) <= dt + 0.1 * 1.0, (
            dt,
            step * dt,
            crossing,
        )  # within a step and the filter's lag


@settings(max_examples=15, deadline=None)
@given(
    refractory_steps=st.integers(2, 8),
    dt=st.sampled_from([0.25, 0.5, 1.0]),
    seed=st.integers(0, 10_000),
    drive=st.floats(0.5, 20.0),
)
def test_the_refractory_period_is_never_violated(refractory_steps, dt, seed, drive):
    torch.manual_seed(seed)
    refractory_ms = refractory_steps * dt
    neurons = SpikingNeurons(
        32,
        filters=2,
        dt_ms=dt,
        tau_min_ms=dt,
        filter_tau_min_ms=1.5 * dt + 0.5,
        filter_tau_max_ms=4.0,
        tau_membrane_ms=5.0,
        threshold=0.5,
        refractory_ms=refractory_ms,
        noise_std=1.0,
        noise_tau_ms=2.0,
        substeps=3,
    )
    spikes = []
    neurons.substep_observers.append(lambda state: spikes.append(state.spikes.clone()))
    _, state = neurons.start(4)
    for _ in range(40):
        _, state = neurons(torch.rand(4, 32) * drive, state)
    raster = torch.stack(spikes).detach().flatten(1).numpy()  # (steps, batch·neurons)
    assert raster.sum() > 0
    for column in raster.T:
        times = np.flatnonzero(column)
        if times.size > 1:
            assert np.diff(times).min() >= refractory_steps  # ISI ≥ t_ref
    # and the bound is reached: a strongly driven neuron fires exactly every t_ref
    if drive > 15:
        assert any(np.diff(np.flatnonzero(c)).min() == refractory_steps for c in raster.T if np.flatnonzero(c).size > 1)


def test_ornstein_uhlenbeck_noise_matches_its_theory():
    sigma, tau, dt = 0.4, 8.0, 0.5
    neurons = SpikingNeurons(1, dt_ms=dt, tau_min_ms=0.5, noise_std=sigma, noise_tau_ms=tau).double()
    neurons.seed_noise(1)
    params = neurons.soma_parameters()
    from neurosync.parts.spiking import noise_innovations, noise_step

    _, state = neurons.start(4000)
    noise = state.noise
    xi, zeta = noise_innovations((400, 4000, 1), params, noise, neurons.noise_generator)
    assert zeta is None  # no shared background
    samples = []
    for m in range(400):
        noise = noise_step(noise, params, xi[m])
        samples.append(noise)
    x = torch.stack(samples).numpy()  # (steps, realisations), started in the stationary distribution
    assert abs(x.mean()) < 0.01
    assert x.std() == pytest.approx(sigma, rel=0.02)
    for lag_ms in (2.0, 8.0, 16.0):
        lag = int(lag_ms / dt)
        autocorrelation = (x[:-lag] * x[lag:]).mean() / x.var()
        assert autocorrelation == pytest.approx(math.exp(-lag_ms / tau), abs=0.02)


def test_the_shared_background_is_one_ou_current_per_thought_beside_the_private_noise():
    """Through the model's own steps: every neuron of a thought receives the same g, so two neurons'
    noise currents covary by σ_g² while each varies by σ² + σ_g²; g has the OU autocorrelation
    e^(−lag/τ_g) and differs between thoughts."""
    sigma, sigma_g, tau_g, dt = 0.3, 0.2, 10.0, 0.5
    neurons = SpikingNeurons(
        3,
        dt_ms=dt,
        substeps=4,
        tau_min_ms=0.5,
        noise_std=sigma,
        noise_tau_ms=2.0,
        shared_noise_std=sigma_g,
        shared_noise_tau_ms=tau_g,
    ).double()
    neurons.seed_noise(3)
    currents, shared = [], []
    neurons.substep_observers.append(
        lambda state: (currents.append(state.noise_current()), shared.append(state.shared))
    )
    _, state = neurons.start(3000)
    for _ in range(100):
        _, state = neurons(torch.zeros(3000, 3, dtype=torch.float64), state)
    n = torch.stack(currents).numpy()  # (steps, thoughts, neurons)
    g = torch.stack(shared).numpy()[..., 0]  # (steps, thoughts)
    assert n.shape == (400, 3000, 3) and g.shape == (400, 3000)
    assert abs(n.mean()) < 0.01 and abs(g.mean()) < 0.01
    assert n.var() == pytest.approx(sigma**2 + sigma_g**2, rel=0.03)
    assert (n[..., 0] * n[..., 1]).mean() == pytest.approx(sigma_g**2, rel=0.06)  # the shared part only
    assert g.std() == pytest.approx(sigma_g, rel=0.03)
    for lag_ms in (2.0, 10.0, 20.0):
        lag = int(lag_ms / dt)
        assert (g[:-lag] * g[lag:]).mean() / g.var() == pytest.approx(math.exp(-lag_ms / tau_g), abs=0.03)
    assert g[-1].std() == pytest.approx(sigma_g, rel=0.1)  # across thoughts at one moment: each draws its own


def test_the_noise_is_seeded_and_reproducible():
    def counts(seed):
        neurons = SpikingNeurons(20, noise_std=0.5, threshold=0.3)
        neurons.seed_noise(seed)
        _, state = neurons.start(3)
        total = 0
        for _ in range(50):
            post, state = neurons(torch.zeros(3, 20), state)
            total = total + post
        return total

    assert torch.equal(counts(7), counts(7))
    assert not torch.equal(counts(7), counts(8))
    assert counts(7).sum() > 0  # the noise alone makes the neurons fire


def test_a_population_keeps_its_rates_at_half_and_a_quarter_of_the_step():
    """The same parameters simulate the same continuous-time model: ticks of 2 ms, evaluated at
    dt = 1, 0.5 and 0.25 ms, give the same spikes per tick to within a few percent."""
    torch.manual_seed(0)
    neurons = SpikingNeurons(
        200,
        filters=3,
        dt_ms=1.0,
        substeps=2,
        filter_tau_min_ms=2.0,
        filter_tau_max_ms=16.0,
        tau_membrane_ms=15.0,
        threshold=1.0,
        refractory_ms=2.0,
        adaptive=True,
        tau_adaptation_ms=100.0,
        adaptation_strength=0.05,
    ).double()
    drive = torch.rand(150, 4, 200, dtype=torch.float64) * 3.0  # per tick
    rates = {}
    for dt in (1.0, 0.5, 0.25):
        neurons.set_step(dt)
        _, state = neurons.start(4)
        total = 0
        for tick in drive:
            post, state = neurons(tick, state)
            total = total + post
        rates[dt] = total.mean().item() / (150 * 2e-3)  # Hz
    assert rates[1.0] > 20
    assert abs(rates[0.5] - rates[1.0]) / rates[1.0] < 0.15 and abs(rates[0.25] - rates[0.5]) / rates[0.5] < 0.08, rates


def test_set_step_refuses_a_step_that_does_not_divide_the_tick():
    neurons = SpikingNeurons(2, dt_ms=1.0, substeps=2)
    with pytest.raises(ValueError, match="must divide the tick's 2 ms"):
        neurons.set_step(0.3)


def test_synchrony_and_plasticity_traces_are_time_constants_in_ms():
    """A trace of time constant τ (ms) decays by e^(−tick/τ) per tick of substeps · dt_ms, so the
    same τ gives the same per-tick decay at any (dt, substeps) with the same tick duration."""
    from neurosync.build import build_model
    from neurosync.config import from_dict

    def built(dt_ms, substeps):
        cfg = from_dict(
            {
                "task": {"sequence_length": 6},
                "model": {
                    "ticks": 4,
                    "d_model": 16,
                    "d_input": 8,
                    "heads": 2,
                    "n_synch_out": 6,
                    "n_synch_action": 5,
                    "neuron": "spiking",
                    "synapse": "plastic",
                    "synchrony": "spike-multiscale",
                    "spiking": {
                        "dt_ms": dt_ms,
                        "substeps": substeps,
                        "tau_min_ms": dt_ms,
                        "filter_tau_min_ms": 2.0,
                        "filter_tau_max_ms": 8.0,
                        "tau_membrane_ms": 10.0,
                    },
                    "spike_synchrony": {"timescales_ms": [5.0, 20.0]},
                    "plasticity": {"trace_timescale_ms": 10.0},
                },
            }
        )
        return build_model(cfg)

    coarse, fine = built(1.0, 5), built(0.5, 10)  # ticks of 5 ms both
    expected = torch.exp(-5.0 / torch.tensor([5.0, 20.0]))
    for model in (coarse, fine):
        torch.testing.assert_close(model.synchrony.trace_decay.flatten(), expected)
        assert model.synapse.trace_decay == pytest.approx(math.exp(-5.0 / 10.0))
    assert built(1.0, 1).synapse.trace_decay == pytest.approx(math.exp(-1.0 / 10.0))  # 1-ms ticks: 10 ticks


@pytest.mark.parametrize(
    "model, message",
    [
        ({"synchrony": "spike-multiscale"}, "'spike-multiscale' needs model.neuron = 'spiking'"),
        (
            {"neuron": "spiking", "synchrony": "spike-multiscale", "spike_synchrony": {"timescales_ms": [2.0, 0.0]}},
            "timescales_ms must be a non-empty list of positive durations",
        ),
        (
            {"neuron": "spiking", "synapse": "plastic", "plasticity": {"trace_timescale": 4.0}},
            "trace_timescale is in ticks, for rate neurons",
        ),
        (
            {"synapse": "plastic", "plasticity": {"trace_timescale_ms": 4.0}},
            "trace_timescale_ms is for spiking neurons",
        ),
    ],
)
def test_timescales_in_the_wrong_unit_are_refused_in_one_line(model, message):
    from neurosync.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match=message):
        from_dict({"model": model})


def _cortical_tiny(substeps=2):
    from neurosync.build import build_model
    from neurosync.config import from_dict

    cfg = from_dict(
        {
            "task": {"sequence_length": 6},
            "model": {
                "ticks": 4,
                "d_model": 20,
                "d_input": 8,
                "heads": 2,
                "n_synch_out": 6,
                "n_synch_action": 5,
                "neuron": "spiking",
                "synapse": "plastic",
                "synchrony": "spike-multiscale",
                "plasticity": {"implementation": "factorised"},
                "spiking": {
                    "dt_ms": 1.0,
                    "substeps": substeps,
                    "dale": True,
                    "noise_std": 0.3,
                    "threshold": 0.1,
                    "refractory_ms": 2.0,
                    "filter_tau_min_ms": 2.0,
                    "filter_tau_max_ms": 8.0,
                    "tau_membrane_ms": 10.0,
                },
            },
            "train": {"final_eval_samples": 64},
        }
    )
    model = build_model(cfg)
    with torch.no_grad():
        model.neuron.dendrite_bias.add_(0.2)  # fires
    return model, cfg


def test_long_thought_rates_equal_the_recorded_rates_of_the_same_thought():
    """Two paths: the fused, unrecorded long thought and the stepwise recording see the same noise
    and give the same spikes, so the same rates; windows average to the whole."""
    from neurosync import analysis
    from neurosync.compare import long_thought_rates

    model, _ = _cortical_tiny()
    x = torch.randint(0, 2, (3, 6), generator=torch.Generator().manual_seed(2)).float() * 2 - 1
    result = long_thought_rates(model, x, seconds=0.06, window_s=0.02)
    recorded = analysis.firing_rates(model.record(x, ticks=30, noise_seed=0))
    assert result["ticks"] == 30 and len(result["window_rates_hz"]) == 3 and model.ticks == 4
    assert result["rate_all_hz"] == pytest.approx(float(recorded.mean()), rel=1e-6) and result["rate_all_hz"] > 1
    assert np.mean(result["window_rates_hz"]) == pytest.approx(result["rate_all_hz"], rel=1e-6)
    assert {"rate_excitatory_hz", "rate_inhibitory_hz", "silent_fraction", "saturated_fraction"} <= set(result)
    recording = model.record(x, ticks=30, noise_seed=0)
    spikes = sum(recording.spikes(b) for b in range(x.shape[0]))  # (steps, neurons), summed over the thoughts
    width = 10 * model.neuron.substeps  # a 20-ms window: 10 ticks
    silent = [float((spikes[k * width : (k + 1) * width].sum(0) / (x.shape[0] * 0.02) < 0.1).mean()) for k in range(3)]
    assert result["window_silent_fractions"] == pytest.approx(silent) and 0 < max(
        silent
    )  # some neuron is silent somewhere


def test_step_invariance_evaluates_finer_steps_and_restores_the_model():
    from neurosync.compare import step_invariance
    from neurosync.tasks import get_task

    model, cfg = _cortical_tiny()
    x, y = get_task(cfg.task).eval_set(cfg.task, 64, 0)
    rows = step_invariance(model, cfg, x, y, divisors=(1, 2, 4))
    assert [r["substeps"] for r in rows] == [2, 4, 8] and [r["dt_ms"] for r in rows] == [1.0, 0.5, 0.25]
    assert rows[0]["accuracy_change_points"] == 0 and rows[0]["rate_change"] == 0 and rows[0]["firing_rate_hz"] > 0
    assert all(np.isfinite(r["rate_change"]) for r in rows)
    assert model.neuron.dt_ms == 1.0 and model.neuron.substeps == 2
    with pytest.raises(ValueError, match="needs a SpikingCTM"):
        from conftest import tiny_config
        from neurosync.build import build_model

        step_invariance(build_model(tiny_config()), tiny_config(), x, y)


@pytest.mark.parametrize("name, card_accuracy", [("parity16-cortical", 0.9853)])
def test_the_shipped_cortical_checkpoints_still_score_what_their_card_says(name, card_accuracy):
    """The card's per-bit accuracy (all 65,536 inputs) on a random 2,048 of them, within 2 points:
    the shipped weights, their config and the code cannot drift apart unnoticed."""
    import neurosync
    from conftest import REPO
    from neurosync.tasks import get_task
    from neurosync.training import evaluate

    model, ckpt = neurosync.load_model(REPO / "models" / name)
    assert ckpt.config.name == name
    x, y = get_task(ckpt.config.task).eval_set(ckpt.config.task, 65536, 0)
    pick = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:2048]
    model.neuron.seed_noise(0)
    assert abs(evaluate(model, ckpt.config, x[pick], y[pick])["bit_acc_certain"] - card_accuracy) < 0.02


def _homeostatic(dt_ms=1.0, substeps=5, bias=-1.0, **options):
    neurons = SpikingNeurons(
        4,
        filters=1,
        dt_ms=dt_ms,
        substeps=substeps,
        filter_tau_min_ms=2.0,
        tau_membrane_ms=10.0,
        threshold=0.2,
        tau_max_ms=100.0,
        homeostasis_rate_hz=5.0,
        homeostasis_tau_ms=100.0,
        homeostasis_min_scale=0.25,
        **options,
    ).double()
    with torch.no_grad():
        neurons.dendrite_bias.fill_(bias)
    return neurons


@pytest.mark.parametrize("dt", [1.0, 0.5, 0.25])
def test_homeostasis_lowers_a_silent_neurons_threshold_by_e_per_tau_down_to_its_floor(dt):
    # a 5-ms tick at any step: ν_low = 5 Hz is 0.025 spikes per tick, hstep = 1 / (5 Hz · 0.1 s) = 2 per spike;
    # a silent neuron's h falls by 2 · 0.025 = 0.05 = 5 ms / 100 ms per tick, until ln 0.25
    neurons = _homeostatic(dt_ms=dt, substeps=int(5 / dt))
    constants = neurons.homeostasis_constants()
    assert constants["hstep"] == pytest.approx(2.0) and constants["ctarget"] == pytest.approx(0.025)
    assert constants["hmin"] == pytest.approx(math.log(0.25))
    x, state = neurons.start(2)
    for tick in range(1, 41):
        post, state = neurons(torch.zeros(2, 4, dtype=torch.float64), state)
        assert post.sum() == 0
        expected = max(-tick * 5.0 / 100.0, math.log(0.25))
        assert state.homeostasis.numpy() == pytest.approx(np.full((2, 4), expected), abs=1e-12)


def test_homeostasis_wakes_a_silent_neuron_and_leaves_an_active_one_alone():
    quiet = _homeostatic(bias=0.15)  # v settles at 0.15 < θ = 0.2: silent without homeostasis
    plain = _homeostatic(bias=0.15)
    plain.homeostasis_rate_hz = 0.0
    counts = {}
    for name, neurons in (("homeostatic", quiet), ("plain", plain)):
        _, state = neurons.start(1)
        total = 0.0
        for _ in range(200):  # 1 s
            post, state = neurons(torch.zeros(1, 4, dtype=torch.float64), state)
            total = total + post
        counts[name] = float(total.sum().detach())
    assert counts["plain"] == 0 and counts["homeostatic"] > 0
    active = _homeostatic(bias=1.0)  # far above threshold, far above 5 Hz: h stays at 0, θ as trained
    _, state = active.start(1)
    for _ in range(50):
        post, state = active(torch.zeros(1, 4, dtype=torch.float64), state)
        assert post.sum() > 0 and float(state.homeostasis.abs().max()) == 0.0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=60),
    st.floats(0.5, 50.0),
    st.floats(10.0, 5000.0),
    st.floats(0.05, 1.0),
)
def test_homeostasis_keeps_h_between_its_floor_and_zero(counts, rate_hz, tau_ms, floor):
    neurons = _homeostatic()
    neurons.homeostasis_rate_hz, neurons.homeostasis_tau_ms, neurons.homeostasis_min_scale = rate_hz, tau_ms, floor
    h = torch.zeros(1, dtype=torch.float64)
    for count in counts:
        h = neurons._homeostasis_step(h, torch.tensor([float(count)], dtype=torch.float64))
        assert math.log(floor) - 1e-12 <= float(h) <= 0.0


def test_homeostasis_is_the_same_process_at_half_and_a_quarter_of_the_step():
    # per tick of physical duration, so the constants do not depend on dt (only on the tick)
    coarse, fine = _homeostatic(dt_ms=1.0, substeps=5), _homeostatic(dt_ms=0.25, substeps=20)
    assert coarse.homeostasis_constants() == pytest.approx(fine.homeostasis_constants())
    with coarse.at_step(0.5):
        assert coarse.homeostasis_constants() == pytest.approx(fine.homeostasis_constants())


def test_a_bounded_input_holds_an_inhibited_membrane_at_its_floor_where_the_noise_reaches_threshold():
    # drive −20 (100 thresholds below): without the floor the membrane settles at −20 and the neuron is silent;
    # floored at θ − 0.1 it settles near the floor, and noise of s.d. 0.1 makes it fire now and then
    options = dict(
        filters=1,
        dt_ms=1.0,
        substeps=5,
        filter_tau_min_ms=2.0,
        tau_membrane_ms=10.0,
        threshold=0.2,
        tau_max_ms=100.0,
        noise_std=0.1,
        noise_tau_ms=5.0,
        refractory_ms=2.0,
    )
    counts = {}
    for bounded in (False, True):
        neurons = SpikingNeurons(50, bounded_input=bounded, input_floor=0.1, input_floor_width=0.01, **options).double()
        neurons.seed_noise(0)
        _, state = neurons.start(1)
        total = 0.0
        with torch.no_grad():
            for _ in range(200):  # 1 s
                post, state = neurons(torch.full((1, 50), -20.0, dtype=torch.float64), state)
                total = total + post.sum()
        counts[bounded] = float(total)
        if bounded:
            assert state.membrane.mean().item() == pytest.approx(0.1, abs=0.05)
    assert counts[False] == 0 and counts[True] > 0


def test_a_relative_floor_follows_each_neurons_threshold_so_a_high_threshold_does_not_silence_it():
    # thresholds 0.1 … 0.8 under the same drive −20: an absolute floor at 0.05 leaves the high-threshold
    # neurons out of the noise's reach; floored at θ_i − 0.1 every membrane settles 0.1 below its own
    # threshold, and every neuron fires
    options = dict(
        filters=1,
        dt_ms=1.0,
        substeps=5,
        filter_tau_min_ms=2.0,
        tau_membrane_ms=10.0,
        tau_max_ms=100.0,
        noise_std=0.1,
        noise_tau_ms=5.0,
        refractory_ms=2.0,
        bounded_input=True,
        input_floor=0.05,
        input_floor_width=0.01,
    )
    thresholds = torch.linspace(0.1, 0.8, 40, dtype=torch.float64)
    counts = {}
    for margin in (0.0, 0.1):
        neurons = SpikingNeurons(40, input_floor_margin=margin, **options).double()
        with torch.no_grad():
            neurons.threshold_raw.copy_(torch.log(torch.expm1(thresholds)))  # softplus⁻¹
        neurons.seed_noise(0)
        _, state = neurons.start(1)
        total, membrane = torch.zeros(40, dtype=torch.float64), torch.zeros(40, dtype=torch.float64)
        with torch.no_grad():
            for _ in range(400):  # 2 s
                post, state = neurons(torch.full((1, 40), -20.0, dtype=torch.float64), state)
                total, membrane = total + post[0], membrane + state.membrane[0] / 400
        counts[margin] = total
        if margin:
            torch.testing.assert_close(membrane, thresholds - 0.1, atol=0.05, rtol=0)
    high = thresholds > 0.5
    assert counts[0.0][high].sum() == 0 and (counts[0.1] > 0).all()


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(-1.0, 1.0), st.floats(1e-3, 1.0))
def test_the_floored_current_never_lies_below_its_floor_and_follows_a_current_above_it(current, floor, width):
    from neurosync.parts.spiking import _current_floor

    value = float(_current_floor(torch.tensor([current], dtype=torch.float64), floor, width))
    assert value >= floor
    if current > floor + 40 * width:  # far above the floor the current passes unchanged
        assert value == pytest.approx(current, abs=1e-9)


def test_a_ceiling_bounds_a_driven_neurons_rate_at_what_its_threshold_plus_margin_gives():
    """Under a drive of +20 (100× the threshold), an unbounded LIF neuron fires at its refractory
    limit; capped at θ + 0.1 its membrane relaxes towards θ + 0.1 and it fires every
    t_ref + τ_m ln((θ + 0.1)/0.1) ms (noise off, reset by subtraction, the membrane held while
    refractory), whatever the drive."""
    options = dict(
        filters=1,
        dt_ms=0.1,
        substeps=10,
        filter_tau_min_ms=2.0,
        filter_tau_max_ms=4.0,
        tau_membrane_ms=20.0,
        tau_max_ms=100.0,
        threshold=0.2,
        noise_std=0.0,
        refractory_ms=2.0,
        bounded_input=True,
        input_floor_margin=0.1,
        input_floor_width=1e-3,
    )
    rates = {}
    for ceiling in (0.0, 0.1):
        neurons = SpikingNeurons(4, input_ceiling_margin=ceiling, **options).double()
        with torch.no_grad():
            neurons.filter_weight.fill_(1.0)
            neurons.dendrite_bias.zero_()
        _, state = neurons.start(1)
        total = torch.zeros(4, dtype=torch.float64)
        with torch.no_grad():
            for tick in range(1000):  # 1 s of 1-ms ticks
                post, state = neurons(torch.full((1, 4), 20.0, dtype=torch.float64), state)
                if tick >= 200:
                    total += post[0]
        rates[ceiling] = total / 0.8  # Hz over the last 0.8 s
    expected = 1000.0 / (2.0 + 20.0 * math.log(0.3 / 0.1))  # 41.7 Hz
    assert (rates[0.0] > 400).all()  # the 2-ms refractory period's limit (500 Hz) nearly reached
    torch.testing.assert_close(rates[0.1], torch.full((4,), expected, dtype=torch.float64), atol=2.0, rtol=0)


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(-1.0, 1.0), st.floats(1e-3, 1.0))
def test_the_capped_current_never_lies_above_its_ceiling_and_follows_a_current_below_it(current, ceiling, width):
    from neurosync.parts.spiking import _current_ceiling

    value = float(_current_ceiling(torch.tensor([current], dtype=torch.float64), ceiling, width))
    assert value <= ceiling
    if current < ceiling - 40 * width:
        assert value == pytest.approx(current, abs=1e-9)
