"""The training step captured in a CUDA graph against the eager step. Needs a GPU.

    python benchmarks/cuda_graphs.py [--configs parity16-rate parity16-spiking parity16-cortical parity64-rate-paper]
                                     [--batch 64] [--steps 40] [--out FILE]

For each config (models/<name>.toml) at batch 64, the training loop's own step, two ways, from
the same initial weights on the same batches: eager (``neurosync.step_graph.eager_step``) and
``train.cuda_graphs`` (``CapturedStep``: 3 eager warm-up steps, then the forward, loss, backward
and clip captured once and replayed). Each timed step is what ``neurosync train`` does per step:
the batch to the device, the captured or eager part, the finiteness check on the host, AdamW,
the loss read back. The table gives the median step time over the steps after the capture,
the speed-up (goal ≥ 3×), the capture call's time, the largest difference between the two loss
curves, and the peak memory. Without a CUDA device it says so and writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WARMUP = 3  # eager warm-up calls before the capture (CapturedStep's default)


def run_arm(name: str, graphed: bool, batch: int, steps: int) -> dict:
    import torch
    from _task_step import config_path

    from neurosync import config as config_mod
    from neurosync.build import build_model
    from neurosync.step_graph import CapturedStep, eager_step
    from neurosync.tasks import get_task
    from neurosync.training import learning_rate, make_gradient_step

    cfg = config_mod.load(
        config_path(name),
        [f"train.batch_size={batch}", "train.compile=false", f"train.cuda_graphs={str(graphed).lower()}"],
    )
    device = torch.device("cuda")
    torch.manual_seed(0)
    torch.cuda.manual_seed(0)
    model = build_model(cfg).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    task = get_task(cfg.task)
    parameters = [p for p in model.parameters() if p.requires_grad]
    gradient_step = make_gradient_step(model, cfg, device, parameters)
    run_step = (
        CapturedStep(gradient_step, parameters, device, WARMUP) if graphed else eager_step(gradient_step, parameters)
    )
    torch.cuda.reset_peak_memory_stats(device)
    losses, times = [], []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg.train)
        x, y = task.sample(cfg.task, batch, torch.Generator().manual_seed(step))
        torch.cuda.synchronize(device)
        started = time.perf_counter()
        loss, total, grad_norm = run_step(x.to(device), y.to(device))
        if not (torch.isfinite(total) and torch.isfinite(grad_norm)):
            raise RuntimeError(f"{name}: non-finite loss at step {step + 1}")
        optimizer.step()
        losses.append(loss.item())
        torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    timed = times[WARMUP + 1 :]  # after the capture (the eager arm: after as many steps)
    return {
        "median_s": statistics.median(timed),
        "capture_s": times[WARMUP],
        "losses": losses,
        "peak_mib": torch.cuda.max_memory_allocated(device) / 2**20,
        "parameters": sum(p.numel() for p in parameters),
    }


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["parity16-rate", "parity16-spiking", "parity16-cortical", "parity64-rate-paper"],
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cuda_graphs.md"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("benchmarks/cuda_graphs.py needs a CUDA device: none here, nothing measured", file=sys.stderr)
        sys.exit(2)
    if args.steps < WARMUP + 3:
        print(f"--steps must be >= {WARMUP + 3} (warm-up, capture, timed replays)", file=sys.stderr)
        sys.exit(2)
    lines = [
        "# The training step in a CUDA graph",
        "",
        f"`python benchmarks/cuda_graphs.py --batch {args.batch} --steps {args.steps}` on {torch.cuda.get_device_name()}, "
        f"torch {torch.__version__}, bf16 autocast: each config's training step (forward, loss, backward, clip, "
        f"finiteness check, AdamW, loss read back), eager and with `train.cuda_graphs`, from the same weights on the "
        f"same batches; median over steps {WARMUP + 2}-{args.steps} (after the {WARMUP} warm-up steps and the capture).",
        "",
        "| config | parameters | eager (ms/step) | CUDA graph (ms/step) | speed-up | capture step (s) | "
        "max loss difference | peak MiB eager / graph |",
        "|---|---|---|---|---|---|---|---|",
    ]
    out = Path(args.out)
    for name in args.configs:
        try:
            eager = run_arm(name, False, args.batch, args.steps)
            graph = run_arm(name, True, args.batch, args.steps)
        except Exception as error:  # noqa: BLE001 - one config's failure is reported in its row, the others still run
            lines.append(
                f"| {name} | failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''} | | | | | | |"
            )
        else:
            difference = max(abs(a - b) for a, b in zip(eager["losses"], graph["losses"]))
            lines.append(
                f"| {name} | {eager['parameters'] / 1e6:.2f} M | {1e3 * eager['median_s']:.1f} | "
                f"{1e3 * graph['median_s']:.1f} | **{eager['median_s'] / graph['median_s']:.2f}×** | "
                f"{graph['capture_s']:.2f} | {difference:.1e} | {eager['peak_mib']:.0f} / {graph['peak_mib']:.0f} |"
            )
        print(lines[-1], flush=True)
        out.write_text("\n".join(lines) + "\n")
        torch.cuda.empty_cache()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
