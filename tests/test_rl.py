"""Carrying a thought across inputs (CTM.think / restart / state_rows) and RL with PPO: a
continued thought equals a longer one, a restarted row equals a fresh thought, GAE and the
reward scale against hand/NumPy computations, PPO learns CartPole, bad RL configs are refused."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import set_model_keys, tiny_config
from neurosync.build import build_model
from neurosync.cli import main
from neurosync.config import ConfigError, read_toml

pytest.importorskip("gymnasium")

from neurosync import rl  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VARIANTS = [
    {},
    {"neuron": "spiking", "synchrony": "spike-multiscale"},
    {"synapse": "plastic"},
    {"neuron": "spiking", "synapse": "plastic", "plasticity": {"implementation": "dense"}},
    {"synapse": "plastic", "plasticity": {"implementation": "factorised"}},  # a fixed-size state too
    {"neuron": "spiking", "synapse": "plastic", "plasticity": {"implementation": "factorised", "rule": "abcd"}},
]


def _model(variant, ticks):
    cfg = set_model_keys(tiny_config(), variant)
    cfg.model.ticks = ticks
    torch.manual_seed(0)
    return build_model(cfg).eval(), cfg


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_continued_thought_equals_a_longer_one(variant):
    model, cfg = _model(variant, 3)
    x = torch.randint(0, 2, (5, cfg.task.sequence_length)).float() * 2 - 1
    with torch.no_grad():
        first, state = model.think(x)
        second, _ = model.think(x, state)
        model.ticks = 6
        whole = model(x)
    assert torch.allclose(torch.cat((first.logits, second.logits), 1), whole.logits, atol=1e-5)
    assert torch.allclose(second.synchrony_out, whole.synchrony_out, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_restart_gives_a_fresh_thought_where_done_and_state_rows_selects(variant):
    model, cfg = _model(variant, 3)
    x = torch.randint(0, 2, (6, cfg.task.sequence_length)).float() * 2 - 1
    done = torch.tensor([1, 0, 0, 1, 0, 1.0])
    with torch.no_grad():
        _, state = model.think(x)
        continued, _ = model.think(x, state)
        mixed, _ = model.think(x, model.restart(state, done))
        fresh = model(x)
        rows = torch.tensor([4, 1])
        selected, _ = model.think(x[rows], model.state_rows(state, rows))
    chosen = done.bool()
    assert torch.allclose(mixed.logits[chosen], fresh.logits[chosen], atol=1e-5)
    assert torch.allclose(mixed.logits[~chosen], continued.logits[~chosen], atol=1e-5)
    if variant.get("neuron") != "spiking":  # (an untrained tiny spiking core may be silent)
        assert not torch.allclose(continued.logits[chosen], fresh.logits[chosen], atol=1e-3)  # the state mattered
    assert torch.allclose(selected.logits, continued.logits[rows], atol=1e-5)


def test_advantages_by_hand():
    """Two steps, two environments; the second environment's episode ends after step 0."""
    rewards = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    values = torch.tensor([[0.5, 0.5], [0.4, 0.3]])
    dones = torch.tensor([[0.0, 0.0], [0.0, 1.0]])  # env 1's observation at t=1 starts a new episode
    next_value, next_done = torch.tensor([0.2, 0.1]), torch.tensor([0.0, 0.0])
    gamma, lam = 0.9, 0.8
    adv = rl.advantages(rewards, values, dones, next_value, next_done, gamma, lam)
    d1 = 1 + gamma * 0.2 - 0.4
    d0 = 1 + gamma * 0.4 - 0.5
    assert adv[1, 0].item() == pytest.approx(d1) and adv[0, 0].item() == pytest.approx(d0 + gamma * lam * d1)
    e1 = 1 + gamma * 0.1 - 0.3
    assert adv[1, 1].item() == pytest.approx(e1) and adv[0, 1].item() == pytest.approx(
        1 - 0.5
    )  # no bootstrap over the end


def test_return_scale_divides_by_the_deviation_of_the_discounted_return():
    rng = np.random.default_rng(0)
    scale = rl.ReturnScale(3, 0.9)
    discounted, history = np.zeros(3), []
    for _ in range(50):
        rewards, dones = rng.random(3), rng.random(3) < 0.1
        scaled = scale(rewards, dones)
        discounted = discounted * 0.9 + rewards
        history.extend(discounted.tolist())
        discounted[dones] = 0
        assert np.allclose(scaled, rewards / (np.std(history) + 1e-8))


def _rl_config(**overrides):
    data = read_toml(REPO / "configs" / "cartpole" / "cartpole-rate.toml")
    data.update({"total_steps": 256, "eval_episodes": 2, "time_budget_s": 0.0})
    data["ppo"].update({"envs": 4, "rollout_steps": 16, "epochs": 1, "minibatches": 2})
    data["env"]["max_episode_steps"] = 50
    for key, value in overrides.items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return rl.rl_from_dict(data)


@pytest.mark.parametrize("kind", ["rate", "spiking", "lstm"])
def test_rl_trains_saves_and_reloads(tmp_path, kind):
    overrides = {
        "lstm": {"agent": "lstm"},
        "rate": {},
        "spiking": {"model.neuron": "spiking", "model.synchrony": "spike-multiscale"},
    }
    cfg = _rl_config(**overrides[kind])
    result = rl.train_rl(cfg, tmp_path / "run", progress=False)
    assert result["env_steps"] == 256 and result["final"]["episodes"] == 2
    assert all(1 <= r <= 50 for r in result["final"]["returns"])
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(np.isfinite(r["loss"]) for r in records)
    agent, ckpt = rl.load_agent(tmp_path / "run")
    assert ckpt.config == cfg and ckpt.step == 256
    again = rl.evaluate_agent(agent, cfg, 2)
    assert again["returns"] == result["final"]["returns"]  # the saved agent acts as the trained one
    with pytest.raises(ConfigError, match="already has checkpoints"):
        rl.train_rl(cfg, tmp_path / "run", progress=False)


def test_ppo_learns_cartpole_with_the_lstm_baseline(tmp_path):
    """Full observations, the fast baseline: the return must rise well above a random policy's
    (about 22) within 12,288 steps (about 15 s)."""
    cfg = _rl_config(
        agent="lstm",
        total_steps=12_288,
        **{
            "env.mask_velocity": False,
            "env.max_episode_steps": 500,
            "ppo.envs": 32,
            "ppo.rollout_steps": 32,
            "ppo.epochs": 4,
        },
    )
    rl.train_rl(cfg, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["recent_return"] < 40 and max(r["recent_return"] for r in records[-3:]) > 60, records


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"agent": "gru"}, "agent"),
        ({"env.id": "Pong-v5"}, "env.id"),
        ({"ppo.envs": 5}, "divisible"),
        ({"model.ticks": 0}, "model.ticks"),
        ({"ppo.gamma": 1.5}, "ppo.gamma"),
        (
            {"model.spiking.rate_regularisation": 1.0, "model.spiking.rate_regularisation_final": 2.0},
            "rate_regularisation_final",
        ),
    ],
)
def test_bad_rl_configs_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        _rl_config(**overrides)


def test_rl_cli(tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text((REPO / "configs" / "cartpole" / "cartpole-lstm.toml").read_text())
    args = [
        "rl",
        str(config),
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
        "--set",
        "total_steps=64",
        "--set",
        "ppo.envs=4",
        "--set",
        "ppo.rollout_steps=16",
        "--set",
        "eval_episodes=1",
        "--set",
        "env.max_episode_steps=20",
    ]
    assert main(args) == 0
    assert "mean return" in capsys.readouterr().out
    assert main(args) == 2  # the run exists: refused, kept
    assert main(["rl", str(config), "--set", "ppo.lr=-1"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("neurosync: error: config: ppo.lr must be > 0")
