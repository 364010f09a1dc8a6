"""The training step the benchmarks time: forward + backward + AdamW of a config's model on one
fixed batch of its task (the model's parameters follow ``cfg.train.seed``, the batch ``seed``)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def config_path(name: str) -> Path:
    """A training config of the repository by name (configs/<task>/<name>.toml)."""
    found = sorted((REPO / "configs").glob(f"*/{name.removesuffix('.toml')}.toml"))
    if len(found) != 1:
        raise SystemExit(f"no single config named {name} in {REPO / 'configs'}")
    return found[0]


def task_step(cfg, seed: int = 0, lr: float = 1e-3):
    """(step, parameters): ``step()`` runs one training step; ``parameters`` counts the model's."""
    import torch

    from neurosync.build import build_model
    from neurosync.tasks import get_task, task_loss

    model = build_model(cfg).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    task = get_task(cfg.task)
    x, y = task.sample(cfg.task, cfg.train.batch_size, torch.Generator().manual_seed(seed))

    def step():
        loss, _ = task_loss(task, model(x), y, cfg.task)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, sum(p.numel() for p in model.parameters())
