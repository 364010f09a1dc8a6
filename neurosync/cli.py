"""Command line: ``neurosync study``, ``train``, ``evaluate``, ``validate`` (Brian2), ``analyze``,
``export``, ``ablate``, ``sweep``, ``rl`` and ``models`` (the pretrained zoo).

Anything a user can get wrong (config, checkpoint, arguments) ends in one line on stderr and
exit status 2; nothing on disk is overwritten.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import sys
from pathlib import Path

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other user error
        self.exit(EXIT_USAGE, f"neurosync: error: {message} (see {self.prog} --help)\n")


def _overrides(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurosync", description="Rate and spiking Continuous Thought Machines.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    train = sub.add_parser("train", help="train a model from a TOML config")
    train.add_argument("config", help="TOML config, e.g. configs/parity/parity16-rate.toml")
    _overrides(train, "override a config value, e.g. --set train.steps=100 (repeatable)")
    train.add_argument("--run-dir", help="where to write checkpoints and logs (default: <train.out_dir>/<name>)")
    train.add_argument("--resume", action="store_true", help="continue from the run directory's latest checkpoint")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override train.device")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = sub.add_parser("evaluate", help="evaluate a checkpoint (or a run directory's latest)")
    evaluate.add_argument("checkpoint")
    evaluate.add_argument("--samples", type=int, help="evaluation inputs (default: the config's final_eval_samples)")
    evaluate.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    evaluate.add_argument(
        "--noise-seed",
        type=int,
        default=0,
        help="seed of a noisy SpikingCTM's intrinsic noise, so that evaluations repeat (default 0)",
    )
    evaluate.add_argument(
        "--halt-at",
        type=float,
        nargs="+",
        metavar="C",
        help="adaptive compute: also stop each input at its first tick with certainty >= C (one run per "
        "threshold, finished inputs leave the batch) and report accuracy, mean ticks and wall time "
        "against the full thought",
    )

    models = sub.add_parser(
        "models",
        help="list the pretrained models shipped in models/ with their cards' headline numbers "
        "(load one with neurosync.pretrained(name))",
    )
    models.add_argument(
        "--check", action="store_true", help="re-measure every headline (exit 1 if one is off by more than 0.5 point)"
    )
    models.add_argument(
        "--measure",
        metavar="NAME",
        help="measure a shipped model into models/NAME/metrics.json (headline, and for a SpikingCTM its "
        "physiology at dt, dt/2, dt/4 and its Brian2 replay) and render its card models/NAME/README.md",
    )
    models.add_argument(
        "--cards",
        action="store_true",
        help="render every card and the README's model table again from the metrics already measured",
    )
    models.add_argument(
        "--seed-runs",
        nargs="+",
        default=[],
        metavar="RUN",
        help="with --measure: run directories of the same config trained with other seeds, measured onto the card",
    )

    validate = sub.add_parser(
        "validate", help="re-simulate a SpikingCTM checkpoint's spiking core in Brian2 and compare"
    )
    validate.add_argument("checkpoint")
    validate.add_argument(
        "--mode",
        choices=["exact", "continuous", "closed-loop"],
        default="exact",
        help="exact: discrete time, spike for spike, drive replayed; continuous: the ODE form at finer "
        "steps, compared statistically (rates, pairwise synchrony, population spectrum); "
        "closed-loop: exact, with attention recomputed every tick from Brian2's own spikes",
    )
    validate.add_argument(
        "--substeps",
        type=int,
        nargs="+",
        default=[10, 20],
        help="continuous mode: fine steps per discrete step, one run each (default 10 20)",
    )
    validate.add_argument("--ticks", type=int, default=1000, help="length of the validated thought (default 1000)")
    validate.add_argument(
        "--target",
        choices=["numpy", "cython", "cpp_standalone"],
        default="numpy",
        help="Brian2 code generation target (compiled ones fall back to numpy without a C++ compiler)",
    )
    validate.add_argument("--sample", type=int, default=0, help="which evaluation input drives the thought")
    validate.add_argument("--out", help="report directory (default: <checkpoint>-brian2), must not exist")
    validate.add_argument("--quiet", action="store_true", help="no progress report")

    study = sub.add_parser(
        "study",
        help="train RateCTM and SpikingCTM over seeds, compare, validate, analyse, export, "
        "and write one HTML report (the README's main job)",
    )
    study.add_argument("study", nargs="?", help="study TOML (default experiments/study.toml)")
    study.add_argument(
        "--quick", action="store_true", help="the study file's [quick] settings: a short smoke run of every stage"
    )
    study.add_argument("--out", help="output directory, new or empty (default runs/<study name>[-quick])")
    study.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    study.add_argument("--quiet", action="store_true", help="no progress bars")
    _executor_arguments(study)

    ablate = sub.add_parser(
        "ablate",
        help="train several configs over seeds for equal steps and write one table with 95%% CIs "
        "and verdicts, e.g. experiments/recall2-ablation.toml",
    )
    ablate.add_argument("ablation", help="ablation TOML (arms, seeds, steps)")
    _overrides(ablate, "override a config key in every arm (repeatable)")
    ablate.add_argument(
        "--out", help="output directory (default runs/<ablation name>); an interrupted ablation resumes there"
    )
    ablate.add_argument("--workers", type=int, help="runs at a time (default: the file's workers)")
    ablate.add_argument("--quiet", action="store_true", help="no progress bar")

    sweep = sub.add_parser(
        "sweep",
        help="grid or random search over config keys x seeds, on this machine or a Dask "
        "cluster, into one ranked table, e.g. experiments/parity16-sweep.toml",
    )
    sweep.add_argument("sweep", help="sweep TOML (config, seeds, search, [space])")
    sweep.add_argument("--out", help="output directory (default runs/<sweep name>); an interrupted sweep resumes there")
    sweep.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    _executor_arguments(sweep)

    tune = sub.add_parser(
        "tune",
        help="hyperparameter search with Optuna: TPE proposals, trials pruned on their evaluations, "
        "a killed search resumed where it stopped; writes tune.md/.csv/.json and best.json",
    )
    tune.add_argument("tune", help="tune TOML (config, set, trials, pruner, [space])")
    tune.add_argument("--out", help="output directory (default runs/<tune name>); a killed search resumes there")
    tune.add_argument("--trials", type=int, help="finished trials to reach (default: the file's trials)")
    tune.add_argument("--quiet", action="store_true", help="no progress bar")

    rl = sub.add_parser(
        "rl",
        help="train an RL agent (CTM carrying its thought across environment steps, or the LSTM "
        "baseline) with PPO, e.g. configs/cartpole/cartpole-rate.toml",
    )
    rl.add_argument("config", help="RL TOML config, e.g. configs/cartpole/cartpole-rate.toml")
    _overrides(rl, "override a config value, e.g. --set total_steps=20000 (repeatable)")
    rl.add_argument("--run-dir", help="where to write checkpoints and logs (default: runs/<name>)")
    rl.add_argument("--quiet", action="store_true", help="no progress bar")

    source_help = "a run directory, a checkpoint directory, or a recording (.npz)"
    analyze = sub.add_parser(
        "analyze",
        help="record a thought of a trained model (or load a recording) and analyse it: "
        "rates, spectra, synchrony, coherence; figures + analysis.html",
    )
    analyze.add_argument("source", help=source_help)
    _recording_options(analyze)
    analyze.add_argument("--out", help="output directory, must not exist (default <source>-analysis)")

    export = sub.add_parser(
        "export", help="export a thought (or a SpikingCTM's core) to NWB, Neo (NIX), NIR, NPZ or CSV"
    )
    export.add_argument("source", help=source_help)
    export.add_argument(
        "--format",
        required=True,
        choices=["nwb", "neo", "nir", "npz", "csv"],
        help="nwb: Units + TimeSeries; neo: Block as NIX; nir: the spiking core's graph (needs a checkpoint); "
        "npz: the Recording; csv: population spectrum and band powers",
    )
    _recording_options(export)
    export.add_argument("--out", help="output file, must not exist (default next to the source)")
    export.add_argument(
        "--experimenter",
        default=None,
        help="nwb: who ran the simulation, as 'LastName, FirstName' (DANDI's form; default 'NeuroSync, Simulation')",
    )
    export.add_argument(
        "--lean", action="store_true", help="nwb: leave out the bulky signals (pre-activations, membranes)"
    )
    export.add_argument(
        "--nir-dt-ms",
        type=float,
        help="nir: the simulation step the graph's time constants are mapped "
        "for (default the model's dt_ms; snnTorch's importer runs 0.1 ms steps)",
    )
    return parser


def _recording_options(parser) -> None:
    parser.add_argument("--samples", type=int, default=16, help="evaluation inputs to record (default 16)")
    parser.add_argument("--ticks", type=int, help="thought length in ticks (default: the trained number)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="thoughts per input, each with its own intrinsic noise (a Fano factor needs >= 2; default 1)",
    )
    parser.add_argument(
        "--dt",
        type=float,
        help="RateCTM only: declared seconds per tick (default 0.001); a SpikingCTM's "
        "tick lasts its own substeps x dt_ms",
    )
    parser.add_argument(
        "--inhibition-scale",
        type=float,
        metavar="G",
        help="record with every inhibitory synaptic weight times G (a Dale SpikingCTM's E:I test, "
        "Gao et al. 2017); the checkpoint is not changed",
    )


def _check_writable(target: Path, what: str) -> None:
    """Refuse, before any work, an output that cannot be written: the nearest existing folder
    on the way to ``target`` must be a directory this process may write into."""
    existing = target.parent if not target.exists() else target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{what} {target}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {target}: {existing} is not writable")


def _default_stem(args) -> Path:
    """Where analyze/export write by default: beside the recording, or beside the checkpoint."""
    from .checkpoint import resolve

    path = Path(args.source)
    return path.with_suffix("") if path.suffix == ".npz" else resolve(path)


def _source(args):
    """(recording, model or None, labels or None) for analyze/export: labels (thoughts,) and what
    they are, from the task's targets of the recorded inputs (none for a saved recording)."""
    from .checkpoint import load_model
    from .recording import Recording
    from .tasks import get_task

    path = Path(args.source)
    scale = args.inhibition_scale
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"--inhibition-scale must be a positive number, got {scale}")
    if path.suffix == ".npz":
        if scale is not None:
            raise ValueError("--inhibition-scale records the model again: give a checkpoint, not a recording")
        if not path.is_file():
            raise ValueError(f"recording not found: {path}")
        return Recording.load(path), None, None
    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    model, ckpt = load_model(path)
    x, targets = get_task(ckpt.config.task).eval_set(ckpt.config.task, args.samples, ckpt.config.train.seed)
    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    with contextlib.ExitStack() as stack:
        if scale is not None:
            from .analysis.field import inhibition_scaled

            stack.enter_context(inhibition_scaled(model, scale))
        recording = model.record(
            x[: args.samples], dt=args.dt, config=ckpt.config, ticks=args.ticks, repeats=args.repeats
        )
    if scale is not None:
        recording.config = {**(recording.config or {}), "recorded_with": {"inhibition_scale": scale}}
    from .analysis.dynamics import task_labels

    try:
        labels, what = task_labels(targets[: args.samples])
    except ValueError:  # targets that are not one label per thought (e.g. a route): no decoding
        return recording, model, None
    return recording, model, (labels[recording.sample_input], what)


def _analyze(args) -> int:
    from .report import analyse_recording, analysis_page

    stem = _default_stem(args)
    out = Path(args.out) if args.out else stem.parent / f"{stem.name}-analysis"
    if out.exists():
        raise ValueError(f"{out} exists; choose a new --out (analyze never overwrites)")
    _check_writable(out, "--out")
    recording, model, labels = _source(args)
    summary = analyse_recording(recording, out, model, labels=labels)
    page = analysis_page(summary, out, f"NeuroSync analysis of {args.source}")
    print(
        json.dumps(
            {k: v for k, v in summary.items() if k in ("kind", "samples", "ticks", "neurons", "rates_hz")}, indent=2
        )
    )
    print(f"figures, analysis.json and {page.name} in {out}")
    return 0


def _export(args) -> int:
    from . import analysis, export

    stem = _default_stem(args)
    suffix = {"nwb": ".nwb", "neo": ".nix", "nir": ".nir", "npz": ".npz", "csv": "_spectrum.csv"}[args.format]
    out = Path(args.out) if args.out else stem.parent / f"{stem.name}{suffix}"
    if out.exists():
        raise ValueError(f"{out} exists; choose a new --out (exports never overwrite)")
    _check_writable(out, "--out")
    if args.nir_dt_ms is not None and (args.format != "nir" or not args.nir_dt_ms > 0):
        raise ValueError(
            f"--nir-dt-ms must be > 0 and goes with --format nir, got {args.nir_dt_ms} with --format {args.format}"
        )
    if (args.experimenter is not None or args.lean) and args.format != "nwb":
        raise ValueError(f"--experimenter and --lean go with --format nwb, not --format {args.format}")
    if args.experimenter is not None and not re.fullmatch(r"[^,]+, [^,]+", args.experimenter):
        raise ValueError(f"--experimenter must read 'LastName, FirstName' (DANDI's form), got {args.experimenter!r}")
    if args.format == "nir" and Path(args.source).suffix == ".npz":
        raise ValueError(
            "--format nir exports a model's spiking core: give a checkpoint or run directory, not a recording"
        )
    if args.format == "nir":  # the core's graph needs the model only, no recorded thought
        from .checkpoint import load_model

        model, _ = load_model(Path(args.source))
        out.parent.mkdir(parents=True, exist_ok=True)
        export.write_nir(model, out, args.nir_dt_ms)
        print(f"wrote {out}")
        return 0
    recording, model, _ = _source(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "nwb":
        export.write_nwb(
            recording,
            out,
            model=model,
            bulky=not args.lean,
            experimenter=args.experimenter or export.nwb.DEFAULT_EXPERIMENTER,
        )
    elif args.format == "npz":
        recording.save(out)
    elif args.format == "csv":
        export.write_spectra_csv(analysis.population_spectrum(recording, sample=None), out)
    else:
        export.write_neo(recording, out)
    print(f"wrote {out}")
    return 0


def _executor_arguments(parser) -> None:
    parser.add_argument(
        "--executor",
        choices=["local", "dask"],
        default="local",
        help="where the (config, seed) jobs run: here one after another, or on a Dask cluster",
    )
    parser.add_argument(
        "--address",
        help="dask: the scheduler's address (e.g. tcp://host:8786); without it a local "
        "cluster of --workers processes is started",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="dask: worker processes of the local cluster (default 2)"
    )


def _study(args) -> int:
    from .study import DEFAULT_STUDY, load_study, run_study

    study = load_study(args.study or DEFAULT_STUDY, quick=args.quick)
    out = Path(args.out) if args.out else Path("runs") / (study.name + ("-quick" if args.quick else ""))
    summary = run_study(
        study,
        out,
        progress=not args.quiet,
        device=args.device,
        executor=args.executor,
        address=args.address,
        workers=args.workers,
    )
    c = summary["comparison"]
    for kind in study.configs:
        acc = c[kind]["accuracy_certain"]
        print(
            f"{kind:8s} accuracy {100 * acc['mean']:.2f}% [95% CI {100 * acc['ci95_low']:.2f}, {100 * acc['ci95_high']:.2f}] "
            f"over seeds {study.seeds}, "
            f"ECE {c[kind]['ece']['mean']:.4f}, energy proxy {c[kind]['energy_nj']['mean']:.1f} nJ per thought"
        )
    for kind, brian in summary.get("brian2", {}).items():
        print(f"Brian2 exact validation ({kind}): {brian['mismatched_bins']} mismatched spike bins")
    print(f"study finished in {summary['elapsed_s']:.0f} s; report: {out / 'report.html'}")
    return 0


def _ablate(args) -> int:
    from .analysis.ablation import load_ablation, percent_ci, run_ablation

    ablation = load_ablation(args.ablation, args.overrides)
    if args.workers is not None:
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        ablation.workers = args.workers
    out = Path(args.out) if args.out else Path("runs") / ablation.name
    _check_writable(out, "ablation output directory")
    summary = run_ablation(ablation, out, progress=not args.quiet)
    for row in summary["rows"]:
        c = row["certain"]
        print(f"{row['arm']:32s} {percent_ci(c, '%')}  {row['parameters']:,} parameters")
    for verdict in summary["verdicts"]:
        print(f"{'met' if verdict['met'] else 'NOT met'}: {verdict['goal']}: {verdict['detail']}")
    print(f"ablation finished in {summary['elapsed_s']:.0f} s; table: {out / 'ablation.md'}")
    return 0


def _point_text(row: dict) -> str:
    """A ranked row's point (its ``space.*`` entries) as key=value pairs."""
    return ", ".join(f"{k[len('space.') :]}={v}" for k, v in row.items() if k.startswith("space."))


def _sweep(args) -> int:
    from .sweep import load_sweep, run_sweep

    sweep = load_sweep(args.sweep)
    out = Path(args.out) if args.out else Path("runs") / sweep.name
    _check_writable(out, "sweep output directory")
    summary = run_sweep(
        sweep, out, args.executor, args.address, args.workers, progress=not args.quiet, device=args.device
    )
    for rank, row in enumerate(summary["rows"][:10], 1):
        print(
            f"{rank:2d}. {_point_text(row)}: {summary['primary']} {100 * row['mean']:.2f}% "
            f"[95% CI {100 * row['ci95_low']:.2f}, {100 * row['ci95_high']:.2f}]"
        )
    print(f"table: {out / 'sweep.md'}")
    return 0


def _tune(args) -> int:
    from .tune import load_tune, run_tune

    tune = load_tune(args.tune)
    out = Path(args.out) if args.out else Path("runs") / tune.name
    _check_writable(out, "tune output directory")
    summary = run_tune(tune, out, args.trials, progress=not args.quiet)
    for rank, row in enumerate(summary["rows"][:10], 1):
        value = row["value"] if row["state"] == "complete" else row["last_intermediate"]
        print(
            f"{rank:2d}. trial {row['trial']} ({row['state']}): {_point_text(row)}: {summary['primary']} "
            f"{100 * value:.2f}%"
        )
    print(f"{summary['trials']} trials, {summary['pruned']} pruned; table: {out / 'tune.md'}")
    return 0


def _train(args) -> int:
    from . import config as config_mod
    from .tasks import get_task, headline
    from .training import train

    cfg = config_mod.load(args.config, args.overrides)
    run_dir = Path(args.run_dir) if args.run_dir else Path(cfg.train.out_dir) / cfg.name
    _check_writable(run_dir / "checkpoints", "run directory")
    result = train(cfg, run_dir, resume=args.resume, device=args.device, progress=not args.quiet)
    if result:
        final = result["final"]
        print(
            f"{cfg.name}: {result['steps']} steps in {result['elapsed_s']:.0f} s on {result['device']}; "
            f"{result['eval_samples']} test inputs at the most-certain tick: {headline(get_task(cfg.task), final)}"
        )
        print(f"results, metrics and checkpoints in {run_dir}")
    return 0


def _rl(args) -> int:
    from .rl import load_rl, train_rl

    cfg = load_rl(args.config, args.overrides)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / cfg.name
    result = train_rl(cfg, run_dir, progress=not args.quiet)
    final = result["final"]
    print(
        f"{cfg.name}: {result['env_steps']} environment steps in {result['elapsed_s']:.0f} s on {result['device']} "
        f"({result['parameters']} parameters); greedy policy over {final['episodes']} episodes: "
        f"mean return {final['mean_return']:.1f} ± {final['std_return']:.1f}"
    )
    print(f"results, metrics and checkpoint in {run_dir}")
    return 0


def _evaluate(args) -> int:
    from .checkpoint import load_model
    from .parts.interfaces import SpikingNeuron
    from .tasks import get_task
    from .training import evaluate, pick_device

    if args.samples is not None and args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    bad = [c for c in args.halt_at or () if not 0.0 <= c <= 1.0]
    if bad:
        raise ValueError(f"--halt-at takes certainties in [0, 1], got {bad[0]}")
    model, ckpt = load_model(args.checkpoint)
    if isinstance(model.neuron, SpikingNeuron):
        model.neuron.seed_noise(args.noise_seed)
    if args.halt_at and ckpt.config.task.name == "sort":
        raise ValueError("--halt-at: sorting answers by CTC over all ticks, there is no tick to stop a thought at")
    model.to(pick_device(args.device))
    samples = args.samples or ckpt.config.train.final_eval_samples
    x, y = get_task(ckpt.config.task).eval_set(ckpt.config.task, samples, ckpt.config.train.seed)
    result = {
        "checkpoint": str(ckpt.path),
        "step": ckpt.step,
        "eval_samples": int(x.shape[0]),
        **evaluate(model, ckpt.config, x, y),
    }
    if args.halt_at:
        from .compare import halting

        result["halting"] = halting(model, ckpt.config, x, y, tuple(args.halt_at))
    print(json.dumps(result, indent=2))
    return 0


def _models(args) -> int:
    from .zoo import (
        headline_text,
        headline_tolerance,
        headline_value,
        measure,
        measure_headline,
        refresh_readme,
        write_card,
        zoo,
    )

    if args.seed_runs and not args.measure:
        raise ValueError("--seed-runs needs --measure NAME")
    if args.cards or args.measure:
        if args.cards:
            for row in zoo():
                print(write_card(row["name"]))
        else:
            head = measure(args.measure, args.seed_runs)["headline"]
            card = write_card(args.measure)
            print(f"{args.measure}: {headline_text(head['metric'], head['value'], head['samples'])}; card {card}")
        readme = refresh_readme()  # the repository's README lists the shipped models
        if readme:
            print(readme)
        return 0
    rows = zoo()
    print(f"{'name':32s} {'task':11s} {'neuron':8s} {'synapse':13s} {'steps':>6s} {'MB':>5s}  headline")
    off = []
    for row in rows:
        line = (
            f"{row['name']:32s} {row['task'] or '?':11s} {row['neuron'] or '?':8s} {row['synapse'] or '?':13s} "
            f"{row['step'] if row['step'] is not None else '?':>6} {row['size_mb']:>5}  "
            f"{headline_text(row['metric'], row['value'], row['samples'])} (card: models/{row['card']})"
        )
        if args.check:
            value = measure_headline(row["name"], row["metric"], row["samples"])
            line += f"; measured {headline_value(row['metric'], value)}"
            if abs(value - row["value"]) > headline_tolerance(row["metric"]):
                off.append(row["name"])
        print(line)
    if off:
        print(f"neurosync: the headline of {', '.join(off)} is not reproduced within 0.5 point", file=sys.stderr)
        return 1
    return 0


def _validate(args) -> int:
    from . import checkpoint
    from .brian import validate_checkpoint

    path = checkpoint.resolve(args.checkpoint)
    out = Path(args.out) if args.out else path.parent / f"{path.name}-brian2"
    _check_writable(out, "--out")  # validate_checkpoint refuses an existing one
    report = validate_checkpoint(
        path,
        out,
        args.ticks,
        args.target,
        args.sample,
        progress=not args.quiet,
        mode=args.mode,
        substeps=tuple(args.substeps),
    )
    print(json.dumps(report, indent=2))
    print(f"report in {out}")
    if args.mode == "continuous":
        if report.get("untestable"):
            print(
                f"neurosync: continuous mode FAILED: it cannot detect anything: {report['untestable']}", file=sys.stderr
            )
            return 1
        if not report["passed"]:
            print(
                "neurosync: continuous mode FAILED: some statistics are outside their tolerances (see report.json)",
                file=sys.stderr,
            )
            return 1
        return 0
    if report["mismatched_bins"]:  # exact and closed-loop modes
        print(
            f"neurosync: validation FAILED: {report['mismatched_bins']} spike bins differ "
            f"(first at step {report['first_mismatch']['step']}, neuron {report['first_mismatch']['neuron']})",
            file=sys.stderr,
        )
        return 1
    if report.get("untestable"):
        print(
            f"neurosync: validation FAILED: it cannot detect anything: {report['untestable']} "
            f"(choose another --sample or more --ticks)",
            file=sys.stderr,
        )
        return 1
    if report["max_abs_membrane_difference"] > report["membrane_tolerance"]:
        print(
            f"neurosync: validation FAILED: membranes differ by {report['max_abs_membrane_difference']:.3g} "
            f"(tolerance {report['membrane_tolerance']:g}) although every spike bin agrees",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``neurosync ARGS``; returns the exit status (0, 1 for a failed verdict or divergence, 2 for
    bad input)."""
    from ._optional import MissingDependency
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .reference import ReferenceError
    from .training import TrainingDiverged

    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import matplotlib

    matplotlib.use("Agg")  # figures are written to files, never shown
    try:
        commands = {
            "train": _train,
            "evaluate": _evaluate,
            "validate": _validate,
            "study": _study,
            "sweep": _sweep,
            "tune": _tune,
            "analyze": _analyze,
            "export": _export,
            "rl": _rl,
            "ablate": _ablate,
            "models": _models,
        }
        from .training import denormals_flushed

        with denormals_flushed():  # before any computation, so that the intra-op threads it starts inherit it
            return commands[args.command](args)
    except (ConfigError, CheckpointError, ReferenceError, ValueError, MissingDependency) as err:
        print(f"neurosync: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except TrainingDiverged as err:
        print(f"neurosync: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("neurosync: interrupted; the last complete checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
