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


def _edit_meta(path, **changes):
    import json

    meta = json.loads((path / "checkpoint.json").read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
    (path / "checkpoint.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "model.safetensors").write_bytes(b"\x00" * 5), "corrupt"),
        (lambda p: (p / "training.safetensors").unlink(), "lacks training.safetensors"),
        (lambda p: (p / "checkpoint.json").write_text("{not json"), "unreadable"),
        (lambda p: (p / "checkpoint.json").write_text('{"format": "other"}'), "not a NeuroSync checkpoint"),
        (lambda p: _edit_meta(p, step=None), "'step' must be a non-negative integer, got None"),
        (lambda p: _edit_meta(p, step="12"), "'step' must be a non-negative integer, got '12'"),
        (lambda p: _edit_meta(p, step=1.5), "'step' must be a non-negative integer, got 1.5"),
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


def test_what_a_killed_write_leaves_is_cleaned_up_and_a_swapped_out_copy_restored(saved, tmp_path):
    """A kill inside save() leaves .tmp-step-* (unfinished) or, between the two renames of a
    re-save, the only complete copy in .old-step-*/ckpt; train() tidies both."""
    cfg, model, optimizer, path = saved
    (tmp_path / ".tmp-step-00000009-abc").mkdir()
    (tmp_path / ".tmp-step-00000009-abc" / "model.safetensors").write_bytes(b"partial")
    swapped = tmp_path / ".old-step-00000007-xyz"
    swapped.mkdir()
    os.replace(path, swapped / "ckpt")  # killed after the first rename: step-7 exists only here
    assert checkpoint.latest(tmp_path) is None
    removed = checkpoint.clean_stale(tmp_path)
    assert removed == [".old-step-00000007-xyz", ".tmp-step-00000009-abc"]
    assert sorted(os.listdir(tmp_path)) == ["step-00000007"]
    assert checkpoint.load(tmp_path).step == 7


def test_training_cleans_stale_writes_and_never_overwrites_a_foreign_run_directory(tmp_path):
    import json

    from neurosync.config import ConfigError
    from neurosync.training import train

    cfg = tiny_config(steps=2, eval_every=2, checkpoint_every=2)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.json").write_text('{"my": "results"}')
    with pytest.raises(ConfigError, match="already holds results.json but no checkpoint"):
        train(cfg, mine, progress=False)
    assert json.loads((mine / "results.json").read_text()) == {"my": "results"}
    stale = tmp_path / "run" / "checkpoints" / ".tmp-step-00000002-k"
    stale.mkdir(parents=True)
    train(cfg, tmp_path / "run", progress=False)
    assert not stale.exists() and checkpoint.latest(tmp_path / "run" / "checkpoints").name == "step-00000002"


def test_an_optimizer_state_from_another_model_is_refused_before_any_step(saved, tmp_path):
    import shutil

    cfg, model, optimizer, path = saved
    other_cfg = tiny_config()
    other_cfg.model.d_model = 24
    other = build_model(other_cfg)
    other_opt = torch.optim.AdamW(other.parameters())
    other(torch.ones(2, 6)).logits.sum().backward()
    other_opt.step()
    other_path = checkpoint.save(tmp_path / "other", 3, other_cfg, other, other_opt)
    shutil.copy(other_path / "training.safetensors", path / "training.safetensors")  # swapped in by hand
    fresh = torch.optim.AdamW(build_model(cfg).parameters())
    with pytest.raises(checkpoint.CheckpointError, match="the optimizer state belongs to another model") as err:
        checkpoint.restore_training(fresh, checkpoint.load(path))
    assert "\n" not in str(err.value)


def test_a_final_checkpoint_drops_the_optimizer_state_and_still_evaluates(saved):
    """The study keeps only final checkpoints (≤ 50 MB): weights, config, metrics and
    RNG states stay, the Adam moments go, and a resume from it is refused with one line."""
    cfg, model, _, path = saved
    before = (path / "training.safetensors").stat().st_size
    saved_bytes = checkpoint.drop_training_state(path)
    assert saved_bytes == before - (path / "training.safetensors").stat().st_size > 0
    assert checkpoint.drop_training_state(path) == 0  # already final
    assert sorted(os.listdir(path)) == ["checkpoint.json", "model.safetensors", "training.safetensors"]
    ckpt = checkpoint.load(path)
    assert ckpt.step == 7 and ckpt.meta["metrics"] == {"loss": 1.0} and set(ckpt.training_tensors) == {"rng.torch_cpu"}
    loaded, _ = checkpoint.load_model(path)
    x = torch.tensor([[1.0, -1, 1, 1, -1, -1]])
    assert torch.equal(loaded(x).logits, model.eval()(x).logits)
    with pytest.raises(checkpoint.CheckpointError, match="holds no optimizer state") as err:
        checkpoint.restore_training(torch.optim.AdamW(loaded.parameters()), ckpt)
    assert "\n" not in str(err.value)
