"""The pretrained zoo: the models shipped in ``models/``, each a self-contained folder.

::

    models/zoo.toml                 the index: per model a summary, its headline metric, the command
                                    that reproduces it and its limitations
    models/<name>/checkpoint.json   the training config and step, as ``neurosync train`` writes it
    models/<name>/model.safetensors the weights (nothing is ever unpickled)
    models/<name>/metrics.json      what ``neurosync models --measure <name>`` measured
    models/<name>/README.md         the card, rendered from the index, the config and metrics.json

Every number on a card comes from ``metrics.json``: the headline on the task's evaluation set; for a
SpikingCTM the physiology card's regime statistics (:data:`neurosync.cortical.REGIME_STATISTICS`)
over 1-s thoughts and over the model's own thought, the same at dt/2 and dt/4, and a spike-for-spike
replay of its core in Brian2. ``neurosync models --check`` re-measures every headline; the tests do
too, and check that each card is the one its metrics render.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError
from .hub import from_pretrained
from .parts.interfaces import SpikingNeuron

log = logging.getLogger(__name__)

INDEX_KEYS = {"summary": str, "metric": str, "samples": int, "command": str}  # required, with their types
OPTIONAL_KEYS = {"limitations": list}
PROBE_INPUTS, PROBE_REPEATS = 16, 4  # the physiology card's thoughts: 16 inputs x 4 noise repeats
HEADLINE_TOLERANCE = 0.005  # a re-measured headline must lie within ±0.5 point (of a percentage)
RETURN_TOLERANCE = 0.5  # an agent's mean return (greedy episodes from fixed seeds), within ±0.5
SUITE_SAMPLES = 4096  # a headline on more inputs is also measured on this many, which the tests re-measure


def models_dir() -> Path:
    """The zoo's folder: $NEUROSYNC_MODELS, else the repository's models/."""
    return Path(os.environ.get("NEUROSYNC_MODELS", Path(__file__).resolve().parents[1] / "models"))


def index() -> dict[str, dict[str, Any]]:
    """The zoo's index (``models/zoo.toml``): name -> entry, each entry checked for its keys."""
    from .config import ConfigError, read_toml

    path = models_dir() / "zoo.toml"
    if not path.is_file():
        raise CheckpointError(f"no zoo index at {path} (set NEUROSYNC_MODELS to a models/ folder)")
    entries = read_toml(path, "zoo")
    entries.pop("name")  # read_toml's default, not a model
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
        missing = [key for key in INDEX_KEYS if key not in entry]
        unknown = [key for key in entry if key not in INDEX_KEYS and key not in OPTIONAL_KEYS]
        if missing or unknown:
            raise ConfigError(
                f"{path}: [{name}] must give {', '.join(INDEX_KEYS)} (and may give {', '.join(OPTIONAL_KEYS)})"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        for key, kind in {**INDEX_KEYS, **OPTIONAL_KEYS}.items():
            if key in entry and not isinstance(entry[key], kind):
                raise ConfigError(f"{path}: [{name}] {key} must be a {kind.__name__}")
    return entries


def metrics(name: str) -> dict[str, Any]:
    """A shipped model's measurements (``models/<name>/metrics.json``)."""
    path = models_dir() / name / "metrics.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: run neurosync models --measure {name}") from None
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is unreadable: {err}") from None


def zoo() -> list[dict[str, Any]]:
    """The shipped models, each a row: name, the index's entry, the headline ``value`` measured into
    its metrics.json, and its task, neuron, synapse, regime, step and size."""
    rows = []
    for name, entry in index().items():
        folder = models_dir() / name
        measured = metrics(name)
        rows.append(
            {
                "name": name,
                **entry,
                "value": measured["headline"]["value"],
                "card": f"{name}/README.md",
                **{key: measured.get(key) for key in ("task", "neuron", "synapse", "regime", "step")},
                "regime_1s": measured.get("physiology", {}).get("regime_1s"),
                "size_mb": round(sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6, 2),
            }
        )
    return rows


def pretrained(name: str):
    """(model in eval mode, Config) of a shipped model, by name (``neurosync models`` lists them)."""
    names = list(index())
    if name not in names:
        raise CheckpointError(f"no pretrained model {name!r}; shipped: {', '.join(names)}")
    return from_pretrained(models_dir() / name)


def headline_tolerance(metric: str) -> float:
    """How far a re-measured headline may lie from its card's: ±0.5 point (or 0.5 of a return)."""
    return RETURN_TOLERANCE if metric == "mean_return" else HEADLINE_TOLERANCE


def headline_value(metric: str, value: float) -> str:
    """A headline's value as the zoo prints it: a return (495.7) or a percentage (97.76%)."""
    return f"{value:.1f}" if metric == "mean_return" else f"{100 * value:.2f}%"


def headline_text(metric: str, value: float, samples: int) -> str:
    """A headline as the zoo prints it: a percentage on inputs, or a return over episodes."""
    if metric == "mean_return":
        return f"mean return {headline_value(metric, value)} over {samples:,} greedy episodes"
    return f"{metric} {headline_value(metric, value)} on {samples:,} inputs"


def measure_headline(name: str, metric: str, samples: int) -> float:
    """Re-measure a headline: the model on the first ``samples`` inputs of its task's evaluation
    set with intrinsic noise seeded 0 (``neurosync evaluate models/NAME --samples N`` prints the
    same); an RL agent's mean return over ``samples`` greedy episodes from the evaluation seeds."""
    return _headline(*from_pretrained(models_dir() / name), metric, samples)


def _headline(model, config, metric: str, samples: int) -> float:
    """:func:`measure_headline` of a loaded model (or agent) and its config."""
    from .tasks import get_task
    from .training import evaluate

    if metric == "mean_return":
        from .rl import evaluate_agent

        ctm = getattr(model.core, "ctm", None)  # None: the LSTM agent
        if ctm is not None and isinstance(ctm.neuron, SpikingNeuron):
            ctm.neuron.seed_noise(0)
        return float(evaluate_agent(model, config, samples)["mean_return"])
    if isinstance(model.neuron, SpikingNeuron):
        model.neuron.seed_noise(0)
    x, y = get_task(config.task).eval_set(config.task, samples, config.train.seed)
    return float(evaluate(model, config, x, y)[metric])


def _regime(model, x, seconds: float | None = None) -> dict[str, Any]:
    """The regime probe over ``seconds`` (None: the model's own thought), its values rounded."""
    from .cortical import regime_probe

    if seconds is None:
        seconds = model.ticks * model.neuron.tick_ms / 1000.0
    probe = regime_probe(model, x, seconds=seconds, repeats=PROBE_REPEATS)
    probe["values"] = {k: (None if v is None else float(f"{v:.4g}")) for k, v in probe["values"].items()}
    for key in ("rate_all_hz", "cv_poisson_reference"):
        if probe.get(key) is not None:
            probe[key] = float(f"{probe[key]:.4g}")
    return probe


def _say(progress: bool, name: str, stage: str) -> None:
    """One log line per stage of a measurement (minutes for the larger models)."""
    if progress:
        log.info("%s: %s", name, stage)


def _probe_inputs(config):
    """The physiology card's inputs: the first PROBE_INPUTS of the task's evaluation set."""
    from .tasks import get_task

    return get_task(config.task).eval_set(config.task, PROBE_INPUTS, config.train.seed)[0][:PROBE_INPUTS]


def measure_spiking(model, config, name: str = "", progress: bool = True) -> dict[str, Any]:
    """A SpikingCTM's physiology: the regime over 1-s thoughts and over its own thought, the same
    at dt/2 and dt/4, and its core replayed in Brian2 (exact mode); ``name`` labels the log."""
    from .brian.core import record_core
    from .brian.exact import validate_exact

    x = _probe_inputs(config)
    _say(progress, name, f"regime statistics, {PROBE_INPUTS} inputs x {PROBE_REPEATS} repeats")
    result: dict[str, Any] = {"regime_1s": _regime(model, x, 1.0), "regime_thought": _regime(model, x)}
    native = model.neuron.dt_ms
    steps = []
    for divisor in (2, 4):
        _say(progress, name, f"regime statistics at dt/{divisor}")
        with model.neuron.at_step(native / divisor):
            steps.append({"divisor": divisor, "regime_1s": _regime(model, x, 1.0)})
    result["steps"] = steps
    ticks = model.neuron.ticks_in(1.0)
    _say(progress, name, "Brian2 exact replay of a 1-s thought")
    try:
        recording = record_core(model, x[:1], sample=0, ticks=ticks)
        report = validate_exact(model, recording)
    except ValueError as error:  # a core Brian2 does not build (it says which part, in one line)
        result["brian2_exact"] = {"skipped": str(error)}
        return result
    keep = ("passed", "steps", "neurons", "spikes_pytorch", "spikes_brian2", "mismatched_bins")
    result["brian2_exact"] = {key: report[key] for key in keep} | {
        "max_abs_membrane_difference": float(f"{report['max_abs_membrane_difference']:.3g}")
    }
    return result


def measure(name: str, seed_runs: Sequence[str | Path] = (), progress: bool = True) -> dict[str, Any]:
    """Measure a shipped model into ``models/<name>/metrics.json`` (and return it): the headline of
    its index entry, its evaluation at dt, dt/2 and dt/4 (a SpikingCTM), the physiology of
    :func:`measure_spiking`, and, given ``seed_runs`` (run directories of the same config trained
    with other seeds), each seed's headline and regime; seeds measured before are kept otherwise."""
    import torch

    from . import __version__
    from .compare import step_invariance
    from .tasks import get_task

    entry = index().get(name)
    if entry is None:
        raise CheckpointError(f"{name!r} is not in {models_dir() / 'zoo.toml'}")
    folder = models_dir() / name
    model, config = from_pretrained(folder)
    meta = json.loads((folder / "checkpoint.json").read_text())
    previous = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    metric, samples = entry["metric"], entry["samples"]
    spiking = metric != "mean_return" and config.model.neuron == "spiking"
    out: dict[str, Any] = {
        "name": name,
        "measured_with": f"neurosync models --measure {name}",
        "versions": {
            "neurosync": __version__,
            "torch": torch.__version__.split("+")[0],
            "python": platform.python_version(),
        },
        "step": meta.get("step"),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if metric == "mean_return":
        out.update(task=config.env.id, neuron=config.model.neuron, synapse=config.model.synapse, regime=None)
        out["headline"] = {"metric": metric, "samples": samples, "value": measure_headline(name, metric, samples)}
    else:
        out.update(
            task=config.task.name,
            neuron=config.model.neuron,
            synapse=config.model.synapse,
            regime=getattr(config.model, "regime", None) or None,
            ticks=config.model.ticks,
        )
        x, y = get_task(config.task).eval_set(config.task, samples, config.train.seed)
        if spiking:
            out["tick_ms"] = model.neuron.tick_ms
            out["thought_ms"] = model.ticks * model.neuron.tick_ms
            # the headline on every input; the finer steps (2x and 4x the work) on the suite's first inputs
            fine = min(samples, SUITE_SAMPLES)
            _say(progress, name, f"{metric} on {fine:,} inputs at dt, dt/2 and dt/4")
            rows = step_invariance(model, config, x[:fine], y[:fine], divisors=(1, 2, 4))
            if fine < samples:
                _say(progress, name, f"{metric} on all {samples:,} inputs")
                value = step_invariance(model, config, x, y, divisors=(1,))[0]["accuracy"]
            else:
                value = rows[0]["accuracy"]
            out["headline"] = {"metric": metric, "samples": samples, "value": value}
            out["dt_invariance_samples"] = fine
            out["dt_invariance"] = [
                {k: float(f"{row[k]:.5g}") for k in ("dt_ms", "accuracy", "firing_rate_hz")}
                | {"substeps": int(row["substeps"])}
                | {
                    "accuracy_change_points": round(row["accuracy_change_points"], 3),
                    "rate_change": round(row["rate_change"], 4),
                }
                for row in rows
            ]
            out["physiology"] = measure_spiking(model, config, name, progress)
        else:
            out["headline"] = {"metric": metric, "samples": samples, "value": _headline(model, config, metric, samples)}
    if metric != "mean_return" and samples > SUITE_SAMPLES:
        out["headline_suite"] = {"samples": SUITE_SAMPLES, "value": _headline(model, config, metric, SUITE_SAMPLES)}
    if seed_runs:
        _say(progress, name, f"{len(seed_runs)} other training seeds")
    seeds = [_seed_run(Path(run), metric, samples, spiking) for run in seed_runs]
    if seeds or "training_seeds" in previous:
        out["training_seeds"] = seeds or previous["training_seeds"]
    (folder / "metrics.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return out


def _seed_run(run: Path, metric: str, samples: int, spiking: bool) -> dict[str, Any]:
    """One training seed's run: its seed, final step, headline and (a SpikingCTM) 1-s regime."""
    from .checkpoint import resolve

    path = resolve(run)
    model, config = from_pretrained(path)
    row: dict[str, Any] = {
        "seed": config.train.seed,
        "step": json.loads((path / "checkpoint.json").read_text()).get("step"),
        "value": _headline(model, config, metric, samples),
    }
    if spiking:
        row["regime_1s"] = _regime(model, _probe_inputs(config), 1.0)
    return row


def _shown(value, unit: str = "") -> str:
    if value is None:
        return "undefined"
    text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def _cell(probe: dict[str, Any], statistic: str) -> str:
    value = probe["values"][statistic]
    if statistic == "highest_peak_hz" and value is not None:
        text = "none" if value == 0 else f"{value:.0f}"
    else:
        text = _shown(value)
    return text if probe["in_range"][statistic] else f"**{text}**"


def _range(statistic: str) -> str:
    from .analysis.physiology import CORTICAL_RANGES

    low, high, _ = CORTICAL_RANGES[statistic]
    if statistic == "highest_peak_hz":
        return "none ≥ 250 Hz"
    if low is None:
        return f"≤ {high:g}"
    if high is not None and low == -high:
        return f"±{high:g}"
    return f"≥ {low:g}" if high is None else f"{low:g}–{high:g}"


def _inside(probe: dict[str, Any]) -> str:
    from .cortical import REGIME_STATISTICS

    return f"{len(REGIME_STATISTICS) - len(probe['out'])} of {len(REGIME_STATISTICS)}"


def _kind(neuron: str | None) -> str:
    """The model class a config's neuron builds."""
    return {"spiking": "SpikingCTM", "lstm": "LSTM"}.get(neuron or "", "RateCTM")


def _percent(metric: str, value: float) -> str:
    return headline_value(metric, value)


def render_card(name: str) -> str:
    """The card ``models/<name>/README.md``: a Hugging Face model card rendered from the zoo's
    index entry, the model's config and its metrics.json; nothing on it is typed by hand."""
    from .cortical import REGIME_LABELS, REGIME_STATISTICS

    entry, m = index()[name], metrics(name)
    head = m["headline"]
    kind = _kind(m["neuron"])
    tags = ["continuous-thought-machine", kind, m["task"]]
    if m.get("regime"):
        tags.append(f"{m['regime']}-regime")
    lines = ["---", "library_name: neurosync", "license: apache-2.0", "tags:"]
    lines += [f"- {tag}" for tag in tags]
    lines += [
        "model-index:",
        f"- name: {name}",
        "  results:",
        f"  - task: {{type: {m['task']}}}",
        f"    metrics: [{{type: {head['metric']}, value: {head['value']:.6g}}}]",
        "---",
        "",
        f"# {name}",
        "",
        entry["summary"].strip(),
        "",
        "## Model",
        "",
        "| | |",
        "|---|---|",
        f"| task | {m['task']} |",
        f"| model | {kind}{' (' + m['regime'] + ' regime)' if m.get('regime') else ''}, synapse `{m['synapse']}` |",
        f"| parameters | {m['parameters']:,} |",
        f"| training steps | {m['step']:,} |" if m.get("step") is not None else "| training steps | – |",
    ]
    if "thought_ms" in m:
        lines.append(f"| thought | {m['ticks']} ticks of {m['tick_ms']:g} ms = {m['thought_ms']:g} ms |")
    elif "ticks" in m:
        lines.append(f"| thought | {m['ticks']} internal ticks |")
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "import neurosync",
        "",
        f'model, config = neurosync.pretrained("{name}")',
        "```",
        "",
        f"or from the command line: `neurosync evaluate models/{name}`.",
        "",
        "## Reproduce",
        "",
        "```bash",
        entry["command"].strip(),
        "```",
        "",
        "## Results",
        "",
        f"{headline_text(head['metric'], head['value'], head['samples'])} "
        f"(the task's evaluation set{', intrinsic noise seeded 0' if m['neuron'] == 'spiking' else ''}).",
    ]
    seeds = m.get("training_seeds")
    if seeds:
        lines += ["", "Trained with other seeds by the same command (`--set train.seed=S`):", ""]
        regime = "regime_1s" in seeds[0]
        lines += [
            f"| seed | steps | {head['metric']} |" + (" regime statistics in range (1-s thoughts) |" if regime else "")
        ]
        lines += ["|---|---|---|" + ("---|" if regime else "")]
        for row in seeds:
            cells = [str(row["seed"]), f"{row['step']:,}", _percent(head["metric"], row["value"])]
            if "regime_1s" in row:
                cells.append(_inside(row["regime_1s"]))
            lines.append("| " + " | ".join(cells) + " |")
    if "dt_invariance" in m:
        fine = m.get("dt_invariance_samples", head["samples"])
        lines += [
            "",
            "The same weights simulated with a finer step (the same ticks, more sub-steps)"
            + (f", on the first {fine:,} inputs:" if fine < head["samples"] else ":"),
            "",
            f"| dt | {head['metric']} | change | mean rate | change |",
            "|---|---|---|---|---|",
        ]
        for row in m["dt_invariance"]:
            lines.append(
                f"| {row['dt_ms']:g} ms | {_percent(head['metric'], row['accuracy'])} | "
                f"{row['accuracy_change_points']:+.2f} points | {row['firing_rate_hz']:.2f} Hz | {100 * row['rate_change']:+.1f}% |"
            )
    physiology = m.get("physiology")
    if physiology:
        one, own = physiology["regime_1s"], physiology["regime_thought"]
        halves = {step["divisor"]: step["regime_1s"] for step in physiology["steps"]}
        lines += [
            "",
            "## Physiology",
            "",
            f"The physiology card's regime statistics over {PROBE_INPUTS} inputs × {PROBE_REPEATS} noise repeats "
            f"(`neurosync analyze models/{name} --samples {PROBE_INPUTS} --repeats {PROBE_REPEATS}` gives the full card). "
            f"Bold: outside the cortical range. In range: {_inside(one)} over 1-s thoughts, {_inside(own)} over the "
            f"model's own {own['seconds'] * 1000:g}-ms thought"
            + "".join(f", {_inside(probe)} at dt/{d}" for d, probe in halves.items())
            + ".",
            "",
            "| statistic | cortical range | 1 s | own thought | " + " | ".join(f"1 s at dt/{d}" for d in halves) + " |",
            "|---|---|---|---|" + "---|" * len(halves),
        ]
        rates = [one, own, *halves.values()]
        if any(p.get("rate_all_hz") is not None for p in rates):  # a model without E/I populations
            lines.append(
                "| mean rate, all neurons | – | " + " | ".join(_shown(p.get("rate_all_hz"), "Hz") for p in rates) + " |"
            )
        for statistic in REGIME_STATISTICS:
            label, unit = REGIME_LABELS[statistic]
            label = f"{label} ({unit})" if unit else label
            cells = [_cell(probe, statistic) for probe in rates]
            lines.append(f"| {label} | {_range(statistic)} | " + " | ".join(cells) + " |")
            if statistic == "median_cv_isi" and any(p.get("cv_poisson_reference") is not None for p in rates):
                lines.append(
                    "| median CV(ISI) of Poisson trains with the same counts and window | – | "
                    + " | ".join(_shown(p.get("cv_poisson_reference")) for p in rates)
                    + " |"
                )
        b = physiology["brian2_exact"]
        if "skipped" in b:
            brian = f"**Brian2.** Not validated: {b['skipped']}."
        else:
            brian = (
                f"**Brian2.** The spiking core re-simulated in Brian2 from the same equations, drive and noise "
                f"(`neurosync validate models/{name} --mode exact`) over a 1-s thought: {b['mismatched_bins']} of "
                f"{b['steps'] * b['neurons']:,} spike bins differ ({b['steps']:,} steps × {b['neurons']} neurons, "
                f"{b['spikes_pytorch']:,} spikes); membranes agree to {b['max_abs_membrane_difference']:.2g}."
            )
        lines += ["", brian]
    if entry.get("limitations"):
        lines += ["", "## Limitations", ""] + [f"- {item}" for item in entry["limitations"]]
    lines += [
        "",
        "## Citation",
        "",
        "The Continuous Thought Machine: Darlow et al. 2025, arXiv:2505.05522. "
        "NeuroSync: see `CITATION.cff` in the repository.",
        "",
        f"<!-- rendered by `neurosync models --measure {name}` from models/zoo.toml and metrics.json; "
        "do not edit by hand -->",
        "",
    ]
    return "\n".join(lines)


def write_card(name: str) -> Path:
    """Render a shipped model's card into ``models/<name>/README.md``."""
    path = models_dir() / name / "README.md"
    path.write_text(render_card(name))
    return path


def zoo_table(link: str = "models/{name}/README.md") -> str:
    """The shipped models as one Markdown table (the README's and the documentation's), every number
    read from their metrics.json; ``link`` formats each name's link to its card."""
    lines = [
        "| model | task | kind | headline | regime statistics in range (1-s thoughts) |",
        "|---|---|---|---|---|",
    ]
    for row in zoo():
        kind = _kind(row["neuron"])
        if row.get("regime"):
            kind = f"{row['regime']} {kind}"
        regime = _inside(row["regime_1s"]) if row["regime_1s"] else "–"
        lines.append(
            f"| [`{row['name']}`]({link.format(name=row['name'])}) | {row['task']} | {kind} | "
            f"{headline_text(row['metric'], row['value'], row['samples'])} | {regime} |"
        )
    return "\n".join(lines)


README_START, README_END = "<!-- zoo:start", "<!-- zoo:end -->"


def readme_with_table(text: str) -> str:
    """A README's text with the block between its zoo markers replaced by :func:`zoo_table`."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise CheckpointError(f"the README has no {README_START} ... {README_END} block")
    opening = text[start : text.index("\n", start) + 1]
    return text[:start] + opening + zoo_table() + "\n" + text[end:]


def update_readme(path: Path) -> bool:
    """Rewrite the zoo table of the README at ``path`` (the repository's, beside models/); whether it changed."""
    text = path.read_text()
    updated = readme_with_table(text)
    if updated != text:
        path.write_text(updated)
    return updated != text


def refresh_readme() -> str | None:
    """Rewrite the models table of the README beside the zoo's folder, if it has one (the
    repository's); a line saying what happened, None where there is no such README."""
    path = models_dir().parent / "README.md"
    if not path.is_file() or README_START not in path.read_text():
        return None
    try:
        return f"{path}: {'updated' if update_readme(path) else 'up to date'}"
    except CheckpointError as error:  # a model is not measured yet
        return f"{path} not updated: {error}"
