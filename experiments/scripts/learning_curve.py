"""Plot learning curves from one or more run directories (their metrics.jsonl).

    python experiments/scripts/learning_curve.py RUN_DIR [RUN_DIR ...] --out curve.png [--table curve.md]

x axis: wall-clock seconds of training (or --x step); y: per-bit and whole-sequence accuracy
at the most-certain tick on the run's evaluation set. --table also writes the points as a
Markdown table (for model cards).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_run(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise SystemExit(f"learning_curve: no metrics.jsonl in {run_dir}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--table", type=Path)
    parser.add_argument("--x", choices=["elapsed_s", "step"], default="elapsed_s")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    rows = []
    for run in args.runs:
        records = read_run(run)
        xs = [r[args.x] / (60 if args.x == "elapsed_s" else 1) for r in records]
        (line,) = ax.plot(xs, [100 * r["bit_acc_certain"] for r in records], label=f"{run.name}: per-bit")
        ax.plot(
            xs,
            [100 * r["seq_acc_certain"] for r in records],
            "--",
            color=line.get_color(),
            label=f"{run.name}: whole sequence",
        )
        rows += [(run.name, r) for r in records]
    ax.set_xlabel("training time (min)" if args.x == "elapsed_s" else "step")
    ax.set_ylabel("test accuracy at the most-certain tick (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    if args.table:
        spiking = any("firing_rate_hz" in r for _, r in rows)
        lines = [
            "| run | step | minutes | per-bit % | whole-sequence % | last-tick per-bit % | mean most-certain tick |"
            + (" firing rate (Hz) | silent neurons |" if spiking else ""),
            "|---|---|---|---|---|---|---|" + ("---|---|" if spiking else ""),
        ]
        for name, r in rows:
            line = (
                f"| {name} | {r['step']} | {r['elapsed_s'] / 60:.1f} | {100 * r['bit_acc_certain']:.2f} | "
                f"{100 * r['seq_acc_certain']:.2f} | {100 * r['bit_acc_last']:.2f} | {r['certain_tick']:.1f} |"
            )
            if spiking:
                line += (
                    f" {r['firing_rate_hz']:.1f} | {100 * r['silent_fraction']:.1f}% |"
                    if "firing_rate_hz" in r
                    else " – | – |"
                )
            lines.append(line)
        args.table.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}" + (f" and {args.table}" if args.table else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
