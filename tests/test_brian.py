"""Brian2 exact-mode validation: the exported spiking core re-simulated in Brian2 must match
PyTorch spike for spike, with and without plasticity, LIF and ALIF; a perturbed parameter must
show up as a mismatch."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from conftest import tiny_config

pytest.importorskip("brian2")

from neurosync import brian  # noqa: E402
from neurosync.build import build_model  # noqa: E402


def _model(synapse="plastic", adaptive=False, substeps=1, seed=0, spiking=None, **plasticity):
    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synapse, cfg.model.synchrony = "spiking", synapse, "spike-multiscale"
    for key, value in plasticity.items():
        setattr(cfg.model.plasticity, key, value)
    cfg.model.spiking.adaptive = adaptive
    cfg.model.spiking.substeps = substeps
    cfg.model.spiking.threshold, cfg.model.spiking.adaptation_strength = 0.1, 0.02
    for key, value in (spiking or {}).items():
        setattr(cfg.model.spiking, key, value)
    model = build_model(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # "trained-like": move every parameter off its initial value
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
        model.neuron.dendrite_bias.add_(0.15)  # most neurons fire at a tenth to a half of the steps
    model.neuron.seed_noise(seed)  # a noisy model's realisation is the same in every run
    return model


def _input(seed=0):
    return torch.randint(0, 2, (2, 6), generator=torch.Generator().manual_seed(seed)).float() * 2 - 1


@pytest.mark.parametrize("synapse", ["mlp", "plastic"])
@pytest.mark.parametrize("adaptive", [False, True])
def test_exact_mode_matches_pytorch_spike_for_spike(synapse, adaptive):
    model = _model(synapse, adaptive)
    ticks = 1000 if (synapse, adaptive) == ("plastic", True) else 300
    recording = brian.record_core(model, _input(), sample=1, ticks=ticks)
    assert 0.05 < recording.spikes.mean() < 0.95  # neither silent nor saturated: the comparison means something
    report = brian.validate_exact(model, recording)
    assert report["steps"] == ticks and report["mismatched_bins"] == 0, report
    assert report["max_abs_membrane_difference"] < 1e-9
    if synapse == "plastic":  # the fast weight's trajectory, tick by tick
        assert recording.hebbian.shape == (ticks, 16, 16) and report["fast_weight_ticks"] == ticks
        assert report["hebbian_max_abs"] > 0.01 and report["hebbian_max_abs_difference"] < 1e-9
        assert (
            report["fast_weight_max_abs"] > 0 and report["fast_weight_max_abs_difference"] < 1e-9 and report["passed"]
        )
    else:
        assert recording.hebbian is None and "fast_weight_ticks" not in report


@pytest.mark.parametrize(
    "plasticity",
    [
        {"rule": "abcd", "coefficients": "synapse", "clip": 0.5},
        {"rule": "abcd", "coefficients": "neuron"},
        {"rule": "neuromodulated", "modulator": "certainty"},
        {"rule": "neuromodulated", "modulator": "state"},
    ],
)
def test_exact_mode_matches_with_the_other_plasticity_rules(plasticity):
    model = _model("plastic", **plasticity)
    recording = brian.record_core(model, _input(), ticks=300)
    assert recording.modulation is not None and recording.modulation.shape == (300,)
    report = brian.validate_exact(model, recording)
    assert report["mismatched_bins"] == 0 and report["max_abs_membrane_difference"] < 1e-9, report
    assert report["hebbian_max_abs"] > 0 and report["hebbian_max_abs_difference"] < 1e-9, report


def test_a_changed_learning_rate_shows_in_the_fast_weight():
    model = _model("plastic", implementation="factorised")
    recording = brian.record_core(model, _input(), ticks=60)
    core = brian.extract_core(model)
    same = brian.compare(recording, brian.simulate_exact(core, recording.drive), core.alpha)
    assert same["hebbian_max_abs_difference"] < 1e-9 and same["passed"]
    slower = brian.compare(
        recording, brian.simulate_exact(dataclasses.replace(core, eta=core.eta * 0.99), recording.drive), core.alpha
    )
    assert slower["hebbian_max_abs_difference"] > 1e-6 and not slower["passed"]


def test_plasticity_is_active_during_the_validated_thought():
    model = _model("plastic")
    recording = brian.record_core(model, _input(), ticks=200)
    core = brian.extract_core(model)
    frozen = dataclasses.replace(core, alpha=np.zeros_like(core.alpha))  # same network without the fast weight
    report = brian.compare(recording, brian.simulate_exact(frozen, recording.drive))
    assert report["mismatched_bins"] > 0


@pytest.mark.parametrize("field", ["threshold", "membrane_decay", "eta"])
def test_a_perturbed_parameter_is_detected(field):
    model = _model("plastic")
    recording = brian.record_core(model, _input(), ticks=1000)
    core = brian.extract_core(model)
    index = int(np.abs(recording.spikes.mean(0) - 0.5).argmin())  # the neuron whose spikes carry most information
    values = getattr(core, field).copy()
    values[index] *= 1.02
    report = brian.compare(
        recording, brian.simulate_exact(dataclasses.replace(core, **{field: values}), recording.drive)
    )
    assert not report["passed"] and report["max_abs_membrane_difference"] > 1e3 * report["membrane_tolerance"]
    if field != "eta":  # a learning rate acts through the small fast weight: membranes show it before spikes do
        assert report["mismatched_bins"] > 0 and report["first_mismatch"] is not None


def test_sub_steps_hold_the_drive_for_a_tick():
    model = _model("mlp", substeps=3)
    recording = brian.record_core(model, _input(), ticks=100)
    assert recording.spikes.shape == (300, 16) and recording.drive.shape == (100, 16)
    report = brian.validate_exact(model, recording)
    assert report["mismatched_bins"] == 0, report


@pytest.mark.parametrize(
    "bias, reason", [(-50.0, "no neuron spiked"), (50.0, "every neuron spiked at every step or never")]
)
def test_a_thought_that_cannot_detect_anything_fails(bias, reason, tmp_path, capsys):
    """A silent core, or one that spikes in every bin, agrees with any simulator of any threshold:
    the verdict fails, names why, and the CLI exits 1."""
    model = _model("mlp")
    with torch.no_grad():
        model.neuron.dendrite_bias.fill_(bias)
    recording = brian.record_core(model, _input(), ticks=30)
    report = brian.validate_exact(model, recording)
    assert report["mismatched_bins"] == 0 and not report["passed"] and report["neurons_tested"] == 0
    assert reason in report["untestable"]
    continuous = brian.validate_continuous(model, recording, substeps=(2,))
    assert not continuous["passed"] and reason in continuous["untestable"]
    partly = brian.sensitivity(np.array([[1, 0, 1], [1, 0, 0]]))
    assert partly == {"neurons_tested": 1, "spike_density": 0.5, "untestable": None}  # only neuron 2 tests a threshold


def test_the_cli_fails_a_validation_that_cannot_detect_anything(tmp_path, capsys):
    from neurosync.cli import main
    from neurosync.training import train

    cfg = tiny_config(steps=1, eval_every=1, checkpoint_every=1)
    cfg.model.neuron, cfg.model.synapse = "spiking", "plastic"
    cfg.model.spiking.threshold = 1e3  # nothing reaches it: a silent core
    train(cfg, tmp_path / "run", progress=False)
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "run"), "--ticks", "20", "--out", str(tmp_path / "v"), "--quiet"]) == 1
    assert "cannot detect anything: no neuron spiked" in capsys.readouterr().err
    assert (tmp_path / "v" / "report.json").exists()


def test_export_refuses_what_it_cannot_represent():
    with pytest.raises(ValueError, match="needs a SpikingCTM"):
        brian.extract_core(build_model(tiny_config()))
    with pytest.raises(ValueError, match="continuous mode supports the miconi"):
        core = brian.extract_core(_model("plastic", rule="abcd"))
        brian.simulate_continuous(core, np.zeros((10, 16)))


def test_validate_cli_writes_a_report_and_refuses_bad_input(tmp_path, capsys):
    import json

    from neurosync.cli import main
    from neurosync.training import train

    cfg = tiny_config(steps=3, eval_every=3, checkpoint_every=3)
    cfg.model.neuron, cfg.model.synapse = "spiking", "plastic"
    train(cfg, tmp_path / "run", progress=False)
    out = tmp_path / "validation"
    assert main(["validate", str(tmp_path / "run"), "--ticks", "120", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["mismatched_bins"] == 0 and report["steps"] == 120 and report["neurons"] == 16
    assert (out / "validation.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "run"), "--out", str(out)]) == 2  # never overwrites a report
    assert "already exists" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "run"), "--ticks", "0", "--out", str(tmp_path / "v0")]) == 2
    code = main(
        [
            "validate",
            str(tmp_path / "run"),
            "--mode",
            "continuous",
            "--ticks",
            "100",
            "--substeps",
            "5",
            "--out",
            str(tmp_path / "vc"),
            "--quiet",
        ]
    )
    continuous = json.loads((tmp_path / "vc" / "report.json").read_text())
    assert continuous["mode"] == "continuous" and set(continuous["runs"]) == {"dt/5"}
    assert code == (0 if continuous["passed"] else 1)  # the exit status follows the verdict, as in exact mode
    assert (
        main(
            [
                "validate",
                str(tmp_path / "run"),
                "--mode",
                "closed-loop",
                "--ticks",
                "50",
                "--out",
                str(tmp_path / "vl"),
                "--quiet",
            ]
        )
        == 0
    )
    closed = json.loads((tmp_path / "vl" / "report.json").read_text())
    assert closed["mode"] == "closed-loop" and closed["mismatched_bins"] == 0
    rate = tiny_config(steps=3, eval_every=3, checkpoint_every=3)
    train(rate, tmp_path / "rate", progress=False)
    assert main(["validate", str(tmp_path / "rate"), "--out", str(tmp_path / "v1")]) == 2
    assert "needs a SpikingCTM" in capsys.readouterr().err


@pytest.mark.parametrize(
    "synapse, steps, substeps", [("mlp", (10, 20), 1), ("plastic", (10,), 1), ("plastic", (10,), 4)]
)
def test_continuous_mode_agrees_statistically_at_finer_steps(synapse, steps, substeps):
    # a step well below every time constant (0.25 ms against τ_f ≥ 2 ms, τ_m = 10 ms) and intrinsic noise (replayed in
    # Brian2): the discrete model is then a fine discretisation of the ODE, which Brian2 integrates at a
    # tenth (and a twentieth) of the step; with 4 sub-steps the plastic recurrence acts once a tick of 1 ms
    model = _model(
        synapse,
        substeps=substeps,
        spiking={
            "dt_ms": 0.25,
            "tau_min_ms": 0.5,
            "noise_std": 0.3,
            "tau_membrane_ms": 10.0,
            "filter_tau_min_ms": 2.0,
            "filter_tau_max_ms": 8.0,
            "dale": substeps > 1,
        },
    )
    recording = brian.record_core(model, _input(), ticks=1200 // substeps)
    report = brian.validate_continuous(model, recording, substeps=steps)
    assert set(report["runs"]) == {f"dt/{count}" for count in steps} and report["passed"], report
    # the ODE against itself: two step sizes of one integrator agree at least as well as the discrete model does
    between = report["between_ode_steps"]
    assert list(between) == ([f"dt/{steps[0]} vs dt/{steps[-1]}"] if len(steps) > 1 else []), between
    for agreement in between.values():
        assert (
            agreement["synchrony_correlation"]
            >= min(run["synchrony_correlation"] for run in report["runs"].values()) - 0.05
        )
        assert agreement["rate_mean_abs_difference"] <= brian.TOLERANCES["rate_mean_abs_difference"]
    for run in report["runs"].values():
        assert run["rate_mean_abs_difference"] <= brian.TOLERANCES["rate_mean_abs_difference"], run
        assert run["rate_correlation"] > 0.95, run
        assert run["synchrony_correlation"] >= brian.TOLERANCES["synchrony_correlation"], run
        assert run["spectrum_overlap"] >= brian.TOLERANCES["spectrum_overlap"], run


def test_continuous_mode_compares_its_first_and_last_ode_runs_with_each_other(monkeypatch):
    """between_ode_steps is the agreement of the ODE runs at the first and the last step size (not the
    discrete run, not a middle one), and it leaves the verdict alone: stand-in ODE rasters, one per step."""
    import neurosync.brian.continuous as continuous

    model = _model("mlp")
    recording = brian.record_core(model, _input(), ticks=300)
    rng = np.random.default_rng(1)
    rasters = {count: (rng.random(recording.spikes.shape) < 0.2).astype(float) for count in (10, 20, 40)}
    monkeypatch.setattr(
        continuous,
        "simulate_continuous",
        lambda core, drive, count, method, target, noise=None: {
            "counts": rasters[count],
            "seconds": 0.0,
            "method": method,
        },
    )
    report = continuous.validate_continuous(model, recording, substeps=(10, 20, 40))
    step_s = brian.extract_core(model).dt_ms * 1e-3
    assert report["between_ode_steps"] == {
        "dt/10 vs dt/40": brian.statistics_agreement(rasters[10], rasters[40], step_s)
    }
    assert report["runs"]["dt/20"] == {
        **brian.statistics_agreement(recording.spikes, rasters[20], step_s),
        "brian2_seconds": 0.0,
        "spikes_brian2": int(rasters[20].sum()),
    }
    assert not report["passed"]  # random rasters agree with nothing: the ODE-to-ODE figure does not rescue the verdict


def test_continuous_mode_fails_a_tonic_model_at_a_coarse_step():
    """The verdict can fail: regular firing at a step comparable to the time constants (1 ms against
    τ_f = 2 ms, no noise) is not the ODE's, and the spectra say so."""
    model = _model("mlp")
    recording = brian.record_core(model, _input(), ticks=600)
    report = brian.validate_continuous(model, recording, substeps=(10,))
    assert (
        not report["passed"] and report["runs"]["dt/10"]["spectrum_overlap"] < brian.TOLERANCES["spectrum_overlap"]
    ), report


def test_continuous_mode_units_time_constants_in_seconds_and_rates_in_hz():
    import brian2 as b2

    core = brian.SpikingCore(
        filter_decay=np.full((1, 1), np.exp(-1.0)),
        filter_weight=np.ones((1, 1)),
        dendrite_bias=np.zeros(1),
        membrane_decay=np.array([np.exp(-0.5)]),
        threshold=np.ones(1),
    )
    assert "dv/dt = (I + n - v)/taum" in brian.continuous_equations(
        core
    ) and "taum : second (constant)" in brian.continuous_equations(core)
    result = brian.simulate_continuous(core, np.full((50, 1), 100.0), substeps=10)  # a drive far above threshold
    intervals = np.diff(result["spike_times_s"]) * b2.second
    # one spike per discrete step of 1 ms at most (the refractory period): 1000 Hz
    assert np.allclose(intervals / b2.ms, 1.0, atol=0.1 + 1e-9)
    assert abs(len(result["spike_times_s"]) / (50 * b2.ms) / b2.Hz - 1000) < 50


def test_statistics_of_identical_and_silent_rasters_are_defined():
    raster = (np.random.default_rng(0).random((400, 12)) < 0.2).astype(float)
    same = brian.statistics_agreement(raster, raster)
    assert same["rate_mean_abs_difference"] == 0 and same["synchrony_correlation"] == pytest.approx(1.0)
    assert same["spectrum_overlap"] == pytest.approx(1.0)
    silent = brian.statistics_agreement(np.zeros((400, 12)), np.zeros((400, 12)))
    assert silent["rate_mean_abs_difference"] == 0 and silent["spectrum_overlap"] == 1.0


def test_cpp_standalone_target_matches_too():
    import shutil

    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler")
    model = _model("plastic")
    recording = brian.record_core(model, _input(), ticks=200)
    report = brian.compare(
        recording, brian.simulate_exact(brian.extract_core(model), recording.drive, "cpp_standalone")
    )
    assert report["target"] == "cpp_standalone" and report["mismatched_bins"] == 0, report
    # the process is back in runtime mode: a numpy run still works
    assert brian.validate_exact(model, recording)["mismatched_bins"] == 0


@pytest.mark.parametrize("synapse", ["mlp", "plastic"])
def test_closed_loop_runs_the_whole_thought_in_brian2(synapse):
    """Attention is recomputed every tick from Brian2's own spikes: spikes and logits still match."""
    report = brian.validate_closed_loop(_model(synapse), _input(), sample=1, ticks=200)
    assert report["mismatched_bins"] == 0 and report["spikes_pytorch"] > 100, report
    assert report["max_abs_logit_difference"] < 1e-9


def test_closed_loop_refuses_the_standalone_target():
    with pytest.raises(ValueError, match="use target 'numpy' or 'cython'"):
        brian.simulate_closed_loop(_model("plastic"), _input(), ticks=5, target="cpp_standalone")


def test_both_simulators_are_generated_from_the_same_expressions():
    from neurosync.parts import equations as eq

    assert eq.brian_expression(eq.CURRENT, filters=2) == "f0*fweight0 + f1*fweight1 + fbias"
    assert eq.brian_expression(eq.DENDRITE, k=1) == "fdecay1*f1 + (1 - fdecay1)*a"
    assert eq.brian_expression(eq.MODULATED_RATE, rename={"m": "q"}) == "1/(1 + exp(-(eta0 + gain*q)))"
    core = brian.extract_core(_model("plastic", adaptive=True))
    code = brian.neuron_update_code(core)
    for expression in (eq.MEMBRANE, eq.ADAPTATION, eq.ADAPTIVE_THRESHOLD):
        assert expression in code
    current = eq.torch_function(eq.CURRENT, "f", "fweight", "fbias")
    f, w = torch.arange(6.0).view(1, 2, 3), torch.ones(2, 3)
    assert current(f, w, torch.tensor([0.5, 0.0])).tolist() == [[3.5, 12.0]]


@pytest.mark.parametrize("synapse, substeps", [("mlp", 2), ("plastic", 1), ("plastic", 3)])
def test_exact_mode_replays_the_noise_and_keeps_the_refractory_period(synapse, substeps):
    model = _model(
        synapse, adaptive=True, substeps=substeps, spiking={"noise_std": 0.3, "noise_tau_ms": 4.0, "refractory_ms": 3.0}
    )
    recording = brian.record_core(model, _input(), ticks=300)
    assert recording.noise is not None and recording.noise.shape == recording.spikes.shape
    assert 0.02 < recording.spikes.mean() < 0.34  # at most one spike per 3 ms
    report = brian.validate_exact(model, recording)
    assert report["passed"] and report["mismatched_bins"] == 0, report
    core = brian.extract_core(model)
    silent_noise = brian.compare(
        recording,
        brian.simulate_exact(
            core, recording.drive, modulation=recording.modulation, noise=np.zeros_like(recording.noise)
        ),
    )
    assert silent_noise["mismatched_bins"] > 0  # the replayed realisation is what makes them agree
    for column in recording.spikes.T:
        times = np.flatnonzero(column)
        assert times.size < 2 or np.diff(times).min() >= 3


def test_exact_mode_replays_a_shared_background():
    """The shared background reaches Brian2 as part of the recorded noise current: every neuron's
    column is the same slow process, and exact mode matches every bin only with it replayed."""
    model = _model(
        "plastic", substeps=2, spiking={"shared_noise_std": 0.3, "shared_noise_tau_ms": 20.0, "refractory_ms": 2.0}
    )
    recording = brian.record_core(model, _input(), ticks=200)
    noise = recording.noise
    assert noise is not None and noise.std() > 0.1 and np.ptp(noise, axis=1).max() == 0  # one g for all neurons
    report = brian.validate_exact(model, recording)
    assert report["passed"] and report["mismatched_bins"] == 0, report
    core = brian.extract_core(model)
    without = brian.compare(
        recording,
        brian.simulate_exact(core, recording.drive, modulation=recording.modulation, noise=np.zeros_like(noise)),
    )
    assert without["mismatched_bins"] > 0


@pytest.mark.parametrize(
    "implementation, rule, pathway",
    [
        ("dense", "miconi", "linear"),
        ("dense", "neuromodulated", "linear"),
        ("factorised", "miconi", "linear"),
        ("factorised", "neuromodulated", "linear"),
        ("factorised", "miconi", "glu"),
    ],
)
def test_exact_mode_matches_a_plastic_dale_core_with_sub_steps(implementation, rule, pathway):
    """A cortical-style core: Dale's law, plastic recurrence once per tick of 4 sub-steps (the
    tick's spike count drives the traces, H and the recurrent input held for the next tick),
    OU noise and a refractory period; the factorised synapse is exported as its dense
    equivalent α = a ⊗ b; a GLU input pathway only changes the replayed drive."""
    model = _model(
        "plastic",
        substeps=4,
        implementation=implementation,
        rule=rule,
        modulator="state",
        input_pathway=pathway,
        spiking={"dale": True, "noise_std": 0.2, "refractory_ms": 2.0},
    )
    recording = brian.record_core(model, _input(), ticks=120)
    assert 0.02 < recording.spikes.mean() < 0.5
    report = brian.validate_exact(model, recording)
    assert report["passed"] and report["mismatched_bins"] == 0 and report["steps"] == 480, report


@pytest.mark.parametrize(
    "plasticity",
    [
        {"rule": "miconi"},
        {"rule": "abcd", "clip": 0.5},
        {"rule": "neuromodulated", "modulator": "certainty"},
        {"rule": "miconi", "implementation": "factorised"},
    ],
)
def test_exact_mode_simulates_a_fast_weight_on_the_afferents(plasticity):
    """model.synapse = "plastic-input": Brian2 runs the afferents (their recorded input), their
    traces and the fast weight; spike for spike, and H equal at every tick (factorised: α = a ⊗ b
    exported dense, H from the 200-tick window folded six times)."""
    model = _model("plastic-input", **plasticity)
    with torch.no_grad():  # a fast weight that moves spikes: the comparison can see it
        for name, param in model.synapse.named_parameters():
            if name.startswith("alpha"):
                param.mul_(20 if name == "alpha" else math.sqrt(20))
    recording = brian.record_core(model, _input(), sample=1, ticks=200)
    assert recording.afferent_input.shape == (200, 8) and recording.hebbian.shape == (200, 16, 8)
    core = brian.extract_core(model)
    report = brian.validate_exact(model, recording)
    assert report["mismatched_bins"] == 0 and report["max_abs_membrane_difference"] < 1e-9, report
    assert report["hebbian_max_abs"] > 0.01 and report["hebbian_max_abs_difference"] < 1e-9 and report["passed"]
    frozen = dataclasses.replace(core, afferent_alpha=np.zeros_like(core.afferent_alpha))
    without = brian.simulate_exact(
        frozen, recording.drive, modulation=recording.modulation, afferent_input=recording.afferent_input
    )
    assert brian.compare(recording, without)["mismatched_bins"] > 0  # the afferent fast weight shapes this thought


@pytest.mark.parametrize("implementation", ["dense", "factorised"])
def test_exact_mode_simulates_a_dale_recurrence_beside_an_afferent_fast_weight(implementation):
    """model.plasticity.site = "afferent" under Dale's law: Brian2 runs the slow signed recurrence
    on the tick's spike counts, the afferents and the fast weight on them (W_in o + b replayed),
    with noise, sub-steps and a refractory period; spike for spike and H at every tick. Without
    the recurrence or without the fast weight the same thought disagrees."""
    model = _model(
        "plastic",
        substeps=3,
        site="afferent",
        implementation=implementation,
        spiking={"dale": True, "noise_std": 0.2, "refractory_ms": 2.0},
    )
    with torch.no_grad():
        for name, param in model.synapse.named_parameters():
            if name.startswith("alpha"):
                param.mul_(20 if name == "alpha" else math.sqrt(20))
    recording = brian.record_core(model, _input(), sample=1, ticks=120)
    assert 0.02 < recording.spikes.mean() < 0.5 and recording.hebbian.shape == (120, 16, 8)
    core = brian.extract_core(model)
    assert core.slow_recurrence and core.afferent and not core.plastic and core.presynaptic_sign is not None
    report = brian.validate_exact(model, recording)
    assert report["passed"] and report["mismatched_bins"] == 0, report
    assert report["hebbian_max_abs"] > 0.01 and report["hebbian_max_abs_difference"] < 1e-9
    kwargs = {"modulation": recording.modulation, "afferent_input": recording.afferent_input, "noise": recording.noise}
    for broken in (
        dataclasses.replace(core, recurrent=np.zeros_like(core.recurrent)),
        dataclasses.replace(core, afferent_alpha=np.zeros_like(core.afferent_alpha)),
    ):
        assert brian.compare(recording, brian.simulate_exact(broken, recording.drive, **kwargs))["mismatched_bins"] > 0


def test_the_state_modulated_afferent_rule_is_refused_in_brian2():
    with pytest.raises(ValueError, match="state-modulated"):
        brian.extract_core(_model("plastic-input", rule="neuromodulated", modulator="state"))


@pytest.mark.parametrize("synapse, adaptive", [("mlp", True), ("plastic", False)])
def test_exact_mode_matches_a_core_with_threshold_homeostasis(synapse, adaptive):
    """The resting threshold θ e^h stepped once a tick from the tick's spike count (a high ν_low
    and a short τ_h, so that h moves in a short thought), with noise and a refractory period;
    the same core without its homeostasis disagrees."""
    model = _model(
        synapse,
        adaptive=adaptive,
        substeps=3,
        spiking={
            "noise_std": 0.2,
            "refractory_ms": 2.0,
            "homeostasis_rate_hz": 250.0,
            "homeostasis_tau_ms": 30.0,
            "homeostasis_min_scale": 0.3,
        },
    )
    with torch.no_grad():
        model.neuron.dendrite_bias.sub_(0.2)  # quieter than 250 Hz: the thresholds fall
    recording = brian.record_core(model, _input(), ticks=100)
    report = brian.validate_exact(model, recording)
    assert report["passed"] and report["mismatched_bins"] == 0, report
    core = brian.extract_core(model)
    assert core.homeostasis is not None
    plain = brian.compare(
        recording,
        brian.simulate_exact(
            dataclasses.replace(core, homeostasis=None),
            recording.drive,
            modulation=recording.modulation,
            noise=recording.noise,
        ),
    )
    assert plain["mismatched_bins"] > 0


@pytest.mark.parametrize(
    "synapse, floor",
    [
        ("mlp", {"input_floor": 0.0}),
        ("plastic", {"input_floor": 0.0}),
        ("plastic", {"input_floor_margin": 0.3}),
        ("plastic", {"input_floor_margin": 0.3, "input_ceiling_margin": 0.1}),
        (
            "mlp",
            {
                "input_floor_margin": 0.3,
                "homeostasis_rate_hz": 250.0,
                "homeostasis_tau_ms": 30.0,
                "homeostasis_min_scale": 0.3,
            },
        ),
    ],
)
def test_exact_mode_matches_a_core_with_a_bounded_input(synapse, floor):
    """The dendritic current floored softly (CURRENT_FLOOR) with noise and sub-steps, at a
    constant floor or below each neuron's resting threshold (RELATIVE_FLOOR; under homeostasis
    the threshold moves once a tick), with a ceiling above it too (CURRENT_CEILING); the same core
    without the bound disagrees; continuous mode builds it too."""
    model = _model(
        synapse,
        substeps=2,
        spiking={"noise_std": 0.2, "refractory_ms": 2.0, "bounded_input": True, "input_floor_width": 0.05, **floor},
    )
    with torch.no_grad():
        model.neuron.threshold_raw.add_(
            0.3
            * torch.randn(
                model.neuron.threshold_raw.shape,  # a threshold of its own each
                generator=torch.Generator().manual_seed(1),
            )
        )
        model.neuron.dendrite_bias.sub_(0.3)  # many currents below the floor
        if "input_ceiling_margin" in floor:  # and, spread wider, many above the ceiling
            model.neuron.filter_weight.mul_(4.0)
    recording = brian.record_core(model, _input(), ticks=100)
    report = brian.validate_exact(model, recording)
    assert report["passed"] and report["mismatched_bins"] == 0, report
    core = brian.extract_core(model)
    unfloored = brian.compare(
        recording,
        brian.simulate_exact(
            dataclasses.replace(core, input_floor=None),
            recording.drive,
            modulation=recording.modulation,
            noise=recording.noise,
        ),
    )
    assert unfloored["mismatched_bins"] > 0
    if "input_ceiling_margin" in floor:  # the ceiling alone matters too
        floor_only = {k: v for k, v in core.input_floor.items() if k != "icmargin"}
        uncapped = brian.simulate_exact(
            dataclasses.replace(core, input_floor=floor_only),
            recording.drive,
            modulation=recording.modulation,
            noise=recording.noise,
        )
        assert brian.compare(recording, uncapped)["mismatched_bins"] > 0
    continuous = brian.simulate_continuous(core, recording.drive, 4, noise=recording.noise)
    assert continuous["counts"].sum() > 0
