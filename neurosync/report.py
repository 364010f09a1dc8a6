"""Analyse one recording into figures and numbers, and write self-contained HTML reports.

:func:`analyse_recording` is what ``neurosync analyze`` and the study run on a thought: rates,
CV(ISI) and Fano factor (spiking), the trial-averaged population spectrum with band powers and
an aperiodic fit, a spectrogram, synchrony matrices per timescale, the coherence between the
neurons of the two synchrony readouts, and a raster. Figures are written as PNG and SVG.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np

from . import analysis
from .checkpoint import finite_json


def save_figure(fig, path_stem: Path) -> Path:
    """Write `fig` as PNG and SVG next to each other; returns the PNG path."""
    import matplotlib.pyplot as plt

    fig.savefig(path_stem.with_suffix(".png"), dpi=110)
    fig.savefig(path_stem.with_suffix(".svg"), dpi=200)  # the resolution of rasterized artists (a raster's spikes)
    plt.close(fig)
    return path_stem.with_suffix(".png")


def _readout_groups(model, neurons: int):
    """Neurons of the output and the action synchrony readouts (halves of the population without a model)."""
    sync = getattr(model, "synchrony", None)
    try:
        out = np.unique(np.concatenate([getattr(sync, f"out_neurons_{s}").cpu().numpy() for s in ("left", "right")]))
        action = np.unique(
            np.concatenate([getattr(sync, f"action_neurons_{s}").cpu().numpy() for s in ("left", "right")])
        )
        return out, action, ("output-readout neurons", "action-readout neurons")
    except AttributeError:
        return np.arange(neurons // 2), np.arange(neurons // 2, neurons), ("first half", "second half")


def _number(value, digits: int = 2) -> str:
    return "undefined" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def aperiodic_text(aperiodic: dict) -> str:
    """A summary's aperiodic fit in words: the exponent only where a power law describes the
    spectrum, else why there is no aperiodic fit."""
    if "skipped" in aperiodic:
        return f"no aperiodic fit ({aperiodic['skipped']})"
    if aperiodic.get("verdict") != "aperiodic":
        return aperiodic.get("verdict", "no aperiodic fit")
    low, high = aperiodic["range_hz"]
    return f"{aperiodic['exponent']:.2f} (r² {aperiodic['r_squared']:.2f}, {low:g}–{high:g} Hz)"


def band_text(bands: dict) -> str:
    """Band powers in words; a band with fewer than two bins or above Nyquist is "unresolved"."""
    return ", ".join(
        f"{name} {value:.3g}" if value is not None and math.isfinite(value) else f"{name} unresolved"
        for name, value in bands.items()
    )


def analyse_recording(recording, out: Path, model=None, label: str = "", labels=None) -> dict:
    """Figures (PNG + SVG in `out`) and a JSON-ready summary of one recording; ``labels``, a
    pair ((thoughts,) integers, what they are), adds the thought's population dynamics."""
    out.mkdir(parents=True, exist_ok=True)
    prefix = f"{label}_" if label else ""
    summary: dict = {
        "kind": recording.kind,
        "samples": recording.samples,
        "ticks": recording.ticks,
        "neurons": recording.neurons,
        "dt_s": recording.dt,
        "step_s": recording.step_duration,
    }
    if (recording.config or {}).get("recorded_with"):  # e.g. neurosync analyze --inhibition-scale
        summary["recorded_with"] = recording.config["recorded_with"]
    figures: dict[str, Path] = {}
    if recording.kind == "spiking":
        rates = analysis.firing_rates(recording)
        card = analysis.physiology(recording)
        rows = {row["statistic"]: row for row in card["rows"]}
        summary["rates_hz"] = {
            "mean": float(rates.mean()),
            "median": float(np.median(rates)),
            "silent_fraction": float((rates == 0).mean()),
            "max": float(rates.max()),
        }
        # over every recorded thought (trains with >= 5 spikes); the Fano factor across repeats of an input only
        summary["isi_cv_median"] = rows["median_cv_isi"]["value"]
        summary["fano"] = {"value": rows["fano_factor"]["value"], "note": rows["fano_factor"]["note"]}
        summary["physiology"] = {
            k: card[k] for k in ("rows", "in_range", "defined", "thoughts", "repeats", "thought_s")
        }
        (out / f"{prefix}physiology.md").write_text("# Physiology card\n\n" + analysis.card_text(card))
        figures["physiology"] = save_figure(analysis.physiology_figure(card), out / f"{prefix}physiology")
        figures["raster"] = save_figure(
            analysis.raster_figure(recording, sort="rate", bin_steps=max(1, recording.steps // 100)),
            out / f"{prefix}raster",
        )
        isi_counts, isi_edges = analysis.isi_histogram(recording.spike_times(0), bins=50)
        figures["isi"] = save_figure(
            _histogram_figure(
                isi_counts,
                isi_edges * 1e3,
                "inter-spike interval (ms)",
                f"ISI histogram, all neurons, thought 0; median CV (all thoughts) {_number(summary['isi_cv_median'])}",
            ),
            out / f"{prefix}isi",
        )
    summary["dynamics"] = _dynamics(recording, labels, out / f"{prefix}dynamics", figures)
    summary["field_potential"] = _field_potential(recording, out / f"{prefix}field_potential", model, figures)
    # one Hann-windowed segment per thought (the default), averaged over thoughts: resolution 1 / duration
    spectrum = analysis.population_spectrum(recording, sample=None)
    summary["spectrum"] = {
        "resolution_hz": spectrum["resolution_hz"],
        "sampling_rate_hz": spectrum["sampling_rate_hz"],
        "method": spectrum["method"],
        "trials": spectrum["trials"],
        "bands": spectrum["bands"],
        "peak_hz": float(spectrum["frequencies_hz"][1:][np.argmax(spectrum["power"][1:])])
        if spectrum["power"][1:].max() > 0
        else float("nan"),
    }
    fit = None
    try:
        fit = analysis.aperiodic_fit(spectrum["frequencies_hz"], spectrum["power"])
        summary["aperiodic"] = {k: fit[k] for k in ("offset", "exponent", "peaks", "r_squared", "range_hz", "verdict")}
    except (ValueError, ImportError) as err:  # too few bins, silent network, or fooof missing
        summary["aperiodic"] = {"skipped": str(err)}
    figures["spectrum"] = save_figure(
        analysis.spectrum_figure(spectrum, fit, f"{label or recording.kind} population"), out / f"{prefix}spectrum"
    )
    summary["_spectrum"] = spectrum
    if recording.steps >= 32:
        sg = analysis.spectrogram(recording, sample=None, nperseg=min(64, recording.steps // 4))
        figures["spectrogram"] = save_figure(_spectrogram_figure(sg), out / f"{prefix}spectrogram")
    sync = analysis.synchrony_matrices(recording)
    order = (
        analysis.neuron_order(recording, by="cluster")
        if recording.kind == "spiking"
        else np.argsort(-recording.activity.mean((0, 1)), kind="stable")
    )
    labels = [f"τ = {t * 1e3:g} ms" for t in sync["timescales_s"]]
    figures["synchrony"] = save_figure(
        analysis.matrix_figure(sync["matrices"], labels, order), out / f"{prefix}synchrony"
    )
    off = ~np.eye(recording.neurons, dtype=bool)
    summary["synchrony"] = {
        label_: {"mean_abs_offdiag": float(np.abs(m[off]).mean()), "mean_offdiag": float(m[off].mean())}
        for label_, m in zip(labels, sync["matrices"])
    }
    group_a, group_b, names = _readout_groups(model, recording.neurons)
    if recording.steps >= 8 and len(group_a) and len(group_b):
        coh = analysis.group_coherence(
            recording, group_a, group_b, sample=None, nperseg=min(recording.steps // 2, 2048)
        )
        summary["coherence"] = {
            "groups": names,
            "mean": float(coh["coherence"][1:].mean()),
            "peak_hz": float(coh["frequencies_hz"][1:][np.argmax(coh["coherence"][1:])]),
        }
        figures["coherence"] = save_figure(
            _line_figure(
                coh["frequencies_hz"],
                coh["coherence"],
                "frequency (Hz)",
                f"coherence: {names[0]} vs {names[1]}",
                f"resolution {coh['resolution_hz']:.3g} Hz",
            ),
            out / f"{prefix}coherence",
        )
    summary["figures"] = {k: str(v.name) for k, v in figures.items()}
    return summary


def _dynamics(recording, labels, stem: Path, figures: dict) -> dict:
    """When the answer becomes decodable, the certainty's crossing, the participation ratio and
    the principal trajectories by label (:mod:`neurosync.analysis.dynamics`), with one figure."""
    from .analysis import dynamics

    if labels is None:
        return {"skipped": "no labels: analyse a checkpoint (its task's targets), not a saved recording"}
    values, what = labels
    try:
        decoding = dynamics.decode_over_time(recording, values)
        paths = dynamics.trajectories(recording, values, components=2)
    except (ValueError, ImportError) as err:
        return {"skipped": str(err)}
    certainty = dynamics.certainty_ticks(recording)
    dimension = dynamics.participation_ratio(recording)
    figures["dynamics"] = save_figure(dynamics_figure(decoding, certainty, dimension, paths, what), stem)
    first = decoding["first_decodable_tick"]
    crossing = certainty["median_first_tick"]
    return {
        "labels": what,
        "first_decodable_ms": None if first is None else (first + 1) * recording.dt * 1e3,  # the end of its tick
        "certainty_crossing_ms": None if crossing is None else (crossing + 1) * recording.dt * 1e3,
        "decoding": {
            key: decoding[key]
            for key in (
                "accuracy",
                "band",
                "chance",
                "classes",
                "folds",
                "thoughts",
                "left_out",
                "first_decodable_tick",
            )
        },
        "decoded_ticks": decoding["ticks"],
        "certainty": {k: v for k, v in certainty.items() if k not in ("first_tick", "most_certain_tick")},
        "participation_ratio": {"per_tick": dimension["per_tick"], "whole": dimension["whole"]},
        "pca_explained": paths["explained"],
    }


def dynamics_figure(decoding: dict, certainty: dict, dimension: dict, paths: dict, what: str = "the answer"):
    """Three panels: decoding accuracy by tick (Wilson interval, shuffle band, chance, the first
    decodable tick and the certainty's median crossing), the participation ratio by tick, and
    the mean trajectory of each label in the first two principal components."""
    plt = analysis._pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    ticks = np.asarray(decoding["ticks"]) + 1
    ax.plot(ticks, decoding["accuracy"], "o-", color="C0", ms=3, label="cross-validated accuracy")
    ax.fill_between(ticks, *np.asarray(decoding["interval"]).T, color="C0", alpha=0.2)
    ax.plot(ticks, decoding["band"], "--", color="0.4", lw=1, label="95th percentile, labels shuffled")
    ax.axhline(decoding["chance"], color="0.6", lw=0.8, label="chance (majority label)")
    if decoding["first_decodable_tick"] is not None:
        ax.axvline(decoding["first_decodable_tick"] + 1, color="C2", lw=1, label="first decodable tick")
    if certainty["median_first_tick"] is not None:
        ax.axvline(
            certainty["median_first_tick"] + 1, color="C3", ls=":", label=f"certainty ≥ {certainty['threshold']:g}"
        )
    ax.set(xlabel="tick", ylabel="accuracy", title=f"decoding {what} from the population", ylim=(0, 1.02))
    ax.legend(fontsize=7)
    ax = axes[1]
    per_tick = np.asarray(dimension["per_tick"])
    ax.plot(np.arange(1, per_tick.size + 1), per_tick, color="C1")
    ax.set(
        xlabel="tick", ylabel="participation ratio", title=f"dimensionality (whole thought {dimension['whole']:.1f})"
    )
    ax = axes[2]
    for index, (value, path) in enumerate(paths["by_label"].items()):
        ax.plot(path[:, 0], path[:, 1], "-", color=f"C{index % 10}", lw=1, label=str(value))
        ax.plot(path[0, 0], path[0, 1], "o", color=f"C{index % 10}", ms=3)
    explained = paths["explained"]
    ax.set(
        xlabel=f"PC1 ({100 * explained[0]:.0f}%)",
        ylabel=f"PC2 ({100 * explained[1]:.0f}%)" if len(explained) > 1 else "PC2",
        title="mean trajectory per label (dot: first tick)",
    )
    if len(paths["by_label"]) <= 10:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def _field_potential(recording, stem: Path, model, figures: dict) -> dict:
    """Both field-potential proxies of a Dale SpikingCTM: their parameterised spectra, the
    30–50 Hz exponent, and one figure (with the filters' hold reference, given the model);
    for any other recording, why there is none."""
    from .analysis import field

    try:
        summaries = {proxy: field.field_summary(recording, proxy) for proxy in field.PROXIES}
    except ValueError as err:
        return {"skipped": str(err)}
    except ImportError as err:  # fooof missing
        return {"skipped": f"{err}"}
    reference = None if model is None else field.model_reference(model, summaries["rws"])
    fig = field_figure(summaries, reference)
    figures["field_potential"] = save_figure(fig, stem)
    result: dict = {proxy: field.summary_json(s) for proxy, s in summaries.items()}
    if reference is not None:
        result["hold_reference"] = {
            "definition": field.HOLD_REFERENCE,
            "fixed": field.fit_json(reference["fit"]),
        }
    return result


def field_figure(summaries: dict, reference: dict | None):
    """Both proxies' spectra (normalised at the lowest bin) with their fixed-mode exponents, the
    hold reference when given, and the fit range shaded."""
    plt = analysis._pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    lowest = 1.0
    for (proxy, s), colour in zip(summaries.items(), ("C2", "C0")):
        f, p = np.asarray(s["frequencies_hz"]), np.asarray(s["power"])
        keep = (f > 0) & (p > 0)
        scale = p[keep][0] if keep.any() else 1.0
        lowest = min(lowest, float((p[keep] / scale).min()) if keep.any() else 1.0)
        fit = s["fixed"]
        label = f"{proxy}: χ {fit['exponent']:.2f}, r² {fit['r_squared']:.2f}" if "exponent" in fit else proxy
        ax.loglog(f[keep], p[keep] / scale, color=colour, lw=1, label=label)
        if reference is not None and proxy == "rws":
            ref = reference["fit"]
            ax.loglog(
                f[keep],
                reference["power"][keep] / reference["power"][keep][0],
                ":",
                color="k",
                lw=1,
                label=f"filters + tick hold, white drive: χ {ref['exponent']:.2f}",
            )
    ax.set_ylim(bottom=lowest / 10)  # the hold's exact zeros would stretch the axis without end
    low, high = summaries["rws"]["range_hz"]
    ax.axvspan(low, high, color="0.9", zorder=0, label=f"fit range {low:g}–{high:g} Hz")
    ax.set(
        xlabel="frequency (Hz)",
        ylabel="power (normalised at the lowest bin)",
        title="field-potential proxies (Welch, averaged over thoughts)",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _histogram_figure(counts, edges, xlabel, title):
    plt = analysis._pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.stairs(counts, edges, fill=True, alpha=0.7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _spectrogram_figure(sg):
    plt = analysis._pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    power = np.log10(np.maximum(sg["power"], 1e-12))
    ax.pcolormesh(sg["times_s"] * 1e3, sg["frequencies_hz"], power, shading="auto", cmap="magma")
    ax.set_xlabel("time in the thought (ms)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(f"spectrogram of the population rate (log power); resolution {sg['resolution_hz']:.3g} Hz", fontsize=9)
    fig.tight_layout()
    return fig


def _line_figure(x, ys, xlabel, ylabel, title, labels=None, bands=None):
    """Lines (one per row of ys, or a list of lines of their own lengths, each drawn over the
    first values of x) with optional shaded bands: per line a half-width (± band) or a (low, high)
    pair of bounds."""
    plt = analysis._pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    lines = [np.asarray(y) for y in ys] if isinstance(ys, list) else list(np.atleast_2d(ys))
    for i, y in enumerate(lines):
        xi = np.asarray(x)[: len(y)]
        ax.plot(xi, y, marker="o" if len(xi) <= 32 else None, ms=3, label=None if labels is None else labels[i])
        if bands is not None:
            low, high = bands[i] if isinstance(bands[i], tuple) else (y - bands[i], y + bands[i])
            ax.fill_between(xi, low, high, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    if labels is not None:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    name = html.escape(path.stem)
    return f'<figure><img src="data:image/png;base64,{data}" alt="{name}"><figcaption>{name}</figcaption></figure>'


def html_page(title: str, sections: list[tuple[str, str]]) -> str:
    """A self-contained page: sections are (heading, HTML body); images must already be embedded."""
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:.5em}"
        "img{max-width:520px}figcaption{font-size:.8em;color:#666;text-align:center}pre{background:#f7f7f7;padding:.5em;overflow-x:auto}"
    )
    body = "".join(f"<h2>{html.escape(h)}</h2>{b}" for h, b in sections)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def table(header: list[str], rows: list[list]) -> str:
    """An HTML table of ``rows`` under ``header`` (every cell escaped)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{cells}</table>"


def physiology_table(card: dict) -> str:
    """The physiology card's rows as an HTML table, with how many statistics lie in range."""
    rows = [
        [
            r["statistic"],
            "undefined" if r["value"] is None else f"{r['value']:.3g} {r['unit']}".strip(),
            r["range"],
            {True: "yes", False: "no", None: "–"}[r["in_range"]],
            r["note"],
            r["source"],
        ]
        for r in card["rows"]
    ]
    return (
        f"<p>{card['thoughts']} thoughts ({card['repeats']} per input) of {card['thought_s']:g} s: "
        f"{card['in_range']} of {card['defined']} defined statistics in the cortical range. {out_of_range(card)}</p>"
        + table(["statistic", "value", "cortical range", "in range", "note", "source"], rows)
    )


def out_of_range(card: dict) -> str:
    """One sentence naming the card's statistics outside their cortical range, with value and range."""
    out = [
        f"{r['statistic']} {r['value']:.3g}{(' ' + r['unit']) if r['unit'] in ('Hz', 'ratio') else ''} "
        f"(range {r['range']})"
        for r in card["rows"]
        if r["in_range"] is False
    ]
    return f"Outside it: {'; '.join(out)}." if out else "None lies outside it."


def figures_html(out: Path, names) -> str:
    """The figures ``names`` in ``out`` embedded as base64 PNG images (missing ones skipped)."""
    return "".join(_image(out / name) for name in names if (out / name).exists())


def analysis_page(summary: dict, out: Path, title: str) -> Path:
    """Write ``analysis.json`` and a self-contained ``analysis.html`` for one analysed recording."""
    clean = {k: v for k, v in summary.items() if not k.startswith("_")}
    (out / "analysis.json").write_text(json.dumps(finite_json(clean), indent=2))
    rows = [[k, json.dumps(finite_json(v))] for k, v in clean.items() if k not in ("figures", "physiology")]
    sections = [("Summary", table(["measure", "value"], rows))]
    if "physiology" in clean:
        sections.insert(0, ("Physiology card", physiology_table(clean["physiology"])))
    page = html_page(title, sections + [("Figures", figures_html(out, summary["figures"].values()))])
    path = out / "analysis.html"
    path.write_text(page)
    return path
