"""How a thought unfolds in the shipped models, rate, spiking and cortical side by side: the tick
at which the answer becomes decodable from the population (its activity, and the synchrony its output
layer reads) against the tick at which the model's
certainty crosses 0.8, the participation ratio over the thought, and, for the cortical models,
the Fano factor's time course across noise repeats from the input's onset (Churchland et al.
2010's variability quenching). Writes ``experiments/results/thought-dynamics.json`` (the docs
render it).

    python experiments/scripts/thought_dynamics.py [--inputs 1024] [--shuffles 50]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import neurosync
from neurosync.analysis import dynamics, fano_factors
from neurosync.checkpoint import finite_json
from neurosync.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["digits-rate", "digits-spiking", "digits-cortical", "parity16-rate", "parity16-spiking", "parity16-cortical"]
THRESHOLD = 0.8
FANO_WINDOW_S = 0.05


def measure(name: str, inputs: int, shuffles: int) -> dict:
    start = time.perf_counter()
    model, ckpt = neurosync.load_model(ROOT / "models" / name)
    x, targets = get_task(ckpt.config.task).eval_set(ckpt.config.task, inputs, ckpt.config.train.seed)
    labels, what = dynamics.task_labels(targets)
    recording = model.record(x, config=ckpt.config, noise_seed=0)
    decoding = dynamics.decode_over_time(recording, labels, shuffles=shuffles)
    synchrony = dynamics.decode_over_time(recording, labels, shuffles=shuffles, source="synchrony")
    first_synchrony = synchrony["first_decodable_tick"]
    certainty = dynamics.certainty_ticks(recording, THRESHOLD)
    dimension = dynamics.participation_ratio(recording)
    first = decoding["first_decodable_tick"]
    crossing = certainty["median_first_tick"]
    result = {
        "model": name,
        "kind": recording.kind,
        "labels": what,
        "thoughts": int(x.shape[0]),
        "ticks": recording.ticks,
        "tick_ms": recording.dt * 1e3 if recording.kind == "spiking" else None,
        "decoding": {k: decoding[k] for k in ("accuracy", "band", "chance", "classes", "folds", "shuffles")},
        "decoding_synchrony": {k: synchrony[k] for k in ("accuracy", "band", "chance", "classes", "folds", "shuffles")},
        "first_decodable_tick": None if first is None else first + 1,
        "first_decodable_tick_synchrony": None if first_synchrony is None else first_synchrony + 1,
        "certainty_tick": None if crossing is None else crossing + 1,
        "certainty_reached_fraction": certainty["reached_fraction"],
        "participation_ratio": dimension["per_tick"],
    }
    if recording.kind == "spiking" and getattr(model.synapse, "dale", False):  # cortical: variability over 1 s
        ticks = model.neuron.ticks_in(1.0)
        long = model.record(x[:16], config=ckpt.config, ticks=ticks, repeats=4, noise_seed=0)
        fano = fano_factors(long, FANO_WINDOW_S)
        result["fano_course"] = {
            "times_s": fano["times_s"],
            "fano": fano["course"],
            "window_s": FANO_WINDOW_S,
            "thoughts": "16 inputs × 4 noise repeats of 1 s",
        }
    result["seconds"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--inputs", type=int, default=1024, help="evaluation inputs (digits has 360)")
    parser.add_argument("--shuffles", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "thought-dynamics.json"))
    args = parser.parse_args()
    results = []
    for name in args.models:
        results.append(measure(name, args.inputs, args.shuffles))
        r = results[-1]
        print(f"{name}: decodable at tick {r['first_decodable_tick']}, certain at {r['certainty_tick']}")
    command = f"python experiments/scripts/thought_dynamics.py --inputs {args.inputs} --shuffles {args.shuffles}"
    payload = {"command": command, "certainty_threshold": THRESHOLD, "models": results}
    Path(args.out).write_text(json.dumps(finite_json(payload), indent=2) + "\n")
    print(dynamics.report_markdown(json.loads(Path(args.out).read_text())))


if __name__ == "__main__":
    main()
