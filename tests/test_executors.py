"""Studies and sweeps on an executor: a real local Dask cluster of 2 worker processes gives the
same results as this process, survives a worker killed mid-job (the job resumes from its last
checkpoint on another worker: nothing lost, the same result), and bad input fails in one line."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO
from neurosync import checkpoint
from neurosync.cli import main
from neurosync.config import ConfigError
from neurosync.executors import ExecutorError, run_jobs
from neurosync.sweep import load_sweep, overrides, points, run_sweep, sweep_job

pytest.importorskip("distributed")

TINY = """
name = "tiny"
[task]
sequence_length = 6
[model]
ticks = 4
d_model = 16
d_input = 8
heads = 2
n_synch_out = 6
n_synch_action = 5
[model.nlm]
memory_length = 3
hidden = 4
[train]
steps = {steps}
batch_size = 8
eval_every = 1000
eval_samples = 32
final_eval_samples = 64
checkpoint_every = {every}
warmup_steps = 2
"""


def _sweep_file(tmp_path: Path, steps: int = 6, every: int = 3, space: str = '"train.lr" = [0.001, 0.01]') -> Path:
    (tmp_path / "tiny.toml").write_text(TINY.format(steps=steps, every=every))
    path = tmp_path / "sweep.toml"
    path.write_text(f'name = "s"\nconfig = "tiny.toml"\nseeds = [0, 1]\n\n[space]\n{space}\n')
    return path


def _finals(summary: dict) -> list:
    return [(row["point"], row["values"], row["steps"]) for row in summary["rows"]]


def test_a_sweep_on_a_local_dask_cluster_equals_the_local_run(tmp_path):
    sweep = load_sweep(_sweep_file(tmp_path))
    assert [p["train.lr"] for p in points(sweep)] == [0.001, 0.01]
    local = run_sweep(sweep, tmp_path / "local", progress=False)
    dask = run_sweep(sweep, tmp_path / "dask", executor="dask", workers=2, progress=False)
    assert _finals(dask) == _finals(local) and len(local["rows"]) == 2
    for name in ("sweep.md", "sweep.csv", "sweep.json"):
        assert (tmp_path / "dask" / name).stat().st_size > 0
    assert "| rank | train.lr |" in (tmp_path / "dask" / "sweep.md").read_text()
    # rerun into the same directory: every job read back, the same table
    stamp = (tmp_path / "dask" / "runs" / "point0" / "seed0" / "sweep-job.json").stat().st_mtime_ns
    assert _finals(run_sweep(sweep, tmp_path / "dask", progress=False)) == _finals(local)
    assert (tmp_path / "dask" / "runs" / "point0" / "seed0" / "sweep-job.json").stat().st_mtime_ns == stamp


def _kill_when_checkpointed(client, run: Path, key, killed: dict) -> None:
    """Kill (SIGKILL) the worker process running the task ``key`` once its run has written its
    first checkpoint: a worker lost mid-job, as on a cluster."""
    pids = client.run(os.getpid)  # {worker address: pid}
    deadline = time.time() + 120
    while time.time() < deadline and checkpoint.latest(run / "checkpoints") is None:
        time.sleep(0.01)
    for address, keys in client.processing().items():
        if key in keys:
            os.kill(pids[address], signal.SIGKILL)
            killed["address"] = address


def test_a_worker_killed_mid_job_loses_nothing(tmp_path):
    """Two long-ish jobs on a 2-worker local cluster; the worker running the first is killed
    after its first checkpoint. The job is rescheduled, resumes from the checkpoint, and every
    result equals the uninterrupted local run's (training resumes bit for bit)."""
    from neurosync.executors import dask_client

    sweep = load_sweep(_sweep_file(tmp_path, steps=400, every=40, space='"train.lr" = [0.003]'))
    jobs = [
        {
            "config": str(sweep.config),
            "overrides": sweep.set + overrides(p) + [f"train.seed={seed}"],
            "run_dir": str(tmp_path / "dask" / f"seed{seed}"),
            "threads": 1,
            "device": "cpu",
        }
        for p in points(sweep)
        for seed in sweep.seeds
    ]
    client = dask_client(None, 2)
    killed: dict = {}
    try:
        futures = client.map(sweep_job, jobs, pure=False)
        killer = threading.Thread(
            target=_kill_when_checkpointed, args=(client, Path(jobs[0]["run_dir"]), futures[0].key, killed)
        )
        killer.start()
        results = client.gather(futures)
        killer.join()
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert killed, "no worker was killed (the job finished before its first checkpoint was seen)"
    metrics = [json.loads(line) for line in (Path(jobs[0]["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    local = [sweep_job(dict(job, run_dir=str(tmp_path / "local" / Path(job["run_dir"]).name))) for job in jobs]
    assert [r["final"] for r in results] == [r["final"] for r in local]
    assert [r["steps"] for r in results] == [400, 400] and metrics


def test_the_study_job_on_dask_equals_the_local_job(tmp_path):
    """The study's (model, seed) jobs: one run on a Dask worker and the same run here give the
    same metrics (so study.json's comparison is the same)."""
    from neurosync.study import _model_configs, load_study, study_job

    study = load_study(REPO / "experiments" / "study.toml", quick=True)
    (kind, seed), cfg = next(iter(_model_configs(study).items()))
    job = {
        "config": cfg.to_dict(),
        "kind": kind,
        "seed": seed,
        "device": "cpu",
        "threads": 1,
        "progress": False,
        "keep_thought": False,
        "certainty_threshold": study.certainty_threshold,
        "record_samples": 4,
        "dt": study.dt,
        "long_ticks": 50,
        "record_repeats": 1,
    }
    local = run_jobs(study_job, [dict(job, run_dir=str(tmp_path / "local"))], progress=False)[0]
    remote = run_jobs(study_job, [dict(job, run_dir=str(tmp_path / "dask"))], "dask", workers=2, progress=False)[0]
    timing = {"train_s", "checkpoint", "halting"}
    assert {k: v for k, v in remote.items() if k not in timing} == {k: v for k, v in local.items() if k not in timing}
    assert remote["halting"]["ticks"] == local["halting"]["ticks"]


def test_a_job_that_kills_every_worker_fails_in_one_line():
    """A job whose worker dies every time (here it kills itself) is given up after the retries,
    with one line naming it, instead of a Dask traceback."""
    with pytest.raises(ExecutorError, match=r"lost its worker 4 times"):
        run_jobs(signal.raise_signal, [signal.SIGKILL], "dask", workers=1, progress=False)


@pytest.mark.parametrize(
    "body, message",
    [
        (
            'name = "s"\nconfig = "tiny.toml"\nseeds = [0]\n[space]\n"train.lr" = {low = 0.1, high = 1}\n',
            "needs search = 'random'",
        ),
        (
            'name = "s"\nconfig = "tiny.toml"\nseeds = [0]\nsearch = "bayes"\n[space]\n"train.lr" = [1]\n',
            "search 'bayes'",
        ),
        ('name = "s"\nconfig = "tiny.toml"\nseeds = [0, 0]\n[space]\n"train.lr" = [1]\n', "distinct integers"),
        (
            'name = "s"\nconfig = "tiny.toml"\nseeds = [0]\n[space]\n"model.d_modle" = [8]\n',
            "point {'model.d_modle': 8}",
        ),
        ('name = "s"\nconfig = "tiny.toml"\nseeds = [0]\n[space]\n"model.d_model" = [-8]\n', "model.d_model"),
        ('name = "s"\nconfig = "missing.toml"\nseeds = [0]\n[space]\n"train.lr" = [1]\n', "does not exist"),
        (
            'name = "s"\nconfig = "tiny.toml"\nseeds = [0]\ncolour = 1\n[space]\n"train.lr" = [1]\n',
            "unknown sweep key(s) colour",
        ),
        (
            'name = "s"\nconfig = "tiny.toml"\nseeds = [0]\nsearch = "random"\n[space]\n"train.lr" = {low = 0, high = 1, log = true}\n',
            "log range needs low > 0",
        ),
    ],
)
def test_bad_sweep_files_in_one_line(tmp_path, body, message):
    _sweep_file(tmp_path)
    (tmp_path / "bad.toml").write_text(body)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_sweep(tmp_path / "bad.toml")


def test_random_search_draws_seeded_points(tmp_path):
    path = _sweep_file(tmp_path, space='"train.lr" = {low = 1e-4, high = 1e-2, log = true}\n"model.d_model" = [16, 24]')
    text = path.read_text().replace("seeds = [0, 1]", 'seeds = [0]\nsearch = "random"\nsamples = 5')
    path.write_text(text)
    sweep = load_sweep(path)
    drawn = points(sweep)
    assert drawn == points(sweep) and len(drawn) == 5
    assert all(1e-4 <= p["train.lr"] <= 1e-2 and p["model.d_model"] in (16, 24) for p in drawn)


def test_sweep_and_executor_cli_errors_exit_2(tmp_path, capsys):
    path = _sweep_file(tmp_path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "1. " in capsys.readouterr().out
    (tmp_path / "tiny.toml").write_text(TINY.format(steps=7, every=3))  # another sweep into the same directory
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "holds a different sweep" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "nope.toml")]) == 2
    assert (
        main(
            [
                "sweep",
                str(path),
                "--executor",
                "dask",
                "--address",
                "tcp://127.0.0.1:1",
                "--out",
                str(tmp_path / "p"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    with pytest.raises(ExecutorError, match="executor 'ray' is not one of local, dask"):
        run_jobs(sweep_job, [], "ray")
