"""Training step of a plastic CTM against the same CTM without plasticity.

    python benchmarks/plastic_step.py [--rounds 5] [--steps 10] [--long-ticks 20 80 320 1000] [--arms ...] [--out FILE]

At the recall config (models/recall8-*.toml: 8 pairs, 20 ticks, batch 64, d_model 128) it
times forward + backward + AdamW steps of the SpikingCTM and the RateCTM without plasticity
and with a dense and a factorised Miconi plastic synapse (and the SpikingCTM with the
afferent fast weight of the shipped recall models, Miconi dense and factorised, and ABCD), all in one process, interleaved
round by round (A, B, C, A, B, C, ...) after a warm-up, so that the machine's load falls on
all alike; the table gives the median seconds per step and the ratio to the non-plastic
model of the same kind (goal: ≤ 1.3×). Then the factorised plastic synapse alone over
thoughts of ``--long-ticks`` ticks: with a state of bounded size its time per tick stays flat
while the earlier form, whose state grew by one trace per tick, is O(ticks²): both are
timed side by side (the earlier one restated here, in ``_concatenating``).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONCATENATING_MAX_TICKS = 320  # autograd keeps O(ticks²) traces: ~16 GB at 1,000 ticks, more than this machine has
ARMS = {  # name: (config, overrides)
    "spiking": ("recall8-spiking", []),
    "spiking-plastic-dense": ("recall8-spiking-plastic", ["model.plasticity.implementation=dense"]),
    "spiking-plastic-factorised": ("recall8-spiking-plastic", ["model.plasticity.implementation=factorised"]),
    "spiking-afferent-miconi": ("recall8-spiking-afferent", []),  # the shipped recall-spiking-plastic's synapse
    "spiking-afferent-miconi-factorised": ("recall8-spiking-afferent", ["model.plasticity.implementation=factorised"]),
    "spiking-afferent-abcd": ("recall8-spiking-afferent", ["model.plasticity.rule=abcd"]),
    "rate": ("recall8-rate", []),
    "rate-plastic-dense": ("recall8-rate-plastic", ["model.plasticity.implementation=dense"]),
    "rate-plastic-factorised": ("recall8-rate-plastic", ["model.plasticity.implementation=factorised"]),
}


def _setup(name: str):
    from _task_step import config_path, task_step

    from neurosync import config as config_mod

    path, overrides = ARMS[name]
    return task_step(config_mod.load(config_path(path), overrides))


def _concatenating(synapse, attended, spikes, state):
    """The factorised Miconi synapse as it was before the fixed-size state: every tick's traces kept, the
    state growing by one trace per tick (the reference point of the long-thought table)."""
    import torch

    from neurosync.parts.plastic import _trace

    previous, (weighted, pres) = state
    trace = _trace(synapse.trace_decay, previous, spikes)
    eta = synapse.learning_rate(trace)
    weighted = torch.cat(((1 - eta).unsqueeze(1) * weighted, (eta * trace).unsqueeze(1)), dim=1)
    pres = torch.cat((pres, previous.unsqueeze(1)), dim=1)
    post_gain, pre_gain = synapse.plastic_gain()
    overlap = (pres * (pre_gain * spikes).unsqueeze(1)).sum(-1, keepdim=True)
    current = synapse.input(attended) + synapse.recurrent(spikes) + post_gain * (overlap * weighted).sum(1)
    return current, (trace, (weighted, pres))


def _long_thoughts(ticks_list: list[int], batch: int = 64, neurons: int = 128, repeats: int = 3) -> list[dict]:
    import torch

    from neurosync.parts.plastic import PlasticSynapse

    rows = []
    for ticks in ticks_list:
        torch.manual_seed(0)
        synapse = PlasticSynapse(64, neurons, rule="miconi", implementation="factorised")
        gen = torch.Generator().manual_seed(0)
        attended = torch.randn(ticks, batch, 64, generator=gen)
        spikes = (torch.rand(ticks, batch, neurons, generator=gen) < 0.1).float()
        row = {"ticks": ticks}
        for form in ("fixed", "concatenating") if ticks <= CONCATENATING_MAX_TICKS else ("fixed",):
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                if form == "fixed":
                    state = synapse.start(batch)
                else:
                    empty = torch.zeros(batch, 0, neurons)
                    state = (torch.zeros(batch, neurons), (empty, empty))
                total, currents = 0.0, []
                for t in range(ticks):
                    current, state = (
                        synapse(attended[t], spikes[t], state)
                        if form == "fixed"
                        else _concatenating(synapse, attended[t], spikes[t], state)
                    )
                    total = total + current.square().mean()
                    currents.append(current.detach())
                total.backward()
                times.append(time.perf_counter() - start)
            row[form] = 1e3 * statistics.median(times) / ticks
            row[f"{form}_currents"] = torch.stack(currents)
        if "concatenating" in row:
            row["difference"] = float((row.pop("fixed_currents") - row.pop("concatenating_currents")).abs().max())
        rows.append(row)
    return rows


def main(argv=None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="training steps per arm and round")
    parser.add_argument("--long-ticks", type=int, nargs="*", default=[20, 80, 320, 1000])
    parser.add_argument(
        "--arms",
        nargs="*",
        choices=list(ARMS),
        default=list(ARMS),
        help="a subset of the arms (each plastic arm needs its non-plastic base, spiking or rate)",
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "plastic_step.md"))
    args = parser.parse_args(argv)
    bases = {"spiking" if name.startswith("spiking") else "rate" for name in args.arms}
    if missing := bases - set(args.arms):
        parser.error(f"--arms needs the non-plastic base of each arm: add {', '.join(sorted(missing))}")
    arms = {name: _setup(name) for name in ARMS if name in args.arms}
    for step, _ in arms.values():  # warm-up
        for _ in range(2):
            step()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for round_ in range(args.rounds):
        for name, (step, _) in arms.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - start) / args.steps)
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {1e3 * t[-1]:.1f} ms" for n, t in times.items()), flush=True)
    median = {name: statistics.median(t) for name, t in times.items()}
    lines = [
        "# Plastic vs non-plastic training step",
        "",
        f"`python benchmarks/plastic_step.py --rounds {args.rounds} --steps {args.steps}` on {platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}. The recall configs (8 pairs, 20 ticks, batch 64, "
        "d_model 128), forward + backward + AdamW, one process, arms interleaved round by round; median over rounds.",
        "",
        "| model | parameters | ms per step | × the non-plastic model | per-round ratios |",
        "|---|---|---|---|---|",
    ]
    for name, (_, params) in arms.items():
        base = "spiking" if name.startswith("spiking") else "rate"
        ratios = [a / b for a, b in zip(times[name], times[base])]
        lines.append(
            f"| {name} | {params:,} | {1e3 * median[name]:.1f} | **{median[name] / median[base]:.2f}** | "
            f"{', '.join(f'{r:.2f}' for r in ratios)} |"
        )
    lines += ["", "Goal: a plastic training step ≤ 1.3× the non-plastic one.", ""]
    if args.long_ticks:
        long = _long_thoughts(args.long_ticks)
        lines += [
            "## The factorised synapse over long thoughts",
            "",
            "One factorised Miconi synapse (128 neurons, batch 64), forward + backward over a whole thought, "
            "median of 3, ms per tick: the bounded state (at most the last 32 ticks' traces and the fast weight at "
            "the last fold) against the earlier form whose state grew by one trace per tick without bound (O(ticks²)); the largest "
            "difference between their currents over the thought in the last column.",
            "",
            "| ticks | bounded state (ms/tick) | concatenating (ms/tick) | max current difference |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['ticks']} | {r['fixed']:.2f} | "
            + (
                f"{r['concatenating']:.2f} | {r['difference']:.1e} |"
                if "concatenating" in r
                else f"not run (its autograd graph would hold ~{64 * 128 * 4 * r['ticks'] ** 2 / 2 / 2**30:.0f} GiB of traces) | |"
            )
            for r in long
        ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
