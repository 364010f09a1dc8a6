"""Command line: ``neurosync train CONFIG.toml``, ``neurosync evaluate CHECKPOINT`` and
``neurosync validate CHECKPOINT`` (Brian2).

Anything a user can get wrong (config, checkpoint, arguments) ends in one line on stderr and
exit status 2; nothing on disk is overwritten.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other user error
        self.exit(EXIT_USAGE, f"neurosync: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurosync", description="Rate and spiking Continuous Thought Machines.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    train = sub.add_parser("train", help="train a model from a TOML config")
    train.add_argument("config", help="TOML config, e.g. models/parity16-rate.toml")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set train.steps=100 (repeatable)")
    train.add_argument("--run-dir", help="where to write checkpoints and logs (default: <train.out_dir>/<name>)")
    train.add_argument("--resume", action="store_true", help="continue from the run directory's latest checkpoint")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override train.device")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = sub.add_parser("evaluate", help="evaluate a checkpoint (or a run directory's latest)")
    evaluate.add_argument("checkpoint")
    evaluate.add_argument("--samples", type=int, help="evaluation inputs (default: the config's final_eval_samples)")
    evaluate.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")

    validate = sub.add_parser("validate", help="re-simulate a SpikingCTM checkpoint's spiking core in Brian2 and compare")
    validate.add_argument("checkpoint")
    validate.add_argument("--mode", choices=["exact", "continuous", "closed-loop"], default="exact",
                          help="exact: discrete time, spike for spike, drive replayed; continuous: the ODE form at finer "
                               "steps, compared statistically (rates, pairwise synchrony, population spectrum); "
                               "closed-loop: exact, with attention recomputed every tick from Brian2's own spikes")
    validate.add_argument("--substeps", type=int, nargs="+", default=[10, 20],
                          help="continuous mode: fine steps per discrete step, one run each (default 10 20)")
    validate.add_argument("--ticks", type=int, default=1000, help="length of the validated thought (default 1000)")
    validate.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], default="numpy",
                          help="Brian2 code generation target (compiled ones fall back to numpy without a C++ compiler)")
    validate.add_argument("--sample", type=int, default=0, help="which evaluation input drives the thought")
    validate.add_argument("--out", help="report directory (default: <checkpoint>-brian2), must not exist")
    validate.add_argument("--quiet", action="store_true", help="no progress report")
    return parser


def _train(args) -> int:
    from . import config as config_mod
    from .training import train

    cfg = config_mod.load(args.config, args.overrides)
    run_dir = Path(args.run_dir) if args.run_dir else Path(cfg.train.out_dir) / cfg.name
    result = train(cfg, run_dir, resume=args.resume, device=args.device, progress=not args.quiet)
    if result:
        final = result["final"]
        print(f"{cfg.name}: {result['steps']} steps in {result['elapsed_s']:.0f} s on {result['device']}; "
              f"{result['eval_samples']} test inputs at the most-certain tick: "
              f"per-bit {100 * final['bit_acc_certain']:.2f}%, whole-sequence {100 * final['seq_acc_certain']:.2f}% "
              f"(last tick: {100 * final['bit_acc_last']:.2f}% / {100 * final['seq_acc_last']:.2f}%), "
              f"mean most-certain tick {final['certain_tick']:.1f}")
        print(f"results, metrics and checkpoints in {run_dir}")
    return 0


def _evaluate(args) -> int:
    from . import checkpoint
    from .build import build_model
    from .tasks import get_task
    from .training import evaluate, pick_device

    if args.samples is not None and args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    ckpt = checkpoint.load(args.checkpoint)
    model = build_model(ckpt.config)
    checkpoint.restore_model(model, ckpt)
    model.to(pick_device(args.device))
    samples = args.samples or ckpt.config.train.final_eval_samples
    x, y = get_task(ckpt.config.task).eval_set(ckpt.config.task, samples, ckpt.config.train.seed)
    result = {"checkpoint": str(ckpt.path), "step": ckpt.step, "eval_samples": int(x.shape[0]),
              **evaluate(model, ckpt.config, x, y)}
    print(json.dumps(result, indent=2))
    return 0


def _validate(args) -> int:
    from . import checkpoint
    from .brian import validate_checkpoint

    path = checkpoint.resolve(args.checkpoint)
    out = Path(args.out) if args.out else path.parent / f"{path.name}-brian2"
    report = validate_checkpoint(path, out, args.ticks, args.target, args.sample, progress=not args.quiet,
                                 mode=args.mode, substeps=tuple(args.substeps))
    print(json.dumps(report, indent=2))
    print(f"report in {out}")
    if args.mode == "continuous":
        if not report["passed"]:
            print("neurosync: continuous mode: some statistics are outside their tolerances (see report.json)", file=sys.stderr)
        return 0
    if report["mismatched_bins"]:  # exact and closed-loop modes
        print(f"neurosync: validation FAILED: {report['mismatched_bins']} spike bins differ "
              f"(first at step {report['first_mismatch']['step']}, neuron {report['first_mismatch']['neuron']})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .reference import ReferenceError

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
    try:
        return {"train": _train, "evaluate": _evaluate, "validate": _validate}[args.command](args)
    except (ConfigError, CheckpointError, ReferenceError, ValueError) as err:
        print(f"neurosync: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("neurosync: interrupted; the last complete checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
