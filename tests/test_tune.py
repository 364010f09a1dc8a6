"""neurosync tune: a TPE search that prunes, a killed search resumed without repeating finished
trials, and bad tune files refused in one line."""

import json

import pytest

from conftest import REPO
from neurosync.config import ConfigError

optuna = pytest.importorskip("optuna")

BASE = REPO / "configs" / "parity" / "parity16-rate.toml"
SMALL = [
    "task.sequence_length=2",
    "model.d_model=16",
    "model.d_input=8",
    "model.heads=1",
    "model.n_synch_out=8",
    "model.n_synch_action=8",
    "model.nlm.memory_length=4",
    "model.ticks=3",
    "train.steps=60",
    "train.batch_size=32",
    "train.warmup_steps=0",
    "train.eval_every=15",
    "train.eval_samples=16",
    "train.final_eval_samples=16",
    "train.checkpoint_every=60",
    "train.time_budget_s=0",
]


def _tune_file(tmp_path, name="tiny", space=None, **keys):
    from neurosync.tune import load_tune

    lines = [f'name = "{name}"', f'config = "{BASE}"', f"set = {json.dumps(SMALL)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    lines.append("[space]")
    for key, value in (space or {"train.lr": [1e-7, 1e-2]}).items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
            lines.append(f'"{key}" = {{{inner}}}')
        else:
            lines.append(f'"{key}" = {json.dumps(value)}')
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return load_tune(path)


def test_a_search_prunes_the_trials_that_fall_below_the_median(tmp_path):
    """A learning rate of 1e-7 learns nothing (1e-2 learns 2-bit parity in 30 steps): after 2 completed trials the median pruner stops
    such trials at an intermediate evaluation; the table ranks completed trials first."""
    from neurosync.tune import run_tune

    tune = _tune_file(tmp_path, trials=8, startup_trials=2)
    summary = run_tune(tune, tmp_path / "out", progress=False)
    assert summary["trials"] == 8 and summary["pruned"] >= 1
    pruned = [r for r in summary["rows"] if r["state"] == "pruned"]
    assert all(r["last_step"] < 60 for r in pruned)  # stopped before the end of training
    complete = [r for r in summary["rows"] if r["state"] == "complete"]
    assert [r["value"] for r in complete] == sorted((r["value"] for r in complete), reverse=True)
    assert summary["rows"][: len(complete)] == complete and summary["best"] is not None
    table = (tmp_path / "out" / "tune.md").read_text()
    assert "pruned" in table and "neurosync train" in table
    assert json.loads((tmp_path / "out" / "best.json").read_text()) == summary["best"]


def test_a_killed_search_resumes_without_repeating_finished_trials(tmp_path):
    """Two trials finish; a third is left running as a kill would leave it; the resumed search
    marks it failed, keeps the two and runs only what is missing to reach four."""
    from neurosync.tune import finished, open_study, run_tune

    tune = _tune_file(tmp_path, trials=4, pruner="none", space={"train.lr": {"low": 1e-4, "high": 1e-2, "log": True}})
    out = tmp_path / "out"
    run_tune(tune, out, trials=2, progress=False)
    study = open_study(tune, out)
    first = [(t.number, t.params, t.value) for t in finished(study)]
    killed = study.ask()  # a trial started, then the process died
    assert killed.number == 2
    summary = run_tune(tune, out, progress=False)
    study = open_study(tune, out)
    states = {t.number: t.state.name for t in study.get_trials(deepcopy=False)}
    assert states[2] == "FAIL" and len(finished(study)) == 4 and summary["trials"] == 4
    assert [(t.number, t.params, t.value) for t in finished(study)][:2] == first  # kept, not repeated
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["trial0", "trial1", "trial3", "trial4"]


@pytest.mark.parametrize(
    "space, message",
    [
        ({"train.lr": {"low": 1e-2, "high": 1e-4}}, "low < high"),
        ({"train.lr": {"low": 0, "high": 1e-2, "log": True}}, "log range needs low > 0"),
        ({"train.lr": []}, "non-empty list"),
        ({"train.lrr": [1e-3]}, "train.lrr"),
        ({"model.ticks": {"low": 0, "high": 4, "integer": True}}, "model.ticks"),
    ],
)
def test_a_bad_search_space_is_refused_in_one_line(tmp_path, space, message):
    with pytest.raises(ConfigError, match=message) as error:
        _tune_file(tmp_path, space=space)
    assert "\n" not in str(error.value)


def test_bad_tune_keys_are_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="pruner 'hyperband' is not one of"):
        _tune_file(tmp_path, pruner="hyperband")
    with pytest.raises(ConfigError, match="trials must be an integer >= 1"):
        _tune_file(tmp_path, trials=0)
    with pytest.raises(ConfigError, match="unknown tune key"):
        _tune_file(tmp_path, sampler="random")


def test_another_search_in_the_same_folder_is_refused(tmp_path):
    from neurosync.tune import run_tune

    run_tune(_tune_file(tmp_path, trials=1, pruner="none"), tmp_path / "out", progress=False)
    other = _tune_file(tmp_path, name="other", trials=1, pruner="none", space={"train.lr": [1e-3]})
    with pytest.raises(ValueError, match="holds a different search"):
        run_tune(other, tmp_path / "out", progress=False)
