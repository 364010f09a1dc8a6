"""The ablation runner (neurosync ablate, neurosync.analysis.ablation): its verdicts against
hand-computed cases (they can fail), the long-thought overrides, one tiny ablation end to end
(resumed from disk on a second call), and bad input in one line."""

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from neurosync import config
from neurosync.analysis import ablation
from neurosync.cli import main
from neurosync.config import ConfigError

TINY_RECALL = """
name = "tiny-recall-{kind}"
[task]
name = "recall"
pairs = 1
vocabulary = 4
ticks_per_input = 1
answer_ticks = 1
[model]
ticks = 5
d_model = 12
d_input = 8
heads = 2
n_synch_out = 6
n_synch_action = 5
{model}
[train]
batch_size = 8
eval_every = 1000
eval_samples = 16
"""


def _write_configs(tmp_path: Path) -> None:
    (tmp_path / "rate.toml").write_text(TINY_RECALL.format(kind="rate", model=""))
    (tmp_path / "lstm.toml").write_text(
        TINY_RECALL.format(kind="lstm", model='architecture = "lstm"\nlstm_hidden = 12')
    )


def _ablation_file(tmp_path: Path, body: str = "", head: str = "") -> Path:
    _write_configs(tmp_path)
    settings = {
        "name": '"tiny"',
        "seeds": "[0, 1]",
        "steps": "2",
        "workers": "1",
        "final_eval_samples": "20",
        "param_tolerance": "10.0",
    }
    for line in filter(None, head.splitlines()):
        key, value = line.split("=", 1)
        settings[key.strip()] = value.strip()
    text = (
        "\n".join(f"{k} = {v}" for k, v in settings.items())
        + textwrap.dedent("""
        [[arm]]
        name = "RateCTM"
        config = "rate.toml"
        group = "spiking"
        [[arm]]
        name = "LSTM"
        config = "lstm.toml"
        group = "lstm"
        """)
        + textwrap.dedent(body)
    )
    path = tmp_path / "ablation.toml"
    path.write_text(text)
    return path


def _result(acc: float, params: int = 1000, long_acc: float | None = None) -> dict:
    return {
        "primary": "accuracy_certain",
        "parameters": params,
        "steps": 10,
        "train_s": 1.0,
        "eval_samples": 100,
        "final": {"accuracy_certain": acc},
        "long": {"accuracy_last": acc if long_acc is None else long_acc},
    }


def _summary(plain, plastic, lstm, params=(1000, 1000, 1000), plastic_long=None, baseline=None):
    ab = ablation.AblationConfig(
        name="t",
        seeds=list(range(len(plain))),
        steps=10,
        reference="plain",
        arms=[
            ablation.Arm("plain", Path("a.toml"), group="spiking"),
            ablation.Arm("plastic", Path("b.toml"), group="spiking-plastic"),
            ablation.Arm("lstm", Path("c.toml"), group="lstm"),
        ],
    )
    results = {}
    for name, values, p in (("plain", plain, params[0]), ("plastic", plastic, params[1]), ("lstm", lstm, params[2])):
        for seed, v in zip(ab.seeds, values):
            long_acc = plastic_long[seed] if (name == "plastic" and plastic_long) else None
            results[name, seed] = _result(v, p, long_acc)
    return ablation.summarise(ab, results, baseline)


def _verdicts(summary) -> list[bool]:
    return [v["met"] for v in summary["verdicts"]]


def test_verdicts_are_met_by_a_clear_win():
    s = _summary(plain=[0.50, 0.52, 0.48], plastic=[0.90, 0.91, 0.89], lstm=[0.88, 0.90, 0.86])
    assert s["best_plastic"] == "plastic"
    assert _verdicts(s) == [True, True, True, True]
    row = {r["arm"]: r for r in s["rows"]}["plastic"]
    assert (
        row["certain"]["mean"] == pytest.approx(0.90)
        and row["certain"]["ci95_low"] < 0.90 < row["certain"]["ci95_high"]
    )


def test_the_tasks_baseline_is_a_verdict_that_can_fail():
    """Beating the non-plastic model is not enough: the plastic one must also clear the task's own
    baseline (recall's bag of values, Q&A's question-only answer, one-shot's chance) by its CI."""
    met = _summary(
        plain=[0.30] * 3, plastic=[0.98, 0.99, 0.97], lstm=[0.3] * 3, baseline=(0.30, "the bag-of-values baseline")
    )
    assert (
        met["verdicts"][3]["met"] is True and "above the bag-of-values baseline (30.0%)" in met["verdicts"][3]["goal"]
    )
    failed = _summary(plain=[0.10] * 3, plastic=[0.19, 0.20, 0.21], lstm=[0.2] * 3, baseline=(0.20, "chance"))
    assert failed["verdicts"][3]["met"] is False


def test_one_seed_has_no_interval_and_meets_nothing_that_needs_one():
    """A probe of one seed: its 'CI' is not a zero-width interval that a verdict could pass through."""
    s = _summary(plain=[0.30], plastic=[0.99], lstm=[0.30], baseline=(0.30, "chance"))
    assert _verdicts(s) == [True, False, False, False, True]  # parameters; gain; vs LSTM; vs baseline; long thoughts
    assert "undefined (one seed)" in s["verdicts"][1]["detail"]
    row = {r["arm"]: r for r in s["rows"]}["plastic"]
    assert row["certain"]["ci95_low"] is None and ablation.percent_ci(row["certain"]) == "99.0 (one seed: no CI)"
    assert "| plastic | 1,000 | 99.0 (one seed: no CI) |" in ablation.table_markdown(s)


def test_each_memory_task_names_its_baseline():
    from neurosync.tasks import oneshot, qa_digits, recall

    cfg = config.TaskConfig(name="recall", pairs=8)
    assert recall.baseline(cfg) == (recall.frequency_baseline(8), "the bag-of-values baseline")
    cfg = config.TaskConfig(name="qa_digits", images_shown=3, operations=3)
    value, name = qa_digits.baseline(cfg)
    assert value == pytest.approx((0.267 + 0.100 + 0.1805) / 3, abs=2e-3) and name == "the question-only baseline"
    cfg = config.TaskConfig(name="oneshot", ways=5)
    assert oneshot.baseline(cfg) == (0.2, "chance")


def test_verdicts_fail_where_they_should():
    # +10 points, error not halved: the gain goal fails even with disjoint CIs
    s = _summary(plain=[0.50, 0.51, 0.49], plastic=[0.60, 0.61, 0.59], lstm=[0.95, 0.96, 0.94])
    assert _verdicts(s) == [True, False, False, True]
    # error halved (20% -> 9%) but the seeds overlap: fails on the CIs
    s = _summary(plain=[0.80, 0.99, 0.60], plastic=[0.91, 0.95, 0.87], lstm=[0.5, 0.5, 0.5])
    assert s["verdicts"][1]["met"] is False and "overlap" in s["verdicts"][1]["detail"]
    # a collapse at twice the ticks
    s = _summary(plain=[0.5] * 3, plastic=[0.9] * 3, lstm=[0.5] * 3, plastic_long=[0.7, 0.7, 0.7])
    assert s["verdicts"][3]["met"] is False and "-20.0 points" in s["verdicts"][3]["detail"]
    # a parameter count 20% off the reference
    s = _summary(plain=[0.5] * 3, plastic=[0.9] * 3, lstm=[0.5] * 3, params=(1000, 1000, 1200))
    assert s["verdicts"][0]["met"] is False and "lstm (1,200, +20.0%)" in s["verdicts"][0]["detail"]


def test_long_thought_overrides(tmp_path):
    _write_configs(tmp_path)
    cfg = config.load(tmp_path / "rate.toml")
    extra = ablation.long_thought_overrides(cfg, 2)
    assert extra == ["model.ticks=10", "task.answer_ticks=6"]
    long = config.load(
        tmp_path / "rate.toml", extra
    )  # still a valid recall thought: every item once, then 6 answer ticks
    assert long.task.qa_ticks() == long.model.ticks == 10
    parity = config.from_dict({"task": {"name": "parity", "sequence_length": 4}, "model": {"ticks": 3}})
    assert ablation.long_thought_overrides(parity, 3) == ["model.ticks=9"]


def test_a_task_without_accuracy_reads_its_own_measure_at_the_long_thoughts_last_tick():
    ab = ablation.AblationConfig(
        name="p",
        seeds=[0, 1],
        steps=10,
        reference="a",
        arms=[ablation.Arm("a", Path("a.toml")), ablation.Arm("b", Path("b.toml"))],
    )
    parity = {
        "primary": "bit_acc_certain",
        "parameters": 1000,
        "steps": 10,
        "train_s": 1.0,
        "eval_samples": 100,
        "final": {"bit_acc_certain": 0.9, "bit_acc_last": 0.8},
        "long": {"bit_acc_certain": 0.85, "bit_acc_last": 0.6},
    }
    summary = ablation.summarise(ab, {(arm, seed): parity for arm in ("a", "b") for seed in (0, 1)})
    row = summary["rows"][0]
    assert row["certain"]["mean"] == pytest.approx(0.9) and row["long_last"]["mean"] == pytest.approx(0.6)
    assert row["long_drop_points"] == pytest.approx(30.0)


def test_tiny_ablation_end_to_end_and_resumed(tmp_path):
    path = _ablation_file(tmp_path)
    out = tmp_path / "out"
    assert main(["ablate", str(path), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "ablation.json").read_text())
    assert [r["arm"] for r in summary["rows"]] == ["RateCTM", "LSTM"]
    for row in summary["rows"]:
        assert row["steps"] == [2, 2] and len(row["certain"]["values"]) == 2
        assert 0 <= row["certain"]["ci95_low"] <= row["certain"]["mean"] <= row["certain"]["ci95_high"] <= 1
    run = json.loads((out / "runs" / "lstm" / "seed1" / ablation.RESULT).read_text())
    assert run["long_ticks"] == 10 and run["eval_samples"] == 20
    assert (out / "ablation.png").stat().st_size > 1000 and "| LSTM |" in (out / "ablation.md").read_text()
    # a second call reads every run back: nothing retrained, the same table
    stamp = (out / "runs" / "lstm" / "seed1" / ablation.RESULT).stat().st_mtime_ns
    assert main(["ablate", str(path), "--out", str(out), "--quiet"]) == 0
    assert (out / "runs" / "lstm" / "seed1" / ablation.RESULT).stat().st_mtime_ns == stamp
    assert json.loads((out / "ablation.json").read_text())["rows"] == summary["rows"]
    # a run killed before its first checkpoint (its config and metrics written) starts over
    partial = out / "runs" / "lstm" / "seed1"
    for name in (ablation.RESULT, "results.json"):
        (partial / name).unlink()
    shutil.rmtree(partial / "checkpoints")
    assert main(["ablate", str(path), "--out", str(out), "--quiet"]) == 0
    again = json.loads((out / "ablation.json").read_text())["rows"]
    assert [r["certain"]["values"] for r in again] == [r["certain"]["values"] for r in summary["rows"]]  # same training
    # other settings into the same directory: refused, nothing touched
    assert main(["ablate", str(path), "--out", str(out), "--quiet", "--set", "train.lr=0.1"]) == 2


@pytest.mark.parametrize(
    "head, body, message",
    [
        ("", '[[arm]]\nname = "x"\nconfig = "missing.toml"\n', "config"),
        ("colour = 1", "", "unknown ablation key(s) colour"),
        ('reference = "nope"', "", "reference 'nope' is not one of the arms"),
        ("", '[[arm]]\nname = "LSTM"\nconfig = "lstm.toml"\n', "arm names must be distinct"),
        ("", '[[arm]]\nname = "y"\nconfig = "lstm.toml"\ngroup = "best"\n', "group 'best' is not one of"),
        ("", '[[arm]]\nname = "y"\nconfig = "lstm.toml"\nset = ["task.vocabulary=5"]\n', "same task"),
        ("", '[[arm]]\nname = "y"\nconfig = "lstm.toml"\nset = ["model.d_model=-1"]\n', "arm 'y'"),
    ],
)
def test_bad_ablation_files_in_one_line(tmp_path, head, body, message):
    path = _ablation_file(tmp_path, body, head)
    with pytest.raises(ConfigError, match="^") as err:
        ablation.load_ablation(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_ablation_cli_exits_2(tmp_path, capsys):
    path = _ablation_file(tmp_path, head="steps = 0")
    assert main(["ablate", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "steps must be a positive integer" in err
    assert main(["ablate", str(_ablation_file(tmp_path)), "--workers", "0", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


ABLATIONS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*-ablation.toml"))
PROBES = sorted(
    (Path(__file__).resolve().parents[1] / "experiments").glob("*-probes.toml")
)  # one-seed probes, same runner
assert ABLATIONS and PROBES, "experiments/ holds the ablation and probe files"


@pytest.mark.parametrize("path", PROBES, ids=[p.stem for p in PROBES])
def test_shipped_probe_files_load(path):
    ab = ablation.load_ablation(path)
    assert len(ab.arms) >= 2 and ab.steps >= 1


@pytest.mark.parametrize("path", ABLATIONS, ids=[p.stem for p in ABLATIONS])
def test_shipped_ablations_load_with_matched_parameter_counts(path):
    """Every arm of every seed loads; and the arms' parameter counts are within the file's tolerance
    of its reference arm (equal parameter count, ±10%)."""
    from neurosync.build import build_model

    ab = ablation.load_ablation(path)
    groups = {a.group for a in ab.arms}
    assert len(ab.seeds) >= 3 and groups >= {"spiking", "spiking-plastic"}
    if ab.name in ("recall8", "oneshot5"):  # the goal tasks, where the plastic SpikingCTM must also match the LSTM
        assert "lstm" in groups
    counts = {
        arm.name: sum(
            p.numel() for p in build_model(config.load(arm.config, ab.run_overrides(arm, ab.seeds[0]))).parameters()
        )
        for arm in ab.arms
    }
    reference = counts[ab.reference]
    assert {name: abs(n / reference - 1) <= ab.param_tolerance for name, n in counts.items()} == {
        name: True for name in counts
    }
