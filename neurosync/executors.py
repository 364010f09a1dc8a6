"""Where a study's or a sweep's (config, seed) jobs run: in this process, or on a Dask cluster.

``neurosync study --executor local|dask`` and ``neurosync sweep --executor local|dask``. A job
is a plain dict (a config as a dict, a seed, a run directory on a file system every worker
sees) and a job function at module level, so that it pickles to any worker. Jobs are
*idempotent*: a job whose run directory holds its result reads it back, one whose run has
checkpoints resumes from the last (bit for bit: :func:`neurosync.training.train`), one killed
before its first checkpoint starts over. So when a worker dies mid-job, the scheduler hands
the job to another worker, which resumes it; nothing is lost and the result is the one the
uninterrupted job would have given.

Why Dask and not Ray: ``dask.distributed`` is pure Python (seconds to install, no binary
wheel to match to the CUDA build of torch), reschedules the tasks of a dead worker by itself,
and reaches SLURM, PBS or SGE clusters through ``dask-jobqueue``; Ray would add a second
engine with nothing a study of a few dozen jobs needs. Point it at a running cluster with
``--address tcp://scheduler:8786`` (e.g. a ``dask_jobqueue.SLURMCluster``'s
``scheduler_address``); without an address it starts a local cluster of ``--workers`` worker
processes and stops it afterwards.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXECUTORS = ("local", "dask")
RETRIES = 3  # a job whose worker dies more often than this fails the run (Dask's allowed-failures)


class ExecutorError(ValueError):
    """An executor cannot be used (unknown name, Dask missing, an unreachable scheduler); one line."""


def with_denormals_flushed(job: Callable) -> Callable:
    """A job function (study, sweep, ablation) that runs with float32 subnormals flushed to zero
    (:func:`neurosync.training.denormals_flushed`, entered before the job computes anything); it
    keeps the job's name, so it still pickles to any worker."""

    @functools.wraps(job)
    def flushed(*args, **kwargs):
        from .training import denormals_flushed

        with denormals_flushed():
            return job(*args, **kwargs)

    return flushed


def trained_run(cfg, run: Path, device: str | None = None, progress: bool = False) -> dict:
    """The result (results.json) of training ``cfg`` in ``run``, the directory of one idempotent
    job: read back when the run finished, else trained, resuming from its last checkpoint
    (:func:`resume_run`)."""
    from .training import train

    if (run / "results.json").is_file():
        return json.loads((run / "results.json").read_text())
    return train(cfg, run, resume=resume_run(run), device=device, progress=progress)


def resume_run(run: Path) -> bool:
    """Prepare the run directory ``run`` of an idempotent job: True when it holds checkpoints to
    resume from; False when training starts afresh (the files of a run killed before its first
    checkpoint are removed: the directory belongs to the job)."""
    from . import checkpoint
    from .training import RUN_FILES

    if checkpoint.latest(run / "checkpoints") is not None:
        return True
    for name in RUN_FILES:
        (run / name).unlink(missing_ok=True)
    return False


def write_result(path: Path, result: dict) -> dict:
    """Write a job's result atomically as JSON and return it as read back (so that a result
    computed here and one read from disk are the same Python values)."""
    from .checkpoint import finite_json

    text = json.dumps(finite_json(result), indent=2, allow_nan=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return json.loads(text)


def run_jobs(
    fn: Callable[[dict], dict],
    jobs: list[dict],
    executor: str = "local",
    address: str | None = None,
    workers: int = 2,
    progress: bool = True,
    desc: str = "jobs",
) -> list[dict]:
    """``[fn(job) for job in jobs]``, in job order, on ``executor``; a progress bar counts the
    finished jobs. Dask: on the scheduler at ``address``, or on a local cluster of ``workers``
    worker processes started (and stopped) here."""
    from tqdm import tqdm

    if executor not in EXECUTORS:
        raise ExecutorError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, dynamic_ncols=True)
    try:
        if executor == "local":
            results = []
            for job in jobs:
                results.append(fn(job))
                bar.update(1)
            return results
        return _run_dask(fn, jobs, address, workers, bar)
    finally:
        bar.close()


def dask_client(address: str | None, workers: int):
    """A ``distributed.Client`` on ``address``, or on a new local cluster of ``workers`` processes
    (one thread each: a job sets its own torch threads)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ExecutorError("the dask executor needs dask.distributed: pip install 'neurosync[cluster]'") from None
    if workers < 1:
        raise ExecutorError(f"--workers must be >= 1, got {workers}")
    dask.config.set({"distributed.scheduler.allowed-failures": RETRIES})
    if address:
        try:
            return Client(address, timeout="10s")
        except (OSError, TimeoutError) as err:
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster)


def _run_dask(fn, jobs, address, workers, bar) -> list[dict]:
    from distributed import KilledWorker, as_completed

    client = dask_client(address, workers)
    try:
        futures = client.map(fn, jobs, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        results: list[Any] = [None] * len(jobs)
        for future in as_completed(futures):
            try:
                results[index[future.key]] = future.result()  # a job's own exception is raised here
            except KilledWorker:
                job = jobs[index[future.key]]
                name = job.get("run_dir", "a run") if isinstance(job, dict) else repr(job)
                raise ExecutorError(
                    f"the job of {name} lost its worker {RETRIES + 1} times (out of memory?); what the "
                    f"jobs finished is kept: rerun to resume"
                ) from None
            bar.update(1)
        return results
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None and not address:
            try:
                cluster.close()
            except (AssertionError, RuntimeError, OSError, TimeoutError) as err:  # a worker still restarting as the
                # cluster closes (Dask: "can only join a started process"); the outcome above stands, not this
                warnings.warn(f"the local Dask cluster did not close cleanly: {err}", RuntimeWarning, stacklevel=2)
