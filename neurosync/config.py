"""Run configuration: typed dataclasses, loaded from TOML and validated at the boundary.

Every user-caused problem (unknown key, wrong type, impossible value) raises
:class:`ConfigError` with one line naming the dotted key and what is allowed; the CLI turns
it into exit status 2. A config file mirrors the dataclasses::

    [task]           # what to learn
    [model]          # the CTM's shape and which part implementation to use
    [model.nlm]      # neuron-level model options (neuron = "nlm")
    [train]          # optimisation and bookkeeping
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class ConfigError(ValueError):
    """A configuration value a user gave is invalid; the message is one line."""


TASKS = ("parity", "sort", "images", "maze", "qa_digits", "recall", "oneshot")
DATASETS = ("digits", "mnist", "cifar10")
NEURONS = ("nlm", "spiking")
SURROGATES = ("atan", "fast-sigmoid")
SYNAPSES = ("mlp", "plastic", "plastic-input")  # plastic: the recurrent fast weight; plastic-input: on the afferents
INPUT_PATHWAYS = ("linear", "glu")
FAST_WEIGHT_SITES = ("recurrent", "afferent")
PLASTICITY_RULES = ("miconi", "abcd", "neuromodulated")
PLASTICITY_COEFFICIENTS = ("neuron", "synapse")
MODULATORS = ("state", "certainty")
PLASTICITY_IMPLEMENTATIONS = ("dense", "factorised")
SYNCHRONIES = ("decayed-pairwise", "spike-multiscale")
PAIRINGS = ("random-pairing", "first-last", "random")
POSITIONAL_EMBEDDINGS = ("rotational-1d", "rotational-2d", "learnable-fourier", "multi-learnable-fourier", "none")
POSITIONAL_1D = ("rotational-1d", "none")  # parity's token sequence
IMAGE_TASKS = ("images", "maze")  # tasks whose input is an image (model.backbone may be a ResNet)
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("bf16", "fp32")  # of matrix products on CUDA (autocast); a CPU always computes in float32


@dataclass
class TaskConfig:
    """What to learn (neurosync/tasks/). sequence_length is the number of parity bits, of
    numbers to sort, or of route steps predicted in a maze."""

    name: str = "parity"
    sequence_length: int = 16
    dataset: str = (
        "digits"  # images, qa_digits, oneshot: digits (ships with scikit-learn) | mnist | cifar10 (from data_path)
    )
    data_path: str = ""  # images: folder with the MNIST idx files or the CIFAR-10 binary batches
    maze_size: int = 11  # maze: side of the square grid, odd
    curriculum_lookahead: int = 5  # maze: route steps trained beyond the first wrong one
    images_shown: int = 3  # qa_digits: digit images shown before the question
    operations: int = 3  # qa_digits: most operations asked (each question asks 1 to this many)
    ticks_per_input: int = 2  # qa_digits, recall, oneshot: ticks each item (image, symbol, ...) is shown for
    answer_ticks: int = 4  # qa_digits, recall, oneshot: ticks with no input at the end, in which the CTM answers
    pairs: int = 8  # recall: key–value pairs shown before the query
    vocabulary: int = 26  # recall: keys are distinct letters from the first `vocabulary` of the alphabet
    ways: int = 5  # oneshot: classes per episode (N-way 1-shot)
    test_classes: int = 5  # oneshot: the last `test_classes` digit classes are held out for evaluation
    same_image_fraction: float = (
        0.0  # oneshot: training episodes whose query repeats its support image (a curriculum; evaluation never)
    )
    classes: int = 10  # images: classes predicted (the data sets here have 10; a reference ImageNet classifier 1000)

    def items(self) -> int:
        """qa_digits, recall, oneshot: the items a thought is shown, one after another."""
        return {
            "qa_digits": self.images_shown + 1 + 2 * self.operations,
            "recall": 2 * self.pairs + 2,
            "oneshot": self.ways + 1,
        }[self.name]

    def qa_ticks(self) -> int:
        """qa_digits, recall, oneshot: the ticks of a thought: every item, then the answer ticks."""
        return self.items() * self.ticks_per_input + self.answer_ticks


@dataclass
class NLMConfig:
    """Neuron-level models: a private MLP per neuron over its last `memory_length` pre-activations."""

    deep: bool = True
    hidden: int = 16
    memory_length: int = 10
    dropout: float = 0.0


@dataclass
class SpikingConfig:
    """Spiking neuron-level models (neuron = "spiking"): K dendritic filters driving a LIF/ALIF
    soma with a refractory period and Ornstein–Uhlenbeck current noise, in physical time; see
    neurosync/parts/spiking.py for the equations. The simulation step is dt_ms, a tick lasts
    substeps · dt_ms; every time constant is in ms, its initial value here, then learned per
    neuron inside [tau_min_ms, tau_max_ms]. The membrane, the threshold and noise_std are in
    the pre-activation's units (v relaxes to the dendritic current plus noise). rate_regularisation > 0 adds
    rate_regularisation · mean_i ((r_i −
    target_rate_hz) · 1 ms)² to the loss, r_i neuron i's rate in Hz over the batch and ticks
    (homeostasis: no silent, no saturated neurons; under dale the inhibitory neurons' target is
    target_rate_inhibitory_hz); band_regularisation > 0 adds a per-neuron band penalty that is
    zero while every rate lies in rate_band_hz = [low, high] (Zenke & Vogels 2021). dale = true splits the neurons into an
    excitatory population (the first excitatory_fraction of them) and an inhibitory one, and
    keeps the sign of every outgoing recurrent weight, plastic part included (needs
    model.synapse = "plastic", the linear recurrent synapse). homeostasis_rate_hz > 0 turns on
    intrinsic homeostasis within each thought: once per tick, a neuron firing below that rate
    lowers its threshold (by a factor e per homeostasis_tau_ms while silent, at most to
    homeostasis_min_scale times its own), and its spikes raise it back to, never above, the
    trained value (neurosync/parts/equations.py, HOMEOSTASIS). bounded_input = true floors each
    neuron's dendritic current softly at input_floor (membrane units; width input_floor_width):
    no input holds a neuron further below threshold, as inhibition saturates at its reversal
    potential, so the noise keeps every neuron firing now and then (CURRENT_FLOOR).
    input_floor_margin > 0 makes the floor follow each neuron's own resting threshold instead:
    floor_i = θ_i − input_floor_margin (RELATIVE_FLOOR; input_floor is then unused), so that a
    neuron cannot escape its floor by learning a higher threshold. input_ceiling_margin ≠ 0 also
    caps the current softly (the same width) at θ_i + input_ceiling_margin (CURRENT_CEILING), as excitation
    saturates at its reversal potential: no mean drive holds a neuron far above threshold, which
    bounds its rate (τ_m ln((θ + margin)/margin) per spike) up to what the noise adds. A negative
    margin puts the ceiling below the threshold: with a relative floor the current then lies in a
    band below θ_i, where only the noise makes a neuron fire (the fluctuation-driven regime of the
    balanced state). A relative floor also starts the dendritic bias halfway
    between the floor and the threshold.
    dendritic_gain is the sum of each neuron's filter weights at initialisation (the current a
    held pre-activation of 1 gives). Under dale, the recurrent weight magnitudes start at
    recurrent_scale · abs(U(−1/√N, 1/√N)), the inhibitory ones (f_E/f_I) · inhibition_dominance ×
    larger (> 1: inhibition-dominated).
    shared_noise_std > 0 adds a shared background: one Ornstein–Uhlenbeck current per thought
    (stationary s.d. shared_noise_std in membrane units, correlation time shared_noise_tau_ms)
    that every neuron receives on top of its private noise: slow fluctuations of cortical state
    at a long correlation time, the common synaptic input of a local population at a short one
    (the cortical preset, neurosync/cortical.py)."""

    filters: int = 3
    dt_ms: float = 1.0
    substeps: int = 1
    tau_min_ms: float = 1.0
    tau_max_ms: float = 1000.0
    filter_tau_min_ms: float = 1.5
    filter_tau_max_ms: float = 4.0
    tau_membrane_ms: float = 1.5
    threshold: float = 0.25
    adaptive: bool = False
    tau_adaptation_ms: float = 20.0
    adaptation_strength: float = 0.2
    refractory_ms: float = 0.0
    noise_std: float = 0.0
    noise_tau_ms: float = 5.0
    shared_noise_std: float = 0.0
    shared_noise_tau_ms: float = 200.0
    surrogate: str = "atan"
    surrogate_slope: float = 2.0
    target_rate_hz: float = 100.0
    target_rate_inhibitory_hz: float = 20.0
    rate_regularisation: float = 0.0
    rate_regularisation_final: float = 0.0
    rate_ramp_start: float = 0.5
    rate_band_hz: list[float] = field(default_factory=list)
    band_regularisation: float = 0.0
    dale: bool = False
    excitatory_fraction: float = 0.8
    homeostasis_rate_hz: float = 0.0
    homeostasis_tau_ms: float = 1000.0
    homeostasis_min_scale: float = 0.1
    bounded_input: bool = False
    input_floor: float = 0.05
    input_floor_width: float = 0.02
    input_floor_margin: float = 0.0
    input_ceiling_margin: float = 0.0
    dendritic_gain: float = 1.0
    recurrent_scale: float = 1.0
    inhibition_dominance: float = 1.0

    def homeostatic(self) -> bool:
        """Whether the loss has a rate term (neurosync.losses.rate_homeostasis)."""
        return self.rate_regularisation > 0 or self.band_regularisation > 0

    def neuron_options(self) -> dict[str, Any]:
        """The keyword arguments of neurosync.parts.spiking.SpikingNeurons (all but the training and network fields)."""
        network = (
            "target_rate_hz",
            "target_rate_inhibitory_hz",
            "rate_regularisation",
            "rate_regularisation_final",
            "rate_ramp_start",
            "rate_band_hz",
            "band_regularisation",
            "dale",
            "excitatory_fraction",
            "recurrent_scale",
            "inhibition_dominance",
        )
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in network}

    def excitatory_count(self, neurons: int) -> int:
        """Neurons 0 … n_E − 1 are excitatory, the rest inhibitory (dale = true)."""
        return excitatory_count(self.excitatory_fraction, neurons)


def excitatory_count(fraction: float, neurons: int) -> int:
    """n_E of a population of ``neurons`` with excitatory ``fraction``: neurons 0 … n_E − 1 are
    excitatory, the rest inhibitory (the one statement of the split, for configs and recordings)."""
    return int(round(fraction * neurons))


@dataclass
class SpikeSynchronyConfig:
    """synchrony = "spike-multiscale" (spiking neurons): decayed pairwise synchrony of spike
    traces filtered at each time constant (ms; a trace decays by e^(−tick/τ) per tick of
    substeps · dt_ms), concatenated; `normalised` bounds it like a correlation."""

    timescales_ms: list[float] = field(default_factory=lambda: [2.0, 8.0, 32.0])
    normalised: bool = False


@dataclass
class PlasticityConfig:
    """synapse = "plastic": linear synapse with a Hebbian fast weight that evolves within a
    thought (neurosync/parts/plastic.py). learning_rate is η's initial value (learned per
    neuron); the traces' time constant is trace_timescale (ticks) for rate neurons and
    trace_timescale_ms (ms) for spiking ones, whose ticks have a duration; "factorised" uses a rank-one α = a ⊗ b
    (2 · neurons meta-parameters
    instead of neurons²); either way the state per sample is bounded (H, or at most 32 ticks of traces and a fold).
    rule "abcd" takes A–D per postsynaptic "neuron" or per "synapse" and clips H
    to [−clip, clip]; rule "neuromodulated" computes η each tick from the network's "state" or
    its previous "certainty" (modulator). input_pathway is how the attention output enters:
    "linear" (W_in · o) or "glu" (LayerNorm(GLU(W_in · o)), the rate synapse's nonlinearity on
    the drive alone; the recurrence stays linear in the spikes, so Dale's law still holds).
    learn_alpha = false keeps the plastic gain α at alpha_init (alpha_init = 0, without Dale's
    law: the same synapse with plasticity off, the ablations' control).
    synapse = "plastic-input" (neurosync/parts/plastic_input.py) takes the same rule, η, traces
    and α for a fast weight on the afferents instead: the rate synapse plus (α ⊙ H) · o,
    H (neurons × d_input) binding the neurons' response to the input of the tick before
    ("factorised": α = a ⊗ b, H held as the last ticks' traces, as for the recurrent one)."""

    rule: str = "miconi"
    implementation: str = "dense"
    learning_rate: float = 0.1
    trace_timescale: float = 2.0
    trace_timescale_ms: float = 2.0
    alpha_init: float = 0.1
    # false: α stays at alpha_init (with alpha_init = 0 and no Dale's law, the fast weight's control: plasticity off)
    learn_alpha: bool = True
    coefficients: str = "neuron"
    clip: float = 1.0
    modulator: str = "state"
    input_pathway: str = "linear"
    # synapse = "plastic": where the fast weight sits, "recurrent" (W_rec + α ⊙ H on the spikes) or "afferent"
    # (W_rec stays slow, under Dale's law if set; α ⊙ H on the attention output o, binding a response to the input before)
    site: str = "recurrent"


@dataclass
class ModelConfig:
    regime: str = (
        ""  # "cortical": the cortical SpikingCTM's construction under this table's own values (neurosync/cortical.py)
    )
    architecture: str = (
        "ctm"  # ctm | lstm: the baseline (neurosync/lstm.py), the backbone and attention around an LSTM cell
    )
    lstm_hidden: int = 128  # lstm: state size (match the parameter count of the CTM it is compared with)
    ticks: int = 25
    d_model: int = 128
    d_input: int = 64
    heads: int = 4  # 0: no attention, the input vector enters the synapse every tick (the reference's sort CTM)
    n_synch_out: int = 32
    n_synch_action: int = 32
    neuron_pairing: str = "random-pairing"
    n_self_pairs: int = 0
    neuron: str = "nlm"
    synapse: str = "mlp"  # mlp (the paper's), plastic (Hebbian recurrent fast weight), plastic-input (on the afferents)
    synapse_depth: int = 1
    synchrony: str = "decayed-pairwise"
    backbone: str = (
        "task"  # task: the task's own; images and maze: resnet{18,34,50,101,152}-{1,2,3,4} (the reference's)
    )
    # parity: rotational-1d | none; ResNet backbones: rotational-2d, (multi-)learnable-fourier, none
    positional_embedding: str = "rotational-1d"
    dropout: float = 0.0
    nlm: NLMConfig = field(default_factory=NLMConfig)
    spiking: SpikingConfig = field(default_factory=SpikingConfig)
    spike_synchrony: SpikeSynchronyConfig = field(default_factory=SpikeSynchronyConfig)
    plasticity: PlasticityConfig = field(default_factory=PlasticityConfig)


@dataclass
class TrainConfig:
    steps: int = 6000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    min_lr_ratio: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_samples: int = 2048
    final_eval_samples: int = 65536
    checkpoint_every: int = 500
    time_budget_s: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "bf16"  # on CUDA: "bf16" autocast of the matrix products, or "fp32" throughout (CPU: always fp32)
    compile: bool = False  # torch.compile the tick body
    # > 0: at every evaluation, the physiology card's regime statistics over that many inputs (neurosync.cortical)
    regime_probe_inputs: int = 0
    # capture the step's forward, backward and clip in one CUDA graph and replay it (neurosync.step_graph); eager on CPU
    cuda_graphs: bool = False
    out_dir: str = "runs"


@dataclass
class Config:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = "run"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is list:
        return f"a list of {_type_name(typing.get_args(tp)[0]).split(' ', 1)[1]}s"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check one leaf value against its declared type; ints are accepted where floats are."""
    if typing.get_origin(tp) is list:
        if isinstance(value, list):
            try:
                return [_coerce(item, typing.get_args(tp)[0], key) for item in value]
            except ConfigError:
                pass
        raise ConfigError(f"config: {key} must be {_type_name(tp)}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"config: {key} must be a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"config: {key} must be {_type_name(tp)}, got {value!r}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config: {prefix.rstrip('.') or 'top level'} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"config: unknown key '{dotted}' (allowed: {', '.join(names)})")
        tp = hints[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, dotted + ".")
        else:
            kwargs[key] = _coerce(value, tp, dotted)
    return cls(**kwargs)


def _check_choice(value: str, allowed: tuple[str, ...], key: str) -> None:
    if value not in allowed:
        raise ConfigError(f"config: {key} = {value!r} is not one of {', '.join(allowed)}")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(f"config: {message}")


def validate(cfg: Config) -> Config:
    """Raise ConfigError naming the first impossible value; return cfg unchanged otherwise."""
    t, m, tr = cfg.task, cfg.model, cfg.train
    _check_choice(t.name, TASKS, "task.name")
    _check(t.sequence_length >= 1, f"task.sequence_length must be >= 1, got {t.sequence_length}")
    if t.name == "sort":
        _check(
            2 <= t.sequence_length <= m.ticks,
            f"task.sequence_length (numbers to sort) must lie in [2, model.ticks = "
            f"{m.ticks}]: CTC emits at most one number per tick, got {t.sequence_length}",
        )
    if t.name in ("images", "qa_digits", "oneshot"):  # Q&A and one-shot show digits: 8×8 digits or MNIST
        _check_choice(t.dataset, DATASETS if t.name == "images" else DATASETS[:2], "task.dataset")
    if t.name == "maze":
        _check(t.maze_size >= 5 and t.maze_size % 2 == 1, f"task.maze_size must be odd and >= 5, got {t.maze_size}")
        _check(t.curriculum_lookahead >= 1, f"task.curriculum_lookahead must be >= 1, got {t.curriculum_lookahead}")
    if t.name == "recall":
        _check(
            1 <= t.pairs <= t.vocabulary <= 26,
            f"task.pairs and task.vocabulary need 1 <= pairs <= vocabulary <= 26 "
            f"(distinct letter keys), got pairs {t.pairs}, vocabulary {t.vocabulary}",
        )
    if t.name == "oneshot":
        _check(
            0.0 <= t.same_image_fraction <= 1.0,
            f"task.same_image_fraction must lie in [0, 1], got {t.same_image_fraction}",
        )
        _check(
            2 <= t.test_classes <= 8,
            f"task.test_classes must be in [2, 8] (of the 10 digit classes), got {t.test_classes}",
        )
        _check(
            2 <= t.ways <= min(t.test_classes, 10 - t.test_classes),
            f"task.ways must be in [2, {min(t.test_classes, 10 - t.test_classes)}]: an episode needs that many training "
            f"and held-out classes ({10 - t.test_classes} and {t.test_classes}), got {t.ways}",
        )
    if t.name in ("qa_digits", "recall", "oneshot"):
        keys = {"qa_digits": ("images_shown", "operations"), "recall": (), "oneshot": ()}[t.name]
        for key in keys + ("ticks_per_input", "answer_ticks"):
            _check(getattr(t, key) >= 1, f"task.{key} must be >= 1, got {getattr(t, key)}")
        items = {"qa_digits": "(images_shown + 1 + 2·operations)", "recall": "(2·pairs + 2)", "oneshot": "(ways + 1)"}[
            t.name
        ]
        needed = t.qa_ticks()
        _check(
            m.ticks == needed,
            f"model.ticks must be {needed} for this {t.name} task: {items} · "
            f"ticks_per_input + answer_ticks, got {m.ticks}",
        )
    _check(m.regime in ("", "cortical"), f"model.regime = {m.regime!r} is not one of '' (none), 'cortical'")
    if m.regime == "cortical":
        sp = m.spiking
        _check(
            m.neuron == "spiking"
            and m.synapse == "plastic"
            and sp.dale
            and sp.noise_std > 0
            and sp.bounded_input
            and sp.input_floor_margin > 0
            and sp.input_ceiling_margin != 0,
            "model.regime = 'cortical' is built from noisy spiking neurons under Dale's law whose current lies in a band "
            "around threshold: keep model.neuron = 'spiking', model.synapse = 'plastic', model.spiking.dale = true, "
            "noise_std > 0, bounded_input = true, input_floor_margin > 0 and input_ceiling_margin != 0",
        )
    _check(m.architecture in ("ctm", "lstm"), f"model.architecture = {m.architecture!r} is not one of ctm, lstm")
    if m.architecture == "lstm":
        _check(m.lstm_hidden >= 1, f"model.lstm_hidden must be >= 1, got {m.lstm_hidden}")
        _check(
            m.neuron == "nlm" and m.synapse == "mlp",
            "model.architecture = 'lstm' is the baseline without the CTM's neurons and synapse: leave model.neuron = 'nlm' "
            "and model.synapse unset",
        )
    _check(m.ticks >= 1, f"model.ticks must be >= 1, got {m.ticks}")
    _check(m.d_model >= 1, f"model.d_model must be >= 1, got {m.d_model}")
    _check(m.d_input >= 1, f"model.d_input must be >= 1, got {m.d_input}")
    _check(m.heads >= 0, f"model.heads must be >= 0, got {m.heads}")
    if m.heads == 0:  # no attention: the reference's sort CTM
        _check(
            t.name == "sort" and m.architecture == "ctm",
            f"model.heads = 0 (no attention: the input vector enters the synapse) needs task 'sort', not {t.name!r}",
        )
        _check(
            m.d_input == t.sequence_length,
            f"model.heads = 0 feeds the {t.sequence_length} numbers to the synapse "
            f"directly: model.d_input must be {t.sequence_length}, got {m.d_input}",
        )
        _check(
            m.n_synch_action == 0,
            f"model.heads = 0 has no attention query: model.n_synch_action must be 0, got {m.n_synch_action}",
        )
    else:
        _check(m.d_input % m.heads == 0, f"model.d_input ({m.d_input}) must be divisible by model.heads ({m.heads})")
    _check_choice(m.neuron_pairing, PAIRINGS, "model.neuron_pairing")
    _check_choice(m.neuron, NEURONS, "model.neuron")
    _check_choice(m.synapse, SYNAPSES, "model.synapse")
    _check_choice(m.synchrony, SYNCHRONIES, "model.synchrony")
    _check_choice(m.positional_embedding, POSITIONAL_EMBEDDINGS, "model.positional_embedding")
    if m.backbone != "task":
        from .parts.resnet import parse_resnet

        _check(
            t.name in IMAGE_TASKS,
            f"model.backbone = {m.backbone!r} needs an image task ({', '.join(IMAGE_TASKS)}), "
            f"not {t.name!r}: leave it 'task'",
        )
        try:
            parse_resnet(m.backbone)
        except ValueError as err:
            raise ConfigError(f"config: model.backbone: {err}") from None
        _check(
            m.positional_embedding != "rotational-1d",
            "model.positional_embedding = 'rotational-1d' embeds a sequence: "
            "a ResNet backbone takes rotational-2d, learnable-fourier, "
            "multi-learnable-fourier or none",
        )
    else:
        _check(
            m.positional_embedding in POSITIONAL_1D,
            f"model.positional_embedding = {m.positional_embedding!r} is 2-D: it needs a ResNet model.backbone",
        )
    if t.name == "images":
        _check(t.classes >= 2, f"task.classes must be >= 2, got {t.classes}")
    for key in ("n_synch_out", "n_synch_action") if m.heads else ("n_synch_out",):
        n = getattr(m, key)
        _check(1 <= n <= m.d_model, f"model.{key} must be between 1 and model.d_model ({m.d_model}), got {n}")
    if m.neuron_pairing == "first-last":
        _check(
            m.n_synch_out + m.n_synch_action <= m.d_model,
            f"model.n_synch_out + model.n_synch_action ({m.n_synch_out + m.n_synch_action}) must be <= "
            f"model.d_model ({m.d_model}) for first-last pairing",
        )
    _check(m.n_self_pairs >= 0, f"model.n_self_pairs must be >= 0, got {m.n_self_pairs}")
    if m.neuron_pairing == "random-pairing":
        limit = min(m.n_synch_out, m.n_synch_action) if m.heads else m.n_synch_out
        readouts = "min(n_synch_out, n_synch_action)" if m.heads else "n_synch_out"
        _check(m.n_self_pairs < limit, f"model.n_self_pairs must be < {readouts} = {limit}, got {m.n_self_pairs}")
    else:
        _check(m.n_self_pairs == 0, f"model.n_self_pairs only applies to random-pairing, got {m.n_self_pairs}")
    _check(m.synapse_depth >= 1, f"model.synapse_depth must be >= 1, got {m.synapse_depth}")
    _check(0.0 <= m.dropout < 1.0, f"model.dropout must be in [0, 1), got {m.dropout}")
    _check(m.nlm.memory_length >= 1, f"model.nlm.memory_length must be >= 1, got {m.nlm.memory_length}")
    _check(m.nlm.hidden >= 1, f"model.nlm.hidden must be >= 1, got {m.nlm.hidden}")
    _check(0.0 <= m.nlm.dropout < 1.0, f"model.nlm.dropout must be in [0, 1), got {m.nlm.dropout}")
    sp = m.spiking
    _check(sp.filters >= 1, f"model.spiking.filters must be >= 1, got {sp.filters}")
    _check(sp.dt_ms > 0, f"model.spiking.dt_ms must be > 0 (ms), got {sp.dt_ms}")
    _check(sp.substeps >= 1, f"model.spiking.substeps must be >= 1 (simulation steps per tick), got {sp.substeps}")
    _check(
        0 < sp.tau_min_ms < sp.tau_max_ms,
        f"model.spiking needs 0 < tau_min_ms < tau_max_ms (ms), got {sp.tau_min_ms} and {sp.tau_max_ms}",
    )
    _check(
        sp.dt_ms <= sp.tau_min_ms,
        f"model.spiking.dt_ms ({sp.dt_ms}) must be <= tau_min_ms ({sp.tau_min_ms}): "
        "a step longer than the shortest time constant skips its dynamics",
    )
    taus = {
        "filter_tau_min_ms": sp.filter_tau_min_ms,
        "filter_tau_max_ms": sp.filter_tau_max_ms,
        "tau_membrane_ms": sp.tau_membrane_ms,
    }
    if sp.adaptive:
        taus["tau_adaptation_ms"] = sp.tau_adaptation_ms
    for key, value in taus.items():
        _check(
            sp.tau_min_ms < value < sp.tau_max_ms,
            f"model.spiking.{key} must lie strictly inside (tau_min_ms, tau_max_ms) = ({sp.tau_min_ms}, {sp.tau_max_ms}) ms, got {value}",
        )
    _check(
        sp.filter_tau_min_ms <= sp.filter_tau_max_ms,
        f"model.spiking needs filter_tau_min_ms <= filter_tau_max_ms, got {sp.filter_tau_min_ms} and {sp.filter_tau_max_ms}",
    )
    for key in ("threshold", "adaptation_strength", "surrogate_slope", "noise_tau_ms", "shared_noise_tau_ms"):
        value = getattr(sp, key)
        _check(value > 0, f"model.spiking.{key} must be > 0, got {value}")
    _check(sp.noise_std >= 0, f"model.spiking.noise_std must be >= 0 (0: no noise), got {sp.noise_std}")
    _check(
        sp.shared_noise_std >= 0,
        f"model.spiking.shared_noise_std must be >= 0 (0: no shared background), got {sp.shared_noise_std}",
    )
    _check(
        sp.shared_noise_std == 0 or sp.shared_noise_tau_ms >= sp.dt_ms,
        f"model.spiking.shared_noise_tau_ms ({sp.shared_noise_tau_ms}) must be >= dt_ms ({sp.dt_ms})",
    )
    _check(sp.refractory_ms >= 0, f"model.spiking.refractory_ms must be >= 0 (ms), got {sp.refractory_ms}")
    steps = sp.refractory_ms / sp.dt_ms
    _check(
        abs(steps - round(steps)) < 1e-9,
        f"model.spiking.refractory_ms ({sp.refractory_ms}) must be a multiple of dt_ms ({sp.dt_ms})",
    )
    _check_choice(sp.surrogate, SURROGATES, "model.spiking.surrogate")
    _check(sp.target_rate_hz >= 0, f"model.spiking.target_rate_hz must be >= 0 (Hz), got {sp.target_rate_hz}")
    _check(
        sp.target_rate_hz <= 1000.0 / sp.dt_ms,
        f"model.spiking.target_rate_hz must be <= 1 / dt = {1000.0 / sp.dt_ms:g} Hz, got {sp.target_rate_hz}",
    )
    _check(
        sp.rate_regularisation >= 0,
        f"model.spiking.rate_regularisation must be >= 0 (0 disables it), got {sp.rate_regularisation}",
    )
    _check(
        sp.rate_regularisation_final >= 0,
        f"model.spiking.rate_regularisation_final must be >= 0 (0: a constant rate_regularisation), got {sp.rate_regularisation_final}",
    )
    _check(
        sp.rate_regularisation_final == 0 or sp.rate_regularisation > 0,
        "model.spiking.rate_regularisation_final > 0 ramps from rate_regularisation, which must then be > 0",
    )
    _check(
        0 <= sp.rate_ramp_start < 1,
        f"model.spiking.rate_ramp_start must be in [0, 1) (the fraction of train.steps where the ramp starts), got {sp.rate_ramp_start}",
    )
    _check(
        sp.target_rate_inhibitory_hz >= 0,
        f"model.spiking.target_rate_inhibitory_hz must be >= 0 (Hz), got {sp.target_rate_inhibitory_hz}",
    )
    _check(
        sp.band_regularisation >= 0,
        f"model.spiking.band_regularisation must be >= 0 (0 disables it), got {sp.band_regularisation}",
    )
    band = sp.rate_band_hz
    _check(
        band == [] or (len(band) == 2 and 0 <= band[0] < band[1]),
        f"model.spiking.rate_band_hz must be [] or [low, high] with 0 <= low < high (Hz), got {band}",
    )
    _check(
        sp.band_regularisation == 0 or band != [],
        "model.spiking.band_regularisation > 0 needs model.spiking.rate_band_hz = [low, high]",
    )
    _check(
        sp.homeostasis_rate_hz >= 0,
        f"model.spiking.homeostasis_rate_hz must be >= 0 (Hz; 0: off), got {sp.homeostasis_rate_hz}",
    )
    _check(sp.homeostasis_tau_ms > 0, f"model.spiking.homeostasis_tau_ms must be > 0 (ms), got {sp.homeostasis_tau_ms}")
    _check(
        0 < sp.homeostasis_min_scale <= 1,
        f"model.spiking.homeostasis_min_scale must be in (0, 1] (the lowest threshold, as a fraction of the trained one), "
        f"got {sp.homeostasis_min_scale}",
    )
    _check(
        sp.input_floor_width > 0,
        f"model.spiking.input_floor_width must be > 0 (membrane units), got {sp.input_floor_width}",
    )
    _check(
        sp.input_floor_margin >= 0,
        f"model.spiking.input_floor_margin must be >= 0 (membrane units below each threshold; 0: the absolute "
        f"input_floor), got {sp.input_floor_margin}",
    )
    _check(
        sp.input_ceiling_margin == 0 or sp.bounded_input,
        "model.spiking.input_ceiling_margin needs model.spiking.bounded_input = true (the ceiling is part of the bounded input)",
    )
    if sp.input_ceiling_margin != 0:
        floor = (
            f"threshold - {sp.input_floor_margin:g}" if sp.input_floor_margin > 0 else f"input_floor {sp.input_floor:g}"
        )
        above = (
            sp.input_ceiling_margin > -sp.input_floor_margin
            if sp.input_floor_margin > 0
            else sp.threshold + sp.input_ceiling_margin > sp.input_floor
        )
        _check(
            above,
            f"model.spiking.input_ceiling_margin = {sp.input_ceiling_margin:g} puts the ceiling (threshold "
            f"{sp.input_ceiling_margin:+g}) at or below the floor ({floor}): the band would be empty",
        )
    for key in ("dendritic_gain", "recurrent_scale", "inhibition_dominance"):
        _check(getattr(sp, key) > 0, f"model.spiking.{key} must be > 0, got {getattr(sp, key)}")
    _check(
        not sp.bounded_input or sp.input_floor_margin > 0 or sp.input_floor < sp.threshold,
        f"model.spiking.input_floor ({sp.input_floor}) must lie below the threshold ({sp.threshold}): a floor above it "
        "makes every neuron fire regardless of its input",
    )
    _check(
        0 < sp.excitatory_fraction < 1,
        f"model.spiking.excitatory_fraction must be in (0, 1) (exclusive), got {sp.excitatory_fraction}",
    )
    if sp.dale:
        _check(
            m.neuron == "spiking" and m.synapse == "plastic",
            "model.spiking.dale needs model.neuron = 'spiking' and model.synapse = 'plastic' (the linear recurrent synapse "
            f"whose weights have signs), got neuron = {m.neuron!r}, synapse = {m.synapse!r}",
        )
        n_e = sp.excitatory_count(m.d_model)
        _check(
            0 < n_e < m.d_model,
            f"model.spiking.excitatory_fraction = {sp.excitatory_fraction} leaves no excitatory or no "
            f"inhibitory neuron among model.d_model = {m.d_model}",
        )
    pl = m.plasticity
    _check_choice(pl.rule, PLASTICITY_RULES, "model.plasticity.rule")
    _check_choice(pl.implementation, PLASTICITY_IMPLEMENTATIONS, "model.plasticity.implementation")
    _check(
        0 < pl.learning_rate < 1,
        f"model.plasticity.learning_rate must be in (0, 1) (exclusive), got {pl.learning_rate}",
    )
    _check(pl.trace_timescale > 0, f"model.plasticity.trace_timescale must be > 0 (ticks), got {pl.trace_timescale}")
    _check(
        pl.trace_timescale_ms > 0, f"model.plasticity.trace_timescale_ms must be > 0 (ms), got {pl.trace_timescale_ms}"
    )
    if m.synapse == "plastic-input":
        _check(
            pl.input_pathway == "linear" and (pl.rule != "abcd" or pl.coefficients == "neuron"),
            "model.synapse = 'plastic-input' (the rate synapse plus a fast weight on the afferents) has no input_pathway "
            "of its own and per-neuron ABCD coefficients: leave model.plasticity.input_pathway and coefficients unset",
        )
    if m.synapse in ("plastic", "plastic-input"):
        defaults = PlasticityConfig()
        if m.neuron == "spiking":
            _check(
                pl.trace_timescale == defaults.trace_timescale,
                "model.plasticity.trace_timescale is in ticks, for rate neurons; a spiking CTM's ticks last "
                "substeps · dt_ms, so set its trace time constant as model.plasticity.trace_timescale_ms (ms)",
            )
        else:
            _check(
                pl.trace_timescale_ms == defaults.trace_timescale_ms,
                "model.plasticity.trace_timescale_ms is for spiking neurons; rate neurons' ticks have no duration, "
                "so set model.plasticity.trace_timescale (ticks)",
            )
    _check(pl.alpha_init >= 0, f"model.plasticity.alpha_init must be >= 0, got {pl.alpha_init}")
    _check_choice(pl.coefficients, PLASTICITY_COEFFICIENTS, "model.plasticity.coefficients")
    _check_choice(pl.modulator, MODULATORS, "model.plasticity.modulator")
    _check_choice(pl.input_pathway, INPUT_PATHWAYS, "model.plasticity.input_pathway")
    _check_choice(pl.site, FAST_WEIGHT_SITES, "model.plasticity.site")
    _check(
        pl.site == "recurrent" or m.synapse == "plastic",
        "model.plasticity.site = 'afferent' places the fast weight of model.synapse = 'plastic' (the rate "
        "synapse's afferent fast weight is model.synapse = 'plastic-input'; it has no site to choose)",
    )
    _check(pl.clip > 0, f"model.plasticity.clip must be > 0, got {pl.clip}")
    ss = m.spike_synchrony
    _check(
        len(ss.timescales_ms) >= 1 and all(t > 0 for t in ss.timescales_ms),
        f"model.spike_synchrony.timescales_ms must be a non-empty list of positive durations (ms), got {ss.timescales_ms}",
    )
    _check(
        m.synchrony != "spike-multiscale" or m.neuron == "spiking",
        f"model.synchrony = 'spike-multiscale' needs model.neuron = 'spiking' (its timescales are durations), got {m.neuron!r}",
    )
    _check(tr.steps >= 1, f"train.steps must be >= 1, got {tr.steps}")
    _check(tr.batch_size >= 1, f"train.batch_size must be >= 1, got {tr.batch_size}")
    _check(tr.lr > 0, f"train.lr must be > 0, got {tr.lr}")
    _check(tr.weight_decay >= 0, f"train.weight_decay must be >= 0, got {tr.weight_decay}")
    _check(tr.warmup_steps >= 0, f"train.warmup_steps must be >= 0, got {tr.warmup_steps}")
    _check(0.0 <= tr.min_lr_ratio <= 1.0, f"train.min_lr_ratio must be in [0, 1], got {tr.min_lr_ratio}")
    _check(tr.grad_clip >= 0, f"train.grad_clip must be >= 0 (0 disables clipping), got {tr.grad_clip}")
    _check(tr.eval_every >= 1, f"train.eval_every must be >= 1, got {tr.eval_every}")
    _check(tr.eval_samples >= 1, f"train.eval_samples must be >= 1, got {tr.eval_samples}")
    _check(
        tr.regime_probe_inputs >= 0,
        f"train.regime_probe_inputs must be >= 0 (0: no probe), got {tr.regime_probe_inputs}",
    )
    _check(
        tr.regime_probe_inputs == 0 or (m.neuron == "spiking" and m.spiking.noise_std > 0),
        "train.regime_probe_inputs > 0 measures a noisy SpikingCTM's regime: it needs model.neuron = 'spiking' and "
        "model.spiking.noise_std > 0",
    )
    _check(
        tr.regime_probe_inputs <= tr.eval_samples,
        f"train.regime_probe_inputs ({tr.regime_probe_inputs}) must be <= train.eval_samples ({tr.eval_samples}): "
        "the probe thinks about the first evaluation inputs",
    )
    _check(tr.final_eval_samples >= 1, f"train.final_eval_samples must be >= 1, got {tr.final_eval_samples}")
    _check(tr.checkpoint_every >= 1, f"train.checkpoint_every must be >= 1, got {tr.checkpoint_every}")
    _check(tr.time_budget_s >= 0, f"train.time_budget_s must be >= 0 (0 means no budget), got {tr.time_budget_s}")
    _check_choice(tr.device, DEVICES, "train.device")
    _check_choice(tr.precision, PRECISIONS, "train.precision")
    _check(
        not (tr.cuda_graphs and tr.compile),
        "train.cuda_graphs and train.compile are not combined (the captured step runs "
        "the eager ticks): set train.compile = false",
    )
    _check(
        bool(cfg.name) and "/" not in cfg.name and "\\" not in cfg.name and cfg.name not in (".", ".."),
        f"name must be a non-empty string without '/' or '\\' and not '.' or '..' (it names the run directory), got {cfg.name!r}",
    )
    return cfg


def from_dict(data: dict[str, Any]) -> Config:
    """A validated :class:`Config` from a nested dict (a TOML file's content); a bad key or value raises
    ConfigError in one line. ``model.regime = "cortical"`` fills in the cortical preset
    (:data:`neurosync.cortical.PRESET`) under the values the dict sets."""
    from .cortical import apply_preset

    return validate(_build(Config, apply_preset(data), ""))


def _parse_value(text: str) -> Any:
    """Parse the right-hand side of --set as a TOML value; bare words are strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.sub=value` overrides (from --set) to a raw config dict, in order."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.lr=3e-4")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: '{part}' is not a table")
        node[parts[-1]] = _parse_value(text.strip())
    return data


def read_toml(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A TOML file as a dict, its ``name`` defaulting to the file's stem; one-line errors that
    call it a ``what`` file (config, study)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} file {path} is a directory; give a .toml file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} file {path} is not text (not UTF-8): give a TOML file") from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} file {path}: {err.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{what} file {path} is not valid TOML: {err}") from None
    data.setdefault("name", path.stem)
    return data


def read_experiment(path: str | Path, what: str, known: set[str]) -> dict[str, Any]:
    """A study, sweep or ablation file (:func:`read_toml`) whose top-level keys must all be
    ``known``: the one loader of the experiment files, one line naming any unknown key."""
    data = read_toml(path, what)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown {what} key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return data


def load(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a TOML config file, apply overrides, validate."""
    return from_dict(apply_overrides(read_toml(path), overrides or []))
