"""Reinforcement learning: a CTM that keeps thinking across environment steps, trained with PPO.

As the reference's ``ctm_rl.py``: at every environment step the agent sees one observation,
runs ``model.ticks`` ticks **continuing the thought of the previous step** (the neurons'
histories, the synchrony's running sums and any plastic fast weights carry over; see
:meth:`neurosync.ctm.CTM.think`), and its actor and critic read the output synchrony. When an
episode ends, that environment's thought restarts from the learned start state
(:meth:`neurosync.ctm.CTM.restart`). With ``env.mask_velocity`` (the reference's setting) the
agent sees only the cart position and the pole angle, so it must keep velocities in its state.

The baseline is an LSTM of similar size with the same observation encoder and heads, making
``model.ticks`` LSTM steps per environment step (the reference's ``lstm_rl.py``).

PPO follows CleanRL's recurrent PPO (as the reference): rollouts of ``ppo.rollout_steps`` on
``ppo.envs`` environments, GAE, clipped surrogate, value and entropy terms; each update replays
the rollout through the recurrent agent from the state it started with, in minibatches of whole
environments. Returns are the environment's own (500 at most for CartPole-v1, unless
``env.max_episode_steps`` is lower); rewards are scaled by a running estimate of the return's
deviation for learning only (the reference's ``NormalizeReward``).

    neurosync rl configs/cartpole/cartpole-rate.toml [--run-dir DIR]
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

from .config import (
    Config,
    ConfigError,
    ModelConfig,
    TaskConfig,
    _build,
    _check,
    _check_choice,
    apply_overrides,
    read_toml,
    validate,
)

AGENTS = ("ctm", "lstm")
ENVS = ("CartPole-v1",)


@dataclass
class EnvConfig:
    id: str = "CartPole-v1"
    mask_velocity: bool = True  # observe only position and angle (partially observable, as the reference)
    max_episode_steps: int = 500


@dataclass
class PPOConfig:
    envs: int = 8
    rollout_steps: int = 64
    epochs: int = 4
    minibatches: int = 2
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.1
    entropy: float = 0.01
    value: float = 0.25
    lr: float = 1e-3
    anneal_lr: bool = True
    max_grad_norm: float = 0.5
    normalise_rewards: bool = True


@dataclass
class RLConfig:
    name: str = "cartpole"
    agent: str = "ctm"  # ctm (model.neuron picks rate or spiking) | lstm
    lstm_hidden: int = 64  # lstm: hidden units
    head_hidden: int = 64  # actor and critic: two hidden layers of this width
    synchrony_window: float = 8.0  # ctm: initial synchrony decay r = 1 - 1/window per tick (learned afterwards)
    total_steps: int = 200_000  # environment steps over all environments
    time_budget_s: float = 0.0
    eval_episodes: int = 20
    seed: int = 0
    device: str = "cpu"
    env: EnvConfig = field(default_factory=EnvConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate_rl(cfg: RLConfig) -> RLConfig:
    """Check every value of an RL config; the first bad one raises ConfigError in one line."""
    _check_choice(cfg.agent, AGENTS, "agent")
    _check_choice(cfg.env.id, ENVS, "env.id")
    _check(bool(cfg.name) and "/" not in cfg.name, f"name must be a non-empty string without '/', got {cfg.name!r}")
    for key in ("lstm_hidden", "head_hidden", "total_steps", "eval_episodes"):
        _check(getattr(cfg, key) >= 1, f"{key} must be >= 1, got {getattr(cfg, key)}")
    _check(cfg.synchrony_window > 1, f"synchrony_window must be > 1 (ticks), got {cfg.synchrony_window}")
    _check(cfg.time_budget_s >= 0, f"time_budget_s must be >= 0 (0 means no budget), got {cfg.time_budget_s}")
    _check(cfg.env.max_episode_steps >= 1, f"env.max_episode_steps must be >= 1, got {cfg.env.max_episode_steps}")
    p = cfg.ppo
    for key in ("envs", "rollout_steps", "epochs", "minibatches"):
        _check(getattr(p, key) >= 1, f"ppo.{key} must be >= 1, got {getattr(p, key)}")
    _check(p.envs % p.minibatches == 0, f"ppo.envs ({p.envs}) must be divisible by ppo.minibatches ({p.minibatches})")
    for key in ("gamma", "gae_lambda"):
        _check(0 < getattr(p, key) <= 1, f"ppo.{key} must be in (0, 1], got {getattr(p, key)}")
    for key in ("clip", "lr", "max_grad_norm"):
        _check(getattr(p, key) > 0, f"ppo.{key} must be > 0, got {getattr(p, key)}")
    for key in ("entropy", "value"):
        _check(getattr(p, key) >= 0, f"ppo.{key} must be >= 0, got {getattr(p, key)}")
    validate(Config(task=TaskConfig(name="parity", sequence_length=1), model=cfg.model))  # the CTM's own checks
    _check(
        cfg.model.spiking.rate_regularisation_final == 0,
        "model.spiking.rate_regularisation_final (a ramped rate weight) is for supervised training; PPO keeps "
        "rate_regularisation constant: set rate_regularisation_final = 0",
    )
    _check(cfg.device in ("cpu", "cuda", "auto"), f"device must be cpu, cuda or auto, got {cfg.device!r}")
    return cfg


def rl_from_dict(data: dict[str, Any]) -> RLConfig:
    """A validated :class:`RLConfig` from a nested dict."""
    return validate_rl(_build(RLConfig, data, ""))


def load_rl(path: str | Path, overrides: list[str] | None = None) -> RLConfig:
    """Read an RL TOML file, apply ``--set`` overrides, validate."""
    return rl_from_dict(apply_overrides(read_toml(path), overrides or []))


# --------------------------------------------------------------------------------------------
# The agent


class ObservationEncoder(nn.Module):
    """An observation vector -> one token (batch, 1, width): two GLU layers with LayerNorm
    (as the reference's classic-control backbone)."""

    def __init__(self, observations: int, width: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(observations, 2 * width),
            nn.GLU(),
            nn.LayerNorm(width),
            nn.Linear(width, 2 * width),
            nn.GLU(),
            nn.LayerNorm(width),
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.layers(obs).unsqueeze(1)


class LSTMCore(nn.Module):
    """The baseline: the same encoder, an LSTM cell stepped ``ticks`` times per observation,
    a learned start state."""

    def __init__(self, observations: int, width: int, hidden: int, ticks: int):
        super().__init__()
        self.encoder = ObservationEncoder(observations, width)
        self.cell = nn.LSTMCell(width, hidden)
        self.ticks = ticks
        self.start_hidden = nn.Parameter(torch.zeros(hidden))
        self.start_cell = nn.Parameter(torch.zeros(hidden))

    def start(self, batch: int):
        return self.start_hidden.expand(batch, -1), self.start_cell.expand(batch, -1)

    def restart(self, state, done: torch.Tensor):
        keep = ~done.bool().unsqueeze(1)
        return tuple(torch.where(keep, old, fresh) for old, fresh in zip(state, self.start(done.shape[0])))

    def state_rows(self, state, rows: torch.Tensor):
        return tuple(t.index_select(0, rows) for t in state)

    def features(self, obs: torch.Tensor, state):
        token = self.encoder(obs)[:, 0]
        for _ in range(self.ticks):
            state = self.cell(token, state)
        return state[0], state, None


def _layer(d_in: int, d_out: int, std: float) -> nn.Linear:
    layer = nn.Linear(d_in, d_out)
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


def _head(d_in: int, hidden: int, d_out: int, std: float) -> nn.Sequential:
    return nn.Sequential(
        _layer(d_in, hidden, math.sqrt(2)),
        nn.ReLU(),
        _layer(hidden, hidden, math.sqrt(2)),
        nn.ReLU(),
        _layer(hidden, d_out, std),
    )


class CTMCore(nn.Module):
    """A RateCTM or SpikingCTM over one observation token; its features are the output synchrony."""

    def __init__(self, cfg: RLConfig, observations: int, actions: int):
        super().__init__()
        from .rate import RateCTM
        from .spiking_ctm import SpikingCTM

        cls = SpikingCTM if cfg.model.neuron == "spiking" else RateCTM
        generator = torch.Generator().manual_seed(cfg.seed)
        self.ctm = cls(
            cfg.model, ObservationEncoder(observations, cfg.model.d_input), cfg.model.d_input, (actions,), generator
        )
        self.ctm.readout.requires_grad_(False)  # the actor reads the synchrony; the CTM's own readout is unused
        # A thought that never ends needs a synchrony that forgets: the CTM's default decay of 0
        # (r = 1) sums over the whole episode. The reference windows the last ticks instead.
        with torch.no_grad():
            for decay in (self.ctm.synchrony.decay_action, self.ctm.synchrony.decay_out):
                decay.fill_(-math.log(1 - 1 / cfg.synchrony_window))
        self.size = self.ctm.synchrony.size_out

    def start(self, batch: int):
        return self.ctm.start(batch)

    def restart(self, state, done):
        return self.ctm.restart(state, done)

    def state_rows(self, state, rows):
        return self.ctm.state_rows(state, rows)

    def features(self, obs: torch.Tensor, state):
        out, state = self.ctm.think(obs, state)
        return out.synchrony_out, state, out.activity


class Agent(nn.Module):
    """Recurrent core (CTM or LSTM) + actor and critic MLPs on its features."""

    def __init__(self, cfg: RLConfig, observations: int, actions: int):
        super().__init__()
        torch.manual_seed(cfg.seed)
        if cfg.agent == "ctm":
            self.core = CTMCore(cfg, observations, actions)
            size = self.core.size
        else:
            self.core = LSTMCore(observations, cfg.model.d_input, cfg.lstm_hidden, cfg.model.ticks)
            size = cfg.lstm_hidden
        self.actor = _head(size, cfg.head_hidden, actions, 0.01)
        self.critic = _head(size, cfg.head_hidden, 1, 1.0)

    def start(self, batch: int):
        return self.core.start(batch)

    def step(self, obs: torch.Tensor, state, done: torch.Tensor):
        """One environment step: restart the rows whose episode ended, think, act.
        Returns (action logits, value, state, activity or None)."""
        features, state, activity = self.core.features(obs, self.core.restart(state, done))
        return self.actor(features), self.critic(features).squeeze(-1), state, activity


def trainable_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------
# Environments


class Environments:
    """``count`` gymnasium environments stepped in lockstep; an ended episode is reset at once
    (its return recorded) and its row reported as done for the agent's next step."""

    def __init__(self, cfg: EnvConfig, count: int, seed: int):
        from ._optional import require

        gym = require("gymnasium", "rl")
        self.envs = [gym.make(cfg.id, max_episode_steps=cfg.max_episode_steps) for _ in range(count)]
        self.mask = np.array([0, 2]) if cfg.mask_velocity else None  # CartPole: x, x_dot, theta, theta_dot
        self.returns = np.zeros(count)
        self.lengths = np.zeros(count, dtype=np.int64)
        self.finished: list[tuple[float, int]] = []
        self.obs = np.stack([self._observe(env.reset(seed=seed + i)[0]) for i, env in enumerate(self.envs)])
        self.actions = self.envs[0].action_space.n

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        return (obs if self.mask is None else obs[self.mask]).astype(np.float32)

    @property
    def observations(self) -> int:
        return self.obs.shape[1]

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> (next observations, rewards, done flags)."""
        rewards, dones = np.zeros(len(self.envs)), np.zeros(len(self.envs), dtype=bool)
        for i, (env, action) in enumerate(zip(self.envs, actions)):
            obs, reward, terminated, truncated, _ = env.step(int(action))
            self.returns[i] += reward
            self.lengths[i] += 1
            rewards[i] = reward
            if terminated or truncated:
                self.finished.append((float(self.returns[i]), int(self.lengths[i])))
                self.returns[i], self.lengths[i] = 0.0, 0
                obs, _ = env.reset()
                dones[i] = True
            self.obs[i] = self._observe(obs)
        return self.obs.copy(), rewards, dones


class ReturnScale:
    """Divide rewards by the running deviation of the discounted return (the reference's
    gymnasium ``NormalizeReward``; Welford's running variance)."""

    def __init__(self, count: int, gamma: float):
        self.gamma, self.discounted = gamma, np.zeros(count)
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.discounted = self.discounted * self.gamma + rewards
        for value in self.discounted:
            self.n += 1
            delta = value - self.mean
            self.mean += delta / self.n
            self.m2 += delta * (value - self.mean)
        self.discounted[dones] = 0.0
        std = math.sqrt(self.m2 / self.n) if self.n > 1 else 1.0
        return rewards / (std + 1e-8)


# --------------------------------------------------------------------------------------------
# PPO


def advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    next_done: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Generalised advantage estimates (T, E). ``dones[t]`` marks that the observation at t
    starts a new episode (the previous step ended one), as in CleanRL."""
    steps = rewards.shape[0]
    result = torch.zeros_like(rewards)
    running = torch.zeros_like(next_value)
    for t in reversed(range(steps)):
        if t == steps - 1:
            alive, following = 1.0 - next_done, next_value
        else:
            alive, following = 1.0 - dones[t + 1], values[t + 1]
        delta = rewards[t] + gamma * following * alive - values[t]
        running = delta + gamma * lam * alive * running
        result[t] = running
    return result


def _detach(state):
    """The rollout's start state without autograd history. The first one holds views of the
    learned start parameters, and each replay's backward would otherwise run through them
    again (making it under no_grad instead is refused once the optimizer updates them)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if dataclasses.is_dataclass(state):
        return dataclasses.replace(
            state, **{f.name: _detach(getattr(state, f.name)) for f in dataclasses.fields(state)}
        )
    return type(state)(_detach(s) for s in state)


@torch.no_grad()
def evaluate_agent(agent: Agent, cfg: RLConfig, episodes: int, seed: int = 10_000, device="cpu") -> dict[str, Any]:
    """Mean return of ``episodes`` episodes (run side by side) with the most probable action."""
    envs = Environments(cfg.env, episodes, seed)
    state = agent.start(episodes)
    done = torch.zeros(episodes, device=device)
    returns = np.full(episodes, np.nan)
    obs = envs.obs.copy()
    was_training = agent.training
    agent.eval()
    while np.isnan(returns).any():
        logits, _, state, _ = agent.step(torch.from_numpy(obs).to(device), state, done)
        before = len(envs.finished)
        active = np.isnan(returns)
        obs, _, dones = envs.step(logits.argmax(-1).cpu().numpy())
        finished = iter(envs.finished[before:])
        for i in np.flatnonzero(dones):
            ret, _ = next(finished)
            if active[i]:
                returns[i] = ret
        done = torch.from_numpy(dones.astype(np.float32)).to(device)
    agent.train(was_training)
    return {
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "episodes": episodes,
        "returns": returns.tolist(),
    }


def train_rl(cfg: RLConfig, run_dir: Path, progress: bool = True) -> dict[str, Any]:
    """PPO on ``cfg.env`` (see the module docstring); writes metrics.jsonl, checkpoints and
    results.json to ``run_dir`` and returns the results."""
    from . import checkpoint
    from .losses import rate_homeostasis
    from .training import _progress, pick_device

    ckpt_dir = run_dir / "checkpoints"
    if checkpoint.latest(ckpt_dir) is not None:
        raise ConfigError(f"run directory {run_dir} already has checkpoints; choose another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    device = pick_device(cfg.device)
    p = cfg.ppo
    envs = Environments(cfg.env, p.envs, cfg.seed * 1_000)
    agent = Agent(cfg, envs.observations, envs.actions).to(device)
    optimizer = torch.optim.Adam([q for q in agent.parameters() if q.requires_grad], lr=p.lr, eps=1e-5)
    sampler = torch.Generator().manual_seed(cfg.seed)
    scale = ReturnScale(p.envs, p.gamma) if p.normalise_rewards else None
    spiking = cfg.agent == "ctm" and cfg.model.neuron == "spiking" and cfg.model.spiking.homeostatic()
    batch = p.envs * p.rollout_steps
    iterations = max(1, math.ceil(cfg.total_steps / batch))
    log = run_dir / "metrics.jsonl"
    bar = _progress(progress, 0, iterations, cfg.name)
    state, done = agent.start(p.envs), torch.zeros(p.envs, device=device)
    obs = torch.from_numpy(envs.obs.copy()).to(device)
    started, steps, record = time.perf_counter(), 0, {}
    for iteration in range(iterations):
        lr = p.lr * (1 - iteration / iterations) if p.anneal_lr else p.lr
        for group in optimizer.param_groups:
            group["lr"] = lr
        first_state = _detach(state)
        buffers = {k: [] for k in ("obs", "done", "action", "logprob", "value", "reward")}
        with torch.no_grad():
            for _ in range(p.rollout_steps):
                logits, value, state, _ = agent.step(obs, state, done)
                action = torch.multinomial(torch.softmax(logits.float().cpu(), -1), 1, generator=sampler).squeeze(1)
                buffers["obs"].append(obs)
                buffers["done"].append(done)
                buffers["action"].append(action.to(device))
                buffers["logprob"].append(Categorical(logits=logits).log_prob(action.to(device)))
                buffers["value"].append(value)
                next_obs, rewards, dones = envs.step(action.numpy())
                if scale is not None:
                    rewards = scale(rewards, dones)
                buffers["reward"].append(torch.as_tensor(rewards, dtype=torch.float32, device=device))
                obs = torch.from_numpy(next_obs).to(device)
                done = torch.from_numpy(dones.astype(np.float32)).to(device)
            _, next_value, _, _ = agent.step(obs, state, done)
        rollout = {k: torch.stack(v) for k, v in buffers.items()}
        adv = advantages(rollout["reward"], rollout["value"], rollout["done"], next_value, done, p.gamma, p.gae_lambda)
        returns = adv + rollout["value"]
        steps += batch
        losses = []
        per_minibatch = p.envs // p.minibatches
        for _ in range(p.epochs):
            order = torch.randperm(p.envs, generator=sampler).to(device)
            for m in range(p.minibatches):
                rows = order[m * per_minibatch : (m + 1) * per_minibatch]
                replay = agent.core.state_rows(first_state, rows)
                logits, values, activity = [], [], []
                for t in range(p.rollout_steps):
                    step_logits, step_value, replay, step_activity = agent.step(
                        rollout["obs"][t, rows], replay, rollout["done"][t, rows]
                    )
                    logits.append(step_logits)
                    values.append(step_value)
                    if step_activity is not None:
                        activity.append(step_activity)
                dist = Categorical(logits=torch.stack(logits))
                new_logprob = dist.log_prob(rollout["action"][:, rows])
                mb_adv = adv[:, rows]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                ratio = (new_logprob - rollout["logprob"][:, rows]).exp()
                policy_loss = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(1 - p.clip, 1 + p.clip)).mean()
                value_loss = 0.5 * (torch.stack(values) - returns[:, rows]).square().mean()
                loss = policy_loss - p.entropy * dist.entropy().mean() + p.value * value_loss
                if spiking and activity:
                    loss = loss + rate_homeostasis(
                        agent.core.ctm.neuron.rate_hz(torch.stack(activity).mean(0)), cfg.model.spiking
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), p.max_grad_norm)
                optimizer.step()
                losses.append(loss.item())
        elapsed = time.perf_counter() - started
        recent = [r for r, _ in envs.finished[-20:]]
        record = {
            "iteration": iteration + 1,
            "env_steps": steps,
            "elapsed_s": round(elapsed, 2),
            "lr": lr,
            "loss": float(np.mean(losses)),
            "episodes": len(envs.finished),
            "recent_return": float(np.mean(recent)) if recent else float("nan"),
        }
        with open(log, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        bar.set_postfix({"return": f"{record['recent_return']:.1f}"})
        bar.update(1)
        if cfg.time_budget_s > 0 and elapsed >= cfg.time_budget_s:
            break
    bar.close()
    checkpoint.save(ckpt_dir, steps, cfg, agent, optimizer, record)
    final = evaluate_agent(agent, cfg, cfg.eval_episodes, device=device)
    result = {
        "name": cfg.name,
        "agent": cfg.agent,
        "neuron": cfg.model.neuron if cfg.agent == "ctm" else "lstm",
        "env": cfg.env.id,
        "mask_velocity": cfg.env.mask_velocity,
        "env_steps": steps,
        "iterations": record.get("iteration", 0),
        "elapsed_s": round(time.perf_counter() - started, 2),
        "device": str(device),
        "parameters": trainable_parameters(agent),
        "training_episodes": len(envs.finished),
        "final": final,
    }
    (run_dir / "results.json").write_text(json.dumps(result, indent=2))
    return result


def load_agent(path: str | Path) -> tuple[Agent, Any]:
    """(agent in eval mode, checkpoint) from an RL run or checkpoint directory."""
    from . import checkpoint

    ckpt = checkpoint.load(path, parse=rl_from_dict)
    envs = Environments(ckpt.config.env, 1, 0)
    agent = Agent(ckpt.config, envs.observations, envs.actions)
    checkpoint.restore_model(agent, ckpt)
    return agent.eval(), ckpt
