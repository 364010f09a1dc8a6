"""Bridge to the reference CTM (SakanaAI/continuous-thought-machines, ``models/ctm.py``).

``from_reference`` builds a :class:`RateCTM` from the reference's ``state_dict`` and
constructor arguments: the parity family (``parity_backbone``, ``custom-rotational-1d`` or no
positional embedding), and the image classifiers and maze solvers with the reference's own
ResNets (``resnet{18,34,50,101,152}-{1,2,3,4}``, BatchNorm statistics included) and any of its
2-D positional embeddings (``custom-rotational``, ``learnable-fourier``,
``multi-learnable-fourier``, ``none``), a maze's ``prediction_reshaper`` [route, 5] included.
``reference_forward`` returns outputs in the reference's layout, and ``compare_with_reference``
checks a fixture file (see ``tests/fixtures/README.md``):

    config          JSON string of the reference constructor arguments
    state/<name>    every state_dict entry
    inputs          (batch, length) ±1 sequences, or (batch, channels, H, W) images
    predictions     (batch, outputs, ticks) logits
    certainties     (batch, 2, ticks) [normalised entropy, 1 - normalised entropy]
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import ModelConfig, NLMConfig
from .ctm import CTM, CTMOutput
from .parts.perception import ParityBackbone
from .parts.qamnist import QAMNISTBackbone
from .parts.resnet import ResNetBackbone, parse_resnet
from .rate import RateCTM


class ReferenceError(ValueError):
    """A reference config, state dict or fixture file cannot be used; message is one line."""


_PAIRINGS = {"random-pairing", "first-last", "random"}
_POSITIONAL = {"custom-rotational-1d": "rotational-1d", "none": "none"}
_POSITIONAL_2D = {
    "custom-rotational": "rotational-2d",
    "learnable-fourier": "learnable-fourier",
    "multi-learnable-fourier": "multi-learnable-fourier",
    "none": "none",
}


def _need(config: Mapping[str, Any], key: str):
    if key not in config:
        raise ReferenceError(f"reference config lacks '{key}'")
    return config[key]


def _lazy_input_width(state_dict: Mapping[str, Any], name: str, what: str, ndim: int) -> int:
    """The input width (second axis) of the reference's lazy layer ``name`` (a weight of ``ndim``
    axes: 2 for a linear layer, 4 for a convolution), which its first call builds; a one-line
    ReferenceError when the state holds no built layer."""
    weight = state_dict.get(name)
    if weight is None or len(getattr(weight, "shape", ())) != ndim:
        raise ReferenceError(
            f"{what} state_dict needs '{name}': run the reference model once on an input before "
            f"saving it, so that its lazy layers are built"
        )
    return int(weight.shape[1])


def _is_resnet(backbone_type: str) -> bool:
    try:
        parse_resnet(backbone_type)
    except ValueError:
        return False
    return True


def _is_rl(config: Mapping[str, Any]) -> bool:
    """The reference's RL CTM (``ctm_rl.py``): one of its two RL backbones."""
    from .parts.reference_rl import RL_BACKBONES

    return config.get("backbone_type") in RL_BACKBONES


def _rl_model(state_dict: Mapping[str, Any], config: Mapping[str, Any]) -> CTM:
    """The reference's RL CTM as a NeuroSync CTM of its parts (see neurosync.parts.reference_rl)."""
    from .parts.neurons import NeuronLevelModels
    from .parts.perception import DirectInput
    from .parts.reference_rl import ClassicControlBackbone, MiniGridBackbone, TwoBlockSynapse, WindowedSynchrony
    from .parts.synapses import build_synapse

    def need(key):
        return _need(config, key)

    if config.get("neuron_select_type", "first-last") != "first-last":
        raise ReferenceError("the reference's RL CTM supports only neuron_select_type 'first-last'")
    if config.get("do_layernorm_nlm", False):
        raise ReferenceError("do_layernorm_nlm=True is not supported (the paper never uses it)")
    d_model, d_input, depth = int(need("d_model")), int(need("d_input")), int(need("synapse_depth"))
    window, dropout = int(need("memory_length")), float(config.get("dropout", 0.0))
    if config["backbone_type"] == "classic-control-backbone":
        observation = _lazy_input_width(state_dict, "backbone.input_projector.1.weight", "a classic-control RL", 2)
        backbone = ClassicControlBackbone(observation, d_input)
    else:
        backbone = MiniGridBackbone(d_input)
    features = _synapse_inputs(state_dict, d_model)
    synapse = (
        TwoBlockSynapse(features + d_model, d_model, dropout)
        if depth == 1
        else build_synapse(features + d_model, d_model, depth, dropout)
    )
    neuron = NeuronLevelModels(d_model, window, bool(need("deep_nlms")), int(need("memory_hidden_dims")), dropout)
    synchrony = WindowedSynchrony(d_model, int(need("n_synch_out")), window)
    return CTM(backbone, DirectInput(), synapse, neuron, synchrony, int(need("iterations")), (2,))


def _is_qamnist(config: Mapping[str, Any]) -> bool:
    """The reference's QA-MNIST CTM (``ctm_qamnist.py``): its constructor takes the tick schedule."""
    return "iterations_per_digit" in config


def _is_sort(state_dict: Mapping[str, Any] | None) -> bool:
    """The reference's sort CTM (``ctm_sort.py``) has no attention at all: its state holds no
    key/value/query projections (its constructor arguments still name heads and a backbone)."""
    return state_dict is not None and not any(k.startswith(("q_proj.", "kv_proj.", "attention.")) for k in state_dict)


def _synapse_inputs(state_dict: Mapping[str, Any], d_model: int) -> int:
    """Width of the synapse's input beyond the neurons: the sort CTM's input vector."""
    for name in ("synapses.1.weight", "synapses.first_projection.0.weight"):
        if name in state_dict:
            return int(state_dict[name].shape[1]) - d_model
    raise ReferenceError(
        "the state_dict holds no synapse input layer (synapses.1.weight or synapses.first_projection.0.weight)"
    )


def _model_config(
    config: Mapping[str, Any], state_dict: Mapping[str, Any] | None = None
) -> tuple[ModelConfig, tuple[int, ...]]:
    def need(key):
        return _need(config, key)

    sort = _is_sort(state_dict)
    plain = sort or _is_qamnist(config)  # no backbone_type: the input path is the variant's own
    backbone = "none" if plain else need("backbone_type")
    positional = "none" if plain else need("positional_embedding_type")
    if not plain:
        if backbone != "parity_backbone" and not _is_resnet(backbone):
            raise ReferenceError(
                f"backbone_type {backbone!r} is not supported (use 'parity_backbone' or "
                f"resnet{{18,34,50,101,152}}-{{1,2,3,4}})"
            )
        allowed = _POSITIONAL if backbone == "parity_backbone" else _POSITIONAL_2D
        if positional not in allowed:
            raise ReferenceError(
                f"positional_embedding_type {positional!r} is not supported with {backbone!r} "
                f"(use one of {sorted(allowed)})"
            )
        positional = allowed[positional]
    if config.get("do_layernorm_nlm", False):
        raise ReferenceError("do_layernorm_nlm=True is not supported (the paper never uses it)")
    pairing = config.get("neuron_select_type", "random-pairing")
    if pairing not in _PAIRINGS:
        raise ReferenceError(f"neuron_select_type {pairing!r} is not one of {sorted(_PAIRINGS)}")
    if not sort and not need("heads"):
        raise ReferenceError(
            "heads=0 without the sort CTM's layout (no attention projections in the state) is not supported"
        )
    dropout = float(config.get("dropout", 0.0))
    dropout_nlm = config.get("dropout_nlm")
    out_dims = int(need("out_dims"))
    reshaper = [int(v) for v in config.get("prediction_reshaper", [-1])]
    shape = (out_dims,) if reshaper == [-1] else tuple(reshaper)
    if int(np.prod(shape)) != out_dims:
        raise ReferenceError(f"prediction_reshaper {reshaper} does not multiply to out_dims={out_dims}")
    cfg = ModelConfig(
        ticks=int(need("iterations")),
        d_model=int(need("d_model")),
        d_input=_synapse_inputs(state_dict, int(need("d_model"))) if sort else int(need("d_input")),
        heads=0 if sort else int(config["heads"]),
        n_synch_out=int(need("n_synch_out")),
        n_synch_action=0 if sort else int(need("n_synch_action")),
        neuron_pairing=pairing,
        n_self_pairs=int(config.get("n_random_pairing_self", 0)) if pairing == "random-pairing" else 0,
        synapse_depth=int(need("synapse_depth")),
        backbone=backbone if _is_resnet(backbone) else "task",
        positional_embedding=positional,
        dropout=dropout,
        nlm=NLMConfig(
            deep=bool(need("deep_nlms")),
            hidden=int(need("memory_hidden_dims")),
            memory_length=int(need("memory_length")),
            dropout=dropout if dropout_nlm is None else float(dropout_nlm),
        ),
    )
    return cfg, shape


_RENAMES = [
    (r"^start_activated_state$", "neuron.start_post_activation"),
    (r"^start_trace$", "neuron.start_history"),
    (r"^(start_activated_trace|diagonal_mask_out)$", r"synchrony.\1"),
    (r"^synapses\.4\.", "synapse.linear2."),
    (r"^synapses\.6\.", "synapse.norm2."),
    (r"^decay_params_(action|out)$", r"synchrony.decay_\1"),
    (r"^(action|out)_neuron_indices_(left|right)$", r"synchrony.\1_neurons_\2"),
    (r"^backbone\.embedding\.", "backbone.embedding."),
    (
        r"^backbone\.(input_projector|object_embedding|color_embedding|state_embedding|position_embedding|"
        r"project_to_d_projection)\.",
        r"backbone.\1.",
    ),
    (r"^backbone\.", "backbone.resnet."),
    (r"^initial_rgb\.", "backbone.initial_rgb."),
    (r"^(backbone_digit|index_backbone|operator_backbone)\.", r"backbone.\1."),
    (r"^positional_embedding\.", "backbone.positional."),
    (r"^kv_proj\.", "attention.kv_proj."),
    (r"^q_proj\.", "attention.q_proj."),
    (r"^attention\.", "attention."),
    (r"^synapses\.1\.", "synapse.linear."),
    (r"^synapses\.3\.", "synapse.norm."),
    (r"^synapses\.first_projection\.", "synapse.first."),
    (r"^synapses\.down_projections\.", "synapse.down."),
    (r"^synapses\.up_projections\.", "synapse.up."),
    (r"^synapses\.skip_lns\.", "synapse.skip_norms."),
    (r"^output_projector\.0\.", "readout."),
]


def _convert_state(state_dict: Mapping[str, Any], deep: bool) -> dict[str, torch.Tensor]:
    converted = {}
    for name, value in state_dict.items():
        tensor = torch.as_tensor(np.asarray(value)) if not isinstance(value, torch.Tensor) else value
        nlm = re.match(r"^trace_processor\.0\.(\d)\.(w1|b1|T)$", name)
        if nlm:
            prefix = f"neuron.layers.{ ({'0': 0, '2': 1}[nlm.group(1)] if deep else 0) }"
            if nlm.group(2) == "T":
                converted[f"{prefix}.temperature"] = tensor.reshape(1)
                continue
            # w1 (in, 2·out, neurons) -> (neurons, in, 2·out); b1 (1, neurons, 2·out) -> (neurons, 1, 2·out)
            tensor = tensor.permute(2, 0, 1) if nlm.group(2) == "w1" else tensor.permute(1, 0, 2)
            value, gate = tensor.chunk(2, dim=-1)  # GLU: first half value, second half gate
            kind = "weight" if nlm.group(2) == "w1" else "bias"
            converted[f"{prefix}.{kind}_value"] = value.contiguous()
            converted[f"{prefix}.{kind}_gate"] = gate.contiguous()
            continue
        for pattern, replacement in _RENAMES:
            if re.match(pattern, name):
                converted[re.sub(pattern, replacement, name)] = tensor
                break
        else:
            raise ReferenceError(f"unexpected reference state entry '{name}'")
    return converted


def _image_channels(state_dict: Mapping[str, Any]) -> int:
    """Input channels of a ResNet model: the reference's lazy ``initial_rgb`` conv learns them."""
    return _lazy_input_width(state_dict, "initial_rgb.weight", "a ResNet model's", 4)


def from_reference(state_dict: Mapping[str, Any], config: Mapping[str, Any]) -> RateCTM:
    """Build a RateCTM equal to the reference model with these weights and constructor args
    (the RL CTM: a :class:`~neurosync.ctm.CTM` of its own parts)."""
    if _is_rl(config):
        return _load_rl(state_dict, config)
    cfg, shape = _model_config(config, state_dict)
    if _is_qamnist(config):
        channels = _lazy_input_width(state_dict, "backbone_digit.layers.0.weight", "a QA-MNIST", 4)
        backbone = QAMNISTBackbone(
            cfg.d_input, channels, int(config["iterations_per_question_part"]), int(config["iterations_for_answering"])
        )
        d_features = cfg.d_input
    elif cfg.heads == 0:
        backbone, d_features = torch.nn.Identity(), cfg.d_input
    elif cfg.backbone == "task":
        backbone, d_features = ParityBackbone(cfg.d_input, cfg.positional_embedding), cfg.d_input
    else:
        backbone = ResNetBackbone(cfg.backbone, _image_channels(state_dict), cfg.positional_embedding)
        d_features = backbone.width
    model = RateCTM(cfg, backbone, d_features, shape)
    converted = _convert_state(state_dict, cfg.nlm.deep)
    if cfg.heads == 0:  # the sort CTM registers no action synchrony at all: ours is empty
        for name in ("synchrony.decay_action", "synchrony.action_neurons_left", "synchrony.action_neurons_right"):
            converted.setdefault(name, model.state_dict()[name])
    _load_checked(model, converted)
    return model


def _load_checked(model, converted: dict[str, torch.Tensor]) -> None:
    expected = set(model.state_dict())
    missing, unexpected = expected - set(converted), set(converted) - expected
    if missing or unexpected:
        raise ReferenceError(
            f"state_dict does not match the config: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}"
        )
    for name, tensor in model.state_dict().items():
        if converted[name].shape != tensor.shape:
            raise ReferenceError(
                f"state entry for '{name}' has shape {tuple(converted[name].shape)}, expected {tuple(tensor.shape)}"
            )
    model.load_state_dict(converted)


def _load_rl(state_dict: Mapping[str, Any], config: Mapping[str, Any]) -> CTM:
    model = _rl_model(state_dict, config)
    converted = _convert_state(state_dict, bool(config["deep_nlms"]))
    own = model.state_dict()
    converted["readout.weight"] = torch.zeros_like(
        own["readout.weight"]
    )  # nothing reads it: the agent reads the synchrony
    converted["readout.bias"] = torch.zeros_like(own["readout.bias"])
    if "synchrony.start_activated_trace" in converted:  # the first tick's post-activations: the trace's last column
        converted["neuron.start_post_activation"] = converted["synchrony.start_activated_trace"][:, -1].clone()
    _load_checked(model, converted)
    return model


def reference_model(state_dict: Mapping[str, Any], config: Mapping[str, Any]):
    """(RateCTM in eval mode, Config) from the reference's weights and constructor arguments, e.g.
    a folder its ``PyTorchModelHubMixin`` wrote (:func:`neurosync.hub.from_pretrained`). The task
    follows from the backbone and the prediction's shape: parity (sequence, 2); a ResNet model
    predicting (route, 5) is a maze solver (task ``maze``, its route length; the maze size is
    not part of the model), one predicting (classes,) an image classifier (task ``images``,
    ``cifar10`` for 3 input channels, else ``mnist``; ``data_path`` is left for the user); the
    sort CTM (no attention) sorts its input's length of numbers (task ``sort``)."""
    from .config import Config, TaskConfig

    if _is_rl(config):
        raise ReferenceError(
            "the reference's RL CTM loads with from_reference (a CTM of its own parts, carrying its "
            "thought between environment steps), but it is no NeuroSync task config"
        )
    if _is_qamnist(config):
        raise ReferenceError(
            "the reference's QA-MNIST CTM loads with from_reference (its inputs: "
            "neurosync.parts.qamnist.pack_qamnist), but it is no NeuroSync task config: its question "
            "parts bypass attention and its thought is as long as its input"
        )
    model = from_reference(state_dict, config)
    model_cfg, shape = _model_config(config, state_dict)
    if model_cfg.heads == 0:
        if shape != (model_cfg.d_input + 1,):
            raise ReferenceError(
                f"a sort CTM predicts one of its {model_cfg.d_input} numbers or the CTC blank per tick, "
                f"got out_dims {list(shape)}"
            )
        task = TaskConfig(name="sort", sequence_length=model_cfg.d_input)
    elif model_cfg.backbone == "task":
        if len(shape) != 2 or shape[1] != 2:
            raise ReferenceError(f"a parity model predicts (sequence, 2), got prediction_reshaper {list(shape)}")
        task = TaskConfig(name="parity", sequence_length=shape[0])
    elif len(shape) == 2 and shape[1] == 5:
        task = TaskConfig(name="maze", sequence_length=shape[0])
    elif len(shape) == 1:
        channels = _image_channels(state_dict)
        task = TaskConfig(name="images", dataset="cifar10" if channels == 3 else "mnist", classes=shape[0])
    else:
        raise ReferenceError(
            f"a ResNet model predicts (classes,) or a maze route (steps, 5), got prediction_reshaper {list(shape)}"
        )
    return model.eval(), Config(name="reference-ctm", task=task, model=model_cfg)


def _reference_layout(out: CTMOutput) -> tuple[torch.Tensor, torch.Tensor]:
    return out.logits.transpose(1, 2), torch.stack((1.0 - out.certainty, out.certainty), dim=1)


def reference_forward(model: RateCTM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> predictions (batch, outputs, ticks), certainties (batch, 2, ticks); differentiable."""
    return _reference_layout(model(x))


def load_fixture(npz_path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, np.ndarray]]:
    """-> (state_dict, config, arrays) from a fixture file; one-line ReferenceError when unusable."""
    path = Path(npz_path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise ReferenceError(f"fixture not found: {path}") from None
    except (OSError, ValueError) as err:
        raise ReferenceError(f"{path} is not a readable .npz file: {err}") from None
    for key in ("config", "inputs"):
        if key not in arrays:
            raise ReferenceError(f"{path} lacks the '{key}' array")
    try:
        config = json.loads(str(arrays["config"]))
    except json.JSONDecodeError as err:
        raise ReferenceError(f"{path}: 'config' is not JSON: {err}") from None
    if not isinstance(config, dict):
        raise ReferenceError(f"{path}: 'config' is not a JSON object")
    for key in RL_OUTPUTS if _is_rl(config) else ("predictions", "certainties"):
        if key not in arrays:
            raise ReferenceError(f"{path} lacks the '{key}' array")
    config.pop("parity_sequence_length", None)
    state = {key[len("state/") :]: torch.from_numpy(arrays[key]) for key in arrays if key.startswith("state/")}
    return state, config, arrays


RL_OUTPUTS = (
    "synchronisation",
    "state_trace",
    "activated_state_trace",
)  # an RL fixture's outputs, per environment step


def compare_rl(model: CTM, arrays: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The RL CTM over a fixture's environment steps (``inputs`` (steps, batch, ...)), its thought
    carried from step to step as the reference's agent carries its hidden state: the largest
    differences of the synchrony and of both traces after every step."""
    from .ctm import ThoughtState

    state: ThoughtState | None = None
    worst = {"max_abs_synchrony": 0.0, "max_abs_state_trace": 0.0, "max_abs_activated_trace": 0.0}
    with torch.no_grad():
        for step, x in enumerate(torch.from_numpy(arrays["inputs"])):
            out, state = model.think(x, state)
            ours = (out.synchrony_out, state.memory.permute(1, 0, 2), state.sync)
            for key, value, name in zip(worst, ours, RL_OUTPUTS):
                worst[key] = max(worst[key], float(np.abs(value.numpy() - arrays[name][step]).max()))
    return worst


def compare_with_reference(npz_path: str | Path) -> dict[str, float]:
    """Rebuild the fixture's model, run its inputs (eval, CPU, float32) and report the largest
    absolute differences to the stored reference outputs, over every tick (the RL CTM: over
    every environment step, :func:`compare_rl`)."""
    state, config, arrays = load_fixture(npz_path)
    model = from_reference(state, config).eval()
    if _is_rl(config):
        return compare_rl(model, arrays)
    with torch.no_grad():
        out = model(torch.from_numpy(arrays["inputs"]).float())
    predictions, certainties = _reference_layout(out)
    if predictions.shape != arrays["predictions"].shape:
        raise ReferenceError(f"model predicts {tuple(predictions.shape)}, fixture holds {arrays['predictions'].shape}")
    result = {
        "max_abs_logits": float(np.abs(predictions.numpy() - arrays["predictions"]).max()),
        "max_abs_certainty": float(np.abs(certainties.numpy() - arrays["certainties"]).max()),
    }
    if "synch_out" in arrays:
        result["max_abs_synchrony"] = float(np.abs(out.synchrony_out.numpy() - arrays["synch_out"]).max())
    return result
