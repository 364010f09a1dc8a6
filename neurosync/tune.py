"""Hyperparameter search with Optuna: ``neurosync tune TUNE.toml [--out DIR] [--trials N]``.

A tune file::

    name = "parity8-rate-tune"
    config = "../configs/parity/parity16-rate.toml"   # the base config, relative to the tune file
    set = ["task.sequence_length=8", "train.steps=300"]  # overrides applied to every trial
    trials = 12                   # trials that finish (completed or pruned) before the search ends
    seed = 0                      # the training seed of every trial
    sampler_seed = 0              # the TPE sampler's seed: which points are proposed
    pruner = "median"             # median | successive-halving | none
    startup_trials = 3            # median: trials completed before any is pruned

    [space]                       # dotted config keys
    "train.lr" = {low = 1e-4, high = 1e-2, log = true}   # a range (integer = true for integers)
    "model.d_model" = [64, 128]                          # a list: categorical

Optuna's TPE sampler proposes each trial's point; the trial trains it (on this machine, one trial at a
time) and reports the task's primary measure at every evaluation (``train.eval_every`` steps) to the
pruner, which stops a trial whose intermediate value falls below the median of the completed trials
at the same step (``median``) or outside the top rung (``successive-halving``, Li et al. 2020). A
trial's value is its final evaluation, maximised. The study is stored in ``out/study.journal``
(Optuna's journal file): a search killed at any point resumes there, keeps every finished and
pruned trial, and runs again the one that was running when it was killed (marked failed). The
ranked table is written as ``tune.md``, ``tune.csv`` and ``tune.json``, with the best point's
overrides (``best.json``) and the command that trains it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .config import ConfigError, read_experiment

PRUNERS = ("median", "successive-halving", "none")
STORAGE = "study.journal"


@dataclass
class TuneConfig:
    name: str
    config: Path
    space: dict
    set: list[str] = field(default_factory=list)
    trials: int = 12
    seed: int = 0
    sampler_seed: int = 0
    pruner: str = "median"
    startup_trials: int = 3


def load_tune(path: str | Path) -> TuneConfig:
    """Read and check a tune file; the config is loaded at both ends of every range and at every
    listed value, so an impossible value fails in one line (ConfigError) before any trial."""
    from . import config as config_mod
    from .sweep import check_space, overrides

    path = Path(path)
    data = read_experiment(path, "tune", {f.name for f in fields(TuneConfig)})
    for key in ("name", "config", "space"):
        if key not in data:
            raise ConfigError(f"{path}: a tune file needs '{key}'")
    if not isinstance(data["config"], str):
        raise ConfigError(f"{path}: config must be a path (string), got {data['config']!r}")
    tune = TuneConfig(**dict(data, config=path.parent / data["config"]))
    if not tune.config.is_file():
        raise ConfigError(f"{path}: config {tune.config} does not exist")
    for key in ("trials", "startup_trials"):
        value = getattr(tune, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "trials" else 0):
            raise ConfigError(f"{path}: {key} must be an integer >= {1 if key == 'trials' else 0}, got {value!r}")
    for key in ("seed", "sampler_seed"):
        if not isinstance(getattr(tune, key), int) or isinstance(getattr(tune, key), bool):
            raise ConfigError(f"{path}: {key} must be an integer, got {getattr(tune, key)!r}")
    if tune.pruner not in PRUNERS:
        raise ConfigError(f"{path}: pruner {tune.pruner!r} is not one of {', '.join(PRUNERS)}")
    if not isinstance(tune.set, list) or not all(isinstance(s, str) for s in tune.set):
        raise ConfigError(f"{path}: set must be a list of KEY=VALUE strings")
    check_space(path, tune.space, ranges=True)
    for point in corners(tune.space):
        try:
            config_mod.load(tune.config, tune.set + overrides(point))
        except ConfigError as err:
            raise ConfigError(f"{path}: point {point}: {err}") from None
    return tune


def corners(space: dict) -> list[dict]:
    """Points that visit every listed value and both ends of every range (the others at their first)."""
    first = {key: values[0] if isinstance(values, list) else values["low"] for key, values in space.items()}
    found = [first]
    for key, values in space.items():
        for value in values if isinstance(values, list) else [values["low"], values["high"]]:
            found.append({**first, key: int(value) if isinstance(values, dict) and values.get("integer") else value})
    return found


def _suggest(trial, key: str, values) -> Any:
    if isinstance(values, list):
        return trial.suggest_categorical(key, values)
    if values.get("integer"):
        return trial.suggest_int(key, int(values["low"]), int(values["high"]), log=bool(values.get("log")))
    return trial.suggest_float(key, float(values["low"]), float(values["high"]), log=bool(values.get("log")))


def _pruner(tune: TuneConfig):
    import optuna

    if tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=tune.startup_trials, n_warmup_steps=0)
    if tune.pruner == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def open_study(tune: TuneConfig, out: Path):
    """The Optuna study stored in ``out`` (created, or loaded to resume); a trial left running by
    a killed search is marked failed, so that it runs again."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(out / STORAGE)))
    study = optuna.create_study(
        study_name=tune.name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=tune.sampler_seed),
        pruner=_pruner(tune),
        load_if_exists=True,
    )
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    return study


def finished(study) -> list:
    """The trials that count towards ``trials``: completed or pruned."""
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))


def run_tune(tune: TuneConfig, out: Path, trials: int | None = None, progress: bool = True) -> dict:
    """Run the search into ``out`` until ``trials`` (default the file's) have finished, resuming
    a study stored there (a different search there is refused), then write the ranked table."""
    from . import config as config_mod
    from ._optional import require
    from .sweep import overrides
    from .tasks import get_task
    from .training import train

    optuna = require("optuna", "tune")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    target = tune.trials if trials is None else trials
    if target < 1:
        raise ValueError(f"--trials must be >= 1, got {target}")
    base = config_mod.load(tune.config, tune.set)
    identity = {
        "config": base.to_dict(),
        "space": tune.space,
        "seed": tune.seed,
        "sampler_seed": tune.sampler_seed,
        "pruner": tune.pruner,
        "startup_trials": tune.startup_trials,
    }
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "tune-config.json"
    if marker.is_file() and json.loads(marker.read_text()) != identity:
        raise ValueError(f"{out} holds a different search (other config, space, seeds or pruner): choose another --out")
    marker.write_text(json.dumps(identity, indent=2))
    primary = getattr(get_task(base.task), "PRIMARY", "bit_acc_certain")
    study = open_study(tune, out)

    def objective(trial) -> float:
        point = {key: _suggest(trial, key, values) for key, values in tune.space.items()}
        cfg = config_mod.load(tune.config, tune.set + overrides(point) + [f"train.seed={tune.seed}"])
        run_dir = out / "runs" / f"trial{trial.number}"
        shutil.rmtree(run_dir, ignore_errors=True)  # a trial number is never reused: only debris of a kill

        def report(record: dict) -> None:
            trial.report(float(record[primary]), int(record["step"]))
            if trial.should_prune():
                raise optuna.TrialPruned(f"{primary} {record[primary]:.4f} at step {record['step']}")

        result = train(cfg, run_dir, progress=False, on_eval=report)
        trial.set_user_attr("train_s", result["elapsed_s"])
        return float(result["final"][primary])

    remaining = target - len(finished(study))
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, show_progress_bar=progress)
    summary = _summary(tune, study, primary)
    _write(summary, list(tune.space), out)
    return summary


def _summary(tune: TuneConfig, study, primary: str) -> dict:
    import optuna

    rows = []
    for trial in finished(study):
        steps = sorted(trial.intermediate_values)
        rows.append(
            {
                "trial": trial.number,
                "state": "pruned" if trial.state == optuna.trial.TrialState.PRUNED else "complete",
                **{f"space.{k}": v for k, v in trial.params.items()},
                "value": trial.value,
                "last_step": steps[-1] if steps else None,
                "last_intermediate": trial.intermediate_values[steps[-1]] if steps else None,
                "train_s": trial.user_attrs.get("train_s"),
            }
        )
    rows.sort(key=lambda r: (r["state"] != "complete", -(r["value"] if r["value"] is not None else 0.0)))
    best = next((r for r in rows if r["state"] == "complete"), None)
    best_point = {k[len("space.") :]: v for k, v in best.items() if k.startswith("space.")} if best else None
    return {
        "name": tune.name,
        "config": os.path.normpath(tune.config),
        "set": tune.set,
        "seed": tune.seed,
        "sampler": f"TPE (seed {tune.sampler_seed})",
        "pruner": tune.pruner,
        "primary": primary,
        "trials": len(rows),
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "rows": rows,
        "best": best_point,
    }


def _shown(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _write(summary: dict, keys: list[str], out: Path) -> None:
    from .checkpoint import finite_json
    from .sweep import overrides

    (out / "tune.json").write_text(json.dumps(finite_json(summary), indent=2))
    columns = ["trial", "state", *(f"space.{k}" for k in keys), "value", "last_step", "last_intermediate", "train_s"]
    with open(out / "tune.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(summary["rows"])
    lines = [
        f"# Tuning {summary['name']}",
        "",
        f"{summary['sampler']} over `{summary['config']}` (set `{' '.join(summary['set'])}`, training seed "
        f"{summary['seed']}); "
        f"pruner: {summary['pruner']}; {summary['trials']} trials, {summary['pruned']} pruned; the value is the "
        f"final {summary['primary']}, a pruned trial's is its last intermediate one.",
        "",
        f"| rank | trial | state | {' | '.join(keys)} | {summary['primary']} (%) | at step | train s |",
        "|" + "---|" * (len(keys) + 6),
    ]
    for rank, row in enumerate(summary["rows"], 1):
        values = " | ".join(_shown(row.get(f"space.{k}", "–")) for k in keys)
        shown = row["value"] if row["state"] == "complete" else row["last_intermediate"]
        seconds = "–" if row["train_s"] is None else f"{row['train_s']:.1f}"
        lines.append(
            f"| {rank} | {row['trial']} | {row['state']} | {values} | {100 * shown:.2f} | {row['last_step']} | {seconds} |"
        )
    if summary["best"] is not None:
        (out / "best.json").write_text(json.dumps(summary["best"], indent=2))
        command = " ".join(f"--set {o}" for o in summary["set"] + overrides(summary["best"]))
        lines += ["", f"Train the best point: `neurosync train {summary['config']} {command}`"]
    (out / "tune.md").write_text("\n".join(lines) + "\n")
