"""One cortical thought cut into more, shorter ticks: the training step's cost.

    python benchmarks/tick_split.py [--rounds 4] [--steps 8] [--out FILE]

The bounded cortical config (models/parity16-cortical.toml, parity-16, batch 64) as
shipped, 8 ticks × 5 sub-steps of 1 ms, against the same ~40–48-ms thought as 12 ticks × 4
sub-steps and 16 ticks × 3 sub-steps (attention and the synapse act once a tick, so more ticks
mean more of them per thought). Forward + backward + AdamW, the arms interleaved round by round
in one process; median seconds per step and the ratio to the shipped split. What the extra
ticks cost per training step is what this benchmark measures.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARMS = {
    "8 ticks x 5 ms": [],
    "12 ticks x 4 ms": ["model.ticks=12", "model.spiking.substeps=4"],
    "16 ticks x 3 ms": ["model.ticks=16", "model.spiking.substeps=3"],
}


def _setup(overrides: list[str]):
    from _task_step import task_step

    from neurosync import config as config_mod

    return task_step(config_mod.load(REPO / "configs" / "parity" / "parity16-cortical.toml", overrides))[0]


def main(argv=None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8, help="training steps per arm and round")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "tick_split.md"))
    args = parser.parse_args(argv)
    steps = {name: _setup(overrides) for name, overrides in ARMS.items()}
    for step in steps.values():  # warm-up
        step(), step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - start) / args.steps)
    base = statistics.median(times["8 ticks x 5 ms"])
    lines = [
        "# One cortical thought in more, shorter ticks: the training step",
        "",
        f"`python benchmarks/tick_split.py --rounds {args.rounds} --steps {args.steps}` on {platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; models/parity16-cortical.toml, batch 64, "
        "arms interleaved round by round, median over rounds.",
        "",
        "| split | ms per step | × 8 ticks × 5 ms |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {1e3 * statistics.median(t):.1f} | **{statistics.median(t) / base:.2f}** |"
        for name, t in times.items()
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
