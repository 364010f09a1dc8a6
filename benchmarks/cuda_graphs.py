"""The whole training step in CUDA graphs against the eager step (issue 16, item 3). Needs a GPU.

    python benchmarks/cuda_graphs.py [--kinds rate spiking cortical] [--batch 64] [--steps 50] [--out FILE]

At parity16 sizes (models/parity16-*.toml), batch 64: the eager training step (forward,
backward, AdamW) and the same step with ``train.cuda_graphs`` (:func:`neurosync.training.
graphed_step`: the thought's forward and backward compiled whole with static shapes and
replayed as CUDA graphs), from the same initial weights on the same batches; the table gives
the median step time, the speed-up (goal ≥ 3×) and the largest difference between the two
loss curves. Without a CUDA device it says so and writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(kind: str, graphed: bool, batch: int, steps: int):
    import torch

    from neurosync import config as config_mod
    from neurosync.build import build_model
    from neurosync.tasks import get_task, task_loss
    from neurosync.training import graphed_step

    cfg = config_mod.load(REPO / "models" / f"parity16-{kind}.toml", [f"train.batch_size={batch}"])
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    task = get_task(cfg.task)

    def loss_of(x, y):
        return task_loss(task, model(x), y, cfg.task)[0]

    step_loss = graphed_step(loss_of, device) if graphed else loss_of
    losses, times = [], []
    first = None
    for i in range(steps):
        x, y = task.sample(cfg.task, batch, torch.Generator().manual_seed(i))
        x, y = x.to(device), y.to(device)
        torch.cuda.synchronize()
        t = time.perf_counter()
        loss = step_loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - t
        first = elapsed if first is None else first
        times.append(elapsed)
        losses.append(loss.item())
    return statistics.median(times[5:]), first, losses


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["rate", "spiking", "cortical"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cuda_graphs.md"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("benchmarks/cuda_graphs.py needs a CUDA device: none here, nothing measured", file=sys.stderr)
        sys.exit(2)
    lines = ["# The training step in CUDA graphs (issue 16, item 3)", "",
             f"`python benchmarks/cuda_graphs.py --batch {args.batch} --steps {args.steps}` on "
             f"{torch.cuda.get_device_name()}, torch {torch.__version__}: parity16 configs, median over steps 6-{args.steps}.", "",
             "| model | eager (ms/step) | CUDA graphs (ms/step) | speed-up | first graphed step (s) | max loss difference |",
             "|---|---|---|---|---|---|"]
    for kind in args.kinds:
        eager, _, eager_losses = _run(kind, False, args.batch, args.steps)
        graphed, first, graphed_losses = _run(kind, True, args.batch, args.steps)
        difference = max(abs(a - b) for a, b in zip(eager_losses, graphed_losses))
        lines.append(f"| {kind} | {1e3 * eager:.1f} | {1e3 * graphed:.1f} | **{eager / graphed:.2f}×** | {first:.1f} | "
                     f"{difference:.1e} |")
        print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
