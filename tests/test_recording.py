"""Recording: one thought as a multi-unit recording; consistent with the forward pass; NPZ round trip."""

import numpy as np
import pytest
import torch

from conftest import tiny_config
from neurosync.build import build_model
from neurosync.recording import Recording


def _model(neuron="spiking", synapse="plastic", substeps=2):
    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synapse = neuron, synapse
    cfg.model.synchrony = "spike-multiscale" if neuron == "spiking" else "decayed-pairwise"
    cfg.model.spiking.substeps = substeps
    sp = cfg.model.spiking  # ticks of substeps · 2 ms
    sp.dt_ms, sp.tau_min_ms, sp.tau_membrane_ms, sp.filter_tau_min_ms, sp.filter_tau_max_ms = 2.0, 2.0, 4.0, 3.0, 8.0
    return build_model(cfg), cfg


def _x():
    return torch.randint(0, 2, (3, 6), generator=torch.Generator().manual_seed(0)).float() * 2 - 1


def test_spiking_recording_is_consistent_with_the_forward_pass():
    model, cfg = _model()
    recording = model.record(_x(), config=cfg)
    assert recording.dt == pytest.approx(0.004)  # the model's own tick: 2 steps of 2 ms
    out = model(_x())
    assert recording.kind == "spiking" and (recording.samples, recording.ticks, recording.neurons) == (3, 4, 16)
    np.testing.assert_allclose(recording.logits, out.logits.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(recording.certainty, out.certainty.detach().numpy(), atol=1e-6)
    # events -> raster: 2 simulation steps per tick, whose sum is the tick's activity (spikes per tick)
    for sample in range(3):
        raster = recording.spikes(sample)
        assert raster.shape == (8, 16)
        np.testing.assert_allclose(raster.reshape(4, 2, 16).sum(1), recording.activity[sample])
    assert recording.membrane.shape == (3, 8, 16) and recording.attention.shape == (3, 4, 2, 6)
    assert recording.synchrony_out.shape[-1] == 3 * recording.synchrony("out", 1).shape[-1]
    assert recording.plastic_norm.shape == (3, 4) and recording.plastic_norm[:, -1].max() > 0
    assert recording.config["model"]["neuron"] == "spiking"
    assert torch.is_grad_enabled()


def test_spike_times_are_in_seconds():
    model, _ = _model(substeps=2)
    recording = model.record(_x())
    assert recording.step_duration == pytest.approx(0.002)
    raster = recording.spikes(0)
    for neuron, times in enumerate(recording.spike_times(0)):
        np.testing.assert_allclose(times, np.nonzero(raster[:, neuron])[0] * 0.002)


def test_rate_recording_has_activations_and_no_spikes():
    model, _ = _model("nlm", "mlp")
    recording = model.record(_x())
    assert recording.kind == "rate" and recording.membrane is None and recording.plastic_norm is None
    assert recording.activity.shape == (3, 4, 16) and recording.dt == 1e-3
    with pytest.raises(ValueError, match="has no spikes"):
        recording.spikes(0)


def test_save_and_load_round_trip_and_bad_files(tmp_path):
    model, cfg = _model()
    recording = model.record(_x(), config=cfg)
    path = recording.save(tmp_path / "thought.npz")
    loaded = Recording.load(path)
    assert loaded.dt == 0.004 and loaded.kind == "spiking" and loaded.scales == recording.scales
    for name in ("activity", "pre", "membrane", "attention", "logits", "spike_step", "plastic_norm"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(recording, name))
    assert loaded.config == recording.config
    (tmp_path / "bad.npz").write_bytes(b"not a recording")
    with pytest.raises(ValueError, match="is not a readable NeuroSync recording"):
        Recording.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", meta=np.array('{"format": "something-else"}'))
    with pytest.raises(ValueError, match="is not a NeuroSync recording"):
        Recording.load(tmp_path / "other.npz")


def test_record_takes_the_tick_duration_from_a_spiking_model_and_a_declared_one_for_a_rate_model():
    model, _ = _model()
    assert model.record(_x(), dt=0.004).dt == 0.004  # agreeing with the model is allowed
    with pytest.raises(ValueError, match="this SpikingCTM's tick lasts 4 ms"):
        model.record(_x(), dt=0.01)
    rate, _ = _model("nlm", "mlp")
    assert rate.record(_x(), dt=0.01).dt == 0.01
    with pytest.raises(ValueError, match="dt must be > 0"):
        rate.record(_x(), dt=0.0)


def test_a_thought_can_be_recorded_longer_than_trained():
    model, cfg = _model(substeps=1)
    recording = model.record(_x(), config=cfg, ticks=50)
    assert recording.ticks == 50 and recording.spikes(0).shape == (50, 16) and model.ticks == 4
    short = model.record(_x(), config=cfg)
    np.testing.assert_allclose(recording.logits[:, :4], short.logits, atol=1e-6)  # the first ticks are the same thought
    with pytest.raises(ValueError, match="positive integer"):
        model.record(_x(), ticks=0)


def test_a_subset_keeps_the_chosen_thoughts_and_their_spikes():
    from conftest import tiny_config
    from neurosync.build import build_model

    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synchrony = "spiking", "spike-multiscale"
    cfg.model.spiking.threshold = 0.05
    model = build_model(cfg)
    x = torch.randint(0, 2, (3, 6), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
    recording = model.record(x, ticks=20, repeats=2)
    part = recording.subset([4, 1])
    assert part.samples == 2 and part.sample_input.tolist() == [2, 0] and part.sample_repeat.tolist() == [0, 1]
    np.testing.assert_array_equal(part.spikes(0), recording.spikes(4))
    np.testing.assert_array_equal(part.spikes(1), recording.spikes(1))
    np.testing.assert_array_equal(part.membrane[1], recording.membrane[1])
    with pytest.raises(ValueError, match="must index this recording's 6 thoughts"):
        recording.subset([6])


def _rewrite(path, out, drop=(), meta_changes=None, arrays=None):
    import json

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        stored = {k: data[k] for k in data.files if k != "meta" and k not in drop}
    for key, value in (meta_changes or {}).items():
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
    stored.update(arrays or {})
    np.savez(out, meta=np.array(json.dumps(meta)), **stored)
    return out


def test_damaged_recordings_are_refused_in_one_line(tmp_path):
    """Truncated files, missing keys, a missing dt and wrongly shaped arrays name the problem."""
    model, cfg = _model()
    path = model.record(_x(), config=cfg).save(tmp_path / "thought.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    cases = [
        (truncated, "truncated or not an .npz archive"),
        (_rewrite(path, tmp_path / "a.npz", drop=("activity",)), "lacks activity"),
        (_rewrite(path, tmp_path / "b.npz", meta_changes={"dt": None}), "lacks dt"),
        (_rewrite(path, tmp_path / "c.npz", meta_changes={"dt": -1.0}), "dt must be a positive number"),
        (
            _rewrite(path, tmp_path / "d.npz", arrays={"activity": np.zeros(5)}),
            r"activity must have 3 dimensions \(samples, ticks, neurons\)",
        ),
        (
            _rewrite(path, tmp_path / "e.npz", arrays={"certainty": np.zeros((1, 4))}),
            "certainty holds 1 thoughts, activity 3",
        ),
        (_rewrite(path, tmp_path / "f.npz", meta_changes={"substeps": 0}), "substeps must be an integer >= 1"),
        (_rewrite(path, tmp_path / "g.npz", arrays={"extra": np.zeros(2)}), "unknown recording arrays extra"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            Recording.load(bad)
        assert "\n" not in str(err.value), bad
