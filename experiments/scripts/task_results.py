"""The tasks × {RateCTM, SpikingCTM} results table, from training runs.

    python experiments/scripts/task_results.py [--train] [--runs runs/tasks] [--out experiments/reports/tasks.md] [CONFIG ...]

For each config (default: every ``models/*-rate.toml`` / ``*-spiking.toml`` task pair except the
paper-sized GPU ones) the script reads ``<runs>/<name>/results.json``; with ``--train`` it first
trains the configs that have no results (``neurosync train CONFIG --run-dir <runs>/<name>``, one
after the other, so that the wall-clock figures are comparable). It writes a Markdown table with
the task's headline metric, steps, training time and config, and per task the extra analyses:
the sort task's waiting ticks against the gap between successive numbers, the maze task's
attention path (``models/figures/``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT = ["sort8", "digits", "maze11", "qa2", "qa3"]  # parity16: see the model cards
RL = ["cartpole"]  # RL configs: {stem}-rate, -spiking and the -lstm baseline, trained with `neurosync rl`


def _config(name: str) -> Path:
    """A training config by file name, from configs/<task>/."""
    found = sorted((REPO / "configs").glob(f"*/{name}"))
    return found[0] if found else REPO / "configs" / name


def _configs(names: list[str]) -> list[Path]:
    tasks = [_config(f"{stem}-{kind}.toml") for stem in names for kind in ("rate", "spiking")]
    return tasks + [_config(f"{stem}-{kind}.toml") for stem in RL for kind in ("rate", "spiking", "lstm")]


def _rl_row(path: Path, raw: dict, runs: Path, train: bool) -> str:
    """Train (with --train, when missing) and summarise an RL config (`raw`: its TOML)."""
    from neurosync.rl import rl_from_dict

    cfg = rl_from_dict(raw)
    run_dir = runs / cfg.name
    results = run_dir / "results.json"
    if not results.is_file() and train:
        print(f"training {cfg.name} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "neurosync", "rl", str(path), "--run-dir", str(run_dir), "--quiet"], check=True
        )
    task = f"RL {cfg.env.id}" + (" (velocities masked)" if cfg.env.mask_velocity else "")
    if not results.is_file():
        return f"| {task} | {cfg.name} | not trained (run with --train) | | | `{path.relative_to(REPO)}` |"
    result = json.loads(results.read_text())
    final = result["final"]
    return (
        f"| {task} | {cfg.name} | mean return {final['mean_return']:.1f} ± {final['std_return']:.1f} over "
        f"{final['episodes']} greedy episodes ({result['parameters']:,} parameters, {result['training_episodes']:,} "
        f"training episodes) | {result['env_steps']:,} env steps | {result['elapsed_s'] / 60:.1f} min | "
        f"`{path.relative_to(REPO)}` |"
    )


def _extra(config_path: Path, run_dir: Path, figures: Path) -> str:
    """Task-specific analyses of a trained run (one line of Markdown, figures written)."""
    import numpy as np

    from neurosync.checkpoint import load_model
    from neurosync.tasks import get_task, maze, sort

    model, ckpt = load_model(run_dir)
    cfg = ckpt.config
    task = get_task(cfg.task)
    if cfg.task.name == "sort":
        x, y = task.eval_set(cfg.task, 1024, cfg.train.seed)
        result = sort.wait_vs_gap(model, x, y)
        from neurosync.analysis import _pyplot

        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        ax.scatter(
            result["gaps"],
            result["waits"] + np.random.default_rng(0).uniform(-0.15, 0.15, result["waits"].size),
            s=3,
            alpha=0.3,
        )
        ax.set(
            xlabel="gap to the previous number in sorted order",
            ylabel="ticks waited before emitting",
            title=f"{cfg.name}: r = {result['correlation']:.2f} over {result['sorted_inputs']} sorted inputs",
        )
        fig.tight_layout()
        fig.savefig(figures / f"{cfg.name}-wait-vs-gap.png", dpi=110)
        return (
            f"waiting ticks vs gap: Pearson r = {result['correlation']:.3f} over the {result['sorted_inputs']} "
            f"correctly sorted of 1,024 inputs (`figures/{cfg.name}-wait-vs-gap.png`)"
        )
    if cfg.task.name == "qa_digits":
        from neurosync.tasks.qa_digits import question_only_accuracy

        final = json.loads((run_dir / "results.json").read_text())["final"]
        parts = [
            f"{k} op{'s' if k > 1 else ''}: {100 * final[f'accuracy_ops{k}']:.1f}% vs "
            f"{100 * question_only_accuracy(cfg.task.images_shown, k):.1f}%"
            for k in range(1, cfg.task.operations + 1)
        ]
        return (
            "accuracy by number of operations vs the best accuracy *without looking at the images* (the questions' "
            "structure alone, e.g. i − i = 0): " + "; ".join(parts)
        )
    if cfg.task.name == "maze":
        x, _ = task.eval_set(cfg.task, 4, cfg.train.seed)
        recording = model.record(x, config=cfg)
        fig = maze.attention_figure(recording, x, 0)
        fig.savefig(figures / f"{cfg.name}-attention.png", dpi=110)
        return f"attention path over a maze: `figures/{cfg.name}-attention.png`"
    return ""


def _rl_figure(curves: dict[str, list[dict]], figures: Path, title: str) -> str:
    """The mean return of the last 20 training episodes against environment steps, per run."""
    from neurosync.analysis import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, records in curves.items():
        ax.plot([r["env_steps"] for r in records], [r["recent_return"] for r in records], label=name)
    ax.set(xlabel="environment steps", ylabel="return (last 20 training episodes)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    stem = next(iter(curves)).rsplit("-", 1)[0]
    fig.savefig(figures / f"{stem}-returns.png", dpi=110)
    plt.close(fig)
    return f"{stem}-returns.png"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path)
    parser.add_argument("--train", action="store_true", help="train configs that have no results yet")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "tasks")
    parser.add_argument("--out", type=Path, default=REPO / "experiments" / "reports" / "tasks.md")
    parser.add_argument(
        "--note", default="", help="a sentence added under the header (e.g. how the runs shared the machine)"
    )
    args = parser.parse_args(argv)
    from neurosync import config as config_mod
    from neurosync.tasks import get_task, headline

    configs = [p.resolve() for p in args.configs] or _configs(DEFAULT)
    figures = args.out.parent / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    rows, extras, curves = [], [], {}
    for path in configs:
        raw = config_mod.read_toml(path)
        if "agent" in raw:  # an RL config
            rows.append(_rl_row(path, raw, args.runs, args.train))
            name = raw["name"]
            if (args.runs / name / "metrics.jsonl").is_file():
                curves[name] = [
                    json.loads(line) for line in (args.runs / name / "metrics.jsonl").read_text().splitlines()
                ]
            continue
        cfg = config_mod.load(path)
        run_dir = args.runs / cfg.name
        results = run_dir / "results.json"
        if not results.is_file() and args.train:
            print(f"training {cfg.name} ...", flush=True)
            subprocess.run(
                [sys.executable, "-m", "neurosync", "train", str(path), "--run-dir", str(run_dir), "--quiet"],
                check=True,
            )
        if not results.is_file():
            rows.append(
                f"| {cfg.task.name} | {cfg.name} | not trained (run with --train) | | | `{path.relative_to(REPO)}` |"
            )
            continue
        result = json.loads(results.read_text())
        rows.append(
            f"| {cfg.task.name} | {cfg.name} | {headline(get_task(cfg.task), result['final'])} "
            f"({result['eval_samples']:,} test inputs) | {result['steps']:,} | {result['elapsed_s'] / 60:.1f} min | "
            f"`{path.relative_to(REPO)}` |"
        )
        extra = _extra(path, run_dir, figures)
        if extra:
            extras.append(f"- **{cfg.name}**: {extra}")
    if curves:
        title = "PPO on " + rows[-1].split(" | ")[0].removeprefix("| RL ")
        extras.append(
            f"- **RL**: episode return while training, per agent: `figures/{_rl_figure(curves, figures, title)}`"
        )
    lines = [
        "# Tasks × {RateCTM, SpikingCTM}",
        "",
        "Produced by `python experiments/scripts/task_results.py --train` (2 CPU cores; each config's `train.time_budget_s` "
        "or `time_budget_s` bounds its training time). Metrics are at the most-certain tick on the task's held-out "
        "evaluation set; RL returns are of the greedy policy on new episodes." + (f" {args.note}" if args.note else ""),
        "",
        "| task | config | result | steps | training | file |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    if extras:
        lines += ["Task-specific analyses:", "", *extras, ""]
    args.out.write_text("\n".join(lines))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
