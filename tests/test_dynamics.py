"""A thought as population dynamics: the decoder at chance without a signal and on time with a
planted one, certainty crossings, the participation ratio and trajectories on hand-made states,
GPFA on spike trains, and the refusals."""

import numpy as np
import pytest
from test_physiology import _recording

from neurosync.analysis import dynamics


def _states(activity: np.ndarray, repeats: int = 1):
    """A Recording whose activity (thoughts, ticks, neurons) is ``activity``."""
    recording = _recording((activity > 0).astype(float), repeats=repeats)
    recording.activity = activity
    return recording


def test_the_decoder_stays_at_chance_when_the_state_carries_no_label():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 20)
    result = dynamics.decode_over_time(_states(rng.standard_normal((80, 6, 10))), labels, shuffles=20)
    assert result["chance"] == pytest.approx(0.25) and result["folds"] == 5 and result["classes"] == 4
    assert abs(result["accuracy"].mean() - 0.25) < 0.1
    assert (result["accuracy"] <= result["band"] + 0.05).all()


def test_the_decoder_finds_a_label_planted_from_tick_3_on():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 20)
    activity = rng.standard_normal((60, 8, 12))
    activity[:, 3:, :3] += 3.0 * np.eye(3)[labels][:, None, :]  # label k lifts neuron k from tick 3 on
    result = dynamics.decode_over_time(_states(activity), labels)
    assert result["first_decodable_tick"] == 3
    assert (result["accuracy"][3:] > 0.9).all() and (result["accuracy"][:3] < result["band"][:3] + 0.05).all()
    low, high = result["interval"][3]
    assert low < result["accuracy"][3] <= high
    assert result["times_s"][3] == pytest.approx(4e-3)  # the end of the fourth 1-ms tick


def test_repeats_of_one_input_stay_in_one_fold():
    """Each input's repeats are copies: with folds by input a label that only input identity
    predicts (one input per label and fold) is not decodable; copies across folds would be."""
    rng = np.random.default_rng(2)
    inputs = rng.standard_normal((10, 1, 6))
    activity = np.repeat(inputs, 4, axis=0)  # 10 inputs × 4 identical repeats, input-major
    labels = np.repeat(rng.permutation(np.arange(10) % 2), 4)  # labels unrelated to the states' geometry
    result = dynamics.decode_over_time(_states(activity, repeats=4), labels, shuffles=10)
    assert result["accuracy"][0] < 0.9  # grouped: no memorised copies


def test_the_synchrony_decoder_reads_what_only_products_of_pairs_carry():
    """An XOR label (parity of two neurons' signs) is not linearly decodable from the activity,
    but it is from the product of the pair, which a synchrony readout holds."""
    rng = np.random.default_rng(8)
    activity = rng.standard_normal((200, 3, 2))
    labels = (np.sign(activity[:, -1, 0]) != np.sign(activity[:, -1, 1])).astype(int)
    recording = _states(activity)
    recording.synchrony_out = activity[..., :1] * activity[..., 1:]  # (B, T, 1): the pair's product
    by_activity = dynamics.decode_over_time(recording, labels, shuffles=10)
    by_synchrony = dynamics.decode_over_time(recording, labels, shuffles=10, source="synchrony")
    assert by_activity["accuracy"][-1] < 0.65 < 0.9 < by_synchrony["accuracy"][-1]
    assert by_synchrony["source"] == "synchrony" and by_synchrony["first_decodable_tick"] == 2
    with pytest.raises(ValueError, match="source must be one of"):
        dynamics.decode_over_time(recording, labels, source="membrane")


def test_labels_are_checked_and_rare_labels_left_out():
    rng = np.random.default_rng(3)
    recording = _states(rng.standard_normal((9, 2, 4)))
    with pytest.raises(ValueError, match="one per recorded thought"):
        dynamics.decode_over_time(recording, np.zeros(8, dtype=int))
    with pytest.raises(ValueError, match="at least two different labels"):
        dynamics.decode_over_time(recording, np.zeros(9, dtype=int))
    result = dynamics.decode_over_time(recording, np.array([0, 0, 0, 0, 1, 1, 1, 1, 2]), shuffles=2)
    assert result["left_out"] == 1 and result["thoughts"] == 8 and result["classes"] == 2


def test_wilson_interval_matches_the_formula():
    low, high = dynamics.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)


def test_certainty_ticks_are_the_first_crossing_and_the_maximum():
    recording = _states(np.zeros((3, 4, 2)))
    recording.certainty = np.array([[0.1, 0.9, 0.5, 0.95], [0.2, 0.3, 0.85, 0.1], [0.1, 0.2, 0.3, 0.4]])
    result = dynamics.certainty_ticks(recording, threshold=0.8)
    assert list(result["first_tick"]) == [1, 2, -1] and list(result["most_certain_tick"]) == [3, 2, 3]
    assert result["median_first_tick"] == 1.5 and result["reached_fraction"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="threshold"):
        dynamics.certainty_ticks(recording, threshold=1.5)


def test_the_participation_ratio_counts_the_dimensions_the_states_fill():
    rng = np.random.default_rng(4)
    activity = np.zeros((4000, 2, 8))
    activity[:, 0, :3] = rng.standard_normal((4000, 3))  # tick 0: three equal dimensions
    activity[:, 1, :] = rng.standard_normal((4000, 1))  # tick 1: one direction
    result = dynamics.participation_ratio(_states(activity))
    assert result["per_tick"][0] == pytest.approx(3.0, rel=0.05) and result["per_tick"][1] == pytest.approx(1.0)


def test_trajectories_separate_labels_planted_along_one_direction():
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1], 30)
    activity = 0.1 * rng.standard_normal((60, 5, 6))
    activity[:, :, 2] += np.where(labels == 1, 1.0, -1.0)[:, None] * np.linspace(0, 2, 5)  # diverging over ticks
    result = dynamics.trajectories(_states(activity), labels, components=2)
    assert result["explained"][0] > 0.8 and result["explained"].sum() <= 1.0
    gap = np.abs(result["by_label"][1][:, 0] - result["by_label"][0][:, 0])
    assert gap[0] < 0.2 and gap[-1] > 3.0 and result["per_thought"].shape == (60, 5, 2)


def test_task_labels_take_the_answer_or_one_output():
    labels, what = dynamics.task_labels(np.array([3, 1, 2]))
    assert list(labels) == [3, 1, 2] and what == "the answer"
    labels, what = dynamics.task_labels(np.array([[0, 1], [1, 0]]))
    assert list(labels) == [1, 0] and what == "output 1 of 2"
    with pytest.raises(ValueError, match="targets must be"):
        dynamics.task_labels(np.zeros((2, 2, 2)))


def test_gpfa_gives_latent_trajectories_of_spike_trains_and_refuses_a_rate_model():
    rng = np.random.default_rng(6)
    rate = 0.02 + 0.03 * np.sin(np.linspace(0, 3 * np.pi, 400))[None, :, None]  # a shared slow modulation
    raster = (rng.random((6, 400, 12)) < rate).astype(float)
    recording = _recording(raster)
    recording.dt = 0.02  # ticks of 20 ms over 1-ms steps
    recording.substeps = 20
    recording.activity = raster.reshape(6, 20, 20, 12).mean(2)
    result = dynamics.gpfa_trajectories(recording, dims=2)
    assert result["trajectories"].shape == (6, 2, 20) and result["bin_s"] == pytest.approx(0.02)
    assert result["timescales_s"].shape == (2,) and np.isfinite(result["trajectories"]).all()
    recording.kind = "rate"
    with pytest.raises(ValueError, match="spike trains"):
        dynamics.gpfa_trajectories(recording)


@pytest.mark.parametrize("classes", [2, 4])
def test_the_shared_solve_predicts_as_scikit_learns_ridge_classifier(classes):
    """The same folds, standardisation and penalty: the same cross-validated accuracy."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    labels = rng.integers(0, classes, 60)
    features = rng.standard_normal((60, 9)) + 0.8 * labels[:, None]
    splits = dynamics._splits(labels, np.arange(60), 5, seed=0)
    ours = dynamics._ridge_accuracies(features, labels[None], splits)[0]
    model = make_pipeline(StandardScaler(), RidgeClassifier(alpha=1.0))
    theirs = (cross_val_predict(model, features, labels, cv=splits) == labels).mean()
    assert ours == pytest.approx(theirs)


def test_analyze_reports_the_dynamics_of_a_shipped_model_and_says_why_when_it_cannot(tmp_path, capsys):
    import json

    from conftest import REPO
    from neurosync.cli import main

    model = str(REPO / "models" / "digits-rate")
    assert main(["analyze", model, "--samples", "40", "--out", str(tmp_path / "a")]) == 0
    found = json.loads((tmp_path / "a" / "analysis.json").read_text())["dynamics"]
    assert found["labels"] == "the answer" and found["decoding"]["thoughts"] + found["decoding"]["left_out"] == 40
    assert len(found["decoding"]["accuracy"]) == len(found["decoded_ticks"]) and "participation_ratio" in found
    assert (tmp_path / "a" / "dynamics.png").exists()
    assert main(["analyze", model, "--samples", "2", "--out", str(tmp_path / "b")]) == 0  # too few to decode
    skipped = json.loads((tmp_path / "b" / "analysis.json").read_text())["dynamics"]["skipped"]
    assert skipped.startswith("decoding needs")
    capsys.readouterr()
