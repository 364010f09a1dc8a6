"""Ablations: several model configs ("arms") trained on one task for the same number of steps
over several seeds, each measured the same way, into one table with 95% CIs and verdicts that
can fail (plastic and non-plastic CTMs and an LSTM compared).

``neurosync ablate ABLATION.toml [--out DIR] [--workers N]`` reads a file like::

    name = "recall2"
    seeds = [0, 1, 2]
    steps = 3000                       # every arm, every seed (no wall-clock budget: equal steps)
    set = ["task.pairs=2", "model.ticks=8"]   # applied to every arm
    reference = "SpikingCTM"           # the arm whose parameter count the others must match (±10%)
    [[arm]]
    name = "SpikingCTM"
    config = "recall8-spiking.toml"    # relative to the ablation file
    group = "spiking"                  # spiking | spiking-plastic | lstm | other: what the verdicts compare
    [[arm]]
    name = "SpikingCTM + ABCD"
    config = "recall8-spiking-plastic.toml"
    set = ["model.plasticity.rule=abcd"]
    group = "spiking-plastic"

Every (arm, seed) run trains in its own process (``workers`` at a time, ``threads`` torch
threads each) into ``DIR/runs/<arm>/seed<k>``, so an interrupted ablation resumes where it
stopped: finished runs are read back, interrupted ones resume from their last checkpoint. Each
run is measured on the task's held-out evaluation set (``final_eval_samples`` inputs): the
accuracy at the most-certain tick, and at the last tick of a thought ``length_factor`` times as
long as trained (the answer window stretched, nothing more shown), the failure mode of the
plastic-CTM anchor whose plain CTM collapses when it thinks on.

The table (``ablation.md``, ``ablation.json``, ``ablation.png``) gives per arm the parameter
count, the mean over seeds with its 95% CI (Student t on the logit scale, mapped back:
:func:`neurosync.compare.bounded_mean_ci`) of both accuracies, the seeds' values and the time per
run; and the verdicts, each computed, never asserted: parameter counts within the
tolerance of the reference arm; the best plastic SpikingCTM against the SpikingCTM (≥
``goal_points`` points better or half the error, with disjoint CIs); against the LSTM (mean not
below the LSTM's CI); and its accuracy at the long thought within ``long_points`` points of the
most-certain tick.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..config import ConfigError, read_experiment
from ..executors import with_denormals_flushed

GROUPS = ("spiking", "spiking-plastic", "lstm", "other")
RESULT = "ablation-run.json"  # what a finished run writes beside its checkpoints


@dataclass
class Arm:
    name: str
    config: Path
    set: list[str] = field(default_factory=list)
    group: str = "other"


@dataclass
class AblationConfig:
    name: str
    arms: list[Arm]
    seeds: list[int]
    steps: int
    set: list[str] = field(default_factory=list)
    reference: str = ""  # the arm the parameter counts are held to (default: the first)
    workers: int = 2  # runs at a time
    threads: int = 1  # torch threads per run
    final_eval_samples: int = 2000
    length_factor: int = 2
    param_tolerance: float = 0.10
    goal_points: float = 20.0
    long_points: float = 5.0

    def run_overrides(self, arm: Arm, seed: int) -> list[str]:
        """The overrides that make one run of an arm: the ablation's, the arm's, then the budget."""
        slug = _slug(arm.name)
        return (
            self.set
            + arm.set
            + [
                f"name={self.name}-{slug}-seed{seed}",
                f"train.seed={seed}",
                f"train.steps={self.steps}",
                "train.time_budget_s=0",
                f"train.checkpoint_every={max(1, min(1000, self.steps))}",
                f"train.final_eval_samples={self.final_eval_samples}",
            ]
        )


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")


def load_ablation(path: str | Path, overrides: list[str] | None = None) -> AblationConfig:
    """Read an ablation TOML (``overrides`` are appended to its ``set``); every arm's config is
    loaded for every seed here, so any mistake raises ConfigError with one line before a run starts."""
    from .. import config as config_mod

    path = Path(path)
    data = read_experiment(path, "ablation", {f.name for f in fields(AblationConfig)} - {"arms"} | {"arm"})
    raw_arms = data.pop("arm", None)
    if not isinstance(raw_arms, list) or len(raw_arms) < 2:
        raise ConfigError(f"{path}: an ablation needs at least two [[arm]] tables (name, config, set, group)")
    arms = []
    for i, raw in enumerate(raw_arms):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("config"), str):
            raise ConfigError(f"{path}: arm {i + 1} must give a name and a config (strings), got {raw!r}")
        bad = sorted(set(raw) - {"name", "config", "set", "group"})
        if bad:
            raise ConfigError(
                f"{path}: arm {raw['name']!r}: unknown key(s) {', '.join(bad)}; known: config, group, name, set"
            )
        arm = Arm(raw["name"], path.parent / raw["config"], list(raw.get("set", [])), raw.get("group", "other"))
        if arm.group not in GROUPS:
            raise ConfigError(f"{path}: arm {arm.name!r}: group {arm.group!r} is not one of {', '.join(GROUPS)}")
        if not arm.config.is_file():
            raise ConfigError(f"{path}: arm {arm.name!r}: config {arm.config} does not exist")
        if not all(isinstance(s, str) for s in arm.set):
            raise ConfigError(f"{path}: arm {arm.name!r}: set must be a list of KEY=VALUE strings")
        arms.append(arm)
    names = [_slug(a.name) for a in arms]
    if len(set(names)) != len(names) or not all(names):
        raise ConfigError(
            f"{path}: arm names must be distinct (and not only punctuation), got {[a.name for a in arms]}"
        )
    try:
        ab = AblationConfig(arms=arms, **data)
    except TypeError as err:
        raise ConfigError(f"{path}: {err}") from None
    ab.set = list(ab.set) + list(overrides or [])
    ab.reference = ab.reference or arms[0].name
    _check(
        isinstance(ab.seeds, list)
        and len(ab.seeds) >= 1
        and all(isinstance(s, int) for s in ab.seeds)
        and len(set(ab.seeds)) == len(ab.seeds),
        f"{path}: seeds must be a non-empty list of distinct integers, got {ab.seeds!r}",
    )
    for key in ("steps", "workers", "threads", "final_eval_samples", "length_factor"):
        value = getattr(ab, key)
        _check(
            isinstance(value, int) and not isinstance(value, bool) and value >= 1,
            f"{path}: {key} must be a positive integer, got {value!r}",
        )
    for key in ("param_tolerance", "goal_points", "long_points"):
        value = getattr(ab, key)
        _check(isinstance(value, (int, float)) and value >= 0, f"{path}: {key} must be a number >= 0, got {value!r}")
    _check(ab.reference in [a.name for a in arms], f"{path}: reference {ab.reference!r} is not one of the arms")
    tasks = set()
    for arm in arms:
        for seed in ab.seeds:
            try:
                cfg = config_mod.load(arm.config, ab.run_overrides(arm, seed))
            except ConfigError as err:
                raise ConfigError(f"{path}: arm {arm.name!r}: {err}") from None
            tasks.add(repr(cfg.task))
    _check(len(tasks) == 1, f"{path}: the arms must train on the same task (after the overrides); they differ")
    return ab


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def long_thought_overrides(cfg, factor: int) -> list[str]:
    """Overrides that make a thought ``factor`` times as long: episodic tasks stretch their answer
    window (every item is still shown once, at the same ticks), the others think on the same input."""
    ticks = cfg.model.ticks * factor
    extra = [f"model.ticks={ticks}"]
    if cfg.task.name in ("qa_digits", "recall", "oneshot"):
        extra.append(f"task.answer_ticks={cfg.task.answer_ticks + ticks - cfg.model.ticks}")
    return extra


@with_denormals_flushed
def run_one(config_path: str, overrides: list[str], run_dir: str, threads: int, length_factor: int) -> dict:
    """Train (or resume, or read back) one run and measure it; returns what it writes to RESULT.
    Float32 subnormals are flushed to zero for the job (:func:`neurosync.executors.with_denormals_flushed`)."""
    import torch

    from .. import checkpoint
    from .. import config as config_mod
    from ..build import build_model
    from ..executors import trained_run
    from ..tasks import get_task
    from ..training import evaluate

    torch.set_num_threads(threads)
    run = Path(run_dir)
    done = run / RESULT
    if done.is_file():
        return json.loads(done.read_text())
    cfg = config_mod.load(config_path, overrides)
    started = time.perf_counter()
    trained = trained_run(cfg, run)  # read back, resumed, or (killed before its first checkpoint) started over
    model, ckpt = checkpoint.load_model(run)
    task = get_task(cfg.task)
    x, y = task.eval_set(cfg.task, cfg.train.final_eval_samples, cfg.train.seed)
    final = evaluate(model, cfg, x, y)
    long_cfg = config_mod.load(config_path, overrides + long_thought_overrides(cfg, length_factor))
    long_model = build_model(long_cfg)
    checkpoint.restore_model(long_model, ckpt)
    lx, ly = task.eval_set(long_cfg.task, cfg.train.final_eval_samples, cfg.train.seed)
    long = evaluate(long_model.eval(), long_cfg, lx, ly)
    primary = getattr(task, "PRIMARY", "bit_acc_certain")  # the tasks' default, as in training
    result = {
        "name": cfg.name,
        "steps": ckpt.step,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_s": trained["elapsed_s"],
        "measure_s": round(time.perf_counter() - started, 2),
        "primary": primary,
        "eval_samples": int(x.shape[0]),
        "final": final,
        "long_ticks": long_cfg.model.ticks,
        "long": long,
    }
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(checkpoint.finite_json(result), indent=2, allow_nan=False))
    os.replace(tmp, done)
    return result


def _worker_init(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)


def run_ablation(ab: AblationConfig, out: Path, progress: bool = True) -> dict:
    """Every (arm, seed) run (``ab.workers`` processes at a time), then the table; returns the summary
    that ``ablation.json`` holds."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    out = Path(out)
    stamp = {
        "name": ab.name,
        "steps": ab.steps,
        "set": ab.set,
        "final_eval_samples": ab.final_eval_samples,
        "length_factor": ab.length_factor,
        "arms": [{"name": a.name, "config": a.config.name, "set": a.set} for a in ab.arms],
    }
    stamp_path = out / "ablation-config.json"
    if stamp_path.is_file():
        before = json.loads(stamp_path.read_text())
        kept = {k: before.get(k) for k in ("name", "steps", "set", "final_eval_samples", "length_factor")}
        if kept != {k: stamp[k] for k in kept}:
            raise ConfigError(f"{out} holds an ablation run with other settings ({stamp_path}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    stamp_path.write_text(json.dumps(stamp, indent=2))
    jobs = {
        (arm.name, seed): (
            str(arm.config),
            ab.run_overrides(arm, seed),
            str(out / "runs" / _slug(arm.name) / f"seed{seed}"),
            ab.threads,
            ab.length_factor,
        )
        for arm in ab.arms
        for seed in ab.seeds
    }
    results: dict = {}
    started = time.perf_counter()
    context = mp.get_context("spawn")  # a fresh interpreter per worker: no forked torch thread pools
    with (
        ProcessPoolExecutor(ab.workers, mp_context=context, initializer=_worker_init, initargs=(ab.threads,)) as pool,
        tqdm(total=len(jobs), desc=f"ablation {ab.name}", unit="run", disable=not progress) as bar,
    ):
        futures = {pool.submit(run_one, *args): key for key, args in jobs.items()}
        for future in as_completed(futures):
            arm, seed = futures[future]
            try:
                results[arm, seed] = future.result()
            except Exception as err:  # the finished runs stay on disk: a rerun resumes
                raise RuntimeError(
                    f"ablation {ab.name}: arm {arm!r} seed {seed} failed ({type(err).__name__}: {err}); "
                    f"finished runs are kept in {out / 'runs'}, rerun to resume"
                ) from err
            bar.update(1)
    summary = summarise(ab, results, task_baseline(ab))
    summary["elapsed_s"] = round(time.perf_counter() - started, 1)
    write_table(summary, out)
    return summary


def task_baseline(ab: AblationConfig) -> tuple[float, str] | None:
    """(accuracy, name) the ablation's task says a model must beat (recall: the bag-of-values
    baseline; Q&A: the question-only one; one-shot: chance), or None when it names none."""
    from .. import config as config_mod
    from ..tasks import get_task

    arm = ab.arms[0]
    cfg = config_mod.load(arm.config, ab.run_overrides(arm, ab.seeds[0]))
    task = get_task(cfg.task)
    return task.baseline(cfg.task) if hasattr(task, "baseline") else None


def summarise(ab: AblationConfig, results: dict, baseline: tuple[float, str] | None = None) -> dict:
    """Per arm: parameters, mean and 95% CI of the accuracies over seeds; then the verdicts.
    ``results`` maps (arm name, seed) to a run's RESULT; ``baseline`` (accuracy, name), when
    given, is the task's level to beat (:func:`task_baseline`), a verdict of its own."""
    import numpy as np

    from ..compare import bounded_mean_ci

    rows = []
    for arm in ab.arms:
        runs = [results[arm.name, s] for s in ab.seeds]
        primary = runs[0]["primary"]
        certain = [r["final"][primary] for r in runs]
        last = primary.replace("_certain", "_last")  # the same measure at the long thought's last tick
        long_last = [r["long"][last] if last in r["long"] else r["long"][primary] for r in runs]
        row = {
            "arm": arm.name,
            "group": arm.group,
            "config": arm.config.name,
            "set": arm.set,
            "parameters": runs[0]["parameters"],
            "steps": [r["steps"] for r in runs],
            "seeds": ab.seeds,
            "train_s": float(np.mean([r["train_s"] for r in runs])),
        }
        for key, values in (("certain", certain), ("long_last", long_last)):
            mean, low, high = bounded_mean_ci(values)
            if len(values) < 2:  # one seed has no interval: nothing that needs one can be met
                low, high = None, None
            row[key] = {"mean": mean, "ci95_low": low, "ci95_high": high, "values": values}
        row["long_drop_points"] = 100 * (row["certain"]["mean"] - row["long_last"]["mean"])
        rows.append(row)
    by_name = {row["arm"]: row for row in rows}
    reference = by_name[ab.reference]["parameters"]
    verdicts = []
    off = [
        f"{r['arm']} ({r['parameters']:,}, {100 * (r['parameters'] / reference - 1):+.1f}%)"
        for r in rows
        if abs(r["parameters"] / reference - 1) > ab.param_tolerance
    ]
    verdicts.append(
        {
            "goal": f"parameter counts within ±{100 * ab.param_tolerance:.0f}% of {ab.reference} ({reference:,})",
            "met": not off,
            "detail": "all within" if not off else "outside: " + "; ".join(off),
        }
    )
    plastic = [r for r in rows if r["group"] == "spiking-plastic"]
    plain = [r for r in rows if r["group"] == "spiking"]
    lstm = [r for r in rows if r["group"] == "lstm"]
    summary = {
        "name": ab.name,
        "steps": ab.steps,
        "seeds": ab.seeds,
        "set": ab.set,
        "length_factor": ab.length_factor,
        "eval_samples": results[ab.arms[0].name, ab.seeds[0]]["eval_samples"],
        "interval": "95% CI over seeds: Student t on the logit scale, mapped back",
        "rows": rows,
        "verdicts": verdicts,
    }
    if plastic:
        best = max(plastic, key=lambda r: r["certain"]["mean"])
        summary["best_plastic"] = best["arm"]
        b = best["certain"]
        if plain:
            p = plain[0]["certain"]
            gain = 100 * (b["mean"] - p["mean"])
            halved = (1 - b["mean"]) <= 0.5 * (1 - p["mean"])
            disjoint = _has_ci(b, p) and b["ci95_low"] > p["ci95_high"]
            verdicts.append(
                {
                    "goal": f"best plastic SpikingCTM ({best['arm']}) beats {plain[0]['arm']} by >= {ab.goal_points:g} points "
                    f"or halves its error, with disjoint CIs",
                    "met": bool((gain >= ab.goal_points or halved) and disjoint),
                    "detail": f"{gain:+.1f} points; error {100 * (1 - b['mean']):.1f}% vs {100 * (1 - p['mean']):.1f}%; "
                    f"CIs {'disjoint' if disjoint else 'overlap' if _has_ci(b, p) else 'undefined (one seed)'}",
                }
            )
        if lstm:
            q = lstm[0]["certain"]
            verdicts.append(
                {
                    "goal": f"best plastic SpikingCTM no worse than {lstm[0]['arm']} (its mean not below the LSTM's CI)",
                    "met": bool(_has_ci(q) and b["mean"] >= q["ci95_low"]),
                    "detail": f"{100 * b['mean']:.1f}% vs {percent_ci(q, '%')}",
                }
            )
        if baseline is not None:
            value, what = baseline
            verdicts.append(
                {
                    "goal": f"best plastic SpikingCTM above {what} ({100 * value:.1f}%): its CI's lower bound above it",
                    "met": bool(_has_ci(b) and b["ci95_low"] > value),
                    "detail": f"{percent_ci(b, '%')} vs {100 * value:.1f}%",
                }
            )
        verdicts.append(
            {
                "goal": f"best plastic SpikingCTM at {ab.length_factor}x the trained ticks (last tick) within "
                f"{ab.long_points:g} points of its most-certain tick",
                "met": bool(abs(best["long_drop_points"]) <= ab.long_points),
                "detail": f"{100 * best['long_last']['mean']:.1f}% vs {100 * b['mean']:.1f}% ({-best['long_drop_points']:+.1f} points)",
            }
        )
    return summary


def _has_ci(*entries: dict) -> bool:
    return all(e["ci95_low"] is not None for e in entries)


def percent_ci(entry: dict, unit: str = "") -> str:
    """An accuracy entry of the summary as "mean [low, high]" in %, or its mean alone when one seed gives no CI."""
    if not _has_ci(entry):
        return f"{100 * entry['mean']:.1f}{unit} (one seed: no CI)"
    return f"{100 * entry['mean']:.1f}{unit} [{100 * entry['ci95_low']:.1f}, {100 * entry['ci95_high']:.1f}]"


def table_markdown(summary: dict) -> str:
    """The ablation table and its verdicts as Markdown (the body of ``ablation.md``)."""
    lines = [
        f"| arm | parameters | accuracy, most-certain tick (%) | at {summary['length_factor']}x ticks, last tick (%) | "
        f"seeds' values (%) | training s per run |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        values = " / ".join(f"{100 * v:.1f}" for v in r["certain"]["values"])
        lines.append(
            f"| {r['arm']} | {r['parameters']:,} | {percent_ci(r['certain'])} | {percent_ci(r['long_last'])} | {values} "
            f"| {r['train_s']:.0f} |"
        )
    lines += ["", "| goal | met | measured |", "|---|---|---|"]
    lines += [f"| {v['goal']} | {'yes' if v['met'] else '**no**'} | {v['detail']} |" for v in summary["verdicts"]]
    return "\n".join(lines) + "\n"


def write_table(summary: dict, out: Path) -> None:
    """``ablation.json``, ``ablation.md`` and ``ablation.png`` in ``out``."""
    from ..checkpoint import finite_json
    from .figures import _pyplot

    out = Path(out)
    (out / "ablation.json").write_text(json.dumps(finite_json(summary), indent=2, allow_nan=False))
    header = (
        f"# Ablation `{summary['name']}`\n\n{summary['steps']:,} training steps per run, seeds {summary['seeds']}, "
        f"overrides `{' '.join(summary['set']) or 'none'}`; {summary['eval_samples']:,} held-out inputs per run. "
        f"{summary['interval']}.\n\n"
    )
    (out / "ablation.md").write_text(header + table_markdown(summary))
    plt = _pyplot()
    rows = summary["rows"]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.6))
    for offset, key, label in (
        (-0.15, "certain", "most-certain tick"),
        (0.15, "long_last", f"{summary['length_factor']}x ticks, last tick"),
    ):
        y = [i + offset for i in range(len(rows))]
        mean = [100 * r[key]["mean"] for r in rows]
        low = [100 * r[key]["ci95_low"] if _has_ci(r[key]) else m for m, r in zip(mean, rows)]  # one seed: no bar
        high = [100 * r[key]["ci95_high"] if _has_ci(r[key]) else m for m, r in zip(mean, rows)]
        err = [[m - lo for m, lo in zip(mean, low)], [hi - m for m, hi in zip(mean, high)]]
        ax.errorbar(mean, y, xerr=err, fmt="o", capsize=3, label=label)
        for i, r in enumerate(rows):
            ax.scatter(
                [100 * v for v in r[key]["values"]], [i + offset] * len(r[key]["values"]), s=8, color="grey", zorder=3
            )
    ax.set_yticks(range(len(rows)), [r["arm"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%): mean, 95% CI over seeds, each seed in grey")
    ax.set_title(f"{summary['name']}: {summary['steps']:,} steps, {len(summary['seeds'])} seeds", fontsize=9)
    ax.legend(
        fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False
    )  # below: no row hidden
    fig.tight_layout()
    fig.savefig(out / "ablation.png", dpi=110)
    plt.close(fig)
