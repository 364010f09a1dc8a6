"""The RateCTM reproduces the reference CTM's outputs at every tick from its weights."""

import json

import numpy as np
import pytest
import torch

from conftest import REPO, SHARED_FIXTURE
from neurosync.reference import ReferenceError, compare_with_reference, from_reference, load_fixture, reference_forward

FIXTURES = sorted((REPO / "tests" / "fixtures").glob("reference_*.npz"))
TOLERANCE = 1e-5


@pytest.mark.skipif(not SHARED_FIXTURE.exists(), reason="shared/fixtures not beside the repo")
def test_shared_fixture_matches_every_tick():
    result = compare_with_reference(SHARED_FIXTURE)
    assert result["max_abs_logits"] <= TOLERANCE
    assert result["max_abs_certainty"] <= TOLERANCE
    assert result["max_abs_synchrony"] <= TOLERANCE


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_reference_variants_match_every_tick(path):
    """Self pairs, first-last and dense random pairing, U-Net synapses, shallow NLMs, other
    widths/ticks/memory lengths, no positional embedding (made by make_reference_fixtures.py)."""
    result = compare_with_reference(path)
    assert max(result.values()) <= TOLERANCE, result


def test_fixture_set_covers_the_options():
    configs = [json.loads(str(np.load(p)["config"])) for p in FIXTURES]
    assert {c["neuron_select_type"] for c in configs} == {"random-pairing", "first-last", "random"}
    assert any(c["synapse_depth"] > 1 for c in configs)
    assert any(not c["deep_nlms"] for c in configs)
    assert any(c["n_random_pairing_self"] > 0 for c in configs)
    assert any(c["positional_embedding_type"] == "none" for c in configs)


def test_reference_forward_layout_and_gradients():
    state, config, arrays = load_fixture(FIXTURES[0])
    model = from_reference(state, config)
    x = torch.from_numpy(arrays["inputs"]).float()
    predictions, certainties = reference_forward(model, x)
    assert predictions.shape == arrays["predictions"].shape
    assert certainties.shape == arrays["certainties"].shape
    torch.testing.assert_close(certainties.sum(1), torch.ones_like(certainties[:, 0]))
    (predictions.square().mean() + certainties[:, 1].mean()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_perturbed_weight_is_detected(tmp_path):
    with np.load(FIXTURES[0]) as data:
        arrays = dict(data)
    arrays["state/output_projector.0.bias"] = arrays["state/output_projector.0.bias"] + 1e-3
    path = tmp_path / "perturbed.npz"
    np.savez(path, **arrays)
    assert compare_with_reference(path)["max_abs_logits"] > 5e-4


def test_bad_inputs_raise_one_line_errors(tmp_path):
    state, config, _ = load_fixture(FIXTURES[0])
    with pytest.raises(ReferenceError, match="backbone_type"):
        from_reference(state, dict(config, backbone_type="resnet18-2"))
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
