import os

import pytest
import torch

from conftest import tiny_config
from neurosync import checkpoint
from neurosync.build import build_model


@pytest.fixture
def saved(tmp_path):
    cfg = tiny_config()
    model = build_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(2, 6)).logits.sum().backward()
    optimizer.step()
    path = checkpoint.save(tmp_path, 7, cfg, model, optimizer, {"loss": 1.0})
    return cfg, model, optimizer, path


def test_round_trip_restores_model_and_optimizer(saved):
    cfg, model, optimizer, path = saved
    ckpt = checkpoint.load(path)
    assert ckpt.step == 7 and ckpt.config == cfg
    fresh = build_model(cfg)
    with torch.no_grad():
        for p in fresh.parameters():
            p.add_(1.0)
    checkpoint.restore_model(fresh, ckpt)
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    opt = torch.optim.AdamW(fresh.parameters())
    checkpoint.restore_training(opt, ckpt)
    saved_state, restored_state = optimizer.state_dict()["state"], opt.state_dict()["state"]
    assert saved_state.keys() == restored_state.keys()
    for index, entry in saved_state.items():
        assert all(torch.equal(entry[k], restored_state[index][k]) for k in entry), index


def test_no_temporary_files_are_left_and_latest_is_found(saved, tmp_path):
    cfg, model, optimizer, _ = saved
    checkpoint.save(tmp_path, 12, cfg, model, optimizer)
    assert sorted(os.listdir(tmp_path)) == ["step-00000007", "step-00000012"]
    assert checkpoint.resolve(tmp_path).name == "step-00000012"


def test_a_failed_write_keeps_the_previous_checkpoint(saved, tmp_path, monkeypatch):
    cfg, model, optimizer, path = saved
    before = (path / "model.safetensors").read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", explode)
    with pytest.raises(OSError):
        checkpoint.save(tmp_path, 7, cfg, model, optimizer)
    assert (path / "model.safetensors").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["step-00000007"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "model.safetensors").write_bytes(b"\x00" * 5), "corrupt"),
        (lambda p: (p / "training.safetensors").unlink(), "lacks training.safetensors"),
        (lambda p: (p / "checkpoint.json").write_text("{not json"), "unreadable"),
        (lambda p: (p / "checkpoint.json").write_text('{"format": "other"}'), "not a NeuroSync checkpoint"),
    ],
)
def test_damaged_checkpoints_raise_one_line_errors(saved, damage, message):
    path = saved[3]
    damage(path)
    with pytest.raises(checkpoint.CheckpointError, match=message) as err:
        checkpoint.load(path)
    assert "\n" not in str(err.value)


def test_weights_that_do_not_fit_are_reported(saved):
    cfg, _, _, path = saved
    other = tiny_config()
    other.model.d_model = 20
    with pytest.raises(checkpoint.CheckpointError, match="do not fit"):
        checkpoint.restore_model(build_model(other), checkpoint.load(path))
