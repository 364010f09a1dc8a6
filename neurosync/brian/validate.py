"""``neurosync validate``: a checkpoint's thought recorded and replayed in Brian2 in one of the three
modes, the report and the exact mode's figure written to a directory."""

from __future__ import annotations

from typing import Any

import numpy as np

from .closed_loop import validate_closed_loop
from .continuous import validate_continuous
from .core import CoreRecording, extract_core, record_core
from .exact import compare, simulate_exact


def validation_figure(recording: CoreRecording, brian: dict[str, np.ndarray], steps: int = 200, neurons: int = 3):
    """PyTorch vs Brian2: raster overlay of the first `steps` steps (PyTorch dots, Brian2 rings,
    mismatched bins red) and membrane traces of the `neurons` neurons firing closest to half
    of the steps (the least saturated)."""
    from ..analysis import _pyplot

    plt = _pyplot()

    steps = min(steps, recording.spikes.shape[0])
    fig, (raster, traces) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for spikes, style in (
        (recording.spikes, dict(marker=".", color="k", s=6, label="PyTorch")),
        (brian["spikes"], dict(marker="o", facecolors="none", edgecolors="tab:blue", s=18, label="Brian2")),
    ):
        t, i = np.nonzero(spikes[:steps])
        raster.scatter(t, i, **style)
    t, i = np.nonzero(recording.spikes[:steps] != brian["spikes"][:steps])
    if t.size:
        raster.scatter(t, i, marker="x", color="red", s=30, label="mismatch")
    raster.set_ylabel("neuron")
    raster.legend(loc="upper right", fontsize=8)
    raster.set_title(
        f"exact mode: {int((recording.spikes != brian['spikes']).sum())} mismatched bins of {recording.spikes.size}"
    )
    chosen = np.argsort(np.abs(recording.spikes[:steps].mean(0) - 0.5))[:neurons]
    for n in chosen:
        (line,) = traces.plot(recording.membranes[:steps, n], lw=1, label=f"neuron {n}: PyTorch")
        traces.plot(
            brian["membranes"][:steps, n], "--", lw=1.5, color=line.get_color(), alpha=0.7, label=f"neuron {n}: Brian2"
        )
    traces.set_xlabel("simulation step (1 step = dt)")
    traces.set_ylabel("membrane v")
    traces.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def validate_checkpoint(
    path,
    out_dir,
    ticks: int = 1000,
    target: str = "numpy",
    sample: int = 0,
    progress: bool = True,
    mode: str = "exact",
    substeps: tuple[int, ...] = (10, 20),
) -> dict[str, Any]:
    """Load a checkpoint, record one thought of `ticks` ticks on an evaluation input, replay
    it in Brian2 (exact or continuous mode), and write report.json (and, exact mode,
    validation.png) to out_dir, which must not exist yet. Returns the report."""
    import json
    from pathlib import Path

    from .. import checkpoint
    from ..build import build_model
    from ..tasks import get_task

    if ticks < 1:
        raise ValueError(f"--ticks must be >= 1, got {ticks}")
    if sample < 0:
        raise ValueError(f"--sample must be >= 0 (an evaluation input's index), got {sample}")
    if any(count < 1 for count in substeps):
        raise ValueError(f"--substeps must be >= 1, got {list(substeps)}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise ValueError(f"{out_dir} already exists; choose another --out")
    ckpt = checkpoint.load(path)
    model = build_model(ckpt.config)
    checkpoint.restore_model(model, ckpt)
    x, _ = get_task(ckpt.config.task).eval_set(ckpt.config.task, sample + 1, ckpt.config.train.seed)
    if sample >= x.shape[0]:
        raise ValueError(f"--sample must be < {x.shape[0]} for this task, got {sample}")
    core = extract_core(model)  # refuses what it cannot export before any simulation
    recording = record_core(model, x[: sample + 1], sample=sample, ticks=ticks)
    header = {
        "checkpoint": str(ckpt.path),
        "step": ckpt.step,
        "ticks": ticks,
        "sample": sample,
        "dt_ms": core.dt_ms,
        "tick_ms": core.dt_ms * core.substeps,
    }
    figure = None
    if mode == "closed-loop":
        report = {**header, **validate_closed_loop(model, x[: sample + 1], sample, ticks, target, recording)}
    elif mode == "continuous":
        report = {**header, **validate_continuous(model, recording, tuple(substeps), target=target)}
    else:
        result = simulate_exact(
            core,
            recording.drive,
            target,
            progress,
            recording.modulation,
            noise=recording.noise,
            afferent_input=recording.afferent_input,
        )
        report = {**header, "mode": "exact", **compare(recording, result, core.fast_alpha)}
        figure = validation_figure(recording, result)
    out_dir.mkdir(parents=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    if figure is not None:
        figure.savefig(out_dir / "validation.png", dpi=110)
    return report
