"""Learning targets of the shipped configs (slow: minutes each). Run: python -m pytest -m slow"""

import time

import pytest

from conftest import REPO
from neurosync import config as config_mod
from neurosync.training import train


@pytest.mark.slow
def test_parity16_rate_reaches_the_target_within_ten_minutes(tmp_path):
    """configs/parity/parity16-rate.toml: >= 99% per-bit and >= 90% whole-sequence accuracy at the most
    certain tick on all 65,536 inputs, trained in at most 10 minutes (2 CPU cores)."""
    cfg = config_mod.load(REPO / "configs" / "parity" / "parity16-rate.toml")
    started = time.perf_counter()
    result = train(cfg, tmp_path, progress=False)
    train_seconds = result["elapsed_s"]
    assert result["eval_samples"] == 2**16
    assert result["final"]["bit_acc_certain"] >= 0.99, result
    assert result["final"]["seq_acc_certain"] >= 0.90, result
    assert train_seconds <= 600, (
        f"training took {train_seconds:.0f} s (total with evaluation {time.perf_counter() - started:.0f} s)"
    )


@pytest.mark.slow
def test_parity16_spiking_reaches_the_target_within_fifteen_minutes(tmp_path):
    """configs/parity/parity16-spiking.toml: >= 95% per-bit accuracy at the most certain tick on all
    65,536 inputs, trained in at most 15 minutes (2 CPU cores), with firing alive and sparse."""
    cfg = config_mod.load(REPO / "configs" / "parity" / "parity16-spiking.toml")
    result = train(cfg, tmp_path, progress=False)
    final = result["final"]
    assert result["eval_samples"] == 2**16
    assert final["bit_acc_certain"] >= 0.95, result
    assert result["elapsed_s"] <= 900, f"training took {result['elapsed_s']:.0f} s"
    assert 0.01 < final["firing_rate"] < 0.5 and final["silent_fraction"] < 0.05, final
