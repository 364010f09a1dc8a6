"""The cortical regime by construction (neurosync/cortical.py): the preset, the band that bounds
every neuron's current, untrained models of several tasks and seeds in the regime, and the
probe that training runs at every evaluation."""

import json
import logging
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO
from neurosync import config as config_mod
from neurosync.analysis.physiology import CORTICAL_RANGES
from neurosync.build import build_model
from neurosync.checkpoint import load_model
from neurosync.cortical import PRESET, REGIME_STATISTICS, apply_preset, describe_out, regime_probe
from neurosync.tasks import get_task
from neurosync.training import train

CONFIGS = REPO / "configs"
TASK_CONFIGS = {
    "parity": CONFIGS / "parity" / "parity16-cortical.toml",
    "digits": CONFIGS / "digits" / "digits-cortical.toml",
    "recall": CONFIGS / "recall" / "recall8-cortical.toml",
    "qa": CONFIGS / "qa" / "qa3-cortical.toml",
    "maze": CONFIGS / "maze" / "maze11-cortical.toml",
    "sort": CONFIGS / "sort" / "sort8-cortical.toml",
}


def _cortical(task: str, *overrides: str):
    cfg = config_mod.load(TASK_CONFIGS[task], list(overrides))
    return cfg, build_model(cfg)


def test_every_statistic_of_the_regime_is_on_the_physiology_card():
    assert set(REGIME_STATISTICS) <= set(CORTICAL_RANGES)
    assert len(REGIME_STATISTICS) == 11


def test_the_preset_fills_in_only_what_a_config_leaves_unset():
    cfg = config_mod.load(TASK_CONFIGS["digits"], ["model.spiking.noise_std=0.3"])
    spiking = cfg.model.spiking
    assert (cfg.model.neuron, cfg.model.synapse, spiking.dale, spiking.bounded_input) == (
        "spiking",
        "plastic",
        True,
        True,
    )
    assert spiking.input_floor_margin == PRESET["model"]["spiking"]["input_floor_margin"]
    assert spiking.noise_std == 0.3  # --set wins over the preset
    assert cfg.model.ticks == 8 and cfg.task.name == "images"  # the file's own values win too
    assert cfg.train.regime_probe_inputs == PRESET["train"]["regime_probe_inputs"]
    plain = {"model": {"neuron": "spiking"}}
    assert apply_preset(plain) is plain  # no regime named: nothing filled in


def test_the_preset_is_idempotent_on_a_full_config():
    """A checkpoint stores every value: loading it again through the preset changes nothing."""
    cfg = config_mod.load(TASK_CONFIGS["parity"])
    assert config_mod.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "override",
    [
        "model.neuron='nlm'",
        "model.spiking.dale=false",
        "model.spiking.input_ceiling_margin=0",
        "model.spiking.noise_std=0",
        "model.spiking.bounded_input=false",
    ],
)
def test_a_cortical_config_that_drops_the_construction_is_refused(override):
    with pytest.raises(
        config_mod.ConfigError, match="model.regime = 'cortical' is built from noisy spiking neurons"
    ) as err:
        config_mod.load(TASK_CONFIGS["parity"], [override])
    assert "\n" not in str(err.value)


def test_an_unknown_regime_is_refused():
    with pytest.raises(config_mod.ConfigError, match="model.regime = 'balanced' is not one of"):
        config_mod.load(TASK_CONFIGS["parity"], ["model.regime='balanced'"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=16))
def test_the_band_bounds_every_current(values):
    """Whatever the drive, the current lies in [θ − floor margin − width·ln 2, θ + ceiling margin]:
    near enough to threshold that the noise reaches it, never so far above that the neuron saturates."""
    _, model = _cortical("parity")
    neuron, spiking = model.neuron, PRESET["model"]["spiking"]
    threshold = torch.nn.functional.softplus(neuron.threshold_raw)[: len(values)].double()
    bounded = neuron._bounded(torch.tensor(values, dtype=torch.float64), threshold)
    low = threshold - spiking["input_floor_margin"] - spiking["input_floor_width"] * torch.log(torch.tensor(2.0))
    assert (bounded >= low - 1e-9).all() and (bounded <= threshold + spiking["input_ceiling_margin"] + 1e-9).all()


def test_the_ceiling_bounds_the_rate_below_saturation():
    """A neuron held at its ceiling for a second, noise off, fires at the rate of a LIF driven at
    θ + margin, 1 / (t_ref + τ_m ln((θ + margin)/margin)) ≈ 56 Hz: below the card's 100-Hz
    saturation whatever the weights."""
    spiking = PRESET["model"]["spiking"]
    theta, margin = spiking["threshold"], spiking["input_ceiling_margin"]
    expected = 1e3 / (spiking["refractory_ms"] + spiking["tau_membrane_ms"] * math.log((theta + margin) / margin))
    assert 50 < expected < 60
    _, model = _cortical("parity")
    neuron = model.neuron
    neuron.noise_std = neuron.shared_noise_std = 0.0
    drive = torch.full((1, neuron.neurons), 1e3)  # far above the ceiling
    post, state = neuron.start(1)
    spikes = 0.0
    with torch.no_grad():
        for _ in range(neuron.ticks_in(1.0)):
            post, state = neuron(drive, state)
            spikes = spikes + post
    # within 10% of the continuous-time rate at 1-ms steps (reset by subtraction keeps the overshoot)
    assert (spikes - expected).abs().max() <= 0.1 * expected
    assert (spikes < 100).all()  # the physiology card's saturation


def test_an_untrained_cortical_neuron_starts_below_threshold_with_a_small_gain():
    _, model = _cortical("parity")
    neuron, spiking = model.neuron, PRESET["model"]["spiking"]
    threshold = torch.nn.functional.softplus(neuron.threshold_raw)
    torch.testing.assert_close(neuron.dendrite_bias, threshold - spiking["input_floor_margin"] / 2)
    torch.testing.assert_close(neuron.filter_weight.sum(-1), torch.full_like(threshold, spiking["dendritic_gain"]))


@pytest.mark.parametrize(
    "task, seed", [("parity", 0), ("parity", 1), ("digits", 2), ("recall", 0), ("qa", 1), ("maze", 0), ("sort", 1)]
)
def test_an_untrained_cortical_model_is_in_the_regime(task, seed):
    """Every statistic of the regime in its cortical range over 1-s thoughts (8 inputs × 4 noise
    repeats) from the first step, on any task and seed."""
    cfg, model = _cortical(task, f"train.seed={seed}")
    x, _ = get_task(cfg.task).eval_set(cfg.task, 8, seed)
    probe = regime_probe(model, x, repeats=4)
    assert probe["out"] == [], describe_out(probe)


def test_dale_signs_hold_in_a_cortical_model():
    _, model = _cortical("recall")
    weight, sign = model.synapse.recurrent_weight(), model.synapse.presynaptic_sign
    assert ((weight * sign) >= 0).all() and (sign[:102] > 0).all() and (sign[102:] < 0).all()


def test_a_broken_construction_is_out_of_the_regime():
    """Excitation-dominated recurrence with the band's ceiling removed runs away: the probe names
    what left the range (the rates and the saturation among them)."""
    cfg, model = _cortical("parity", "model.spiking.inhibition_dominance=0.1")
    model.neuron.input_ceiling_margin = 0.0
    x, _ = get_task(cfg.task).eval_set(cfg.task, 8, 0)
    probe = regime_probe(model, x)
    assert {"rate_excitatory_hz", "saturated_fraction"} <= set(probe["out"])
    assert "rate_excitatory_hz" in describe_out(probe) and "\n" not in describe_out(probe)
    healthy = regime_probe(_cortical("parity")[1], x)
    assert healthy["out"] == [] and describe_out(healthy) == ""


def _tiny_cortical(tmp_path, name, *overrides):
    cfg = config_mod.load(
        TASK_CONFIGS["parity"],
        [
            "task.sequence_length=4",
            "model.d_model=32",
            "model.d_input=16",
            "model.heads=2",
            "model.n_synch_out=8",
            "model.n_synch_action=8",
            "model.ticks=4",
            "train.steps=4",
            "train.eval_every=2",
            "train.eval_samples=16",
            "train.final_eval_samples=16",
            "train.checkpoint_every=4",
            "train.batch_size=8",
            "train.regime_probe_inputs=4",
            "train.time_budget_s=0",
            f"name={name}",
            *overrides,
        ],
    )
    return cfg, tmp_path / name


def test_training_logs_the_regime_at_every_evaluation(tmp_path):
    cfg, run = _tiny_cortical(tmp_path, "probed")
    train(cfg, run, progress=False)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for record in records:
        assert set(record["regime"]) == set(REGIME_STATISTICS)
        assert record["regime_in_range"] == sum(1 for name in REGIME_STATISTICS if name not in record["regime_out"])


def test_the_probe_leaves_the_training_trajectory_unchanged(tmp_path):
    """The probe draws its noise from its own seeded generator: the same losses with and without it."""
    losses = []
    for name, probe in (("with", 4), ("without", 0)):
        cfg, run = _tiny_cortical(tmp_path, name, f"train.regime_probe_inputs={probe}")
        train(cfg, run, progress=False)
        losses.append([json.loads(line)["train_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()])
    assert losses[0] == losses[1]


@pytest.mark.parametrize("task", ["parity", "recall", "sort"])
def test_a_briefly_trained_cortical_model_is_in_the_regime(tmp_path, task):
    """After 60 training steps at the config's own sizes the model has learnt something (the loss
    fell) and every statistic of the regime is still in range over 1-s thoughts (8 inputs × 4
    repeats), with no schedule: the band, the noise and the rate band hold it there."""
    sizes = ["task.sequence_length=8"] if task == "parity" else []
    cfg = config_mod.load(
        TASK_CONFIGS[task],
        [
            *sizes,
            "train.steps=60",
            "train.warmup_steps=10",
            "train.eval_every=20",
            "train.eval_samples=64",
            "train.final_eval_samples=64",
            "train.checkpoint_every=60",
            "train.time_budget_s=0",
            "train.regime_probe_inputs=0",
        ],
    )
    run = tmp_path / task
    train(cfg, run, progress=False)
    losses = [json.loads(line)["train_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    model, _ = load_model(run)
    model.eval()
    x, _ = get_task(cfg.task).eval_set(cfg.task, 8, 0)
    probe = regime_probe(model, x, repeats=4)
    assert probe["out"] == [], describe_out(probe)
    assert losses[-1] < losses[0]


def test_training_says_in_one_line_when_a_model_leaves_the_regime(tmp_path, caplog, monkeypatch):
    """A model whose construction is broken (here: no ceiling, excitation-dominated) is reported
    once, when it leaves the regime, in one line naming the statistics."""
    import neurosync.training as training_mod

    built = training_mod.build_model

    def broken(cfg):
        model = built(cfg)
        model.neuron.input_ceiling_margin = 0.0
        return model

    monkeypatch.setattr(training_mod, "build_model", broken)
    cfg, run = _tiny_cortical(
        tmp_path, "broken", "model.spiking.inhibition_dominance=0.1", "model.spiking.recurrent_scale=300"
    )
    with caplog.at_level(logging.WARNING, logger="neurosync.training"):
        train(cfg, run, progress=False)
    warnings = [r.getMessage() for r in caplog.records if "left the cortical regime" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0] and warnings[0].startswith("step 2:"), warnings


@pytest.mark.parametrize(
    "config, override, message",
    [
        (TASK_CONFIGS["parity"], "train.regime_probe_inputs=-1", "train.regime_probe_inputs must be >= 0"),
        (TASK_CONFIGS["parity"], "train.regime_probe_inputs=4096", r"must be <= train.eval_samples"),
        # a noiseless SpikingCTM without the construction (a cortical one refuses noise_std = 0 itself)
        (
            REPO / "configs" / "parity" / "parity16-spiking.toml",
            "train.regime_probe_inputs=4",
            "needs model.neuron = 'spiking' and model.spiking.noise_std > 0",
        ),
    ],
)
def test_a_bad_probe_setting_is_refused(config, override, message):
    with pytest.raises(config_mod.ConfigError, match=message):
        config_mod.load(config, [override])


def test_the_regime_card_script_prints_one_row_per_seed():
    import subprocess
    import sys

    tiny = ["--set", "model.d_model=32", "--set", "model.n_synch_out=8", "--set", "model.n_synch_action=8"]
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "regime_card.py"),
            str(TASK_CONFIGS["parity"]),
            "--seeds",
            "0",
            "1",
            "--samples",
            "2",
            "--repeats",
            "2",
            *tiny,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("| model | in range | rate_excitatory_hz") and len(lines) == 4
    assert "(untrained, seed 0)" in lines[2] and "(untrained, seed 1)" in lines[3]
    assert all(line.count("|") == len(REGIME_STATISTICS) + 3 for line in lines[2:])
