"""The comparison measures on hand-computed cases, the study end to end at its --quick settings
(report, exports, Brian2), and the analyze/export commands."""

import json

import numpy as np
import pytest
import torch

from conftest import REPO, tiny_config
from neurosync import compare
from neurosync.build import build_model
from neurosync.cli import main
from neurosync.config import ConfigError
from neurosync.study import load_study, run_study, summary_markdown


def test_ece_by_hand_and_for_a_calibrated_model():
    ece, table = compare.expected_calibration_error([0.95, 0.95, 0.65, 0.65], [1, 0, 1, 1])
    # bin (0.9, 1]: accuracy 0.5 at confidence 0.95; bin (0.6, 0.7]: 1.0 at 0.65; each half the predictions
    assert ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.35)
    assert [row["count"] for row in table] == [2, 2]
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 200_000)
    assert compare.expected_calibration_error(confidence, rng.random(200_000) < confidence)[0] < 0.01


def test_bounded_interval_stays_in_bounds_and_contains_the_mean():
    """Accuracies near 1 with a wide spread got a t band reaching 1.1; the logit-scale
    interval stays inside [0, 1], contains the mean, and matches a hand computation."""
    from scipy.special import expit, logit
    from scipy.stats import t

    values = [0.999, 0.99, 0.90]
    mean, low, high = compare.bounded_mean_ci(values)
    z = logit(np.array(values))
    half = t.ppf(0.975, 2) * z.std(ddof=1) / np.sqrt(3)
    assert mean == pytest.approx(np.mean(values)) and low == pytest.approx(expit(z.mean() - half))
    assert high == pytest.approx(expit(z.mean() + half)) and 0 <= low <= mean <= high <= 1
    assert compare.mean_ci(values)[0] + compare.mean_ci(values)[1] > 1  # what the t band did
    assert compare.bounded_mean_ci([1.0, 1.0, 1.0]) == (1.0, pytest.approx(1.0), pytest.approx(1.0))
    assert compare.bounded_mean_ci([0.7]) == (0.7, 0.7, 0.7)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        compare.bounded_mean_ci([0.5, 1.2])


def test_mean_ci_is_the_student_t_interval():
    mean, half = compare.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-6)
    assert compare.mean_ci([5.0]) == (5.0, 0.0)


def test_thought_metrics_and_energy_proxy():
    cfg = tiny_config()
    cfg.model.neuron, cfg.model.synchrony = "spiking", "spike-multiscale"
    spiking = build_model(cfg)
    rate = build_model(tiny_config())
    x = torch.randint(0, 2, (40, 6), generator=torch.Generator().manual_seed(1)).float() * 2 - 1
    y = torch.remainder(torch.cumsum((x == -1).long(), 1), 2)
    metrics = compare.thought_metrics(spiking, x, y, (x == -1).sum(1).numpy(), threshold=0.5)
    assert len(metrics["accuracy_by_tick"]) == 4 and 1 <= metrics["stop_tick_mean"] <= 4
    assert 0 <= metrics["ece"] <= 1 and sum(d["count"] for d in metrics["by_difficulty"]) == 40
    with pytest.raises(ValueError, match="threshold"):
        compare.thought_metrics(spiking, x, y, threshold=0.0)
    recording = spiking.record(x[:5], config=cfg)
    energy = compare.energy_proxy(spiking, recording)
    fan_out = spiking.synapse.linear.out_features
    assert energy["operations"] == pytest.approx(recording.spike_step.size / 5 * fan_out)
    rate_energy = compare.energy_proxy(rate, rate.record(x[:5]))
    assert rate_energy["operations"] == 4 * 16 * rate.synapse.linear.out_features
    assert rate_energy["energy_nj"] == pytest.approx(rate_energy["operations"] * 4.6e-3)


class _Scripted(torch.nn.Module):
    """A 'model' whose certainty and answers per tick are given: 4 ticks, 3 classes."""

    prediction_shape = (3,)

    def __init__(self, certainty, answers):
        super().__init__()
        self.certainty, self.answers = torch.tensor(certainty), torch.tensor(answers)

    def forward(self, x):
        from types import SimpleNamespace

        logits = torch.nn.functional.one_hot(self.answers, 3).float() * 5
        return SimpleNamespace(logits=logits, certainty=self.certainty)


def test_an_episodic_answer_is_looked_for_in_its_window_only():
    # one sample: most certain (0.99) at tick 1, before the question, with a wrong answer; right at ticks 3-4
    model = _Scripted([[0.99, 0.5, 0.6, 0.9]], [[1, 1, 2, 2]])
    x, y = torch.zeros(1, 1), torch.tensor([[2]])
    anywhere = compare.thought_metrics(model, x, y, threshold=0.8)
    assert anywhere["accuracy_certain"] == 0.0 and anywhere["stop_tick_mean"] == 1 and anywhere["answer_from_tick"] == 1
    windowed = compare.thought_metrics(model, x, y, threshold=0.8, answer_ticks=2)
    assert windowed["accuracy_certain"] == 1.0 and windowed["stop_tick_mean"] == 4 and windowed["answer_from_tick"] == 3
    assert windowed["accuracy_by_tick"] == [0.0, 0.0, 1.0, 1.0] and windowed["accuracy_stopped"] == 1.0
    with pytest.raises(ValueError, match="answer_ticks must lie in"):
        compare.thought_metrics(model, x, y, answer_ticks=5)


def test_bad_study_files_are_rejected_in_one_line(tmp_path, capsys):
    good = (REPO / "experiments" / "study.toml").read_text().replace('"../configs/', f'"{REPO}/configs/')  # absolute
    cases = {
        "unknown": good.replace("seeds =", "sedes = [1]\nseeds ="),
        "seeds": good.replace("seeds = [0, 1, 2]", "seeds = [0, 0]"),
        "configs": good.replace('digits-rate.toml"', 'missing.toml"'),
        "task": good.replace('digits/digits-rate.toml"', 'sort/sort8-rate.toml"').replace(
            'digits/digits-spiking.toml"', 'sort/sort8-spiking.toml"'
        ),
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        with pytest.raises(ConfigError):
            load_study(path)
        assert main(["study", str(path), "--out", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("neurosync: error:") and "\n" not in err
    assert main(["study", str(tmp_path / "nope.toml")]) == 2


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "run"  # through the CLI, as the README runs it
    assert main(["study", str(REPO / "experiments" / "study.toml"), "--quick", "--quiet", "--out", str(out)]) == 0
    return out, json.loads((out / "study.json").read_text())


def test_quick_study_writes_a_self_contained_report_and_exports(quick_study):
    import nir
    import pynwb

    out, summary = quick_study
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 8 and "Spiking vs rate" in page and '<img src="http' not in page
    saved = json.loads((out / "study.json").read_text())
    for kind in ("rate", "spiking", "cortical"):
        assert len(saved["comparison"][kind]["accuracy_certain"]["values"]) == 3
        ece = saved["comparison"][kind]["ece"]
        assert 0 <= ece["ci95_low"] <= ece["mean"] <= ece["ci95_high"] <= 1
        # halting at the study's threshold: the ticks it computes and the wall time it saves
        ticks = len(saved["comparison"][kind]["accuracy_by_tick"]["mean"])
        assert 1 <= saved["comparison"][kind]["halting_ticks"]["mean"] <= ticks
        assert saved["comparison"][kind]["halting_speedup"]["mean"] > 0
    assert "halted there" in page
    for kind in ("spiking", "cortical"):  # the cortical core: plastic, Dale's law, noise, 20 sub-steps per tick
        assert saved["brian2"][kind]["mismatched_bins"] == 0 and saved["brian2"][kind]["spikes_pytorch"] > 0, saved[
            "brian2"
        ]
    for kind in ("spiking", "cortical"):  # the regime of every seed, not only of the analysed first one
        regimes = saved["regime_by_seed"][kind]
        assert sorted(regimes) == ["0", "1", "2"] and all(len(r["values"]) == 11 for r in regimes.values())
    assert "The regime of every seed" in page and "| seed | in the cortical range |" in summary_markdown(saved)
    cortical = {row["statistic"]: row for row in saved["analysis"]["cortical"]["physiology"]["rows"]}
    assert saved["analysis"]["cortical"]["physiology"]["repeats"] == 4 and cortical["fano_factor"]["value"] is not None
    assert "ei_balance" in cortical and "rate_excitatory_hz" in cortical
    assert (
        saved["analysis"]["cortical"]["ticks"] * 20 == saved["analysis"]["spiking"]["ticks"]
    )  # 20-ms ticks, the same seconds
    assert not [f for f in saved["nwbinspector"] if f.split(":")[0] in ("CRITICAL", "ERROR", "PYNWB_VALIDATION")]
    exports = out / "exports"
    with pynwb.NWBHDF5IO(str(exports / "spiking_thought.nwb"), "r") as io:
        assert len(io.read().units) == saved["analysis"]["spiking"]["neurons"]
    assert "soma" in nir.read(str(exports / "spiking_core.nir")).nodes
    for name in (
        "rate_thought.npz",
        "spiking_thought.nix",
        "spiking_spectrum.csv",
        "rate_spectrum_bands.csv",
        "cortical_thought.nwb",
        "cortical_core.nir",
    ):
        assert (exports / name).stat().st_size > 0
    for name in ("accuracy_by_tick", "reliability"):
        assert (out / "figures" / f"{name}.svg").exists()
    assert not (out / "figures" / "adaptive_compute.svg").exists()  # digits have no difficulty to plot against
    # final checkpoints only (no optimizer state), and the study says what it wrote
    for run in (out / "runs").iterdir():
        assert (
            json.loads(next((run / "checkpoints").iterdir()).joinpath("checkpoint.json").read_text())["optimizer"]
            is None
        )
    written = saved["written_mb"]
    assert written["total"] == pytest.approx(sum(v for k, v in written.items() if k != "total"), abs=0.05)
    assert {"runs", "exports", "analysis"} <= set(written) and written["total"] > 0
    with pytest.raises(ValueError, match="not empty"):
        run_study(load_study(REPO / "experiments" / "study.toml", quick=True), out, progress=False)


def test_analyze_and_export_commands(quick_study, tmp_path, capsys):
    out, _ = quick_study
    run = out / "runs" / "spiking-seed0"
    assert (
        main(["analyze", str(run), "--ticks", "64", "--samples", "3", "--repeats", "2", "--out", str(tmp_path / "a")])
        == 0
    )
    summary = json.loads((tmp_path / "a" / "analysis.json").read_text())
    assert summary["ticks"] == 64 and summary["samples"] == 6 and (tmp_path / "a" / "analysis.html").exists()
    card = {row["statistic"]: row for row in summary["physiology"]["rows"]}
    assert summary["physiology"]["repeats"] == 2 and card["fano_factor"]["value"] is None
    assert "deterministic" in card["fano_factor"]["note"]  # digits-spiking has no intrinsic noise
    assert "| median_cv_isi |" in (tmp_path / "a" / "physiology.md").read_text()
    assert main(["analyze", str(out / "exports" / "rate_thought.npz"), "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "analysis.json").read_text())["kind"] == "rate"
    for fmt, name in (("nwb", "t.nwb"), ("neo", "t.nix"), ("nir", "core.nir"), ("npz", "t.npz"), ("csv", "s.csv")):
        assert main(["export", str(run), "--format", fmt, "--samples", "2", "--out", str(tmp_path / name)]) == 0
        assert (tmp_path / name).stat().st_size > 0
    capsys.readouterr()
    # bad input: one line, exit 2, nothing overwritten
    before = (tmp_path / "t.nwb").read_bytes()
    assert main(["export", str(run), "--format", "nwb", "--out", str(tmp_path / "t.nwb")]) == 2
    assert (tmp_path / "t.nwb").read_bytes() == before
    assert (
        main(["export", str(out / "exports" / "rate_thought.npz"), "--format", "nir", "--out", str(tmp_path / "x.nir")])
        == 2
    )
    assert main(["analyze", str(tmp_path / "missing.npz")]) == 2
    (tmp_path / "junk.npz").write_bytes(b"not a recording")
    assert main(["analyze", str(tmp_path / "junk.npz"), "--out", str(tmp_path / "c")]) == 2
    assert main(["analyze", str(run), "--repeats", "0", "--out", str(tmp_path / "d")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 5 and all(line.startswith("neurosync: error:") for line in errors)


def test_synchrony_structure_of_identical_and_independent_neurons():
    from test_analysis import _recording

    rng = np.random.default_rng(3)
    source = rng.random((2, 500, 1)) < 0.1
    together = _recording(np.repeat(source, 4, axis=2).astype(float))  # 4 copies of one train
    result = compare.synchrony_structure(together, (1e-3, 4e-3))
    np.testing.assert_allclose(result["mean_abs_offdiag"], 1.0, atol=1e-5)
    assert result["participation_ratio"] == pytest.approx(1.0, abs=1e-4)  # one group
    apart = _recording((rng.random((2, 5000, 4)) < 0.1).astype(float))
    result = compare.synchrony_structure(apart, (1e-3,))
    assert result["mean_abs_offdiag"][0] < 0.05 and result["participation_ratio"] == pytest.approx(4.0, abs=0.2)


def test_the_memory_study_compares_plasticity(tmp_path):
    """The second study file, recall with a plastic SpikingCTM among the kinds; answers read in the
    answer window only, and Brian2 exact mode checks the fast weight's trajectory."""
    out = tmp_path / "recall"
    assert (
        main(["study", str(REPO / "experiments" / "study-recall.toml"), "--quick", "--quiet", "--out", str(out)]) == 0
    )
    saved = json.loads((out / "study.json").read_text())
    assert set(saved["comparison"]) >= {"rate", "spiking", "plastic"} and saved["seeds"] == [0, 1]
    run = json.loads((out / "study.json").read_text())["comparison"]["plastic"]["accuracy_certain"]
    assert len(run["values"]) == 2 and 0 <= run["ci95_low"] <= run["mean"] <= run["ci95_high"] <= 1
    plastic = saved["brian2"]["plastic"]
    assert plastic["mismatched_bins"] == 0 and plastic["fast_weight_ticks"] == 20 and plastic["passed"]
    assert plastic["fast_weight_max_abs"] > 0 and plastic["fast_weight_max_abs_difference"] < 1e-9
    assert "fast_weight_ticks" not in saved["brian2"]["spiking"]
    assert "the fast weight" in (out / "report.html").read_text()


def test_the_parity_study_plots_adaptive_compute_by_difficulty(tmp_path):
    """experiments/study-parity8.toml: the same design on parity, whose inputs have a difficulty
    (the number of −1): the ticks to certainty and the accuracy there, per difficulty."""
    out = tmp_path / "parity"
    assert (
        main(["study", str(REPO / "experiments" / "study-parity8.toml"), "--quick", "--quiet", "--out", str(out)]) == 0
    )
    saved = json.loads((out / "study.json").read_text())
    assert saved["name"] == "study-parity8" and set(saved["comparison"]) >= {"rate", "spiking", "cortical"}
    assert (out / "figures" / "adaptive_compute.svg").exists() and "adaptive_compute" in (
        out / "report.html"
    ).read_text()
