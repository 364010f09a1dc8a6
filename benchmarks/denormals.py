"""Two costs of the training step that are not the model's arithmetic: subnormal numbers, and a
normaliser computed once per sample.

    python benchmarks/denormals.py [--rounds 3] [--steps 10] [--threads 2] [--out FILE]

Arms, each a fresh process (the flush-to-zero mode must be set before torch starts its threads):

- ``per-sample normaliser``: the synchrony's normaliser Σ r^k as a (batch, pairs) tensor, updated
  per sample every tick (the code before 2026-12-04, restored by patching
  ``neurosync.parts.synchrony._one_row`` to return its argument), subnormals kept;
- ``shared normaliser``: one row expanded while every row has the same age (the library now);
- ``+ flush to zero``: the same with ``neurosync.training.flush_denormals()`` (the CLI's and every
  job's setting).

Forward + backward + AdamW on one fixed batch of each config's task (``_task_step.task_step``):
the study's three models at its sizes (8-bit parity) and the bounded cortical flagship variant at
parity-16. Arms interleaved round by round; median ms per step and the ratio to the first arm.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIGS = {
    "study: rate (parity-8)": ("parity16-rate.toml", ["task.sequence_length=8"]),
    "study: spiking (parity-8)": ("parity16-spiking.toml", ["task.sequence_length=8"]),
    "study: cortical (parity-8)": ("parity16-cortical.toml", ["task.sequence_length=8"]),
    "cortical GPU recipe (parity-16)": ("parity16-cortical-gpu.toml", []),
}
ARMS = {
    "per-sample normaliser": {"shared": False, "flush": False},
    "shared normaliser": {"shared": True, "flush": False},
    "+ flush to zero": {"shared": True, "flush": True},
}


def child(config: str, overrides: list[str], shared: bool, flush: bool, steps: int, threads: int) -> float:
    """Seconds per training step in this process."""
    import time

    import torch

    if flush:
        from neurosync.training import flush_denormals

        flush_denormals()
    torch.set_num_threads(threads)
    if not shared:
        from neurosync.parts import synchrony

        synchrony._one_row = lambda rows: rows  # every op on the (batch, pairs) normaliser, as before
    sys.path.insert(0, str(Path(__file__).parent))
    from _task_step import config_path, task_step

    from neurosync import config as config_mod

    step = task_step(config_mod.load(config_path(config), overrides))[0]
    step(), step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per process")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "denormals.md"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        print(child(**job, steps=args.steps, threads=args.threads))
        return
    times = {(c, a): [] for c in CONFIGS for a in ARMS}
    for r in range(args.rounds):
        for name, (config, overrides) in CONFIGS.items():
            for arm, switches in ARMS.items():
                job = json.dumps({"config": config, "overrides": overrides, **switches})
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        job,
                        "--steps",
                        str(args.steps),
                        "--threads",
                        str(args.threads),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONHASHSEED": "0"},
                )
                times[name, arm].append(float(out.stdout.strip().splitlines()[-1]))
                print(f"round {r + 1}: {name}, {arm}: {1e3 * times[name, arm][-1]:.1f} ms", file=sys.stderr)
    import torch

    lines = [
        "# Subnormal numbers and a per-sample normaliser: the training step",
        "",
        f"`python benchmarks/denormals.py --rounds {args.rounds} --steps {args.steps} --threads {args.threads}` on "
        f"{platform.machine()}, torch {torch.__version__}; batch of each config, forward + backward + AdamW, "
        "each arm a fresh process, arms interleaved round by round; median over rounds (min–max).",
        "",
        "| model | "
        + " | ".join(f"{arm}: ms per step" for arm in ARMS)
        + " | "
        + " | ".join(f"× first: {arm}" for arm in list(ARMS)[1:])
        + " |",
        "|---|" + "---|" * (2 * len(ARMS) - 1),
    ]
    for name in CONFIGS:
        medians = [statistics.median(times[name, arm]) for arm in ARMS]
        spans = [
            f"{1e3 * m:.1f} ({1e3 * min(times[name, arm]):.0f}–{1e3 * max(times[name, arm]):.0f})"
            for m, arm in zip(medians, ARMS)
        ]
        lines.append(
            f"| {name} | "
            + " | ".join(spans)
            + " | "
            + " | ".join(f"**{m / medians[0]:.2f}**" for m in medians[1:])
            + " |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
