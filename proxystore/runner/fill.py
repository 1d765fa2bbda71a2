"""`fill`: register a study, then train its missing cells until none is left (the library; the
`fill` command is `runner/commands.py::fill_command`, its progress bars `runner/progress.py`)."""

from __future__ import annotations

import signal
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from proxystore.db.enums import RunStatus
from proxystore.db.session import Database
from proxystore.db.store import runs as run_store
from proxystore.db.store import studies
from proxystore.runner.environment import check_environment
from proxystore.runner.execution import ExecutionOptions
from proxystore.runner.pool import run_pool, worker_configs
from proxystore.runner.progress import PoolProgress, Progress
from proxystore.runner.worker import WorkerConfig, WorkerSummary, run_worker, worker_id
from proxystore.study.register import Registration, materialize_deferred, register_study
from proxystore.study.spec import StudySpec


def default_spec() -> Path:
    """jobs/demo.yaml of the checkout, else the copy shipped inside the package."""
    local = Path("jobs") / "demo.yaml"
    if local.exists():
        return local
    from importlib import resources

    return Path(str(resources.files("proxystore").joinpath("jobs", "demo.yaml")))


# The study's runs by status, finished ones and its cell table: the store's, under the names
# the runner and its tests use.
study_counts = studies.run_counts
finished = studies.finished
study_runs = studies.run_table


def _finished_running(db: Database, study: str) -> tuple[int, int]:
    """How many of a study's cells are finished, and how many running (the pool's progress)."""
    counts = study_counts(db, study)
    return finished(counts), counts.get(RunStatus.RUNNING, 0)


@dataclass
class FillResult:
    """What a fill did."""

    registration: Registration
    summary: WorkerSummary
    counts: dict[str, int]
    # The pool's exit code (`run_pool`): 2 when a worker stopped on an error it printed.
    pool_code: int = 0


def _sigterm_as_interrupt() -> None:
    """Slurm preemption and `kill` send SIGTERM: treat it like Ctrl-C (cell back to pending).

    SIGINT gets Python's Ctrl-C handler back too: a shell without job control starts a `&`
    command (a fill in a script) with SIGINT ignored, and Python then never installs it, so
    `kill -INT` did nothing at all.
    """
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not in the main thread (e.g. notebooks)
        pass


def fill(spec: StudySpec, db: Database, execution: ExecutionOptions | None = None, *,
         quiet: bool = False) -> FillResult:
    """Register `spec` and train its pending cells in this process until none is left.

    Example:
        >>> result = fill(load_spec("jobs/demo.yaml"), open_database("demo.db"),
        ...               ExecutionOptions(device="cpu", max_cells=2), quiet=True)

    Args:
        spec: the validated study.
        db: the open database.
        execution: how cells are executed: device, trainer options, lease, `max_cells`,
            `mlflow_uri` (None: log nowhere), ... (default: `ExecutionOptions()`; its
            workers and gpus are `fill_with_pool`'s).
        quiet: no progress bar.
    """
    from proxystore import tracking

    execution = execution or ExecutionOptions()
    registration = register_study(db, spec)
    tracking.prepare(db, spec.name, execution.mlflow_uri)
    counts = study_counts(db, spec.name)
    config = execution.worker_config(db.url, worker_id(), spec.name)
    total = registration.cells + len(registration.deferred_tasks) * len(spec.candidates) * len(
        spec.seeds)
    progress = Progress(total, finished(counts), quiet)

    def when_idle() -> bool:
        new = materialize_deferred(db, spec, registration)
        if new:
            progress.grow(registration.cells + new)
        return new > 0

    def on_done(claim: Any) -> None:
        progress.done(claim)
        if claim.needs_scores:
            when_idle()

    _sigterm_as_interrupt()
    try:
        summary = run_worker(db, config, on_claim=progress.claim, on_epoch=progress.epoch,
                             on_done=on_done, when_idle=when_idle)
    finally:
        progress.close()
    tracking.finish(db, spec.name, execution.mlflow_uri)  # reused cells, what logging missed
    return FillResult(registration=registration, summary=summary,
                      counts=study_counts(db, spec.name))






def fill_with_pool(spec: StudySpec, db: Database, execution: ExecutionOptions, *,
                   quiet: bool = False) -> FillResult:
    """Register `spec`, then fill it with a pool of worker processes on this machine.

    The pool is `execution`'s workers on its device, or `per_gpu` workers on each of its
    gpus (`pool.worker_configs`). Its `max_cells` is shared out among the workers (the first
    ones get one more when it does not divide), so the pool trains at most that many cells
    together; a worker whose share is 0 is not started. When a worker stops on an error (it
    prints its one line, e.g. a result kept in the spool), `pool_code` is 2 and nothing else
    is read from the database.
    """
    from proxystore import tracking

    registration = register_study(db, spec)
    mlflow_uri, max_cells = execution.mlflow_uri, execution.max_cells
    tracking.prepare(db, spec.name, mlflow_uri)  # the store made once, before workers log
    base = execution.worker_config(db.url, worker_id("pool").rsplit(":", 1)[0], spec.name)
    total = registration.cells + len(registration.deferred_tasks) * len(spec.candidates) * len(
        spec.seeds)
    progress = PoolProgress(lambda: _finished_running(db, spec.name), total, quiet)
    _sigterm_as_interrupt()
    configs = worker_configs(base, workers=execution.workers, gpus=execution.gpus,
                             per_gpu=execution.per_gpu)
    if max_cells is not None:
        shares = [max_cells // len(configs) + (i < max_cells % len(configs))
                  for i in range(len(configs))]
        configs = [replace(c, max_cells=n) for c, n in zip(configs, shares, strict=True) if n]
    code = 0
    try:
        if configs:
            # This machine's cache, data and disk, once, before starting anyone; each worker
            # checks its own device.
            check_environment(db, base, device=False)
            started: list[WorkerConfig] = []
            code = run_pool(configs, progress, on_start=started.extend)
            configs = started  # their workers' ids as they claimed
    finally:
        progress.close()
    summary = WorkerSummary()
    if code == 2:  # the database may still be away: no summary
        return FillResult(registration=registration, summary=summary, counts={}, pool_code=code)
    tracking.finish(db, spec.name, mlflow_uri)  # reused cells, and what workers could not log
    for run in run_store.runs_of_workers(db, spec.name, [c.worker for c in configs]):
        if run.status == RunStatus.DONE:
            summary.done.append(run.run_id)
        elif run.status == RunStatus.FAILED:
            summary.failed.append((run.run_id, run.error or "failed"))
    return FillResult(registration=registration, summary=summary,
                      counts=study_counts(db, spec.name), pool_code=code)
