"""Exact Brian2 validation of a spiking core: 256 neurons x 1000 ticks, end to end.

    python benchmarks/brian2_validation.py [--neurons 256] [--ticks 1000] [--targets numpy cython cpp_standalone] [--out FILE]

For each case (open loop: GLU synapse, the drive is the whole pre-activation; closed loop:
dense Miconi plastic synapse, recurrent weights and fast weights simulated in Brian2, LIF and
ALIF) a SpikingCTM with `--neurons` neurons is perturbed off its initial weights, one thought
of `--ticks` ticks is recorded from PyTorch (float64), and Brian2 re-simulates it in exact
mode. Reported: the PyTorch recording time, the Brian2 time including network construction,
code generation and compilation (the first run of a target pays its compilation; a second
run shows the cached cost), and the mismatched spike bins (must be 0). Target:
<= 10 s for 256 neurons x 1000 ticks on 2 cores, the target named.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch


def build(neurons: int, synapse: str, adaptive: bool):
    from neurosync.build import build_model
    from neurosync.config import from_dict

    cfg = from_dict(
        {
            "task": {"sequence_length": 16},
            "model": {
                "ticks": 8,
                "d_model": neurons,
                "d_input": 64,
                "heads": 4,
                "n_synch_out": 32,
                "n_synch_action": 32,
                "neuron": "spiking",
                "synapse": synapse,
                "synchrony": "spike-multiscale",
                "spiking": {"adaptive": adaptive},
            },
        }
    )
    model = build_model(cfg)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model


def main(argv=None) -> None:
    from neurosync import brian

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=256)
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--targets", nargs="+", default=["numpy", "cython", "cpp_standalone"])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "brian2_validation.md"))
    args = parser.parse_args(argv)
    x = torch.randint(0, 2, (1, 16), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    rows = []
    for synapse, adaptive in (("mlp", False), ("plastic", False), ("plastic", True)):
        model = build(args.neurons, synapse, adaptive)
        start = time.perf_counter()
        recording = brian.record_core(model, x, ticks=args.ticks)
        record_s = time.perf_counter() - start
        core = brian.extract_core(model)
        for target in args.targets:
            for run in ("first", "second"):
                start = time.perf_counter()
                result = brian.simulate_exact(core, recording.drive, target)
                total = time.perf_counter() - start
                report = brian.compare(recording, result)
                case = f"{'closed loop, Miconi plasticity' if synapse == 'plastic' else 'open loop'}, {'ALIF' if adaptive else 'LIF'}"
                rows.append(
                    f"| {case} | {result['target']} | {run} | {record_s:.2f} | **{total:.2f}** | {report['mismatched_bins']} | "
                    f"{report['spikes_pytorch']} | {report['max_abs_membrane_difference']:.1e} |"
                )
                print(rows[-1], flush=True)
    lines = [
        "# Brian2 exact validation: end-to-end time and agreement",
        "",
        f"`python benchmarks/brian2_validation.py --neurons {args.neurons} --ticks {args.ticks} --targets {' '.join(args.targets)}` "
        f"on {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}. "
        f"{args.neurons} neurons x {args.ticks} ticks, one simulation step per tick, float64 on both sides. "
        "Brian2 seconds include building the network, code generation and (Cython) compilation; "
        "'first' is a process's first run of that case and target, 'second' the same again (cached code).",
        "",
        "| case | Brian2 target | run | PyTorch recording s | Brian2 s (build + codegen + run) | mismatched bins | spikes "
        "| max membrane diff |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
