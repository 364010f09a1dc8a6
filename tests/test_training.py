import json

import pytest
import torch

from conftest import parity3_config, read_metrics, tiny_config
from neurosync import checkpoint
from neurosync.build import build_model
from neurosync.config import ConfigError
from neurosync.training import learning_rate, train


def _weights(run_dir):
    ckpt = checkpoint.load(run_dir)
    return ckpt.step, ckpt.model_state


def test_resume_equals_uninterrupted_run_bit_for_bit(tmp_path):
    cfg = tiny_config(steps=6, checkpoint_every=3)
    cfg.model.dropout = 0.1  # dropout draws from the global RNG, which the checkpoint must carry
    train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "split", progress=False, stop_after=3)
    assert _weights(tmp_path / "split")[0] == 3
    torch.manual_seed(12345)  # a resumed process starts from an unrelated RNG state
    train(cfg, tmp_path / "split", resume=True, progress=False)
    step_a, full = _weights(tmp_path / "full")
    step_b, resumed = _weights(tmp_path / "split")
    assert step_a == step_b == 6
    for name in full:
        assert torch.equal(full[name], resumed[name]), name


def test_a_resumed_run_counts_its_earlier_training_time(tmp_path):
    """elapsed_s is the whole run's training time: a resumed process starts from the checkpoint's trained_s."""
    cfg = tiny_config(steps=6, checkpoint_every=3, eval_every=3)
    train(cfg, tmp_path, progress=False, stop_after=3)
    before = checkpoint.load(tmp_path / "checkpoints" / "step-00000003").meta["metrics"]["trained_s"]
    assert before > 0
    result = train(cfg, tmp_path, resume=True, progress=False)
    elapsed = [r["elapsed_s"] for r in read_metrics(tmp_path)]
    assert len(elapsed) == 2 and elapsed[0] <= before <= elapsed[1] <= result["elapsed_s"]


def test_training_learns_a_small_parity_and_writes_the_run(tmp_path):
    result = train(parity3_config(), tmp_path, progress=False)
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [10, 20, 30, 40, 50, 60]
    assert (tmp_path / "results.json").exists() and (tmp_path / "config.json").exists()
    assert result["eval_samples"] == 8  # all 2**3 sequences
    assert records[-1]["loss"] < 0.85 * records[0]["loss"]  # eval loss falls by 15% or more
    assert result["final"]["bit_acc_certain"] > 0.6  # above chance (0.5)


def test_a_run_directory_with_checkpoints_is_never_overwritten(tmp_path):
    cfg = tiny_config(steps=3)
    train(cfg, tmp_path, progress=False)
    before = (tmp_path / "checkpoints" / "step-00000003" / "model.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, tmp_path, progress=False)
    assert (tmp_path / "checkpoints" / "step-00000003" / "model.safetensors").read_bytes() == before


def test_resume_rejects_a_different_model(tmp_path):
    train(tiny_config(steps=3), tmp_path, progress=False)
    other = tiny_config(steps=6)
    other.model.d_model = 20
    with pytest.raises(ConfigError, match="differ"):
        train(other, tmp_path, resume=True, progress=False)


def test_time_budget_stops_early_and_still_checkpoints(tmp_path):
    cfg = tiny_config(steps=10_000, time_budget_s=0.5, eval_every=10_000, checkpoint_every=10_000)
    result = train(cfg, tmp_path, progress=False)
    assert 0 < result["steps"] < 10_000
    assert checkpoint.load(tmp_path).step == result["steps"]


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = tiny_config(steps=100, warmup_steps=10, lr=1e-3, min_lr_ratio=0.1).train
    lrs = [learning_rate(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert learning_rate(100, cfg) == pytest.approx(1e-4)


def test_torchrun_two_processes_train_with_ddp(tmp_path):
    """Multi-process data parallelism (gloo on CPU): rank 0 evaluates and saves."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "neurosync.cli",
        "train",
        str(repo / "configs" / "parity" / "parity16-rate.toml"),
        "--quiet",
        "--run-dir",
        str(tmp_path),
        "--set",
        "train.steps=3",
        "--set",
        "model.d_model=16",
        "--set",
        "model.ticks=2",
        "--set",
        "model.n_synch_out=4",
        "--set",
        "model.n_synch_action=4",
        "--set",
        "train.final_eval_samples=8",
        "--set",
        "train.eval_samples=8",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["world_size"] == 2 and result["steps"] == 3
    assert checkpoint.load(tmp_path).step == 3


def test_compiled_ticks_match_eager_ticks():
    """train.compile = true compiles the tick body; outputs and gradients equal eager mode."""
    cfg = tiny_config()
    eager, compiled = build_model(cfg), build_model(cfg)
    compiled.compile_ticks(dynamic=False)
    x = torch.randint(0, 2, (8, 6), generator=torch.Generator().manual_seed(1)).float() * 2 - 1
    out_e, out_c = eager(x), compiled(x)
    torch.testing.assert_close(out_c.logits, out_e.logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out_c.certainty, out_e.certainty, rtol=1e-5, atol=1e-6)
    (out_e.logits.square().mean() + out_e.certainty.mean()).backward()
    (out_c.logits.square().mean() + out_c.certainty.mean()).backward()
    for (name, pe), pc in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(pc.grad, pe.grad, rtol=1e-4, atol=1e-6, msg=name)
    compiled.eval()  # evaluation runs the eager tick: no recompilation for new batch sizes
    torch.testing.assert_close(compiled(x[:3]).logits, eager.eval()(x[:3]).logits, rtol=1e-5, atol=1e-6)


def test_cuda_graphs_and_compiled_ticks_are_not_combined():
    """train.cuda_graphs captures the eager ticks (tests/test_step_graph.py); with train.compile too, one line says so."""
    with pytest.raises(ConfigError, match="train.cuda_graphs and train.compile are not combined"):
        tiny_config(cuda_graphs=True, compile=True)


def test_denormals_are_flushed_inside_the_block_and_kept_after_it():
    """The CLI's and every job's numeric mode: inside, a float32 result below 1.2e-38 is 0 and any other
    is untouched; after, IEEE-754 subnormals again (a caller's own work, e.g. hypothesis, needs them)."""
    from neurosync.training import denormals_flushed

    tiny = torch.finfo(torch.float32).tiny
    x = torch.tensor([tiny, 4 * tiny, 1.0, -3 * tiny])
    with denormals_flushed() as supported:
        if not supported:
            pytest.skip("this CPU has no flush-to-zero mode")
        assert (x * 0.5).tolist() == [0.0, 2 * tiny, 0.5, -1.5 * tiny]  # tiny / 2 is subnormal: flushed
        with denormals_flushed():  # a job inside a command: the command keeps flushing after it
            pass
        assert (x * 0.5)[0].item() == 0.0
    assert (x * 0.5)[0].item() == tiny / 2 > 0
