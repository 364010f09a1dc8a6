"""A thought as a multi-unit recording: one object for analysis and export.

``model.record(x)`` runs one thought per input without autograd and returns a
:class:`Recording`: per sample, tick and neuron the post-activations (the spike fraction of a
tick for spiking neurons), pre-activations and, for spiking neurons, every simulation step's
spikes (stored as events) and membrane potentials; per tick the synchrony readouts (every
timescale), attention weights, logits, certainty and the plastic weight's norm. Under Dale's
law it also keeps every step's excitatory and inhibitory input currents of each neuron: the
shares of its soma current that come from excitatory and from inhibitory presynaptic spikes,
through the neuron's own dendritic filters (by superposition, since the filters are linear;
the attention drive and the bias are the rest of the current). ``dt`` is the duration of a tick in seconds: for a SpikingCTM it is
the model's own (substeps · dt_ms, physical time), for a RateCTM, whose ticks have no
duration, a declared label (default 1 ms). A spiking neuron's simulation step lasts
``dt / substeps``.

Recordings save to and load from a single ``.npz`` file (no pickles).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import SpikingConfig, excitatory_count

FORMAT = "neurosync-recording"
VERSION = 2
# what a lean save leaves out: per-tick and per-step signals that dwarf the spikes (a study's
# 1-s thoughts hold ~400 MB of synchrony); analysis, rasters, rates and spectra do not need them
BULKY = (
    "pre",
    "synchrony_action",
    "synchrony_out",
    "attention",
    "membrane",
    "current_excitatory",
    "current_inhibitory",
)


def compact_integers(values: np.ndarray) -> np.ndarray:
    """Non-negative integers in the smallest unsigned type that holds them (spike events in a
    saved recording; an NWB index column of 0/1 is then one byte, as nwbinspector asks)."""
    return values.astype(np.min_scalar_type(int(values.max()) if values.size else 0))


@dataclass
class Recording:
    """Arrays are numpy; B samples, T ticks, S = T·substeps simulation steps, N neurons."""

    dt: float  # seconds per tick
    kind: str  # "spiking" or "rate"
    substeps: int
    activity: np.ndarray  # (B, T, N) post-activations (spiking: spikes in the tick)
    logits: np.ndarray  # (B, T, outputs)
    certainty: np.ndarray  # (B, T)
    # the bulky signals (BULKY): always recorded, left out of a lean save (then None)
    pre: np.ndarray | None = None  # (B, T, N) pre-activations
    synchrony_action: np.ndarray | None = None  # (B, T, P_action), scale-major when there are several timescales
    synchrony_out: np.ndarray | None = None  # (B, T, P_out)
    attention: np.ndarray | None = None  # (B, T, heads, tokens)
    scales: int = 1  # synchrony timescales (spike-multiscale)
    spike_sample: np.ndarray | None = None  # spike events (spiking): sample, simulation step, neuron
    spike_step: np.ndarray | None = None
    spike_neuron: np.ndarray | None = None
    membrane: np.ndarray | None = None  # (B, S, N) (spiking)
    current_excitatory: np.ndarray | None = None  # (B, S, N) soma current from excitatory spikes (Dale's law)
    current_inhibitory: np.ndarray | None = None  # (B, S, N) from inhibitory spikes (≤ 0 for positive filter weights)
    plastic_norm: np.ndarray | None = None  # (B, T) ‖α ⊙ H‖ (plastic synapses)
    sample_input: np.ndarray | None = None  # (B,) which input each thought saw (repeats share it)
    sample_repeat: np.ndarray | None = None  # (B,) the repeat (noise realisation) of that input
    config: dict[str, Any] | None = None

    @property
    def samples(self) -> int:
        return self.activity.shape[0]

    @property
    def ticks(self) -> int:
        return self.activity.shape[1]

    @property
    def neurons(self) -> int:
        return self.activity.shape[2]

    @property
    def steps(self) -> int:
        return self.ticks * self.substeps

    @property
    def step_duration(self) -> float:
        """Seconds per simulation step."""
        return self.dt / self.substeps

    @property
    def repeats(self) -> int:
        """Thoughts per input (trials with different intrinsic noise)."""
        return 1 if self.sample_repeat is None else int(self.sample_repeat.max()) + 1

    def spiking_config(self) -> dict[str, Any]:
        """The recorded config's [model.spiking] table ({} when there is none)."""
        return ((self.config or {}).get("model") or {}).get("spiking") or {}

    def cell_types(self) -> np.ndarray:
        """(N,) "excitatory" / "inhibitory" under Dale's law, else "unclassified" (from the config)."""
        spiking = self.spiking_config()
        types = np.full(self.neurons, "unclassified", dtype=object)
        if spiking.get("dale"):
            excitatory = excitatory_count(
                spiking.get("excitatory_fraction", SpikingConfig.excitatory_fraction), self.neurons
            )
            types[:excitatory], types[excitatory:] = "excitatory", "inhibitory"
        return types

    def spikes(self, sample: int = 0) -> np.ndarray:
        """Dense 0/1 raster (S, N) of one sample (spiking recordings only)."""
        if self.kind != "spiking":
            raise ValueError("a rate CTM's recording has no spikes; use .activity")
        raster = np.zeros((self.steps, self.neurons), dtype=np.float32)
        chosen = self.spike_sample == sample
        raster[self.spike_step[chosen], self.spike_neuron[chosen]] = 1.0
        return raster

    def spike_times(self, sample: int = 0) -> list[np.ndarray]:
        """Per neuron, the spike times in seconds (step index × step duration)."""
        chosen = self.spike_sample == sample
        steps, neurons = self.spike_step[chosen], self.spike_neuron[chosen]
        return [np.sort(steps[neurons == n]) * self.step_duration for n in range(self.neurons)]

    def synchrony(self, readout: str = "out", scale: int = 0) -> np.ndarray:
        """(B, T, pairs) synchrony of one readout ("action" or "out") at one timescale."""
        values = self.require(f"synchrony_{readout}")
        per_scale = values.shape[-1] // self.scales
        return values[..., scale * per_scale : (scale + 1) * per_scale]

    def lean(self) -> Recording:
        """This recording without the :data:`BULKY` signals (for small exports)."""
        return replace(self, **{name: None for name in BULKY})

    def require(self, name: str) -> np.ndarray:
        """The array ``name``, or a one-line error when a lean save left it out."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(
                f"this recording holds no {name} (a lean save leaves out {', '.join(BULKY)}): record it again"
            )
        return value

    def subset(self, samples) -> Recording:
        """The recording of the thoughts ``samples`` (indices, in the order given), e.g. for a
        smaller export; every per-thought array and the spike events are selected."""
        index = np.asarray(samples, dtype=np.int64).reshape(-1)
        if index.size == 0 or index.min() < 0 or index.max() >= self.samples:
            raise ValueError(f"samples must index this recording's {self.samples} thoughts, got {samples!r}")
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and not f.name.startswith("spike_") and value.shape[:1] == (self.samples,):
                value = value[index]
            values[f.name] = value
        if self.spike_sample is not None:
            position = np.full(self.samples, -1, dtype=np.int64)
            position[index] = np.arange(index.size)
            keep = position[self.spike_sample] >= 0
            values["spike_sample"] = position[self.spike_sample[keep]].astype(np.int32)
            values["spike_step"], values["spike_neuron"] = self.spike_step[keep], self.spike_neuron[keep]
        return Recording(**values)

    def save(self, path: str | Path, lean: bool = False) -> Path:
        """Write one compressed .npz (written to a temporary name, then renamed); ``lean`` leaves
        out the :data:`BULKY` signals. Spike events are stored in the smallest integer types."""
        path = Path(path)
        source = self.lean() if lean else self
        arrays = {
            f.name: getattr(source, f.name) for f in fields(self) if isinstance(getattr(source, f.name), np.ndarray)
        }
        for name in ("spike_sample", "spike_step", "spike_neuron"):
            if name in arrays:
                arrays[name] = compact_integers(arrays[name])
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "dt": self.dt,
            "kind": self.kind,
            "substeps": self.substeps,
            "scales": self.scales,
            "config": self.config,
        }
        partial = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(partial, meta=np.array(json.dumps(meta)), **arrays)
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Read a recording written by :meth:`save`; a bad file raises ValueError with one line."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {k: data[k] for k in data.files if k != "meta"}
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as err:
            reason = "truncated or not an .npz archive" if isinstance(err, (zipfile.BadZipFile, EOFError)) else err
            raise ValueError(f"{path} is not a readable NeuroSync recording: {reason}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(f"{path} is not a NeuroSync recording (version {VERSION})")
        missing = [key for key in ("dt", "kind", "substeps", "scales", "config") if key not in meta]
        missing += [f.name for f in fields(cls) if f.default is MISSING and f.name not in meta and f.name not in arrays]
        if missing:
            raise ValueError(f"{path}: the recording lacks {', '.join(dict.fromkeys(missing))}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(arrays) - known)
        if unknown:
            raise ValueError(f"{path}: unknown recording arrays {', '.join(unknown)}")
        dt = meta["dt"]
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0 or not np.isfinite(dt):
            raise ValueError(f"{path}: dt must be a positive number of seconds per tick, got {dt!r}")
        for key in ("substeps", "scales"):
            if isinstance(meta[key], bool) or not isinstance(meta[key], int) or meta[key] < 1:
                raise ValueError(f"{path}: {key} must be an integer >= 1, got {meta[key]!r}")
        if meta["kind"] not in ("spiking", "rate"):
            raise ValueError(f"{path}: kind must be 'spiking' or 'rate', got {meta['kind']!r}")
        for name, ndim in _NDIM.items():
            value = arrays.get(name)
            if value is not None and value.ndim != ndim:
                raise ValueError(f"{path}: {name} must have {ndim} dimensions {_SHAPES[name]}, got shape {value.shape}")
        samples = arrays["activity"].shape[0]
        for name in ("pre", "logits", "certainty", "synchrony_action", "synchrony_out", "attention"):
            if name in arrays and arrays[name].shape[0] != samples:
                raise ValueError(f"{path}: {name} holds {arrays[name].shape[0]} thoughts, activity {samples}")
        for name in ("spike_sample", "spike_step", "spike_neuron"):
            if name in arrays:
                arrays[name] = arrays[name].astype(np.int32)
        return cls(
            dt=float(dt),
            kind=meta["kind"],
            substeps=meta["substeps"],
            scales=meta["scales"],
            config=meta["config"],
            **arrays,
        )


_SHAPES = {
    "activity": "(samples, ticks, neurons)",
    "pre": "(samples, ticks, neurons)",
    "logits": "(samples, ticks, outputs)",
    "certainty": "(samples, ticks)",
    "synchrony_action": "(samples, ticks, pairs)",
    "synchrony_out": "(samples, ticks, pairs)",
    "attention": "(samples, ticks, heads, tokens)",
    "membrane": "(samples, steps, neurons)",
    "current_excitatory": "(samples, steps, neurons)",
    "current_inhibitory": "(samples, steps, neurons)",
    "plastic_norm": "(samples, ticks)",
    "sample_input": "(samples,)",
    "sample_repeat": "(samples,)",
    "spike_sample": "(spikes,)",
    "spike_step": "(spikes,)",
    "spike_neuron": "(spikes,)",
}
_NDIM = {name: shape.count(",") + (0 if shape.endswith(",)") else 1) for name, shape in _SHAPES.items()}


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def tick_duration_s(model, dt: float | None = None) -> float:
    """Seconds per tick: a SpikingCTM's own (``dt``, if given, must agree with it), else the
    declared ``dt`` (default 1 ms) of a RateCTM, whose ticks have no physical duration."""
    from .parts.interfaces import SpikingNeuron

    if isinstance(model.neuron, SpikingNeuron):
        own = model.neuron.tick_ms * 1e-3
        if dt is not None and abs(dt - own) > 1e-12 * own:
            raise ValueError(
                f"this SpikingCTM's tick lasts {own * 1e3:g} ms (substeps · dt_ms); dt = {dt} s disagrees: "
                "leave dt out, or change the model's step with model.neuron.set_step"
            )
        return own
    dt = 1e-3 if dt is None else dt
    if not dt > 0:
        raise ValueError(f"dt must be > 0 seconds per tick, got {dt}")
    return float(dt)


def record_thought(
    model,
    x: torch.Tensor,
    dt: float | None = None,
    config=None,
    ticks: int | None = None,
    repeats: int = 1,
    noise_seed: int | None = 0,
) -> Recording:
    """Implementation of ``CTM.record`` (see the module docstring). With ``repeats`` > 1 every
    input is thought about that many times (input-major: thought b saw input b // repeats),
    each with its own realisation of the intrinsic noise; ``noise_seed`` seeds them (None:
    torch's global generator)."""
    from .parts.interfaces import SpikingNeuron, fast_weight_site
    from .parts.spiking import dendrite_step, dendritic_current

    dt = tick_duration_s(model, dt)
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    inputs = x.shape[0]
    x = x.repeat_interleave(repeats, dim=0)
    if ticks is not None and (not isinstance(ticks, int) or ticks < 1):
        raise ValueError(f"ticks must be a positive integer, got {ticks!r}")
    spiking = isinstance(model.neuron, SpikingNeuron)
    plastic = fast_weight_site(model.synapse) is not None  # the fast weight's norm per tick
    populations = spiking and plastic and model.synapse.dale
    per_tick: dict[str, list] = {
        k: [] for k in ("attention", "pre", "post", "action", "out", "logits", "certainty", "plastic")
    }
    spikes, membranes = [], []
    currents: dict[str, list] = {"excitatory": [], "inhibitory": []}
    share_filters: dict[str, torch.Tensor] = {}

    def observe_synapse(synapse, args, output):
        """Each population's share of the tick's synaptic input, through the dendritic filters step by step."""
        neuron = model.neuron
        decay, no_bias = neuron.filter_decay(), torch.zeros_like(neuron.dendrite_bias)
        for key, share in zip(currents, synapse.population_currents(args[1], output[1])):
            filters = share_filters.get(key)
            filters = share.new_zeros(*share.shape, neuron.n_filters) if filters is None else filters
            for _ in range(neuron.substeps):
                filters = dendrite_step(filters, share, decay)
                currents[key].append(_numpy(dendritic_current(filters, neuron.filter_weight, no_bias)))
            share_filters[key] = filters

    def observe(attention, pre, post, memory, synapse_state, synchrony, logits, certainty):
        for key, value in (
            ("attention", attention),
            ("pre", pre),
            ("post", post),
            ("action", synchrony[0]),
            ("out", synchrony[1]),
            ("logits", logits),
            ("certainty", certainty),
        ):
            per_tick[key].append(_numpy(value))
        if plastic:
            per_tick["plastic"].append(_numpy(model.synapse.fast_weight_norm(synapse_state)))

    def observe_step(state):
        spikes.append(state.spikes.detach().cpu().numpy() > 0)
        membranes.append(_numpy(state.membrane))

    was_training, trained_ticks = model.training, model.ticks
    model.eval()
    model.ticks = ticks or trained_ticks
    if spiking:
        model.neuron.substep_observers.append(observe_step)
        saved_generator = model.neuron.noise_generator
        model.neuron.seed_noise(noise_seed)
    hook = model.synapse.register_forward_hook(observe_synapse) if populations else None
    try:
        with torch.no_grad():
            model(x, observe=observe)
    finally:
        if hook is not None:
            hook.remove()
        if spiking:
            model.neuron.substep_observers.remove(observe_step)
            model.neuron.noise_generator = saved_generator
        model.train(was_training)
        model.ticks = trained_ticks

    def stacked(key):
        return np.stack(per_tick[key], axis=1)

    recording = Recording(
        dt=float(dt),
        kind="spiking" if spiking else "rate",
        substeps=model.neuron.substeps if spiking else 1,
        activity=stacked("post"),
        pre=stacked("pre"),
        logits=stacked("logits"),
        certainty=stacked("certainty"),
        synchrony_action=stacked("action"),
        synchrony_out=stacked("out"),
        attention=stacked("attention"),
        scales=model.synchrony.scales,
        plastic_norm=stacked("plastic") if plastic else None,
        sample_input=np.repeat(np.arange(inputs), repeats).astype(np.int32),
        sample_repeat=np.tile(np.arange(repeats), inputs).astype(np.int32),
        config=_as_dict(config) if config is not None else _model_table(model),
    )
    if spiking:
        raster = np.stack(spikes, axis=1)  # (B, S, N)
        sample, step, neuron = np.nonzero(raster)
        recording.spike_sample, recording.spike_step = sample.astype(np.int32), step.astype(np.int32)
        recording.spike_neuron = neuron.astype(np.int32)
        recording.membrane = np.stack(membranes, axis=1)
    if populations:
        recording.current_excitatory = np.stack(currents["excitatory"], axis=1)
        recording.current_inhibitory = np.stack(currents["inhibitory"], axis=1)
    return recording


def _as_dict(config) -> dict[str, Any] | None:
    return asdict(config) if is_dataclass(config) else config


def _model_table(model) -> dict[str, Any] | None:
    """{"model": the model's own ModelConfig} for a recording made without a run config, so that
    it still knows its populations and noise (None for a model built without one)."""
    from .config import ModelConfig

    own = getattr(model, "config", None)
    return {"model": asdict(own)} if isinstance(own, ModelConfig) else _as_dict(own)
