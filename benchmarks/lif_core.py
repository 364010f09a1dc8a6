"""LIF layers, forward + backward over a sequence: NeuroSync's fused BPTT vs snnTorch.

    python benchmarks/lif_core.py [--mode recurrent|feedforward] [--neurons 256 ...] [--batch 64]
                                  [--steps 100] [--device cpu|cuda] [--out FILE]

Modes:

- ``recurrent`` (default; the CPU target): snnTorch ``RLeaky(linear_features=N)`` vs
  the same recurrent layer in NeuroSync (neurosync/parts/lif_core.py).
- ``feedforward`` (the Open Neuromorphic SNN-library benchmark: Linear(N, N) -> LIF, batch 16,
  500 steps): snnTorch ``Linear`` + ``Leaky`` per step vs NeuroSync's one matmul over all
  steps + the fused LIF sequence.

Three implementations of the same equations (β = 0.9, θ = 1, atan surrogate, reset by
subtraction, detached reset), timed side by side on the same inputs and weights:

- ``snntorch``: stepped in a Python loop, autograd BPTT;
- ``autograd``: NeuroSync's equations in plain torch, autograd BPTT;
- ``fused``: ``RecurrentLIFFunction``, a hand-written whole-sequence backward.

Each timing is the median of `--repeats` runs of forward + backward (loss = Σ spikes · r for a
fixed random r, so every spike carries gradient). Spike bins that differ from snnTorch's are
counted; in recurrent mode the script fails unless there are none. Targets: fused
≥ 1.5× snnTorch on CPU at 256 neurons × batch 64 × 100 steps (recurrent); ≥ 10× on a GPU at
16k neurons.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def build(mode: str, neurons: int, batch: int, steps: int, device: torch.device, seed: int = 0):
    import snntorch
    from snntorch import surrogate

    torch.manual_seed(seed)
    spike_grad = surrogate.atan(alpha=2.0)
    if mode == "recurrent":
        layer = snntorch.RLeaky(
            beta=0.9, linear_features=neurons, threshold=1.0, spike_grad=spike_grad, reset_mechanism="subtract"
        ).to(device)
        with torch.no_grad():
            layer.recurrent.weight.mul_(0.5)
        linear = layer.recurrent
        inputs = (0.6 * torch.randn(steps, batch, neurons, device=device) + 0.15).requires_grad_()
    else:  # the Open Neuromorphic benchmark: Linear -> LIF, input data without gradient
        layer = snntorch.Leaky(beta=0.9, threshold=1.0, spike_grad=spike_grad, reset_mechanism="subtract").to(device)
        linear = torch.nn.Linear(neurons, neurons).to(device)
        inputs = (torch.rand(steps, batch, neurons, device=device) < 0.1).float() * 4.0
    readout = torch.randn(steps, batch, neurons, device=device)
    beta = torch.full((neurons,), 0.9, device=device)
    threshold = torch.ones(neurons, device=device)
    return layer, linear, inputs, readout, beta, threshold


def time_it(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(
    mode: str, neurons: int, batch: int, steps: int, device: torch.device, repeats: int, autocast: bool = False
) -> dict:
    from neurosync.parts.lif_core import lif_sequence, recurrent_lif_autograd

    layer, linear, inputs, readout, beta, threshold = build(mode, neurons, batch, steps, device)
    weight, bias = linear.weight, linear.bias

    def snntorch_step():
        spikes = []
        if mode == "recurrent":
            spk = mem = torch.zeros_like(inputs[0])
            for x in inputs.unbind(0):  # unbind: one backward node, not one full-size scatter per step
                spk, mem = layer(x, spk, mem)
                spikes.append(spk)
        else:
            mem = torch.zeros_like(inputs[0])
            for x in inputs.unbind(0):
                spk, mem = layer(linear(x), mem)
                spikes.append(spk)
        spikes = torch.stack(spikes)
        (spikes * readout).sum().backward()
        return spikes

    def ours(fn):
        def step():
            if mode == "recurrent":
                spikes, _ = fn(inputs, weight, bias, beta, threshold)
            else:  # all steps' input currents in one matmul, then the neuron loop
                spikes, _ = fn(linear(inputs), None, None, beta, threshold)
            (spikes * readout).sum().backward()
            return spikes

        return step

    def fused(currents, w, b, beta_, threshold_):
        return lif_sequence(currents, beta_, threshold_, w, b)

    if autocast:  # bf16 matmuls for every implementation alike (the library's GPU training mode)

        def wrap(fn):
            def run():
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    return fn()

            return run

        snntorch_step, ours = wrap(snntorch_step), (lambda inner, _ours=ours: wrap(_ours(inner)))

    results, spikes, grads = {}, {}, {}
    for name, fn in (("snntorch", snntorch_step), ("autograd", ours(recurrent_lif_autograd)), ("fused", ours(fused))):
        weight.grad = bias.grad = None
        spikes[name] = fn().detach()
        grads[name] = weight.grad.clone()
        results[name] = time_it(fn, device, repeats)
    mismatched = (spikes["fused"] != spikes["snntorch"]).sum().item()
    grad_error = ((grads["fused"] - grads["snntorch"]).abs().max() / grads["snntorch"].abs().max()).item()
    return {
        "seconds": results,
        "mismatched": mismatched,
        "bins": spikes["fused"].numel(),
        "firing": spikes["fused"].mean().item(),
        "grad_rel_error": grad_error,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["recurrent", "feedforward"], default="recurrent")
    parser.add_argument("--neurons", type=int, nargs="+", default=[256])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--autocast", action="store_true", help="run every implementation under bf16 autocast")
    parser.add_argument(
        "--out", default=None, help="Markdown file (default: results/lif_core_<mode>_<device>[_bf16].md)"
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    )
    rows = []
    for neurons in args.neurons:
        r = measure(args.mode, neurons, args.batch, args.steps, device, args.repeats, args.autocast)
        if args.mode == "recurrent" and r["mismatched"] and not args.autocast:
            raise SystemExit(
                f"{r['mismatched']} spike bins differ from snnTorch's at {neurons} neurons: the benchmark is invalid"
            )
        s = r["seconds"]
        per_step = {k: 1e3 * v / args.steps for k, v in s.items()}
        rows.append(
            f"| {neurons} | {per_step['snntorch']:.3f} | {per_step['autograd']:.3f} | {per_step['fused']:.3f} | "
            f"**{s['snntorch'] / s['fused']:.2f}×** | {s['autograd'] / s['fused']:.2f}× | {r['mismatched']} of {r['bins']} | "
            f"{r['firing']:.3f} | {r['grad_rel_error']:.1e} |"
        )
        print(rows[-1], flush=True)
    suffix = "_bf16" if args.autocast else ""
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).parent / "results" / f"lif_core_{args.mode}_{device.type}{suffix}.md"
    )
    snn_name = "RLeaky" if args.mode == "recurrent" else "Linear + Leaky"
    lines = [
        f"# {args.mode.capitalize()} LIF layer: fused BPTT vs snnTorch {snn_name}",
        "",
        f"`python benchmarks/lif_core.py --mode {args.mode} --neurons {' '.join(map(str, args.neurons))} --batch {args.batch} "
        f"--steps {args.steps} --device {args.device}{' --autocast' if args.autocast else ''}` on {name}, "
        f"torch {torch.__version__}. Forward + backward over "
        f"{args.steps} steps, batch {args.batch}; milliseconds per step, median of {args.repeats} runs, measured side by side "
        "in one process."
        + (
            " Every implementation runs under bf16 autocast (its matmuls in bf16), so spike bins can differ "
            "with the matmul shapes' rounding."
            if args.autocast
            else ""
        ),
        "",
        f"| neurons | snnTorch {snn_name} ms/step | plain-torch autograd ms/step | fused ms/step | fused vs snnTorch | "
        "fused vs autograd | spike bins differing from snnTorch | firing prob. | ∂W rel. diff vs snnTorch |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "∂W differs from snnTorch's only by float summation order (same equations, same detached reset)."
        + (
            " In feed-forward mode NeuroSync computes all steps' input currents in one matmul, whose summation order "
            "can differ from snnTorch's per-step matmuls in the last bit; differing bins, if any, come from that."
            if args.mode == "feedforward"
            else ""
        ),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
