"""The field potential of every shipped cortical model: its parameterised spectrum (both proxies,
fixed and knee mode), the spectrum that the filters and the tick's hold alone make of a white
(Poisson) drive, and the E:I test (every inhibitory weight × 0.5 … 2). Writes
``experiments/results/field-potential.json`` (the docs render it) and one figure per model in
``experiments/figures/``.

    python experiments/scripts/field_potential.py [--models digits-cortical parity16-cortical] [--inputs 16]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import neurosync
from neurosync.analysis import field
from neurosync.checkpoint import finite_json
from neurosync.report import field_figure
from neurosync.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]


def measure(name: str, inputs: int, seconds: float) -> dict:
    model, ckpt = neurosync.load_model(ROOT / "models" / name)
    x, _ = get_task(ckpt.config.task).eval_set(ckpt.config.task, inputs, ckpt.config.train.seed)
    tick_s = model.neuron.substeps * model.neuron.dt_ms * 1e-3
    ticks = int(round(seconds / tick_s))
    start = time.perf_counter()
    recording = model.record(x, config=ckpt.config, ticks=ticks, noise_seed=0)
    summaries = {proxy: field.field_summary(recording, proxy) for proxy in field.PROXIES}
    reference = field.model_reference(model, summaries["rws"])
    reference_gamma = field.aperiodic_fit(
        summaries["rws"]["frequencies_hz"], reference["power"], field.GAMMA_SLOPE_HZ, max_peaks=0
    )
    figure = ROOT / "experiments" / "figures" / f"{name}-field.png"
    plot = field_figure(summaries, reference)
    plot.savefig(figure, dpi=110)
    ei = field.ei_test(model, x, config=ckpt.config, ticks=ticks)
    return {
        "model": name,
        "thoughts": f"{inputs} evaluation inputs × 1 noise repeat of {ticks * tick_s:g} s",
        "tick_ms": tick_s * 1e3,
        "step_ms": model.neuron.dt_ms,
        "proxies": {proxy: field.summary_json(s) for proxy, s in summaries.items()},
        "hold_reference": {
            "definition": field.HOLD_REFERENCE,
            "fixed": field.fit_json(reference["fit"]),
            "exponent_30_50_hz": field.fit_json(reference_gamma),
        },
        "ei_test": ei,
        "figure": str(figure.relative_to(ROOT)),
        "seconds": time.perf_counter() - start,
    }


def ei_figure(results: list[dict], path: Path) -> Path:
    """The E:I curve: each model's field exponent over its fit range against the inhibition scale,
    both proxies; hollow markers where a power law does not describe the spectrum (r² < 0.9)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), squeeze=False)
    for ax, result in zip(axes[0], results):
        rows = result["ei_test"]["rows"]
        scales = [row["scale"] for row in rows]
        for proxy, colour in (("rws", "C2"), ("sum", "C0")):
            exponents = [row[proxy]["range"]["exponent"] for row in rows]
            ax.plot(scales, exponents, "-", color=colour, label=proxy)
            for scale, row, value in zip(scales, rows, exponents):
                fit = row[proxy]["range"]["verdict"] == "aperiodic"
                ax.plot(scale, value, "o", color=colour, mfc=colour if fit else "white")
        low, high = rows[0]["range_hz"]
        ax.set_xscale("log", base=2)
        ax.set(
            xlabel="inhibitory weights × (log scale)",
            ylabel=f"field exponent χ, {low:g}–{high:g} Hz",
            title=result["model"],
        )
        ax.legend(fontsize=8, title="hollow: r² < 0.9", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["digits-cortical", "parity16-cortical"])
    parser.add_argument("--inputs", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each thought (default 1 s)")
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "field-potential.json"))
    args = parser.parse_args()
    results = [measure(name, args.inputs, args.seconds) for name in args.models]
    command = "python experiments/scripts/field_potential.py " + " ".join(
        ["--models", *args.models, "--inputs", str(args.inputs)]
    )
    figure = ei_figure(results, ROOT / "experiments" / "figures" / "ei-test-field.png")
    payload = {"command": command, "models": results, "ei_figure": str(figure.relative_to(ROOT))}
    Path(args.out).write_text(json.dumps(finite_json(payload), indent=2) + "\n")
    for result in results:
        rws = result["proxies"]["rws"]["fixed"]
        print(result["model"], f"rws χ {rws.get('exponent', np.nan):.2f} r² {rws.get('r_squared', np.nan):.2f}")
        print(field.ei_markdown(result["ei_test"]))


if __name__ == "__main__":
    main()
