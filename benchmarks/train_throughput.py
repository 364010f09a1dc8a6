"""Training-step throughput of the CTM on parity-16 (forward + backward + AdamW step).

    python benchmarks/train_throughput.py [--reference PATH] [--compile] [--spiking] [--steps N] [--out FILE]

Grid: d_model 128/256 x ticks 25/50, memory 10, batch 64 (d_input 64, 4 heads, 32+32
random pairs, NLM hidden 16). Each (implementation, config) runs in a fresh subprocess so
that peak memory (max RSS on CPU, max allocated on CUDA) is its own. With --reference, a
checkout of SakanaAI/continuous-thought-machines is imported from PATH and measured side by
side at the same config, and the table gets a speed-up column. --compile adds the RateCTM with
``train.compile = true`` (torch.compile of the tick; its one-off compile time is reported
separately and excluded from the step time). --spiking adds the SpikingCTM at the same sizes
with the parts of configs/parity/parity16-spiking.toml (spiking neurons, GLU synapse, spike synchrony
at 1/2/4 ticks), and the same with a factorised Miconi plastic synapse ("spiking-plastic"),
each with a SpikingCTM / RateCTM column. Results go to a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

BATCH, MEMORY, LENGTH = 64, 10, 16
GRID = [(128, 25), (128, 50), (256, 25), (256, 50)]


def _model_args(d_model: int, ticks: int) -> dict:
    return dict(d_model=d_model, ticks=ticks, d_input=64, heads=4, n_synch=32, hidden=16)


def _build(impl: str, d_model: int, ticks: int, reference: str | None, device):
    import torch

    a = _model_args(d_model, ticks)
    if impl == "reference":
        sys.path.insert(0, reference)
        from models.ctm import ContinuousThoughtMachine

        model = ContinuousThoughtMachine(
            iterations=ticks,
            d_model=d_model,
            d_input=a["d_input"],
            heads=a["heads"],
            n_synch_out=a["n_synch"],
            n_synch_action=a["n_synch"],
            synapse_depth=1,
            memory_length=MEMORY,
            deep_nlms=True,
            memory_hidden_dims=a["hidden"],
            do_layernorm_nlm=False,
            backbone_type="parity_backbone",
            positional_embedding_type="custom-rotational-1d",
            out_dims=2 * LENGTH,
            prediction_reshaper=[LENGTH, 2],
            dropout=0.0,
            neuron_select_type="random-pairing",
        ).to(device)
        model(torch.ones(1, LENGTH, device=device))

        def run(x):
            predictions, certainties, _ = model(x)
            return predictions.reshape(x.shape[0], LENGTH, 2, ticks).permute(0, 3, 1, 2).reshape(
                x.shape[0], ticks, -1
            ), certainties[:, 1]
    else:
        from neurosync.build import build_model
        from neurosync.config import from_dict

        spiking = {}
        if impl.startswith("spiking"):  # the parts of configs/parity/parity16-spiking.toml
            spiking = {
                "neuron": "spiking",
                "synchrony": "spike-multiscale",
                "spike_synchrony": {"timescales_ms": [1.0, 2.0, 4.0]},
                "spiking": {"tau_membrane_ms": 1.44, "filter_tau_max_ms": 4.0},
            }
        if impl == "spiking-plastic":
            spiking.update(synapse="plastic", plasticity={"implementation": "factorised"})
        cfg = from_dict(
            {
                "task": {"sequence_length": LENGTH},
                "model": {
                    "d_model": d_model,
                    "ticks": ticks,
                    "d_input": a["d_input"],
                    "heads": a["heads"],
                    "n_synch_out": a["n_synch"],
                    "n_synch_action": a["n_synch"],
                    "nlm": {"memory_length": MEMORY, "hidden": a["hidden"]},
                    **spiking,
                },
            }
        )
        model = build_model(cfg).to(device)
        if impl == "compiled":
            model.compile_ticks(dynamic=False)

        def run(x):
            out = model(x)
            return out.logits, out.certainty

    return model, run


def measure(impl: str, d_model: int, ticks: int, steps: int, reference: str | None, device_name: str) -> dict:
    """One (implementation, config) in this process -> samples/s, ms/step, peak memory (MiB)."""
    import torch

    from neurosync.losses import certainty_loss
    from neurosync.tasks.parity import per_tick_loss, targets_for

    torch.manual_seed(0)
    device = torch.device(device_name)
    model, run = _build(impl, d_model, ticks, reference, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)

    def step():
        x = (torch.randint(0, 2, (BATCH, LENGTH), generator=generator).float() * 2 - 1).to(device)
        logits, certainty = run(x)
        loss, _ = certainty_loss(per_tick_loss(logits, targets_for(x)), certainty)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    step()
    first_step_s = time.perf_counter() - start
    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "impl": impl,
        "d_model": d_model,
        "ticks": ticks,
        "ms_per_step": 1000 * elapsed / steps,
        "samples_per_s": BATCH * steps / elapsed,
        "peak_mib": peak,
        "first_step_s": first_step_s,
    }


def _machine(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", help="path to a checkout of SakanaAI/continuous-thought-machines")
    parser.add_argument("--compile", action="store_true", help="also measure the compiled tick")
    parser.add_argument("--spiking", action="store_true", help="also measure the SpikingCTM at the same sizes")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_throughput.md"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # child process: measure one cell, print JSON
        impl, d_model, ticks = args.one.split(",")
        print(json.dumps(measure(impl, int(d_model), int(ticks), args.steps, args.reference, args.device)))
        return
    impls = (
        ["neurosync"]
        + (["compiled"] if args.compile else [])
        + (["spiking", "spiking-plastic"] if args.spiking else [])
        + (["reference"] if args.reference else [])
    )
    rows = []
    for d_model, ticks in GRID:
        cell = {}
        for impl in impls:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                f"{impl},{d_model},{ticks}",
                "--steps",
                str(args.steps),
                "--device",
                args.device,
            ]
            if args.reference:
                cmd += ["--reference", args.reference]
            result = json.loads(
                subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            )
            cell[impl] = result
            print(
                f"{impl:10s} d_model={d_model} ticks={ticks}: {result['samples_per_s']:.0f} samples/s, "
                f"{result['ms_per_step']:.1f} ms/step, peak {result['peak_mib']:.0f} MiB",
                flush=True,
            )
        rows.append(cell)
    import torch

    lines = [
        "# CTM training-step throughput, parity-16",
        "",
        f"`python benchmarks/train_throughput.py{' --reference PATH' if args.reference else ''}{' --compile' if args.compile else ''}"
        f"{' --spiking' if args.spiking else ''} "
        f"--steps {args.steps} --device {args.device}`",
        f"on {_machine(args.device)}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"batch {BATCH}, memory {MEMORY}, d_input 64, 4 heads, 32+32 random pairs, NLM hidden 16; "
        f"forward + backward + AdamW step, mean of {args.steps} steps after 3 warm-up steps. "
        "Peak memory: max RSS of the process (CPU) or max allocated (CUDA). `neurosync` is the RateCTM"
        + (
            "; `spiking` the SpikingCTM with the parts of configs/parity/parity16-spiking.toml (spiking neurons, GLU synapse, "
            "spike synchrony at 1/2/4 ticks, at this grid's sizes); `spiking-plastic` the same with a factorised Miconi "
            "plastic synapse."
            if args.spiking
            else "."
        ),
        "",
    ]
    header, sep = "| d_model | ticks |", "|---|---|"
    for impl in impls:
        header += f" {impl} samples/s | ms/step | peak MiB |"
        sep += "---|---|---|"
    if args.reference:
        header += " speed-up eager |" + (" speed-up compiled |" if args.compile else "")
        sep += "---|" + ("---|" if args.compile else "")
    if args.spiking:
        header += " spiking / rate | spiking-plastic / rate |"
        sep += "---|---|"
    lines += [header, sep]
    for cell in rows:
        first = cell["neurosync"]
        line = f"| {first['d_model']} | {first['ticks']} |"
        for impl in impls:
            r = cell[impl]
            line += f" {r['samples_per_s']:.0f} | {r['ms_per_step']:.1f} | {r['peak_mib']:.0f} |"
        if args.reference:
            ref = cell["reference"]["samples_per_s"]
            line += f" {first['samples_per_s'] / ref:.2f}x |"
            if args.compile:
                line += f" {cell['compiled']['samples_per_s'] / ref:.2f}x |"
        if args.spiking:
            line += (
                f" **{cell['spiking']['samples_per_s'] / first['samples_per_s']:.2f}x** |"
                f" {cell['spiking-plastic']['samples_per_s'] / first['samples_per_s']:.2f}x |"
            )
        lines.append(line)
    if args.compile:
        lines += [
            "",
            "One-off compile time (first step, s): "
            + ", ".join(
                f"d_model {c['compiled']['d_model']} / {c['compiled']['ticks']} ticks: {c['compiled']['first_step_s']:.0f}"
                for c in rows
            )
            + ".",
        ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
