"""Three seeds of one config trained together against one seed alone.

    python benchmarks/seeds_together.py [--kinds rate spiking cortical] [--steps 5] [--rounds 3] [--out FILE]

At the study's sizes (experiments/study.toml: parity16 configs on 8-bit parity, batch 64) it times
training steps (forward + backward + AdamW) of

- ``one``: one seed, this process (torch's threads: the machine's cores), the mean of the three
  seeds' times in ``sequential`` (the first arm of a round runs on cold caches);
- ``sequential``: three seeds one after another (what the study does today: 3× by construction);
- ``vmap``: three seeds as one batched model, ``torch.func.stack_module_state`` + ``vmap`` of
  ``grad`` (the parity backbone's input check, data-dependent control flow that vmap cannot
  trace, is bypassed for the measurement; the outputs are checked against the seeds' own);
- ``processes``: three seeds in three worker processes of one thread each, at once (what
  ``--executor dask`` gives on one machine);
- ``3× batch``: one seed on a batch of 3 × 64: the same operations on three times the data. Any
  arrangement of three seeds as one model (batched parameters in the parts, or vmap) runs at least
  this work (each seed's own weights can only add to it), so its ratio is a lower bound on what
  seeds trained together can reach here.

Arms are interleaved round by round; the table gives the median time of one step of every
seed and its ratio to ``one`` (goal ≤ 1.5× for three seeds). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEEDS = 3


def _config(kind: str):
    from _task_step import config_path

    from neurosync import config as config_mod

    name = {"rate": "parity16-rate", "spiking": "parity16-spiking", "cortical": "parity16-cortical"}[kind]
    return config_mod.load(config_path(name), ["task.sequence_length=8"])


def _solo_step(kind: str, seed: int, batch_factor: int = 1):
    from _task_step import task_step

    cfg = _config(kind)
    cfg.train.seed = seed
    cfg.train.batch_size *= batch_factor
    return task_step(cfg, seed)[0]


def _vmap_step(kind: str):
    import torch
    from torch.func import functional_call, grad, stack_module_state, vmap

    from neurosync.build import build_model
    from neurosync.parts import perception
    from neurosync.tasks import get_task, task_loss

    def unchecked(self, x):  # the ±1 check is data-dependent control flow, which vmap cannot trace
        tokens = self.embedding((x == 1).long())
        return tokens if self.positional is None else tokens + self.positional(x.shape[1], x.device)

    perception.ParityBackbone.forward = unchecked
    cfg = _config(kind)
    models = []
    for seed in range(SEEDS):
        cfg.train.seed = seed
        models.append(build_model(cfg).train())
    params, buffers = stack_module_state(models)
    params = {k: v.detach().requires_grad_(False) for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    task = get_task(cfg.task)
    batches = [task.sample(cfg.task, 64, torch.Generator().manual_seed(s)) for s in range(SEEDS)]
    x, y = torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])

    def loss(p, b, xs, ys):
        return task_loss(task, functional_call(base, (p, b), (xs,)), ys, cfg.task)[0]

    gradients = vmap(grad(loss))
    state = {k: (torch.zeros_like(v), torch.zeros_like(v)) for k, v in params.items()}
    with torch.no_grad():
        check = functional_call(
            base, ({k: v[1] for k, v in params.items()}, {k: v[1] for k, v in buffers.items()}), (x[1],)
        )
        difference = float((check.logits - models[1](x[1]).logits).abs().max())

    def step():  # AdamW by hand on the stacked parameters (elementwise: each seed its own)
        g = gradients(params, buffers, x, y)
        with torch.no_grad():
            for k, p in params.items():
                m, v = state[k]
                m.mul_(0.9).add_(g[k], alpha=0.1)
                v.mul_(0.999).addcmul_(g[k], g[k], value=0.001)
                p.mul_(1 - 1e-3 * 0.01).addcdiv_(m, v.sqrt().add_(1e-8), value=-1e-3)

    return step, difference


def _worker(kind: str, seed: int, steps: int, start, out):
    import torch

    torch.set_num_threads(1)
    step = _solo_step(kind, seed)
    step()  # warm-up
    start.wait()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    out.put(time.perf_counter() - t)


def _processes(kind: str, steps: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(SEEDS + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(kind, s, steps, start, out)) for s in range(SEEDS)]
    for p in procs:
        p.start()
    start.wait()
    t = time.perf_counter()
    for _ in procs:
        out.get()
    elapsed = time.perf_counter() - t
    for p in procs:
        p.join()
    return elapsed / steps


def _timed(step, steps: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["rate", "spiking", "cortical"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "seeds_together.md"))
    args = parser.parse_args()
    threads = torch.get_num_threads()
    lines = [
        "# Three seeds trained together",
        "",
        f"`python benchmarks/seeds_together.py --steps {args.steps} --rounds {args.rounds}` on "
        f"{platform.machine()}, {threads} threads, torch {torch.__version__}. The study's configs (parity16 sizes, "
        "8-bit parity, batch 64); seconds per training step of all seeds, median over rounds, ratio to one seed "
        "alone (goal for three seeds: ≤ 1.5×).",
        "",
        "| model | one seed (s/step) | sequential, 3 seeds | vmap, 3 seeds | 3 processes × 1 thread | "
        "one seed, 3× batch (lower bound) | vmap max logit difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in args.kinds:
        solos = [_solo_step(kind, s) for s in range(SEEDS)]
        tripled = _solo_step(kind, 0, SEEDS)
        tripled()  # warm-up
        try:
            batched, difference = _vmap_step(kind)
            batched()  # warm-up, and the first trace
        except Exception as err:  # e.g. a custom autograd Function without a vmap rule
            batched, difference = None, f"vmap fails: {type(err).__name__}: {str(err).splitlines()[0][:80]}"
        for fn in solos:
            fn()  # warm-up
        times: dict[str, list[float]] = {"one": [], "sequential": [], "vmap": [], "processes": [], "batch": []}
        for _ in range(args.rounds):
            each = [_timed(s, args.steps) for s in solos]  # the three seeds in turn: the study's way today
            times["sequential"].append(sum(each))
            times["one"].append(
                sum(each) / SEEDS
            )  # one seed: the mean of the three (timed alone, the first would be cold)
            times["vmap"].append(_timed(batched, args.steps) if batched else float("nan"))
            times["processes"].append(_processes(kind, args.steps))
            times["batch"].append(_timed(tripled, args.steps))
        med = {k: statistics.median(v) for k, v in times.items()}
        cells = [
            f"{med[k]:.3f} ({med[k] / med['one']:.2f}×)" if med[k] == med[k] else "fails"
            for k in ("sequential", "vmap", "processes", "batch")
        ]
        detail = f"{difference:.1e}" if isinstance(difference, float) else difference
        lines.append(f"| {kind} | {med['one']:.3f} | {' | '.join(cells)} | {detail} |")
        print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
