"""The study: the RateCTM against one or more SpikingCTMs on one task, end to end, into one HTML report.

``neurosync study [STUDY.toml] [--quick] [--out DIR]`` (default ``experiments/study.toml``):

1. trains every config (``rate`` and each spiking kind, e.g. ``spiking`` and ``cortical``) for
   every seed, each with the same budget: by default a number of training steps, so that a
   study run twice on one machine gives the same results (a wall-clock ``train.time_budget_s``
   stays an option; the report says which budget applied);
2. measures every trained model on the task's evaluation set (:mod:`neurosync.compare`:
   accuracy by tick, calibration, adaptive compute, the energy proxy);
3. validates the first model of each spiking kind in Brian2 (exact mode, spike for spike);
4. records a long thought of every model, of the same duration in seconds (``long_ticks · dt``;
   a SpikingCTM's ticks have their own duration), with ``record_repeats`` noise repeats per
   input for a SpikingCTM with intrinsic noise (synchrony structure per seed), and analyses the first seed's of each kind in depth
   (:func:`neurosync.report.analyse_recording`: the physiology card per spiking kind);
5. exports the recordings (NPZ, NWB; Neo/NIX: the first thought of each spiking kind, as
   ``NEO_THOUGHTS``), the spiking cores (NIR) and the spectra (CSV);
6. writes ``report.html`` (figures embedded) and ``study.json`` (with ``written_mb``: what each part
   took on disk) to the output directory. Final checkpoints keep no optimizer state (a study never
   resumes); the default study writes about 45 MB.

A study file names the base configs (``rate`` and at least one spiking kind; paths relative to
it), the seeds, the overrides applied to all, and a ``[quick]`` table of settings for a fast smoke run (``--quick``, used by CI).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from . import compare, report
from .checkpoint import finite_json
from .config import ConfigError, read_experiment
from .executors import with_denormals_flushed

DEFAULT_STUDY = Path("experiments/study.toml")
NEO_THOUGHTS = 1  # thoughts per spiking kind in the Neo/NIX export (~3.5 MB each at 128 neurons: NIX stores every
# spike train as an object with its metadata, ~20 kB before its spikes; the NPZ and NWB exports hold every thought)


@dataclass
class StudyConfig:
    name: str
    configs: dict[str, Path]  # {"rate": ..., "spiking": ..., "cortical": ...}: the rate config and spiking kinds
    seeds: list[int]
    set: list[str] = field(default_factory=list)  # overrides applied to every config
    dt: float = 1e-3  # seconds per tick of the RateCTM's recordings (a SpikingCTM's tick has its own duration)
    record_samples: int = 16  # inputs recorded per model for the energy proxy and the long thoughts
    long_ticks: int = 1000  # the analysed thought lasts long_ticks · dt seconds (frequency resolution 1 / that)
    record_repeats: int = 1  # noise repeats of each input in the long thoughts (the Fano factor needs >= 2)
    certainty_threshold: float = 0.8
    validate_ticks: int = 200  # Brian2 exact validation length (0: skip)
    quick: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict, repr=False)  # {(kind, seed): Config}, filled by load_study


def _budget(study: StudyConfig) -> str:
    """The training budget the models had, in words: steps (reproducible) or wall-clock time."""
    budgets = sorted({(cfg.train.steps, cfg.train.time_budget_s) for cfg in study.models.values()})
    if len(budgets) == 1 and budgets[0][1] == 0:
        return f"Every model trained for {budgets[0][0]:,} steps (a step budget: a second run gives the same results)."
    steps = ", ".join(
        f"{s:,} steps" + (f" or {t:g} s of wall-clock time, whichever came first" if t else "") for s, t in budgets
    )
    clock = any(t for _, t in budgets)
    return f"Training budget: {steps}." + (
        " A wall-clock budget makes the results depend on the machine's load; "
        "the steps each run reached are in the per-seed table."
        if clock
        else ""
    )


def load_study(path: str | Path, quick: bool = False) -> StudyConfig:
    """Read a study TOML; with ``quick`` its ``[quick]`` table overrides the rest (its ``set``
    list is appended). Any mistake raises ConfigError with one line."""
    path = Path(path)
    known = {f.name for f in fields(StudyConfig)} - {"models"}
    data = read_experiment(path, "study", known)
    configs = data.get("configs")
    if (
        not isinstance(configs, dict)
        or "rate" not in configs
        or len(configs) < 2
        or not all(isinstance(k, str) and k.isidentifier() for k in configs)
    ):
        raise ConfigError(
            f"{path}: 'configs' must name a 'rate' config file and at least one spiking one "
            f'(e.g. spiking = "...", cortical = "..."), got {configs!r}'
        )
    data["configs"] = {kind: (path.parent / value) for kind, value in configs.items()}
    for kind, config_path in data["configs"].items():
        if not config_path.is_file():
            raise ConfigError(f"{path}: the {kind} config {config_path} does not exist")
    try:
        study = StudyConfig(**data)
    except TypeError as err:
        raise ConfigError(f"{path}: {err}") from None
    if quick:
        extra = dict(study.quick)
        bad = sorted(set(extra) - known - {"set"})
        if bad:
            raise ConfigError(f"{path}: unknown key(s) in [quick]: {', '.join(bad)}")
        study = replace(
            study, **{k: v for k, v in extra.items() if k != "set"}, set=study.set + list(extra.get("set", []))
        )
    if not isinstance(study.seeds, list) or len(study.seeds) < 1 or not all(isinstance(s, int) for s in study.seeds):
        raise ConfigError(f"{path}: seeds must be a non-empty list of integers, got {study.seeds!r}")
    if len(set(study.seeds)) != len(study.seeds):
        raise ConfigError(f"{path}: seeds must be distinct, got {study.seeds}")
    for key in ("record_samples", "long_ticks", "record_repeats"):
        if not isinstance(getattr(study, key), int) or getattr(study, key) < 1:
            raise ConfigError(f"{path}: {key} must be a positive integer, got {getattr(study, key)!r}")
    if not study.dt > 0:
        raise ConfigError(f"{path}: dt must be > 0 seconds, got {study.dt}")
    if not 0 < study.certainty_threshold <= 1:
        raise ConfigError(f"{path}: certainty_threshold must lie in (0, 1], got {study.certainty_threshold}")
    # the two configs with the study's overrides must load and share a task
    return replace(study, models=_model_configs(study))


def _model_configs(study: StudyConfig):
    from . import config as config_mod

    out = {}
    for kind, path in study.configs.items():
        for seed in study.seeds:
            cfg = config_mod.load(path, study.set + [f"train.seed={seed}", f"name={study.name}-{kind}-seed{seed}"])
            out[kind, seed] = cfg
    tasks = {repr(cfg.task) for cfg in out.values()}
    if len(tasks) != 1:
        raise ConfigError("the study's configs must train on the same task (after the study's overrides)")
    for (kind, _), cfg in out.items():
        if (kind == "rate") != (cfg.model.neuron != "spiking"):
            raise ConfigError(
                f"the study's {kind!r} config must be {'a RateCTM' if kind == 'rate' else 'a SpikingCTM'} "
                f"(model.neuron = {cfg.model.neuron!r})"
            )
    if next(iter(out.values())).task.name == "sort":
        raise ConfigError(
            "the study measures answers tick by tick (parity, images, maze); sort is read by CTC over all ticks"
        )
    return out


STUDY_JOB = "study-job.json"  # a finished job's metrics, in its run directory
LONG_THOUGHT = "long-thought.npz"  # the first seed's long recording, handed from its job to the analysis


@with_denormals_flushed
def study_job(job: dict) -> dict:
    """Train (or resume, or read back) one model of a study and measure it; returns its metrics.

    ``job``: ``config`` (a Config as a dict), ``kind``, ``seed``, ``run_dir``, ``device``,
    ``threads`` (torch threads), ``progress``, ``keep_thought`` (save the long recording for the
    analysis) and the study's measuring settings. Idempotent (see :mod:`neurosync.executors`), so
    any executor may run it, and run it again after a worker died. Float32 subnormals are flushed
    to zero for the job (:func:`neurosync.executors.with_denormals_flushed`)."""
    from .checkpoint import drop_training_state, load_model
    from .config import from_dict
    from .executors import trained_run, write_result
    from .tasks import EPISODIC, get_task

    torch.set_num_threads(job["threads"])
    run = Path(job["run_dir"])
    done = run / STUDY_JOB
    if done.is_file():
        return json.loads(done.read_text())
    cfg, seed = from_dict(job["config"]), job["seed"]
    result = trained_run(cfg, run, job["device"], job["progress"])
    model, ckpt = load_model(run)
    drop_training_state(ckpt.path)  # a study never resumes a finished run: its checkpoints are final (≤ 50 MB in all)
    task = get_task(cfg.task)
    x, y = task.eval_set(cfg.task, cfg.train.final_eval_samples, seed)
    difficulty = (x == -1).sum(1).numpy() if cfg.task.name == "parity" else None
    window = cfg.task.answer_ticks if cfg.task.name in EPISODIC else None  # answers only after the question
    threshold = job["certainty_threshold"]
    metrics = compare.thought_metrics(model, x, y, difficulty, threshold, window)
    metrics["halting"] = compare.halting(model, cfg, x, y, (threshold,))  # the time it saves
    inputs = x[: job["record_samples"]]
    dt = None if cfg.model.neuron == "spiking" else job["dt"]  # a SpikingCTM's tick has its own duration
    metrics["energy"] = compare.energy_proxy(model, model.record(inputs, dt=dt, config=cfg))
    metrics["dynamics"] = thought_dynamics(model, cfg, x[:DECODE_SAMPLES], y[:DECODE_SAMPLES], dt, threshold)
    ticks = job["long_ticks"] if dt else model.neuron.ticks_in(job["long_ticks"] * job["dt"])
    noisy = dt is None and model.neuron.noisy  # repeats of a deterministic model would be copies
    long = model.record(inputs, dt=dt, config=cfg, ticks=ticks, repeats=job["record_repeats"] if noisy else 1)
    metrics["synchrony"] = compare.synchrony_structure(long, tuple(job["dt"] * f for f in (1, 4, 16)))
    if dt is None:  # every seed's regime over the long thoughts, not only the analysed first seed's
        from .cortical import regime_statistics

        metrics["regime"] = regime_statistics(long)
    metrics.update(steps=result["steps"], train_s=result["elapsed_s"], final=result["final"], checkpoint=str(ckpt.path))
    if job["keep_thought"]:
        long.save(run / LONG_THOUGHT)
    return write_result(done, metrics)


DECODE_SAMPLES = 128  # evaluation inputs whose trained thoughts are decoded tick by tick


def thought_dynamics(model, cfg, x, y, dt, threshold: float) -> dict:
    """When the answer becomes decodable from the population (cross-validated, against shuffled
    labels) and when the model's certainty reaches ``threshold``, as 1-based ticks of the trained
    thought, and the population's participation ratio at its last tick
    (:mod:`neurosync.analysis.dynamics`); NaN where undefined (never decodable, never certain)."""
    from .analysis import dynamics

    recording = model.record(x, dt=dt, config=cfg)
    labels, what = dynamics.task_labels(y)
    nan = float("nan")
    try:
        decoding = dynamics.decode_over_time(recording, labels)
        first = decoding["first_decodable_tick"]
        decodable = nan if first is None else float(first + 1)
        accuracy = decoding["accuracy"].tolist()
    except ValueError:  # too few thoughts of each label to cross-validate
        decodable, accuracy = nan, []
    crossing = dynamics.certainty_ticks(recording, threshold)["median_first_tick"]
    return {
        "labels": what,
        "first_decodable_tick": decodable,
        "certainty_tick": nan if crossing is None else crossing + 1,
        "decoding_accuracy": accuracy,
        "participation_ratio_last_tick": float(dynamics.participation_ratio(recording)["per_tick"][-1]),
    }


def run_study(
    study: StudyConfig,
    out: Path,
    progress: bool = True,
    device: str = "cpu",
    executor: str = "local",
    address: str | None = None,
    workers: int = 2,
) -> dict:
    """Run a study into ``out`` (refused unless empty): every model and seed trained, measured,
    compared, validated in Brian2, recorded, analysed and exported; writes ``study.json`` and
    ``report.html`` and returns the summary. The (model, seed) jobs run on ``executor``
    (:mod:`neurosync.executors`: ``local``, or ``dask`` on the scheduler at ``address`` or on a
    local cluster of ``workers`` processes); the rest runs here."""
    from tqdm import tqdm

    from ._optional import require
    from .checkpoint import load_model
    from .executors import run_jobs
    from .recording import Recording

    for module, extra in (("pynwb", "io"), ("nir", "io"), ("nixio", "io"), ("fooof", "analysis")):
        require(module, extra)  # fail before hours of training, not after
    if executor != "local":
        require("distributed", "cluster")
    if out.exists() and any(out.iterdir()):
        raise ValueError(
            f"output directory {out} exists and is not empty; choose a new --out (a study never overwrites)"
        )
    configs = study.models or _model_configs(study)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    kinds = tuple(study.configs)
    spiking_kinds = [k for k in kinds if k != "rate"]
    stages = tqdm(total=5, desc="study", disable=not progress, position=0, dynamic_ncols=True)
    stages.set_postfix_str(f"training {len(configs)} models ({executor})")
    jobs = [
        {
            "config": cfg.to_dict(),
            "kind": kind,
            "seed": seed,
            "run_dir": str((out / "runs" / f"{kind}-seed{seed}").resolve()),
            "device": device,
            "threads": torch.get_num_threads(),
            "progress": progress and executor == "local",
            "keep_thought": seed == study.seeds[0],
            "certainty_threshold": study.certainty_threshold,
            "record_samples": study.record_samples,
            "dt": study.dt,
            "long_ticks": study.long_ticks,
            "record_repeats": study.record_repeats,
        }
        for (kind, seed), cfg in configs.items()
    ]
    results = run_jobs(study_job, jobs, executor, address, workers, progress, desc="models")
    runs: dict = {(job["kind"], job["seed"]): metrics for job, metrics in zip(jobs, results)}
    thoughts: dict = {}  # the first seed's long recordings and models, for the analysis and the exports
    for job in jobs:
        if job["keep_thought"]:
            path = Path(job["run_dir"]) / LONG_THOUGHT
            thoughts[job["kind"]] = (Recording.load(path), load_model(Path(job["run_dir"]))[0])
            path.unlink()  # the exports keep it
    stages.update(1)

    first = {kind: study.seeds[0] for kind in kinds}
    summary: dict = {
        "name": study.name,
        "seeds": study.seeds,
        "overrides": study.set,
        "device": device,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "configs": {k: str(v) for k, v in study.configs.items()},
        "certainty_threshold": study.certainty_threshold,
        "long_thought_s": study.long_ticks * study.dt,
    }
    summary["comparison"] = _pooled(runs, study.seeds, kinds)
    summary["regime_by_seed"] = {
        kind: {str(seed): runs[kind, seed]["regime"] for seed in study.seeds}
        for kind in spiking_kinds
        if "regime" in runs[kind, study.seeds[0]]
    }

    stages.set_postfix_str("Brian2 validation")
    if study.validate_ticks > 0:
        from .brian import validate_checkpoint

        summary["brian2"] = {}
        for kind in spiking_kinds:
            ckpt_path = Path(runs[kind, first[kind]]["checkpoint"])
            brian = validate_checkpoint(
                ckpt_path, out / f"brian2-{kind}", study.validate_ticks, "numpy", 0, progress=False, mode="exact"
            )
            summary["brian2"][kind] = {
                k: brian[k]
                for k in (
                    "steps",
                    "neurons",
                    "spikes_pytorch",
                    "spikes_brian2",
                    "mismatched_bins",
                    "max_abs_membrane_difference",
                    "neurons_tested",
                    "passed",
                    "brian2_seconds",
                )
            }
            summary["brian2"][kind].update({k: v for k, v in brian.items() if k.startswith(("fast_weight", "hebbian"))})
    stages.update(1)

    stages.set_postfix_str("analysing long thoughts")
    analysis_dir, export_dir = out / "analysis", out / "exports"
    export_dir.mkdir()
    analyses = {}
    for kind in kinds:
        recording, model = thoughts[kind]
        recording.save(export_dir / f"{kind}_thought.npz", lean=True)
        analyses[kind] = report.analyse_recording(recording, analysis_dir, model, label=kind)
    stages.update(1)

    stages.set_postfix_str("exports")
    from . import export

    for kind in kinds:
        export.write_nwb(thoughts[kind][0], export_dir / f"{kind}_thought.nwb", model=thoughts[kind][1], bulky=False)
        export.write_spectra_csv(analyses[kind]["_spectrum"], export_dir / f"{kind}_spectrum.csv")
    for (
        kind
    ) in spiking_kinds:  # Neo/NIX writes one object per spike train: the first repeat of at most NEO_THOUGHTS inputs
        recording = thoughts[kind][0]
        shown = np.flatnonzero(recording.sample_repeat == 0)[:NEO_THOUGHTS]
        export.write_neo(recording.subset(shown).lean(), export_dir / f"{kind}_thought.nix")
        try:
            export.write_nir(thoughts[kind][1], export_dir / f"{kind}_core.nir")
        except ValueError as err:  # e.g. an ALIF core: NIR 1.x has no node for it
            summary.setdefault("nir", {})[kind] = f"not exported: {err}"
    summary["exports"] = sorted(p.name for p in export_dir.iterdir())
    findings = [f for kind in spiking_kinds for f in export.inspect_nwb(export_dir / f"{kind}_thought.nwb")]
    summary["nwbinspector"] = sorted({f"{f.importance.name}: {f.check_function_name}" for f in findings})
    stages.update(1)

    stages.set_postfix_str("report")
    summary["analysis"] = {kind: {k: v for k, v in analyses[kind].items() if not k.startswith("_")} for kind in kinds}
    figure_names = _comparison_figures(runs, summary["comparison"], study, out / "figures", kinds)
    summary["elapsed_s"] = round(time.perf_counter() - started, 1)
    summary["written_mb"] = _sizes_mb(out)  # before study.json and report.html (a few hundred kB)
    (out / "study.json").write_text(json.dumps(finite_json(summary), indent=2))
    (out / "report.html").write_text(_html(summary, runs, study, out, figure_names))
    stages.update(1)
    stages.close()
    return summary


def _sizes_mb(out: Path) -> dict[str, float]:
    """MB written under each top-level entry of ``out`` and in all."""
    sizes = {}
    for entry in sorted(out.iterdir()):
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        sizes[entry.name] = round(sum(p.stat().st_size for p in files) / 1e6, 2)
    sizes["total"] = round(sum(sizes.values()), 2)
    return sizes


# measures in [0, 1], whose intervals must stay there
BOUNDED = ("accuracy_certain", "accuracy_last_tick", "accuracy_stopped", "ece")
BOUNDED_INTERVAL = "Student t over seeds on the logit scale, mapped back (stays inside [0, 1])"


def _pooled(runs: dict, seeds: list[int], kinds: tuple[str, ...] = ("rate", "spiking")) -> dict:
    """mean and 95% CI over seeds of every scalar measure, per kind (BOUNDED ones with bounds inside
    [0, 1]); each spiking kind's energy over the rate's."""
    measures = {
        "accuracy_certain": lambda m: m["accuracy_certain"],
        "accuracy_last_tick": lambda m: m["accuracy_by_tick"][-1],
        "ece": lambda m: m["ece"],
        "stop_tick_mean": lambda m: m["stop_tick_mean"],
        "accuracy_stopped": lambda m: m["accuracy_stopped"],
        "operations": lambda m: m["energy"]["operations"],
        "energy_nj": lambda m: m["energy"]["energy_nj"],
        "train_s": lambda m: m["train_s"],
        "steps": lambda m: m["steps"],
        "synchrony_participation_ratio": lambda m: m["synchrony"]["participation_ratio"],
        "halting_speedup": lambda m: m["halting"]["thresholds"][0]["speedup"],
        "halting_ticks": lambda m: m["halting"]["thresholds"][0]["mean_ticks"],
        "first_decodable_tick": lambda m: m["dynamics"]["first_decodable_tick"],
        "certainty_tick": lambda m: m["dynamics"]["certainty_tick"],
        "participation_ratio_last_tick": lambda m: m["dynamics"]["participation_ratio_last_tick"],
    }
    pooled = {}
    for kind in kinds:
        pooled[kind] = {}
        for i in range(len(runs[kind, seeds[0]]["synchrony"]["timescales_s"])):
            values = [runs[kind, s]["synchrony"]["mean_abs_offdiag"][i] for s in seeds]
            mean, half = compare.mean_ci(values)
            pooled[kind][f"synchrony_mean_abs_{i}"] = {
                "mean": mean,
                "ci95": half,
                "values": values,
                "timescale_s": runs[kind, seeds[0]]["synchrony"]["timescales_s"][i],
            }
        for name, get in measures.items():
            values = [get(runs[kind, s]) for s in seeds]
            if name in BOUNDED:  # in [0, 1]: the interval must stay there
                mean, low, high = compare.bounded_mean_ci(values)
                pooled[kind][name] = {
                    "mean": mean,
                    "ci95_low": low,
                    "ci95_high": high,
                    "interval": BOUNDED_INTERVAL,
                    "values": values,
                }
            else:
                mean, half = compare.mean_ci(values)
                pooled[kind][name] = {"mean": mean, "ci95": half, "interval": "Student t over seeds", "values": values}
        by_tick = np.array([runs[kind, s]["accuracy_by_tick"] for s in seeds])
        bounds = np.array([compare.bounded_mean_ci(col)[1:] for col in by_tick.T])
        pooled[kind]["accuracy_by_tick"] = {
            "mean": by_tick.mean(0).tolist(),
            "ci95_low": bounds[:, 0].tolist(),
            "ci95_high": bounds[:, 1].tolist(),
            "interval": BOUNDED_INTERVAL,
        }
    rate_e = pooled["rate"]["energy_nj"]["mean"]
    for kind in kinds[1:]:
        pooled[f"energy_ratio_{kind}_to_rate"] = pooled[kind]["energy_nj"]["mean"] / rate_e if rate_e else float("nan")
    return pooled


def _comparison_figures(runs: dict, pooled: dict, study: StudyConfig, out: Path, kinds: tuple[str, ...]) -> list[str]:
    plt = report.analysis._pyplot()
    out.mkdir(parents=True, exist_ok=True)
    seeds = study.seeds
    names = []
    ticks = np.arange(
        1, max(len(pooled[k]["accuracy_by_tick"]["mean"]) for k in kinds) + 1
    )  # arms may think for different ticks
    fig = report._line_figure(
        ticks,
        [pooled[k]["accuracy_by_tick"]["mean"] for k in kinds],
        "tick",
        "accuracy",
        f"accuracy by tick, mean and 95% CI over {len(seeds)} seeds (t on the logit scale)",
        list(kinds),
        [
            (np.array(pooled[k]["accuracy_by_tick"]["ci95_low"]), np.array(pooled[k]["accuracy_by_tick"]["ci95_high"]))
            for k in kinds
        ],
    )
    names.append(report.save_figure(fig, out / "accuracy_by_tick").name)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    for kind in kinds:
        table = runs[kind, seeds[0]]["reliability"]
        ax.plot(
            [r["confidence"] for r in table],
            [r["accuracy"] for r in table],
            "o-",
            ms=4,
            label=f"{kind}: ECE {_fmt(pooled[kind]['ece'])}",
        )
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability at the most-certain tick (seed {seeds[0]})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    names.append(report.save_figure(fig, out / "reliability").name)
    if "by_difficulty" in runs["rate", seeds[0]]:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for kind in kinds:
            rows = [runs[kind, s]["by_difficulty"] for s in seeds]
            d = [r["difficulty"] for r in rows[0]]
            for ax, key in zip(axes, ("stop_tick_mean", "accuracy_stopped")):
                values = np.array([[r[key] for r in seed_rows] for seed_rows in rows])
                if key in BOUNDED:
                    mean, low, high = np.array([compare.bounded_mean_ci(c) for c in values.T]).T
                    yerr = [mean - low, high - mean]
                else:
                    mean, yerr = values.mean(0), [compare.mean_ci(c)[1] for c in values.T]
                ax.errorbar(d, mean, yerr=yerr, marker="o", ms=3, capsize=2, label=kind)
        axes[0].set_ylabel(f"tick certainty first ≥ {study.certainty_threshold}")
        axes[1].set_ylabel("accuracy when stopped there")
        for ax in axes:
            ax.set_xlabel("difficulty (number of −1 in the input)")
            ax.legend(fontsize=8)
        fig.suptitle(
            f"adaptive compute, mean and 95% CI over {len(seeds)} seeds (accuracy: t on the logit scale)", fontsize=9
        )
        fig.tight_layout()
        names.append(report.save_figure(fig, out / "adaptive_compute").name)
    return names


def _fmt(entry: dict, scale: float = 1.0, digits: int = 3) -> str:
    """mean ± half-width, or mean [low, high] for a bounded measure's asymmetric interval; "–"
    where the measure is undefined (e.g. never decodable)."""
    if entry["mean"] is None or not np.isfinite(entry["mean"]):
        return "–"
    if "ci95_low" in entry:
        return (
            f"{entry['mean'] * scale:.{digits}f} [{entry['ci95_low'] * scale:.{digits}f}, "
            f"{entry['ci95_high'] * scale:.{digits}f}]"
        )
    return f"{entry['mean'] * scale:.{digits}f} ± {entry['ci95'] * scale:.{digits}f}"


def _label(kind: str) -> str:
    return {"rate": "RateCTM", "spiking": "SpikingCTM"}.get(kind, f"SpikingCTM ({kind})")


def _comparison_rows(c: dict, kinds: list[str], threshold: float, thought_s: float) -> list[list[str]]:
    """The spiking-vs-rate table of a study's pooled ``comparison``: one row per measure, one
    column per model kind (mean with its 95% CI)."""
    rows = [
        [label] + [_fmt(c[k][key], scale, digits) for k in kinds]
        for label, key, scale, digits in (
            ("accuracy at the most-certain tick (%)", "accuracy_certain", 100, 2),
            ("accuracy at the last tick (%)", "accuracy_last_tick", 100, 2),
            ("expected calibration error", "ece", 1, 4),
            (f"ticks to certainty ≥ {threshold}", "stop_tick_mean", 1, 2),
            ("accuracy when stopped there (%)", "accuracy_stopped", 100, 2),
            ("ticks computed when halting there (finished inputs leave the batch)", "halting_ticks", 1, 2),
            ("wall time: full thought / halted there (×)", "halting_speedup", 1, 2),
            ("neuron→synapse operations per thought", "operations", 1, 0),
            ("energy proxy per thought (nJ)", "energy_nj", 1, 2),
            ("synchrony participation ratio (fastest timescale)", "synchrony_participation_ratio", 1, 2),
            ("first tick at which the answer is decodable from the population", "first_decodable_tick", 1, 1),
            (f"tick at which the certainty reaches {threshold} (median over inputs)", "certainty_tick", 1, 1),
            ("participation ratio of the population at the last tick", "participation_ratio_last_tick", 1, 1),
            ("training steps", "steps", 1, 0),
            ("training time (s)", "train_s", 1, 1),
        )
        if key in c[kinds[0]]  # a study.json written before a measure existed lacks its row
    ]
    for key in sorted(k for k in c[kinds[0]] if k.startswith("synchrony_mean_abs_")):
        rows.append(
            [f"mean |synchrony| at τ = {c[kinds[0]][key]['timescale_s'] * 1e3:g} ms ({thought_s:g}-s thoughts)"]
            + [_fmt(c[k][key]) for k in kinds]
        )
    return rows


def _regime_rows(summary: dict) -> list[list[str]]:
    """Per spiking kind and seed: the regime statistics in range over the long thoughts, and those
    outside with their values (``regime_by_seed`` of a study.json)."""
    from .cortical import REGIME_STATISTICS, describe_out

    rows = []
    for kind, seeds in (summary.get("regime_by_seed") or {}).items():
        for seed, probe in seeds.items():
            inside = len(REGIME_STATISTICS) - len(probe["out"])
            rows.append([_label(kind), seed, f"{inside} of {len(REGIME_STATISTICS)}", describe_out(probe) or "none"])
    return rows


def summary_markdown(summary: dict) -> str:
    """A study's ``study.json`` as a Markdown results page: the set-up, the spiking-vs-rate table,
    the Brian2 validation and each spiking model's regime statistics, every number from the file."""
    from .cortical import REGIME_LABELS, REGIME_STATISTICS

    kinds = list(summary["configs"])
    c, analysis = summary["comparison"], summary["analysis"]
    threshold = summary.get("certainty_threshold", 0.8)
    thought_s = summary.get("long_thought_s", 1.0)

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        f"Seeds {summary['seeds']}; configs "
        + ", ".join(f"{_label(k)}: `{Path(v).name}`" for k, v in summary["configs"].items())
        + f"; overrides `{' '.join(summary['overrides'])}`; {summary['machine']}, device {summary['device']}; "
        f"the whole study took {summary['elapsed_s']:.0f} s. Mean over seeds with a 95% CI: [low, high] for "
        "accuracies and ECE (Student t on the logit scale), ± a Student-t half-width otherwise.",
        "",
        "| measure | " + " | ".join(_label(k) for k in kinds) + " |",
        "|---|" + "---|" * len(kinds),
    ]
    for row in _comparison_rows(c, kinds, threshold, thought_s):
        lines.append("| " + " | ".join(cell(str(v)) for v in row) + " |")
    for kind, b in (summary.get("brian2") or {}).items():
        lines += [
            "",
            f"**Brian2, {_label(kind)}** (exact mode, seed {summary['seeds'][0]}): {b['mismatched_bins']} of "
            f"{b['steps'] * b['neurons']:,} spike bins differ ({b['spikes_pytorch']:,} spikes); membranes within "
            f"{b['max_abs_membrane_difference']:.2g}.",
        ]
    regime_rows = _regime_rows(summary)
    if regime_rows:
        lines += [
            "",
            f"Regime statistics of every seed over the recorded {thought_s:g}-s thoughts:",
            "",
            "| model | seed | in the cortical range | outside |",
            "|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in regime_rows]
    spiking = [k for k in kinds if "physiology" in analysis.get(k, {})]
    if spiking:
        lines += [
            "",
            f"Regime statistics of the first seed of each spiking model over {thought_s:g}-s thoughts "
            "(bold: outside the cortical range):",
            "",
            "| statistic | " + " | ".join(_label(k) for k in spiking) + " |",
            "|---|" + "---|" * len(spiking),
        ]
        cards = {k: {row["statistic"]: row for row in analysis[k]["physiology"]["rows"]} for k in spiking}
        for name in REGIME_STATISTICS:
            cells = []
            for k in spiking:
                row = cards[k].get(name)
                if row is None or row["value"] is None:
                    cells.append("**undefined**")
                else:
                    text = f"{row['value']:.3g}"
                    cells.append(text if row["in_range"] else f"**{text}**")
            label, unit = REGIME_LABELS[name]
            lines.append(f"| {label}{f' ({unit})' if unit else ''} | " + " | ".join(cells) + " |")
    lines += _field_lines(analysis, kinds, thought_s)
    return "\n".join(lines) + "\n"


def _field_lines(analysis: dict, kinds: list[str], thought_s: float) -> list[str]:
    """The field potential of each Dale model's first seed (:mod:`neurosync.analysis.field`):
    both proxies' exponents beside the white-drive reference, as Markdown table lines."""
    rows = []
    for kind in kinds:
        found = analysis.get(kind, {}).get("field_potential", {})
        if "rws" not in found:
            continue
        reference = found.get("hold_reference", {}).get("fixed", {})
        for proxy in ("rws", "sum"):
            fit = found[proxy]["fixed"]
            low, high = found[proxy]["range_hz"]
            value = f"{fit['exponent']:.2f} (r² {fit['r_squared']:.2f})" if "exponent" in fit else fit["verdict"]
            shown = f"{reference['exponent']:.2f}" if reference.get("exponent") is not None else "–"
            rows.append(f"| {_label(kind)} | {proxy} | {low:g}–{high:g} Hz | {value} | {fit['verdict']} | {shown} |")
    if not rows:
        return []
    return [
        "",
        f"Field potential of the first seed over the {thought_s:g}-s thoughts (`neurosync.analysis.field`; rws: "
        "Mazzoni et al. 2015's weighted sum, sum: Σ|I_E| + |I_I|), FOOOF in fixed mode, beside the exponent that "
        "the tick's hold and the model's own filters give a white drive:",
        "",
        "| model | proxy | range | χ | verdict | white-drive reference χ |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def _html(summary: dict, runs: dict, study: StudyConfig, out: Path, figure_names: list[str]) -> str:
    c = summary["comparison"]
    kinds = [k for k in study.configs]
    spiking_kinds = kinds[1:]
    rows = _comparison_rows(c, kinds, study.certainty_threshold, study.long_ticks * study.dt)
    thought_s = study.long_ticks * study.dt
    a = summary["analysis"]
    analysis_rows = []
    for kind in kinds:
        s = a[kind]["spectrum"]
        analysis_rows.append(
            [
                _label(kind),
                f"{s['resolution_hz']:.3g}",
                f"{s['peak_hz']:.3g}",
                report.band_text(s["bands"]),
                report.aperiodic_text(a[kind].get("aperiodic", {"skipped": "not computed"})),
                "; ".join(f"{k}: {v['mean_abs_offdiag']:.3f}" for k, v in a[kind]["synchrony"].items()),
            ]
        )
    brian = summary.get("brian2")
    brian_html = (
        "<p>Skipped (validate_ticks = 0).</p>"
        if brian is None
        else "".join(
            f"<p>{_label(kind)}: exact mode, seed {study.seeds[0]}, {study.validate_ticks} ticks: <b>{b['mismatched_bins']} of "
            f"{b['steps'] * b['neurons']:,} spike bins differ</b> ({b['spikes_pytorch']:,} spikes in PyTorch, "
            f"{b['spikes_brian2']:,} in Brian2); max membrane difference {b['max_abs_membrane_difference']:.3g}; "
            f"{b['neurons_tested']} of {b['neurons']} neurons spike at some steps and not at others, so their thresholds are tested; "
            + (
                f"the fast weight α ⊙ H differs by at most {b['fast_weight_max_abs_difference']:.3g} over {b['fast_weight_ticks']} ticks "
                f"(its largest entry {b['fast_weight_max_abs']:.3g}); "
                if "fast_weight_max_abs_difference" in b
                else ""
            )
            + f"{'passed' if b['passed'] else 'FAILED'}; {b['brian2_seconds']:.2f} s in Brian2.</p>"
            for kind, b in brian.items()
        )
    )
    cards = ""
    for kind in spiking_kinds:
        spiking = a[kind]
        cards += (
            f"<h3>{_label(kind)}</h3><p>Mean rate {spiking['rates_hz']['mean']:.1f} Hz, silent "
            f"{100 * spiking['rates_hz']['silent_fraction']:.1f}%, median CV(ISI) over all thoughts "
            f"{report._number(spiking['isi_cv_median'])}, Fano factor {report._number(spiking['fano']['value'])} "
            f"({spiking['fano']['note']}).</p>" + report.physiology_table(spiking["physiology"])
        )
    energy = "; ".join(f"{_label(k)} / RateCTM {c[f'energy_ratio_{k}_to_rate']:.3f}" for k in spiking_kinds)
    sections = [
        (
            "Set-up",
            f"<p>Seeds {study.seeds}; overrides <code>{' '.join(study.set)}</code>; {summary['machine']}; "
            f"device {summary['device']}; the whole study took {summary['elapsed_s']:.0f} s. {_budget(study)} "
            f"Values are the mean over seeds with a 95% CI: [low, high] for accuracies and ECE (Student t on the "
            f"logit scale, mapped back, so the bounds stay inside [0, 1]), ± a Student-t half-width otherwise. "
            f"Energy proxy: only the "
            f"neuron→synapse pathway differs (MACs at {compare.E_MAC_PJ} pJ for rate activations, accumulates "
            f"at {compare.E_AC_PJ} pJ per spike × fan-out).</p>",
        ),
        (
            "Spiking vs rate",
            report.table(["measure"] + [_label(k) for k in kinds], rows)
            + f"<p>Energy ratios: {energy}.</p>"
            + report.figures_html(out / "figures", figure_names),
        ),
        ("Brian2 validation", brian_html),
        (
            f"A long thought ({thought_s:g} s, {study.record_samples} inputs × {study.record_repeats} noise repeats for the SpikingCTMs)",
            report.table(
                [
                    "model",
                    "resolution (Hz)",
                    "peak (Hz)",
                    "band powers (integrals over the bins)",
                    "1/f exponent",
                    "mean |synchrony| per timescale",
                ],
                analysis_rows,
            )
            + (
                "<h3>The regime of every seed</h3>"
                + report.table(["model", "seed", "in the cortical range", "outside"], _regime_rows(summary))
                if summary.get("regime_by_seed")
                else ""
            )
            + "<h3>Physiology cards</h3>"
            + cards
            + report.figures_html(
                out / "analysis",
                [
                    f"{k}_{f}.png"
                    for k in kinds
                    for f in (
                        "raster",
                        "physiology",
                        "isi",
                        "spectrum",
                        "field_potential",
                        "spectrogram",
                        "synchrony",
                        "coherence",
                    )
                ],
            ),
        ),
        (
            "Exports",
            "<ul>"
            + "".join(f"<li><code>exports/{n}</code></li>" for n in summary["exports"])
            + "</ul>"
            + f"<p>nwbinspector (subject checks excluded): {summary['nwbinspector'] or 'no findings'}.</p>",
        ),
        (
            "Per-seed results",
            report.table(
                ["model", "seed", "steps", "accuracy (%)", "ECE", "run directory"],
                [
                    [k, s, r["steps"], f"{100 * r['accuracy_certain']:.2f}", f"{r['ece']:.4f}", f"runs/{k}-seed{s}"]
                    for (k, s), r in runs.items()
                ],
            ),
        ),
    ]
    return report.html_page(f"NeuroSync study: {summary['name']}", sections)
