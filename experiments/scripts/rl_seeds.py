"""RL over several seeds: the greedy return of each agent per seed, with the mean and a 95% CI.

    python experiments/scripts/rl_seeds.py [--train] [--seeds 0 1 2] [--out experiments/reports/cartpole-seeds.md] [STEM]

For each of ``models/<STEM>-{rate,spiking,lstm}.toml`` (default STEM: cartpole) and each seed,
the script reads ``results.json`` of the run: seed 0 from the tasks table's run
(``runs/tasks/<name>``, see experiments/scripts/task_results.py), other seeds from
``runs/rl-seeds/<name>-seed<S>``. With ``--train`` it first trains the missing ones
(``neurosync rl CONFIG --set seed=S``), one after the other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _config(name: str) -> Path:
    """A training config by file name, from configs/<task>/."""
    found = sorted((REPO / "configs").glob(f"*/{name}"))
    return found[0] if found else REPO / "configs" / name


KINDS = ("rate", "spiking", "lstm")


def run_dir(name: str, seed: int) -> Path:
    return REPO / "runs" / "tasks" / name if seed == 0 else REPO / "runs" / "rl-seeds" / f"{name}-seed{seed}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stem", nargs="?", default="cartpole")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train", action="store_true", help="train the runs that have no results yet")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    from neurosync.compare import mean_ci

    lines = [
        "| agent | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean ± 95% CI | env steps (mean) |",
        "|---|" + "---|" * (len(args.seeds) + 2),
    ]
    for kind in KINDS:
        config = _config(f"{args.stem}-{kind}.toml")
        name = f"{args.stem}-{kind}"
        returns, steps = [], []
        for seed in args.seeds:
            results = run_dir(name, seed) / "results.json"
            if not results.is_file() and args.train:
                print(f"training {name} seed {seed} ...", flush=True)
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "neurosync",
                        "rl",
                        str(config),
                        "--set",
                        f"seed={seed}",
                        "--set",
                        f"name={name}-seed{seed}",
                        "--run-dir",
                        str(run_dir(name, seed)),
                        "--quiet",
                    ],
                    check=True,
                )
            if results.is_file():
                result = json.loads(results.read_text())
                returns.append(result["final"]["mean_return"])
                steps.append(result["env_steps"])
            else:
                returns.append(None)
        cells = [f"{r:.1f}" if r is not None else "not trained" for r in returns]
        done = [r for r in returns if r is not None]
        summary = "—"
        if len(done) >= 2:
            mean, half = mean_ci(done)
            summary = f"{mean:.1f} ± {half:.1f}"
        mean_steps = f"{sum(steps) / len(steps):,.0f}" if steps else "—"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {summary} | {mean_steps} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(
            f"# {args.stem}: greedy return (20 new episodes) per seed\n\n"
            f"Produced by `python experiments/scripts/rl_seeds.py --train --seeds {' '.join(map(str, args.seeds))}`.\n\n"
            f"{table}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
