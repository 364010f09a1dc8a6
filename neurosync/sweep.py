"""Sweeps: a grid or random search over config keys × seeds, on any executor, into one table.

``neurosync sweep SWEEP.toml [--out DIR] [--executor local|dask]``. A sweep file::

    name = "parity-lr"
    config = "parity16-rate.toml"   # the base config, relative to the sweep file
    seeds = [0, 1, 2]
    set = ["train.steps=500"]       # overrides applied to every point
    search = "grid"                 # grid: every combination; random: `samples` points
    samples = 8                     # random only
    search_seed = 0                 # random only: which points are drawn

    [space]                         # dotted config keys
    "train.lr" = [3e-4, 1e-3, 3e-3]                        # a list: its values
    "model.d_model" = [64, 128]
    "train.weight_decay" = {low = 1e-5, high = 1e-2, log = true}   # random only: a range

Every (point, seed) is one training job (:mod:`neurosync.executors`: idempotent, resumable), so
an interrupted sweep resumes where it stopped. The table ranks the points by the mean of the
task's primary measure over seeds, with its 95% CI (Student t on the logit scale, as the
ablations'), and is written as ``sweep.md``, ``sweep.csv`` and ``sweep.json``. Every point's
config is loaded before any job starts, so an impossible value fails in one line first.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from .config import ConfigError, read_experiment
from .executors import with_denormals_flushed

SEARCHES = ("grid", "random")
SWEEP_JOB = "sweep-job.json"


@dataclass
class SweepConfig:
    name: str
    config: Path
    seeds: list[int]
    space: dict
    set: list[str] = field(default_factory=list)
    search: str = "grid"
    samples: int = 8
    search_seed: int = 0


def _fail(path, message: str):
    raise ConfigError(f"{path}: {message}")


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and check a sweep file; every point's config is loaded here (one-line ConfigError)."""
    from . import config as config_mod

    path = Path(path)
    data = read_experiment(path, "sweep", {f.name for f in fields(SweepConfig)})
    for key in ("name", "config", "seeds", "space"):
        if key not in data:
            _fail(path, f"a sweep needs '{key}'")
    if not isinstance(data["config"], str):
        _fail(path, f"config must be a path (string), got {data['config']!r}")
    sweep = SweepConfig(**dict(data, config=path.parent / data["config"]))
    if not sweep.config.is_file():
        _fail(path, f"config {sweep.config} does not exist")
    seeds = sweep.seeds
    if not (
        isinstance(seeds, list)
        and seeds
        and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
        and len(set(seeds)) == len(seeds)
    ):
        _fail(path, f"seeds must be a non-empty list of distinct integers, got {seeds!r}")
    if sweep.search not in SEARCHES:
        _fail(path, f"search {sweep.search!r} is not one of {', '.join(SEARCHES)}")
    check_space(path, sweep.space, ranges=sweep.search != "grid")
    if not isinstance(sweep.samples, int) or sweep.samples < 1:
        _fail(path, f"samples must be an integer >= 1, got {sweep.samples!r}")
    if not isinstance(sweep.set, list) or not all(isinstance(s, str) for s in sweep.set):
        _fail(path, "set must be a list of KEY=VALUE strings")
    for point in points(sweep):
        try:
            config_mod.load(sweep.config, sweep.set + overrides(point))
        except ConfigError as err:
            _fail(path, f"point {point}: {err}")
    return sweep


def check_space(path, space, ranges: bool) -> None:
    """A search space (sweep or tune file): dotted config keys, each a non-empty list of values or,
    where ``ranges``, a range {low, high, log, integer}; one-line ConfigError naming what is wrong."""
    if not isinstance(space, dict) or not space:
        _fail(path, "[space] must name at least one config key")
    for key, values in space.items():
        if isinstance(values, dict):
            if not ranges:
                _fail(path, f"space.{key}: a range {{low, high}} needs search = 'random' (a grid takes a list)")
            if set(values) - {"low", "high", "log", "integer"} or not {"low", "high"} <= set(values):
                _fail(
                    path,
                    f"space.{key}: a range is {{low = ..., high = ..., log = false, integer = false}}, got {values!r}",
                )
            low, high = values["low"], values["high"]
            if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
                _fail(path, f"space.{key}: needs numbers low < high, got {low!r}, {high!r}")
            if values.get("log") and low <= 0:
                _fail(path, f"space.{key}: a log range needs low > 0, got {low!r}")
        elif not isinstance(values, list) or not values:
            _fail(
                path,
                f"space.{key}: give a non-empty list of values (or a range where ranges are searched), got {values!r}",
            )


def points(sweep: SweepConfig) -> list[dict]:
    """The points searched: every combination (grid), or ``samples`` draws (random; lists drawn
    uniformly, ranges uniformly or log-uniformly), seeded by ``search_seed``."""
    keys = list(sweep.space)
    if sweep.search == "grid":
        return [dict(zip(keys, combo)) for combo in itertools.product(*(sweep.space[k] for k in keys))]
    rng = np.random.default_rng(sweep.search_seed)
    drawn = []
    for _ in range(sweep.samples):
        point = {}
        for key in keys:
            values = sweep.space[key]
            if isinstance(values, list):
                point[key] = values[int(rng.integers(len(values)))]
                continue
            low, high = values["low"], values["high"]
            value = (
                math.exp(rng.uniform(math.log(low), math.log(high))) if values.get("log") else rng.uniform(low, high)
            )
            point[key] = int(round(value)) if values.get("integer") else float(f"{value:.4g}")
        drawn.append(point)
    return drawn


def overrides(point: dict) -> list[str]:
    """A point as KEY=VALUE overrides (TOML values: strings quoted, booleans lower case)."""
    return [f"{key}={json.dumps(value)}" for key, value in point.items()]


@with_denormals_flushed
def sweep_job(job: dict) -> dict:
    """Train (or resume, or read back) one (point, seed); returns steps, train_s and the final
    evaluation. ``job``: ``config`` (path), ``overrides``, ``run_dir``, ``threads``, ``device``.
    Float32 subnormals are flushed to zero for the job (:func:`neurosync.executors.with_denormals_flushed`)."""
    import torch

    from . import config as config_mod
    from .executors import trained_run, write_result

    torch.set_num_threads(job["threads"])
    run = Path(job["run_dir"])
    done = run / SWEEP_JOB
    if done.is_file():
        return json.loads(done.read_text())
    cfg = config_mod.load(job["config"], job["overrides"])
    result = trained_run(cfg, run, job["device"])
    return write_result(done, {"steps": result["steps"], "train_s": result["elapsed_s"], "final": result["final"]})


def run_sweep(
    sweep: SweepConfig,
    out: Path,
    executor: str = "local",
    address: str | None = None,
    workers: int = 2,
    progress: bool = True,
    device: str = "cpu",
) -> dict:
    """Run every (point, seed) job on ``executor`` into ``out/runs`` and write the table; a rerun
    into the same ``out`` resumes (a different sweep there is refused)."""
    import torch

    from . import config as config_mod
    from .compare import bounded_mean_ci
    from .executors import run_jobs
    from .tasks import get_task

    grid = points(sweep)
    identity = {"config": config_mod.load(sweep.config, sweep.set).to_dict(), "points": grid, "seeds": sweep.seeds}
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "sweep-config.json"
    if marker.is_file() and json.loads(marker.read_text()) != identity:
        raise ValueError(
            f"{out} holds a different sweep (other config, overrides, points or seeds): choose another --out"
        )
    marker.write_text(json.dumps(identity, indent=2))
    jobs = [
        {
            "config": str(sweep.config),
            "overrides": sweep.set + overrides(point) + [f"train.seed={seed}"],
            "run_dir": str((out / "runs" / f"point{i}" / f"seed{seed}").resolve()),
            "threads": torch.get_num_threads(),
            "device": device,
        }
        for i, point in enumerate(grid)
        for seed in sweep.seeds
    ]
    results = run_jobs(sweep_job, jobs, executor, address, workers, progress, desc=f"sweep {sweep.name}")
    task = get_task(config_mod.load(sweep.config, sweep.set).task)
    primary = getattr(task, "PRIMARY", "bit_acc_certain")
    rows = []
    for i, point in enumerate(grid):
        runs = results[i * len(sweep.seeds) : (i + 1) * len(sweep.seeds)]
        values = [r["final"][primary] for r in runs]
        mean, low, high = bounded_mean_ci(values)
        rows.append(
            {
                "point": i,
                **{f"space.{k}": v for k, v in point.items()},
                "mean": mean,
                "ci95_low": low,
                "ci95_high": high,
                "values": values,
                "steps": runs[0]["steps"],
                "train_s": float(np.mean([r["train_s"] for r in runs])),
            }
        )
    rows.sort(key=lambda r: -r["mean"])
    summary = {
        "name": sweep.name,
        "config": str(sweep.config),
        "search": sweep.search,
        "seeds": sweep.seeds,
        "set": sweep.set,
        "primary": primary,
        "executor": executor,
        "interval": "95% CI over seeds: Student t on the logit scale, mapped back",
        "rows": rows,
    }
    _write(summary, list(sweep.space), out)
    return summary


def _write(summary: dict, keys: list[str], out: Path) -> None:
    (out / "sweep.json").write_text(json.dumps(summary, indent=2))
    columns = ["point", *(f"space.{k}" for k in keys), "mean", "ci95_low", "ci95_high", "steps", "train_s"]
    with open(out / "sweep.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(summary["rows"])
    head = f"| rank | {' | '.join(keys)} | {summary['primary']} (mean [95% CI], %) | steps | train s |"
    lines = [
        f"# Sweep {summary['name']}",
        "",
        f"{summary['search']} search over {len(summary['rows'])} points × seeds {summary['seeds']} of "
        f"`{summary['config']}` (set {summary['set']}); {summary['interval']}.",
        "",
        head,
        "|" + "---|" * (len(keys) + 4),
    ]
    for rank, row in enumerate(summary["rows"], 1):
        values = " | ".join(str(row[f"space.{k}"]) for k in keys)
        lines.append(
            f"| {rank} | {values} | {100 * row['mean']:.2f} [{100 * row['ci95_low']:.2f}, "
            f"{100 * row['ci95_high']:.2f}] | {row['steps']} | {row['train_s']:.1f} |"
        )
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
