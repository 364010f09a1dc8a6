"""The RateCTM reproduces the reference CTM's outputs at every tick from its weights."""

import json

import numpy as np
import pytest
import torch

from conftest import FIXTURE_DIR
from neurosync.build import build_model
from neurosync.config import ConfigError, from_dict
from neurosync.parts.resnet import BasicBlock, Bottleneck, ResNetBackbone, ResNetFeatures, parse_resnet
from neurosync.reference import (
    ReferenceError,
    compare_with_reference,
    from_reference,
    load_fixture,
    reference_forward,
    reference_model,
)

FIXTURES = sorted(p for p in FIXTURE_DIR.glob("reference_*.npz") if p.name != "reference_resnet_blocks.npz")
IMAGE_FIXTURES = [p for p in FIXTURES if "resnet" in p.name]
FIRST_LAST = FIXTURE_DIR / "reference_first_last.npz"  # a parity variant for the tests that change one value
TOLERANCE = 1e-5


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_reference_models_match_every_tick(path):
    """The reference's parity CTM and resnet18-2 image classifier (reference_ctm_*.npz), and the
    variants that make_reference_fixtures.py writes: self pairs, first-last and dense random
    pairing, U-Net synapses, shallow NLMs, other widths/ticks/memory lengths, no positional
    embedding, image and maze backbones, sort, QA-MNIST and RL."""
    result = compare_with_reference(path)
    assert max(result.values()) <= TOLERANCE, result


def test_fixture_set_covers_the_options():
    configs = [json.loads(str(np.load(p)["config"])) for p in FIXTURES]
    assert {c["neuron_select_type"] for c in configs} == {"random-pairing", "first-last", "random"}
    assert any(c["synapse_depth"] > 1 for c in configs)
    assert any(not c["deep_nlms"] for c in configs)
    assert any(c.get("n_random_pairing_self", 0) > 0 for c in configs)
    assert {c.get("backbone_type") for c in configs} >= {"classic-control-backbone", "navigation-backbone"}  # RL
    assert any(c.get("positional_embedding_type") == "none" for c in configs)
    assert any("iterations_per_digit" in c for c in configs)  # the QA-MNIST CTM
    image = [json.loads(str(np.load(p)["config"])) for p in IMAGE_FIXTURES]
    assert {c["positional_embedding_type"] for c in image} >= {"learnable-fourier", "multi-learnable-fourier", "none"}
    assert {parse_resnet(c["backbone_type"])[0] for c in image} >= {18, 34, 50}  # BasicBlock and Bottleneck
    assert any(c["prediction_reshaper"] == [6, 5] for c in image)  # a maze solver's route


def test_every_resnet_backbone_has_the_references_state_layout():
    """resnet18/34/50/101/152 at 1-4 stages: every state entry's name and shape as the reference's
    prepare_resnet_backbone makes them (built on the meta device: no memory, no time)."""
    shapes = json.loads((FIXTURE_DIR / "reference_resnet_shapes.json").read_text())
    assert len(shapes) == 20
    for kind, entries in shapes.items():
        with torch.device("meta"):
            ours = ResNetFeatures(*parse_resnet(kind)).state_dict()
        assert [[k, list(v.shape)] for k, v in ours.items()] == entries, kind


@pytest.mark.parametrize("kind, block", [("basic", BasicBlock), ("bottleneck", Bottleneck)])
def test_strided_residual_blocks_match_the_reference(kind, block):
    """A stride-2 block with a downsample path: the stride sits where the reference puts it."""
    with np.load(FIXTURE_DIR / "reference_resnet_blocks.npz") as data:
        inplanes, planes = (int(v) for v in data[f"{kind}/sizes"])
        out = planes * block.expansion
        module = block(
            inplanes,
            planes,
            2,
            torch.nn.Sequential(torch.nn.Conv2d(inplanes, out, 1, stride=2, bias=False), torch.nn.BatchNorm2d(out)),
        )
        prefix = f"{kind}/state/"
        module.load_state_dict(
            {k[len(prefix) :]: torch.from_numpy(data[k]) for k in data.files if k.startswith(prefix)}
        )
        with torch.no_grad():
            output = module.eval()(torch.from_numpy(data[f"{kind}/input"]))
        assert np.abs(output.numpy() - data[f"{kind}/output"]).max() <= TOLERANCE


@pytest.mark.parametrize("path", IMAGE_FIXTURES + [FIXTURE_DIR / "reference_sort.npz"], ids=lambda p: p.stem)
def test_a_reference_image_maze_or_sort_model_is_a_neurosync_config(path):
    """reference_model's config rebuilds the same network through build_model: the ResNet, the
    positional embedding and the sort CTM's missing attention (heads = 0) are config values, the
    task follows from the prediction's shape."""
    state, config, arrays = load_fixture(path)
    model, cfg = reference_model(state, config)
    assert cfg.task.name == next(task for task in ("maze", "sort", "image") if task in path.name).replace(
        "image", "images"
    )
    if cfg.task.name == "sort":
        assert (cfg.model.heads, cfg.model.n_synch_action, cfg.task.sequence_length) == (0, 0, 6)
    rebuilt = build_model(cfg).eval()
    rebuilt.load_state_dict(model.state_dict())
    x = torch.from_numpy(arrays["inputs"])
    with torch.no_grad():
        assert torch.equal(rebuilt(x).logits, model(x).logits)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": {"backbone": "resnet18-2"}}, "needs an image task"),
        ({"task": {"name": "images"}, "model": {"backbone": "resnet20-2"}}, "unknown ResNet backbone 'resnet20-2'"),
        ({"task": {"name": "images"}, "model": {"backbone": "resnet18-5"}}, "unknown ResNet backbone"),
        (
            {"task": {"name": "images"}, "model": {"backbone": "resnet18-2", "positional_embedding": "rotational-1d"}},
            "embeds a sequence",
        ),
        (
            {"task": {"name": "maze"}, "model": {"positional_embedding": "learnable-fourier"}},
            "needs a ResNet model.backbone",
        ),
        ({"model": {"heads": 0, "n_synch_action": 0}}, "needs task 'sort'"),
        (
            {"task": {"name": "sort", "sequence_length": 6}, "model": {"heads": 0, "n_synch_action": 0}},
            "model.d_input must be 6",
        ),
        (
            {"task": {"name": "sort", "sequence_length": 6}, "model": {"heads": 0, "d_input": 6}},
            "n_synch_action must be 0",
        ),
    ],
)
def test_bad_backbone_settings_are_one_line_config_errors(change, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(change)


def test_a_sort_ctm_without_attention_trains():
    cfg = from_dict(
        {
            "task": {"name": "sort", "sequence_length": 5},
            "model": {"heads": 0, "n_synch_action": 0, "d_input": 5, "d_model": 16, "n_synch_out": 8, "ticks": 6},
        }
    )
    model = build_model(cfg)
    x = torch.randn(3, 5)
    out = model(x)
    assert out.logits.shape == (3, 6, 6)
    out.logits.square().mean().backward()
    assert model.synapse is not None and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="one vector per sample"):
        model(torch.randn(3, 5, 1))


def test_the_qamnist_ctm_thinks_as_long_as_its_input_and_halts_like_it():
    """The reference's QA-MNIST CTM: its thought is as long as its input (images, question, answer
    ticks), question parts enter the synapse directly; halting stops each input at the tick where
    the full thought first reaches the threshold, with that tick's logits."""
    from neurosync.parts.qamnist import pack_qamnist

    state, config, arrays = load_fixture(FIXTURE_DIR / "reference_qamnist.npz")
    model = from_reference(state, config).eval()
    packed = torch.from_numpy(arrays["inputs"])
    with torch.no_grad():
        full = model(packed)
        assert full.logits.shape[1] == 14 != model.ticks  # 6 image ticks + 5 question ticks + 3 answer ticks
        threshold = float(full.certainty[:, 6:].median())
        halted = model.think_until_certain(packed, threshold, from_tick=6)
    for i in range(packed.shape[0]):
        reached = (full.certainty[i] >= threshold).nonzero().flatten()
        tick = int(next((t for t in reached.tolist() if t >= 6), 13))
        assert int(halted.ticks[i]) == tick + 1
        torch.testing.assert_close(halted.logits[i], full.logits[i, tick])
    with pytest.raises(ReferenceError, match="no NeuroSync task config"):
        reference_model(state, config)
    with pytest.raises(ValueError, match="does not hold 6 square"):
        model(packed[:, :-3])
    with pytest.raises(ValueError, match="QA-MNIST inputs are images"):
        pack_qamnist(torch.zeros(2, 3, 1, 4, 5), torch.zeros(2, 5))


def test_the_rl_ctm_carries_its_thought_and_restarts_from_its_start_traces(tmp_path):
    """The reference's RL CTM as a NeuroSync CTM: thinking about two observations in a row
    equals the reference's agent carrying its hidden state (the fixtures); a finished episode's
    row restarts from the learned start traces while the others keep theirs."""
    state, config, arrays = load_fixture(FIXTURE_DIR / "reference_rl_classic.npz")
    model = from_reference(state, config).eval()
    x = torch.from_numpy(arrays["inputs"])
    with torch.no_grad():
        _, carried = model.think(x[0])
        restarted = model.restart(carried, torch.tensor([True, False, False, False, False]))
    start = model.synchrony.start_activated_trace
    assert torch.equal(restarted.sync[0], start) and torch.equal(restarted.sync[1], carried.sync[1])
    assert torch.equal(restarted.post[0], start[:, -1])
    with pytest.raises(ReferenceError, match="RL CTM loads with from_reference"):
        reference_model(state, config)
    with pytest.raises(ReferenceError, match="only neuron_select_type 'first-last'"):
        from_reference(state, dict(config, neuron_select_type="random"))
    with pytest.raises(ReferenceError, match="lacks the 'synchronisation' array"):
        with np.load(FIXTURE_DIR / "reference_rl_classic.npz") as data:
            kept = {k: data[k] for k in data.files if k != "synchronisation"}
        path = tmp_path / "rl_without_outputs.npz"
        np.savez(path, **kept)
        compare_with_reference(path)


def test_resnet_backbone_shapes_and_errors():
    net = ResNetBackbone("resnet18-2", channels=1, positional="rotational-2d")
    assert net(torch.randn(2, 1, 16, 16)).shape == (2, 16, 128)  # 16 -> 8 (pool) -> 4 (stage 2): 16 tokens of 128
    with pytest.raises(ValueError, match=r"images must have shape \(batch, 1, height, width\)"):
        net(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="square feature map"):
        net(torch.randn(2, 1, 16, 24))
    assert ResNetBackbone("resnet50-1", 3, "learnable-fourier")(torch.randn(1, 3, 8, 12)).shape == (
        1,
        4 * 6,
        256,
    )  # pool only


def test_reference_forward_layout_and_gradients():
    state, config, arrays = load_fixture(FIRST_LAST)
    model = from_reference(state, config)
    x = torch.from_numpy(arrays["inputs"]).float()
    predictions, certainties = reference_forward(model, x)
    assert predictions.shape == arrays["predictions"].shape
    assert certainties.shape == arrays["certainties"].shape
    torch.testing.assert_close(certainties.sum(1), torch.ones_like(certainties[:, 0]))
    (predictions.square().mean() + certainties[:, 1].mean()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_perturbed_weight_is_detected(tmp_path):
    with np.load(FIRST_LAST) as data:
        arrays = dict(data)
    arrays["state/output_projector.0.bias"] = arrays["state/output_projector.0.bias"] + 1e-3
    path = tmp_path / "perturbed.npz"
    np.savez(path, **arrays)
    assert compare_with_reference(path)["max_abs_logits"] > 5e-4


def test_bad_inputs_raise_one_line_errors(tmp_path):
    state, config, _ = load_fixture(FIRST_LAST)
    with pytest.raises(ReferenceError, match="backbone_type 'shallow-wide' is not supported"):
        from_reference(state, dict(config, backbone_type="shallow-wide"))
    with pytest.raises(ReferenceError, match="positional_embedding_type 'learnable-fourier' is not supported"):
        from_reference(state, dict(config, positional_embedding_type="learnable-fourier"))
    with pytest.raises(ReferenceError, match="needs 'initial_rgb.weight'"):
        from_reference(state, dict(config, backbone_type="resnet18-2", positional_embedding_type="none"))
    with pytest.raises(ReferenceError, match="missing"):
        from_reference({k: v for k, v in state.items() if k != "start_trace"}, config)
    with pytest.raises(ReferenceError, match="shape"):
        from_reference(dict(state, start_trace=torch.zeros(3, 3)), config)
    with pytest.raises(ReferenceError, match="not found"):
        compare_with_reference(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ReferenceError, match="not a readable"):
        compare_with_reference(garbage)
