"""Speed of the all-pairs analysis on 2 CPU cores.

    python benchmarks/analysis_speed.py [--out benchmarks/results/analysis_speed.md]

1. STTC of all pairs of 256 Poisson trains (20 Hz, 1,000 steps of 1 ms, ±5 ms window):
   ``analysis.sttc_matrix`` vs looping Elephant's ``spike_time_tiling_coefficient`` over the
   32,640 pairs, measured side by side, values compared. Target: >= 50x.
2. Multi-timescale synchrony matrices (3 timescales) of 1,024 neurons x 10,000 steps.
   Target: <= 2 s.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np


def _trains(neurons: int, steps: int, rate_per_step: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((steps, neurons)) < rate_per_step


def sttc(neurons: int = 256, steps: int = 1000, window: int = 5, repeats: int = 5) -> dict:
    import neo
    import quantities as pq
    from elephant.spike_train_correlation import spike_time_tiling_coefficient

    from neurosync.analysis import sttc_matrix

    raster = _trains(neurons, steps, 0.02, 0)
    step_lists = [np.nonzero(raster[:, n])[0] for n in range(neurons)]
    ours_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        ours = sttc_matrix(step_lists, steps, window)
        ours_s.append(time.perf_counter() - start)
    trains = [neo.SpikeTrain(s * 1e-3, units="s", t_start=0.0, t_stop=steps * 1e-3) for s in step_lists]
    start = time.perf_counter()
    worst = 0.0
    for i in range(neurons):
        for j in range(i + 1, neurons):
            value = spike_time_tiling_coefficient(trains[i], trains[j], dt=window * 1e-3 * pq.s)
            worst = max(worst, abs(value - ours[i, j]))
    elephant_s = time.perf_counter() - start
    best = min(ours_s)
    return {
        "ours_s": best,
        "elephant_s": elephant_s,
        "speedup": elephant_s / best,
        "max_abs_diff": worst,
        "pairs": neurons * (neurons - 1) // 2,
    }


def synchrony(neurons: int = 1024, steps: int = 10_000, repeats: int = 3) -> dict:
    from neurosync.analysis import synchrony_matrices
    from neurosync.recording import Recording

    raster = _trains(neurons, steps, 0.02, 1)
    step, neuron = np.nonzero(raster)
    empty = np.zeros((1, steps, 1))
    activity = np.zeros((1, steps, neurons), dtype=np.float32)
    recording = Recording(
        dt=1e-3,
        kind="spiking",
        substeps=1,
        activity=activity,
        pre=activity,
        logits=empty,
        certainty=empty[..., 0],
        synchrony_action=empty,
        synchrony_out=empty,
        attention=empty[..., None],
        spike_sample=np.zeros_like(step),
        spike_step=step,
        spike_neuron=neuron,
    )
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = synchrony_matrices(recording, timescales_s=(1e-3, 4e-3, 16e-3))
        times.append(time.perf_counter() - start)
    return {"seconds": min(times), "all_s": times, "shape": tuple(result["matrices"].shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "analysis_speed.md")
    args = parser.parse_args()
    import torch

    a = sttc()
    print(
        f"STTC: ours {a['ours_s'] * 1e3:.1f} ms, Elephant loop {a['elephant_s']:.2f} s, {a['speedup']:.0f}x, "
        f"max |diff| {a['max_abs_diff']:.1e}"
    )
    b = synchrony()
    print(f"synchrony matrices {b['shape']}: {b['seconds']:.2f} s (runs: {', '.join(f'{t:.2f}' for t in b['all_s'])})")
    lines = [
        "# Analysis speed (`python benchmarks/analysis_speed.py`)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, numpy {np.__version__}.",
        "",
        "| measurement | NeuroSync | reference | ratio | target |",
        "|---|---|---|---|---|",
        f"| STTC, all {a['pairs']:,} pairs of 256 trains × 1,000 steps (±5 ms) | {a['ours_s'] * 1e3:.1f} ms | "
        f"Elephant loop {a['elephant_s']:.2f} s | **{a['speedup']:.0f}×** (max abs diff {a['max_abs_diff']:.1e}) | ≥ 50× |",
        f"| synchrony matrices, 3 timescales, 1,024 neurons × 10,000 steps | **{b['seconds']:.2f} s** (best of "
        f"{len(b['all_s'])}; runs {', '.join(f'{t:.2f}' for t in b['all_s'])} s) | | | ≤ 2 s |",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
