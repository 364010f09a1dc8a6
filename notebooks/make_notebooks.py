"""Write the notebooks from the sources below (committed without outputs; stable cell ids).

    python notebooks/make_notebooks.py

Edit a notebook here, regenerate, and the diff shows only what changed.
"""

from pathlib import Path

import nbformat as nbf

OUT = Path(__file__).resolve().parent

SETUP = '''import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import neurosync
from neurosync import analysis

# The notebooks open on trained models shipped in models/ (the zoo, `neurosync models`). Set TRAIN = True
# to train small models here instead (8-bit parity, a few minutes on 2 CPU cores).
TRAIN = os.environ.get("NEUROSYNC_NOTEBOOK_TRAIN") == "1"
# CI executes every notebook at small settings (NEUROSYNC_NOTEBOOK_SCALE=ci, set by the test suite).
CI = os.environ.get("NEUROSYNC_NOTEBOOK_SCALE") == "ci"
ROOT = Path(os.environ.get("NEUROSYNC_ROOT", ".."))  # the repository (the documentation's build sets it)
MODELS, CONFIGS = ROOT / "models", ROOT / "configs"
WORK = Path(tempfile.mkdtemp(prefix="neurosync-notebook-"))
torch.manual_seed(0)


def train(config, name, steps, extra=()):
    """Train a shipped config on 8-bit parity for `steps` steps; returns the trained model and its config."""
    overrides = ["task.sequence_length=8", f"train.steps={steps}", f"train.eval_every={max(steps // 4, 1)}",
                 "train.eval_samples=256", "train.final_eval_samples=256", f"train.checkpoint_every={steps}",
                 "train.warmup_steps=50", *extra]
    cfg = neurosync.load_config(CONFIGS / config, overrides)
    result = neurosync.train(cfg, WORK / name, progress=False)
    print(f"{name}: {result['steps']} steps in {result['elapsed_s']:.0f} s, "
          f"per-bit accuracy {100 * result['final']['bit_acc_certain']:.1f}% on all 256 inputs")
    model, _ = neurosync.load_model(WORK / name)
    return model, cfg'''


def notebook(name, title, question, cells):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(nbf.v4.new_markdown_cell(f"# {title}\n\n**Question:** {question}"))
    nb.cells.append(nbf.v4.new_code_cell(SETUP))
    for kind, text in cells:
        nb.cells.append(nbf.v4.new_markdown_cell(text) if kind == "md" else nbf.v4.new_code_cell(text))
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name.split('_')[0]}-{i:02d}"  # stable ids: regenerating changes only what changed
    nbf.write(nb, OUT / name)


notebook(
    "01_quickstart.ipynb",
    "Quickstart: train a RateCTM and a SpikingCTM, look at one thought",
    "What happens inside a CTM while it thinks about one input?",
    [
        (
            "md",
            "Two models from the zoo, trained on 16-bit cumulative parity (target k: the parity of the number of −1 "
            "among the first k + 1 inputs): `parity16-rate` and `parity16-spiking`, the same "
            "sizes with spiking neuron-level models (their cards: `models/parity16-rate/README.md`, "
            "`models/parity16-spiking/README.md`). With `TRAIN = True` both are trained here on 8-bit parity "
            "(`STEPS` steps each) instead.",
        ),
        (
            "code",
            """if TRAIN:
    STEPS = 15 if CI else 600
    rate_model, rate_cfg = train("parity/parity16-rate.toml", "rate", STEPS)
    spiking_model, spiking_cfg = train("parity/parity16-spiking.toml", "spiking", STEPS)
    x = torch.tensor([[1, -1, 1, 1, -1, -1, 1, -1]], dtype=torch.float32)
else:
    rate_model, rate_cfg = neurosync.pretrained("parity16-rate")
    spiking_model, spiking_cfg = neurosync.pretrained("parity16-spiking")
    x = torch.tensor([[1, -1, 1, 1, -1, -1, 1, -1, -1, 1, 1, 1, -1, 1, -1, -1]], dtype=torch.float32)""",
        ),
        (
            "md",
            "Record one thought per input. A `Recording` holds, per sample, tick and neuron, the activations "
            "(spikes for the SpikingCTM), pre-activations, membranes, synchrony, attention, logits and certainty. "
            "The SpikingCTM's tick lasts what its neuron model says (here one 1-ms step); the RateCTM has no "
            "physical time, and `dt` declares one for its plots (1 ms per tick).",
        ),
        (
            "code",
            """rate_rec = rate_model.record(x, dt=1e-3, config=rate_cfg)
spiking_rec = spiking_model.record(x, config=spiking_cfg)
print(spiking_rec.kind, spiking_rec.samples, "sample,", spiking_rec.ticks, "ticks,", spiking_rec.neurons, "neurons,",
      spiking_rec.spike_step.size, "spikes")
fig, ax = plt.subplots(figsize=(5, 3))
for name, rec in (("RateCTM", rate_rec), ("SpikingCTM", spiking_rec)):
    ax.plot(np.arange(1, rec.ticks + 1), rec.certainty[0], "o-", label=name)
ax.set(xlabel="tick", ylabel="certainty (1 − normalised entropy)", title="certainty grows as the CTM thinks")
ax.legend();""",
        ),
        (
            "md",
            "The SpikingCTM's thought as a raster with its population rate (one thought: not a PSTH, which averages "
            "repeats), and the RateCTM's as an activation map.",
        ),
        (
            "code",
            """analysis.raster_figure(spiking_rec, sort="rate")
fig, ax = plt.subplots(figsize=(6, 3))
image = ax.imshow(rate_rec.activity[0].T, aspect="auto", cmap="viridis", interpolation="nearest")
ax.set(xlabel="tick", ylabel="neuron", title="RateCTM post-activations")
fig.colorbar(image, ax=ax);""",
        ),
        (
            "code",
            """from neurosync.tasks import parity
print("target parity:     ", parity.targets_for(x)[0].tolist())
for name, rec in (("RateCTM", rate_rec), ("SpikingCTM", spiking_rec)):
    tick = int(rec.certainty[0].argmax())
    print(f"{name:11s} (tick {tick + 1}):", rec.logits[0, tick].reshape(-1, 2).argmax(-1).tolist())""",
        ),
    ],
)

notebook(
    "02_rasters_and_spectra.ipynb",
    "Rasters and brainwave-like spectra of a thinking CTM",
    "What does a cortical SpikingCTM's population do while it thinks, and in which bands is its power?",
    [
        (
            "md",
            '`digits-cortical` is a shipped cortical SpikingCTM (`model.regime = "cortical"`): 80% excitatory '
            "and 20% inhibitory neurons under Dale's law, private and common noise, each neuron's current bounded "
            "around its threshold, 20-ms ticks; it classifies 8×8 digits in a 160-ms thought. Its trained thought "
            "is too short for a spectrum, so it is run here for `THOUGHT_S` seconds on 16 test digits, 4 noise "
            "repeats each, so that trial-to-trial statistics (the Fano factor, noise correlations) are defined. "
            "With `TRAIN = True` a cortical model is trained here on 8-bit parity instead.",
        ),
        (
            "code",
            """from neurosync.tasks import get_task, parity

THOUGHT_S = 0.3 if CI else 1.0
if TRAIN:
    model, cfg = train("parity/parity16-cortical.toml", "cortical", 10 if CI else 400)
    x = parity.all_sequences(8)[::16]  # 16 inputs
else:
    model, cfg = neurosync.pretrained("digits-cortical")
    x = get_task(cfg.task).eval_set(cfg.task, 16, cfg.train.seed)[0][: 4 if CI else 16]
ticks = model.neuron.ticks_in(THOUGHT_S)
rec = model.record(x, ticks=ticks, repeats=4)
rates = analysis.firing_rates(rec)
print(f"{len(x)} inputs x 4 repeats of {ticks} ticks of {model.neuron.tick_ms:g} ms; mean rate {rates.mean():.1f} Hz, "
      f"silent neurons {(rates == 0).sum()} of {rates.size}, "
      f"median CV(ISI) {np.nanmedian(analysis.isi_cv(rec.spike_times(0))):.2f}")
analysis.raster_figure(rec, sort="first_spike", bin_steps=10);""",
        ),
        (
            "md",
            "The physiology card: every statistic beside its cortical range and its source (rates per population, "
            "silent and saturated fractions, irregularity, the Fano factor across repeats, correlations, E/I "
            "balance, the spectra's power-law fits and the step artefact).",
        ),
        (
            "code",
            """from IPython.display import Markdown, display

card = analysis.physiology(rec)
display(Markdown(analysis.card_text(card)))
analysis.physiology_figure(card);""",
        ),
        (
            "md",
            "Population spectrum (averaged over the thoughts) with the canonical bands and an aperiodic 1/f fit "
            "with peaks (FOOOF). The title states the frequency resolution. An asynchronous, inhibition-dominated "
            "network has a flat spectrum without lines; the documentation's report on spectra explains why it has "
            "no 1/f law at this size.",
        ),
        (
            "code",
            """spectrum = analysis.population_spectrum(rec, sample=None)
fit = analysis.aperiodic_fit(spectrum["frequencies_hz"], spectrum["power"])
analysis.spectrum_figure(spectrum, fit, "cortical SpikingCTM population rate")
print("band powers:", {k: f"{v:.3g}" for k, v in spectrum["bands"].items()})
print(spectrum["method"], f"; fit over {fit['range_hz'][0]:g}-{fit['range_hz'][1]:g} Hz: {fit['verdict']}")""",
        ),
        (
            "md",
            "How the spectrum changes over the thought (spectrogram), and the coherence between the neurons that "
            "feed the two synchrony readouts (output vs action).",
        ),
        (
            "code",
            """sg = analysis.spectrogram(rec, sample=None, nperseg=min(128, rec.spikes(0).shape[0] // 2))
fig, ax = plt.subplots(figsize=(6, 3))
ax.pcolormesh(sg["times_s"] * 1e3, sg["frequencies_hz"], np.log10(sg["power"] + 1e-12), shading="auto", cmap="magma")
ax.set(xlabel="time in the thought (ms)", ylabel="Hz", title=f"spectrogram, resolution {sg['resolution_hz']:.3g} Hz")
sync = model.synchrony
out_neurons = np.unique(torch.cat([sync.out_neurons_left, sync.out_neurons_right]).numpy())
action_neurons = np.unique(torch.cat([sync.action_neurons_left, sync.action_neurons_right]).numpy())
coh = analysis.group_coherence(rec, out_neurons, action_neurons, sample=None, nperseg=128)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(coh["frequencies_hz"], coh["coherence"])
ax.set(xlabel="Hz", ylabel="coherence", title="output-readout vs action-readout neurons");""",
        ),
        (
            "md",
            "Pairwise synchrony at the model's readout timescales (exponentially filtered spike trains, Pearson; "
            "neurons ordered by clustering), and the spike time tiling coefficient (STTC, ±5 ms).",
        ),
        (
            "code",
            """matrices = analysis.synchrony_matrices(rec)
analysis.matrix_figure(matrices["matrices"], [f"τ = {t * 1e3:g} ms" for t in matrices["timescales_s"]],
                       order=analysis.neuron_order(rec, by="cluster"))
sttc = analysis.recording_sttc(rec, window_s=5e-3)
print(f"mean STTC over pairs (±5 ms): {np.nanmean(sttc[~np.eye(len(sttc), dtype=bool)]):.3f}")""",
        ),
        (
            "md",
            "## The contrast: a SpikingCTM built for speed\n\n"
            "`digits-spiking` solves the same task without the cortical construction: 1-ms ticks and a 200-Hz "
            "homeostatic target. Its raster is made of nearly solid lines and its spectrum is dominated by the "
            "simulation step (power near the Nyquist frequency), which its physiology card names.",
        ),
        (
            "code",
            """if TRAIN:
    fast_model, fast_cfg = train("parity/parity16-spiking.toml", "spiking", 10 if CI else 400)
else:
    fast_model, fast_cfg = neurosync.pretrained("digits-spiking")
fast_rec = fast_model.record(x, ticks=fast_model.neuron.ticks_in(THOUGHT_S))
fast_card = analysis.physiology(fast_rec)
display(Markdown(analysis.card_text(fast_card)))
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, (name, r) in zip(axes, (("cortical SpikingCTM", rec), ("SpikingCTM built for speed", fast_rec))):
    raster = r.spikes(0)[: int(round(0.2 / r.step_duration))]
    order = np.argsort(-raster.sum(0), kind="stable")
    steps, neurons = np.nonzero(raster[:, order])
    rate = raster.sum() / raster.shape[1] / (raster.shape[0] * r.step_duration)
    ax.scatter(steps * r.step_duration * 1e3, neurons, s=1, c="k", marker="|")
    ax.set(xlabel="time (ms)", ylabel="neuron (by rate)", title=f"{name}: {rate:.1f} Hz")
fast_spectrum = analysis.population_spectrum(fast_rec, sample=None)
analysis.spectrum_figure(fast_spectrum, title="SpikingCTM built for speed: population rate");""",
        ),
    ],
)

notebook(
    "03_spiking_vs_rate.ipynb",
    "Spiking vs rate CTMs",
    "How do a SpikingCTM and a RateCTM compare in accuracy over ticks, "
    "calibration, adaptive compute and an energy proxy?",
    [
        (
            "md",
            "The zoo's `parity16-rate` and `parity16-spiking` (one seed each; their cards give how they were trained), "
            "measured on the 4,096 random 16-bit inputs "
            "of their headline numbers. With `TRAIN = True`, three seeds per model are trained here on 8-bit parity at the same "
            "budget of `STEPS` steps, and values are mean ± 95% confidence interval over seeds (the "
            "`neurosync study` command does this at full size and writes an HTML report).",
        ),
        (
            "code",
            """from neurosync import compare
from neurosync.tasks import parity

if TRAIN:
    STEPS = 10 if CI else 500
    SEEDS = [0, 1, 2]
    x = parity.all_sequences(8)
    models = {(kind, seed): train(f"parity/parity16-{kind}.toml", f"{kind}-{seed}", STEPS, [f"train.seed={seed}"])
              for kind in ("rate", "spiking") for seed in SEEDS}
else:
    SEEDS = [0]
    models = {(kind, 0): neurosync.pretrained(f"parity16-{kind}") for kind in ("rate", "spiking")}
    x = parity.eval_set(models["rate", 0][1].task, 1024 if CI else 4096, 0)[0]  # the zoo's headline inputs
y = parity.targets_for(x)
difficulty = (x == -1).sum(1).numpy()
results = {}
for (kind, seed), (model, cfg) in models.items():
    metrics = compare.thought_metrics(model, x, y, difficulty, threshold=0.8)
    metrics["energy"] = compare.energy_proxy(model, model.record(x[:16], dt=1e-3, config=cfg))
    results[kind, seed] = metrics""",
        ),
        (
            "code",
            """fig, ax = plt.subplots(figsize=(5, 3.5))
for kind in ("rate", "spiking"):
    by_tick = np.array([results[kind, s]["accuracy_by_tick"] for s in SEEDS])
    half = [compare.mean_ci(col)[1] for col in by_tick.T]
    ticks = np.arange(1, by_tick.shape[1] + 1)
    ax.errorbar(ticks, by_tick.mean(0), yerr=half if len(SEEDS) > 1 else None, marker="o", ms=3, capsize=2, label=kind)
spread = f"mean ± 95% CI, {len(SEEDS)} seeds" if len(SEEDS) > 1 else "one shipped seed"
ax.set(xlabel="tick", ylabel="per-bit accuracy", title=f"accuracy by tick ({spread})")
ax.legend();""",
        ),
        (
            "code",
            """rows = []
for kind in ("rate", "spiking"):
    for label, get in (("accuracy", lambda m: m["accuracy_certain"]), ("ECE", lambda m: m["ece"]),
                       ("ticks to certainty 0.8", lambda m: m["stop_tick_mean"]),
                       ("accuracy if stopped there", lambda m: m["accuracy_stopped"]),
                       ("energy proxy (nJ/thought)", lambda m: m["energy"]["energy_nj"])):
        mean, half = compare.mean_ci([get(results[kind, s]) for s in SEEDS])
        rows.append((kind, label, f"{mean:.4g} ± {half:.2g}" if len(SEEDS) > 1 else f"{mean:.4g}"))
for row in rows:
    print(f"{row[0]:8s} {row[1]:28s} {row[2]}")""",
        ),
        ("md", "Reliability diagram at the most-certain tick (seed 0): a calibrated model lies on the diagonal."),
        (
            "code",
            """fig, ax = plt.subplots(figsize=(4, 4))
ax.plot([0, 1], [0, 1], "k:")
for kind in ("rate", "spiking"):
    table = results[kind, 0]["reliability"]
    ax.plot([r["confidence"] for r in table], [r["accuracy"] for r in table], "o-", label=kind)
ax.set(xlabel="confidence", ylabel="accuracy")
ax.legend();""",
        ),
    ],
)

notebook(
    "04_hebbian_plasticity.ipynb",
    "Hebbian plasticity: the fast weight as a key → value store",
    "Does a trained plastic SpikingCTM store associations in its fast weight within one thought, and read them "
    "out when asked?",
    [
        (
            "md",
            "Two shipped models on associative recall of eight pairs (Ba et al. 2016): a thought is shown eight "
            "key–value pairs, one symbol per tick (`k1 v1 … k8 v8`), then `??` and one of the keys; it answers that "
            "key's value in the two answer ticks. Attention sees only the current symbol, so the pairs must be held "
            "in the network itself. `recall-spiking-plastic` adds to the SpikingCTM's synapse a Hebbian fast weight "
            'H on its afferents (Miconi\'s rule, `model.synapse = "plastic-input"`): H starts at zero in every '
            "thought, and each tick it binds the neurons' response (post) to the input of the tick before (pre), so "
            "that a value's response is written under its key; `recall-spiking` is the same SpikingCTM without it. "
            "Both are trained for the same steps (their cards: `models/recall-spiking-plastic/README.md`, "
            "`models/recall-spiking/README.md`).",
        ),
        (
            "code",
            """from neurosync.analysis import plasticity
from neurosync.tasks import get_task, recall

EPISODES = 200 if CI else 600
plastic, plastic_ckpt = neurosync.load_model(MODELS / "recall-spiking-plastic")
control, control_ckpt = neurosync.load_model(MODELS / "recall-spiking")
cfg = plastic_ckpt.config
x, y = get_task(cfg.task).eval_set(cfg.task, EPISODES, cfg.train.seed)
for name, model, ckpt in (("plastic", plastic, plastic_ckpt), ("control", control, control_ckpt)):
    metrics = neurosync.evaluate(model, ckpt.config, x, y)
    print(f"{name:8s} {100 * metrics['accuracy_certain']:.1f}% at the most-certain answer tick ({ckpt.step} training steps)")
print(f"bag-of-values baseline {100 * recall.frequency_baseline(cfg.task.pairs):.1f}%, chance 10%")
items = cfg.task.items() * cfg.task.ticks_per_input  # ticks that show an item; the answer ticks follow
labels = [f"k{i // 2 + 1}" if i % 2 == 0 else f"v{i // 2 + 1}" for i in range(2 * cfg.task.pairs)] + ["??", "q"]
labels = [label for label in labels for _ in range(cfg.task.ticks_per_input)] + ["ans"] * cfg.task.answer_ticks""",
        ),
        (
            "md",
            "The fast weight over the thought: ‖α ⊙ H‖ after each tick's update. It is written while the pairs are shown: "
            "the rule pairs the neurons' trace of one tick (post) with the input's trace of the tick before (pre), a "
            "value's response with its key.",
        ),
        (
            "code",
            """trace = plasticity.record_plasticity(plastic, x)
norms = trace["fast_weight_norm"]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(norms.T[:, :50], color="C0", alpha=0.15)
ax.plot(norms.mean(0), color="k", lw=2, label="mean over episodes")
ax.set_xticks(range(len(labels)), labels)
ax.set(xlabel="tick (symbol shown)", ylabel="‖α ⊙ H‖", title="the fast weight is written as the pairs arrive")
ax.legend();""",
        ),
        (
            "md",
            "**Reading the store.** When the query key is shown, the fast weight's current (α ⊙ H) · o reads it. If H "
            "holds the key → value associations, a linear reader finds the *queried* value in that current. "
            "Cross-validated decoding of the queried value, tick by tick, from the two parts of the synaptic input: the "
            "fast weight's read and the rest (the slow GLU synapse over the input and the spikes).",
        ),
        (
            "code",
            """answer_digit = y.numpy()
folds = 3 if CI else 5
curves = {part: [plasticity.decode(trace[part][:, t], answer_digit, folds)[0] for t in range(len(labels))]
          for part in ("plastic_current", "slow_current")}
fig, ax = plt.subplots(figsize=(6, 3))
for part, curve in curves.items():
    ax.plot(100 * np.array(curve), "o-", label=part.replace("_", " "))
ax.axhline(100 * recall.frequency_baseline(cfg.task.pairs), color="grey", ls="--", label="bag-of-values baseline")
ax.axhline(10, color="grey", ls=":", label="chance")
ax.set_xticks(range(len(labels)), labels)
ax.set(xlabel="tick", ylabel="queried value decoded (%)", title="where the answer is")
ax.legend(fontsize=7)
print({part: f"{100 * curve[items - 1]:.1f}%" for part, curve in curves.items()}, "at the query tick")""",
        ),
        (
            "md",
            "**A lesion.** Decoding shows that the value is *in* the current, not that the answer uses it. Remove the fast "
            "weight's read from the query tick on (H still evolves; nothing reads it), or from the first tick (the model "
            "with α = 0), and measure the accuracy again.",
        ),
        (
            "code",
            """def accuracy(model):
    return 100 * neurosync.evaluate(model, cfg, x, y)["accuracy_certain"]

intact = accuracy(plastic)
with plasticity.fast_weight_lesion(plastic, items - 1):  # from the tick that shows the query key
    at_query = accuracy(plastic)
with plasticity.fast_weight_lesion(plastic, 0):
    from_start = accuracy(plastic)
print(f"intact {intact:.1f}%; fast weight unread from the query on {at_query:.1f}%; unread all thought {from_start:.1f}%")""",
        ),
        (
            "md",
            "**The learned rule.** The meta-learned learning rate η per neuron and the plastic gains α (neurons × inputs).",
        ),
        (
            "code",
            """eta = plastic.synapse.learning_rate().detach().numpy().ravel()
alpha = plastic.synapse.alpha_matrix().detach().numpy().ravel()
fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
axes[0].hist(eta, bins=30)
axes[0].set(xlabel="η (per postsynaptic neuron)", ylabel="neurons", title=f"learning rates: median {np.median(eta):.3f}")
axes[1].hist(alpha, bins=60)
axes[1].set(xlabel="α (per synapse)", ylabel="synapses", title="plastic gains")
fig.tight_layout()""",
        ),
        (
            "md",
            "Other rules on the same afferent fast weight, from the eight-pair ablation's seed-0 models "
            "(`models/recall8-spiking-abcd`, `models/recall8-spiking-neuromodulated`; trained like `recall-spiking-plastic` "
            "with only the rule changed): the ABCD rule's coefficients (A: the Hebbian term, B and C: pre- and "
            "postsynaptic terms, D: a drift), and the neuromodulated rule's learning rate η[t] over the thought, computed "
            "each tick from the network's state: does the modulator open writes at the item ticks and close them at the "
            "query?",
        ),
        (
            "code",
            """for name in ("recall8-spiking-abcd", "recall8-spiking-neuromodulated"):
    model, ckpt = neurosync.load_model(MODELS / name)
    accuracy_here = 100 * neurosync.evaluate(model, ckpt.config, x, y)["accuracy_certain"]
    if ckpt.config.model.plasticity.rule == "abcd":
        coefficients = model.synapse.abcd.detach().numpy().reshape(4, -1)
        fig, ax = plt.subplots(figsize=(6, 2.8))
        ax.boxplot(list(coefficients))
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xticks([1, 2, 3, 4], list("ABCD"))
        ax.set(ylabel="coefficient (per neuron)",
               title=f"{name} ({accuracy_here:.1f}%): the learned ABCD rule (start: A = 1, B = C = D = 0)")
    else:
        rates = plasticity.record_plasticity(model, x)["learning_rate"].mean(2)  # (episodes, ticks)
        fig, ax = plt.subplots(figsize=(6, 2.8))
        ax.plot(rates.mean(0), "o-")
        ax.fill_between(range(rates.shape[1]), *np.percentile(rates, [10, 90], axis=0), alpha=0.3)
        ax.set_xticks(range(len(labels)), labels)
        ax.set(xlabel="tick", ylabel="η[t], mean over neurons",
               title=f"{name} ({accuracy_here:.1f}%): when the modulator lets the rule write")""",
        ),
    ],
)

notebook(
    "05_brian2_validation.ipynb",
    "Brian2 validation of a trained SpikingCTM",
    "Does an equation-level simulator (Brian2) reproduce the trained spiking dynamics spike for spike?",
    [
        (
            "md",
            "The spiking core (dendritic filters, LIF soma with each neuron's parameters, refractoriness, the "
            "Ornstein-Uhlenbeck noise replayed, Dale's law and the plastic fast weight) is re-simulated in Brian2 from "
            "the same equations, with the drive recorded from PyTorch replayed (exact mode), and with the whole "
            "thought in Brian2, attention recomputed each tick from Brian2's spikes (closed loop). The model is the "
            "shipped cortical SpikingCTM (`models/parity16-cortical`, trained on 16-bit parity); set `TRAIN = True` to "
            "train a small SpikingCTM here instead (a few minutes).",
        ),
        (
            "code",
            """from neurosync import brian
from neurosync.tasks import parity

TICKS = 20 if CI else 200  # the cortical model's ticks last 5 ms: 200 ticks are a 1-s thought
if TRAIN:
    model, cfg = train("parity/parity16-spiking.toml", "spiking", 10 if CI else 300)
    x = parity.all_sequences(8)[:4]
else:
    model, cfg = neurosync.pretrained("parity16-cortical")
    x = parity.all_sequences(16)[::4096][:4]
recording = brian.record_core(model, x, sample=0, ticks=TICKS)
core = brian.extract_core(model)
# replay what PyTorch drew and computed: the noise current, the certainty (a modulated rule's input), the attention output
result = brian.simulate_exact(core, recording.drive, "numpy", modulation=recording.modulation, noise=recording.noise,
                              afferent_input=recording.afferent_input)
report = brian.compare(recording, result, core.fast_alpha)
print({k: report[k] for k in ("steps", "neurons", "spikes_pytorch", "spikes_brian2", "mismatched_bins",
                              "max_abs_membrane_difference", "brian2_seconds")})
brian.validation_figure(recording, result);""",
        ),
        (
            "md",
            "The closed loop runs one Brian2 step per tick, so it needs a model without sub-steps (the small "
            "SpikingCTM of `TRAIN = True`); the cortical model's 5-ms ticks are 40 steps of 0.125 ms.",
        ),
        (
            "code",
            """if model.config.spiking.substeps == 1:
    closed = brian.validate_closed_loop(model, x[:1], 0, TICKS, "numpy")
    print({k: v for k, v in closed.items() if not isinstance(v, (list, dict))})
else:
    print(f"closed loop skipped: {model.config.spiking.substeps} sub-steps per tick")""",
        ),
        (
            "md",
            "Continuous time: the ODE form at finer steps agrees statistically (rates, pairwise synchrony), not spike "
            "for spike; the report says which statistics are within their stated tolerances.",
        ),
        (
            "code",
            """continuous = brian.validate_continuous(model, recording, substeps=(10,))
print(continuous)""",
        ),
    ],
)

notebook(
    "06_your_own_stack.ipynb",
    "Your own stack: an exported thought in pynwb and Elephant",
    "Does an exported NWB file stand on its own, so that a neuroscientist can analyse a CTM's thought with the "
    "tools of the field and none of NeuroSync's?",
    [
        (
            "md",
            "NeuroSync writes a thought as an NWB file: one unit per neuron with its spike times and cell type, one trial "
            "per thought with the input it saw and the repeat (its realisation of the intrinsic noise), the internal "
            "signals in a processing module. Here the shipped cortical SpikingCTM (`models/parity16-cortical`) thinks for "
            "1 s about 4 inputs, 4 times each, exported by the command line. Everything after the export uses pynwb, "
            "Neo, Elephant, quantities and matplotlib only: no `neurosync` import.",
        ),
        (
            "code",
            """import subprocess
import sys

INPUTS, REPEATS, TICKS = (2, 2, 40) if CI else (4, 4, 200)  # 200 ticks of 5 ms: 1-s thoughts
path = WORK / "cortical_thought.nwb"
subprocess.run([sys.executable, "-m", "neurosync", "export", str(MODELS / "parity16-cortical"), "--format", "nwb",
                "--samples", str(INPUTS), "--repeats", str(REPEATS), "--ticks", str(TICKS), "--out", str(path)], check=True)
print(path, f"{path.stat().st_size / 1e6:.2f} MB")""",
        ),
        (
            "md",
            "**Read it with pynwb**: the units (spike times, cell type), the trials (which input, which repeat) and the "
            "time resolution the file declares.",
        ),
        (
            "code",
            """import neo
import pynwb
import quantities as pq

io = pynwb.NWBHDF5IO(str(path), "r")
nwb = io.read()
units, trials = nwb.units.to_dataframe(), nwb.trials.to_dataframe()
print(nwb.subject.species, "|", nwb.experiment_description)
print(units["cell_type"].value_counts().to_dict(), "| resolution", nwb.units.resolution, "s")
print(trials[["start_time", "stop_time", "input_index", "repeat"]].head())""",
        ),
        (
            "md",
            "**Neo spike trains**, one per neuron and thought, in each thought's own time (0 to its duration), on the "
            "grid of the file's declared resolution (a spike time is a simulation step's).",
        ),
        (
            "code",
            """resolution = nwb.units.resolution


def trains_of(trial):
    start, stop = trial.start_time, trial.stop_time
    out = []
    for times in units["spike_times"]:
        inside = np.round((times[(times >= start) & (times < stop)] - start) / resolution) * resolution
        out.append(neo.SpikeTrain(inside * pq.s, t_start=0 * pq.s, t_stop=(stop - start) * pq.s))
    return out


thoughts = [trains_of(trial) for trial in trials.itertuples()]
excitatory = (units["cell_type"] == "excitatory").to_numpy()
print(len(thoughts), "thoughts of", thoughts[0][0].t_stop, "with", len(thoughts[0]), "neurons each")""",
        ),
        (
            "md",
            "**Rates, irregularity, variability** with Elephant: mean rate per population; CV of the interspike "
            "intervals; the Fano factor of spike counts across the repeats of the same input (Elephant's "
            "`fanofactor` over one neuron's trains in the repeats), the trial-to-trial variability a Fano factor measures. "
            "The median over (input, neuron) pairs weighs the many neurons with a few spikes; the pooled ratio "
            "(Σ variance / Σ mean, what NeuroSync's physiology card reports) weighs them by their counts.",
        ),
        (
            "code",
            """from elephant.statistics import cv, fanofactor, isi, mean_firing_rate

rates = np.array([[float(mean_firing_rate(st).rescale("Hz")) for st in thought] for thought in thoughts])  # (thoughts, neurons)
print(f"excitatory {rates[:, excitatory].mean():.2f} Hz, inhibitory {rates[:, ~excitatory].mean():.2f} Hz")
cvs = [cv(isi(st)) for thought in thoughts for st in thought if len(st) >= 5]
print(f"median CV(ISI) {np.median(cvs):.2f} over {len(cvs)} trains with >= 5 spikes")
fano, variances, means = [], [], []
for _, group in trials.groupby("input_index"):
    repeats = [thoughts[i] for i in group.index]
    for neuron in range(len(units)):
        trains = [repeat[neuron] for repeat in repeats]
        counts = np.array([len(t) for t in trains])
        if counts.sum() > 0:
            fano.append(fanofactor(trains))
            variances.append(counts.var(ddof=1)), means.append(counts.mean())
print(f"Fano factor across {REPEATS} repeats: median {np.nanmedian(fano):.2f} over {len(fano)} (input, neuron) pairs; "
      f"pooled (sum of variances / sum of means) {np.sum(variances) / np.sum(means):.2f}")""",
        ),
        (
            "md",
            "**Correlations**: pairwise spike-count correlation in 50-ms bins within each thought (Elephant's "
            "`BinnedSpikeTrain` and `correlation_coefficient`; silent neurons left out, where it is undefined).",
        ),
        (
            "code",
            """from elephant.conversion import BinnedSpikeTrain
from elephant.spike_train_correlation import correlation_coefficient

means = []
for thought in thoughts:
    active = [st for st in thought if len(st) > 0]
    matrix = correlation_coefficient(BinnedSpikeTrain(active, bin_size=50 * pq.ms))
    means.append(np.nanmean(matrix[np.triu_indices(len(active), 1)]))
print(f"mean pairwise spike-count correlation (50-ms bins): {np.mean(means):.3f} (per thought {np.round(means, 3)})")""",
        ),
        (
            "md",
            "**A raster, the population rate and its spectrum** (Elephant's `time_histogram` and `welch_psd`; the "
            "resolution of a spectrum is 1 / the length of its segments).",
        ),
        (
            "code",
            """from elephant.spectral import welch_psd
from elephant.statistics import time_histogram

thought = thoughts[0]
fig, axes = plt.subplots(3, 1, figsize=(7, 6.5))
for n, st in enumerate(thought):
    axes[0].plot(st.magnitude * 1e3, np.full(len(st), n), "|", color="C0" if excitatory[n] else "C3", ms=3)
axes[0].set(ylabel="neuron", title="thought 0 (blue: excitatory, red: inhibitory)")
histogram = time_histogram(thought, bin_size=5 * pq.ms, output="rate")
axes[1].plot(histogram.times.rescale("ms").magnitude, histogram.magnitude.ravel() / len(thought))
axes[1].set(xlabel="time (ms)", ylabel="rate per neuron (Hz)")
population = time_histogram(thought, bin_size=1 * pq.ms).magnitude.ravel()  # spikes per 1-ms bin
freqs, psd = welch_psd(population - population.mean(), fs=1000 * pq.Hz, frequency_resolution=(25 if CI else 4) * pq.Hz)
keep = freqs.magnitude > 0
axes[2].loglog(freqs.magnitude[keep], np.asarray(psd)[keep])
axes[2].set(xlabel="frequency (Hz)", ylabel="power", title="population spike count, Welch")
fig.tight_layout()
io.close()""",
        ),
    ],
)

notebook(
    "07_how_a_thought_unfolds.ipynb",
    "How does a thought unfold?",
    "When does the answer appear in the population, along which trajectory, in how many dimensions, and how "
    "variable is it from trial to trial?",
    [
        (
            "md",
            "Three shipped models of scikit-learn's 8×8 digits, side by side: `digits-rate` (the RateCTM), "
            "`digits-spiking` (spiking neurons, one simulation step per tick) and `digits-cortical` (the cortical "
            "SpikingCTM: Dale's law, noise, 20-ms ticks, a 160-ms thought). Each thinks about the test digits for its "
            "trained number of ticks; `neurosync.analysis.dynamics` reads the recordings.",
        ),
        (
            "code",
            """from neurosync.analysis import dynamics
from neurosync.tasks import get_task

NAMES = ["digits-rate", "digits-spiking", "digits-cortical"]
INPUTS = 120 if CI else 360
models, configs, recordings = {}, {}, {}
for name in NAMES:
    model, cfg = neurosync.pretrained(name)
    x, y = get_task(cfg.task).eval_set(cfg.task, INPUTS, cfg.train.seed)
    models[name], configs[name], recordings[name] = model, cfg, model.record(x, config=cfg)
labels, what = dynamics.task_labels(y)
for name, rec in recordings.items():
    tick = f"{rec.dt * 1e3:g}-ms ticks" if rec.kind == "spiking" else "ticks without duration"
    print(f"{name}: {rec.samples} thoughts of {rec.ticks} {tick}, {rec.neurons} neurons")""",
        ),
        (
            "md",
            "**When is the answer there?** A linear decoder per tick, cross-validated, from the population's activity "
            "and from the output synchrony (the pairwise products the CTM's output layer reads). The grey band is the "
            "95th percentile of the same decoder on shuffled labels; the dotted line is the tick at which the "
            "model's own certainty reaches 0.8 (median over digits).",
        ),
        (
            "code",
            """SHUFFLES = 10 if CI else 50
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
for ax, (name, rec) in zip(axes, recordings.items()):
    ticks = np.arange(1, rec.ticks + 1)
    for source, colour in (("activity", "C0"), ("synchrony", "C1")):
        result = dynamics.decode_over_time(rec, labels, shuffles=SHUFFLES, source=source)
        ax.plot(ticks, result["accuracy"], "o-", ms=3, color=colour, label=f"from {source}")
        ax.fill_between(ticks, 0, result["band"], color=colour, alpha=0.12)
        print(f"{name}, {source}: decodable from tick {result['first_decodable_tick'] + 1}, "
              f"{100 * result['accuracy'][-1]:.1f}% at the last tick (chance {100 * result['chance']:.1f}%)")
    crossing = dynamics.certainty_ticks(rec, 0.8)["median_first_tick"]
    if crossing is not None:
        ax.axvline(crossing + 1, color="k", ls=":", label="certainty ≥ 0.8")
    ax.set(title=name, xlabel="tick", ylim=(0, 1.02))
axes[0].set_ylabel("cross-validated accuracy")
axes[0].legend(fontsize=8)
fig.tight_layout()""",
        ),
        (
            "md",
            "**Trajectories.** The principal components of every (digit, tick) state, and each digit's mean "
            "trajectory through them (a dot marks the first tick).",
        ),
        (
            "code",
            """fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for ax, (name, rec) in zip(axes, recordings.items()):
    paths = dynamics.trajectories(rec, labels, components=2)
    for digit, path in paths["by_label"].items():
        ax.plot(path[:, 0], path[:, 1], "-", lw=1, color=f"C{digit}", label=str(digit))
        ax.plot(path[0, 0], path[0, 1], "o", ms=3, color=f"C{digit}")
    pc1, pc2 = 100 * paths["explained"][:2]
    ax.set(title=name, xlabel=f"PC1 ({pc1:.0f}%)", ylabel=f"PC2 ({pc2:.0f}%)")
axes[-1].legend(fontsize=7, ncol=2)
fig.tight_layout()""",
        ),
        (
            "md",
            "**Dimensionality.** The participation ratio (Σλ)²/Σλ² of the across-digit covariance at each tick: how "
            "many dimensions the population's states fill.",
        ),
        (
            "code",
            """fig, ax = plt.subplots(figsize=(6, 3.5))
for name, rec in recordings.items():
    ratio = dynamics.participation_ratio(rec)
    ax.plot(np.arange(1, rec.ticks + 1), ratio["per_tick"], "o-", ms=3, label=f"{name} (of {ratio['neurons']})")
ax.set(xlabel="tick", ylabel="participation ratio")
ax.legend(fontsize=8)
fig.tight_layout()""",
        ),
        (
            "md",
            "**Latent dynamics of the spike trains.** Elephant's GPFA (Yu et al. 2009) on the cortical model's "
            "spikes over a longer thought, one trial per digit in 20-ms bins (the tick): three smooth latents, their "
            "mean per digit.",
        ),
        (
            "code",
            """cortical = models["digits-cortical"]
x_short = x[: 30 if CI else 100]
long = cortical.record(x_short, config=configs["digits-cortical"], ticks=cortical.neuron.ticks_in(0.3 if CI else 0.5))
gpfa = dynamics.gpfa_trajectories(long, dims=3)
latents, digits = gpfa["trajectories"], labels[: len(x_short)]
times = (np.arange(latents.shape[-1]) + 0.5) * gpfa["bin_s"] * 1e3
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharex=True)
for k, ax in enumerate(axes):
    for digit in np.unique(digits):
        ax.plot(times, latents[digits == digit, k].mean(0), color=f"C{digit}", lw=1)
    ax.set(xlabel="time (ms)", title=f"latent {k + 1} (timescale {gpfa['timescales_s'][k] * 1e3:.0f} ms)")
fig.tight_layout()""",
        ),
        (
            "md",
            "**Variability from the onset.** The Fano factor of spike counts across 4 noise repeats of each digit, in "
            "50-ms windows from the start of the thought, which is when the digit arrives. Churchland et al. 2010 "
            "found it falling after a stimulus's onset in many cortical areas; every repeat here starts from the "
            "same state, so the first window's variability is the noise's alone.",
        ),
        (
            "code",
            """from neurosync.analysis import fano_factors

repeated = cortical.record(
    x[: 8 if CI else 16], config=configs["digits-cortical"], ticks=cortical.neuron.ticks_in(0.5 if CI else 1.0), repeats=4
)
fano = fano_factors(repeated, window_s=0.05)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(fano["times_s"] * 1e3, fano["course"], "o-", ms=3)
ax.axhline(1.0, color="0.6", lw=0.8)
ax.set(xlabel="time from the digit's onset (ms)", ylabel="Fano factor", title="digits-cortical, across repeats")
fig.tight_layout()
print(f"whole thought: {fano['value']:.2f}; first window {fano['course'][0]:.2f}, last {fano['course'][-1]:.2f}")""",
        ),
    ],
)
