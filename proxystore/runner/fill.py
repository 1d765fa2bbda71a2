"""`fill`: register a study, then train its missing cells until none is left."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from proxystore.db import open_database
from proxystore.db.enums import RunStatus
from proxystore.db.session import Database
from proxystore.db.store import runs as run_store
from proxystore.db.store import studies
from proxystore.errors import WorkerEnvironmentError
from proxystore.limits import integer_in
from proxystore.runner.environment import (
    DEFAULT_MAX_ENV_ERRORS,
    ENVIRONMENT_EXIT,
    check_environment,
)
from proxystore.runner.pool import (
    check_limits,
    check_workers,
    parse_gpus,
    run_pool,
    worker_configs,
)
from proxystore.runner.worker import (
    WorkerConfig,
    WorkerSummary,
    run_worker,
    train_options,
    worker_id,
)
from proxystore.study.register import Registration, materialize_deferred, register_study
from proxystore.study.spec import StudySpec, load_spec


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


@dataclass
class FillResult:
    """What a fill did."""

    registration: Registration
    summary: WorkerSummary
    counts: dict[str, int]
    # The pool's exit code (`run_pool`): 2 when a worker stopped on an error it printed.
    pool_code: int = 0


class _Progress:
    """One progress bar: cells done of the study's total, the current cell, epoch and ETA."""

    def __init__(self, total: int, done: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, unit="cell", disable=quiet,
                        dynamic_ncols=True, file=sys.stderr,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} cells "
                                   "[{elapsed}<{remaining}] {postfix}")
        self.label = ""
        self.epochs = 0

    def claim(self, claim: Any, label: str, epochs: int | None = None) -> None:
        self.label = label
        self.bar.set_postfix_str(f"{label}: starting", refresh=True)

    def epoch(self, metrics: Any) -> None:
        self.bar.set_postfix_str(f"{self.label}: epoch {metrics.epoch} "
                                 f"top1 err {metrics.top1_error:.3f}", refresh=True)

    def done(self, claim: Any) -> None:
        self.bar.update(1)

    def grow(self, total: int) -> None:
        self.bar.total = total
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


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


def fill(spec: StudySpec, db: Database, *, device: str = "auto", max_cells: int | None = None,
         mlflow_uri: str | None = None, quiet: bool = False,
         lease_seconds: float | None = None, options: dict[str, Any] | None = None,
         max_env_errors: int = DEFAULT_MAX_ENV_ERRORS) -> FillResult:
    """Register `spec` and train its pending cells in this process until none is left.

    Args:
        spec: the validated study.
        db: the open database.
        device: cpu, cuda, cuda:N or auto.
        max_cells: stop after training this many cells.
        mlflow_uri: log runs to this MLflow tracking URI (None: don't log).
        quiet: no progress bar.
        lease_seconds: lease length (default claims.DEFAULT_LEASE_SECONDS).
        options: execution options for the trainer (see `worker.train_options`).
        max_env_errors: stop after this many errors of this machine in a row (see
            `environment`).
    """
    from proxystore import tracking

    registration = register_study(db, spec)
    tracking.prepare(db, spec.name, mlflow_uri)
    counts = study_counts(db, spec.name)
    config = WorkerConfig(db_url=db.url, worker=worker_id(), device=device, study=spec.name,
                          mlflow_uri=mlflow_uri, max_cells=max_cells,
                          train_options=dict(options or {}), max_env_errors=max_env_errors)
    if lease_seconds is not None:
        config.lease_seconds = lease_seconds
    total = registration.cells + len(registration.deferred_tasks) * len(spec.candidates) * len(
        spec.seeds)
    progress = _Progress(total, finished(counts), quiet)

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
    tracking.finish(db, spec.name, mlflow_uri)  # reused cells, and what logging missed
    return FillResult(registration=registration, summary=summary,
                      counts=study_counts(db, spec.name))


def fill_command(spec_path: str | None, db_url: str | None, *, device: str = "auto",
                 max_cells: int | None = None, dry_run: bool = False,
                 mlflow: str | None = None, quiet: bool = False, workers: int = 1,
                 gpus: Any = None, per_gpu: int = 1, compile: str | None = None,
                 cuda_graphs: bool = False,
                 max_env_errors: int = DEFAULT_MAX_ENV_ERRORS) -> int:
    """The `fill` command's body; returns the process exit code (1 when cells failed, 3 when a
    worker stopped on errors of this machine)."""
    from proxystore.errors import ProxystoreError
    from proxystore.formatting import render
    from proxystore.study.plan import done_runs, plan_study
    from proxystore.tracking import tracking_uri

    options = train_options(compile, cuda_graphs, device)
    check_workers(device, gpus, workers, per_gpu)
    check_limits(max_env_errors=max_env_errors)
    if max_cells is not None and not integer_in(max_cells, 0):
        raise ProxystoreError(f"--max-cells must be an integer >= 0, got {max_cells!r}")
    spec = load_spec(spec_path or default_spec())
    db = open_database(db_url, create=True)
    if dry_run:
        for line in plan_study(db, spec).lines():
            print(line)
        return 0
    uri = tracking_uri(db.url, mlflow)
    reused = done_runs(db, spec)  # the study's runs done before this fill, by anyone
    if workers > 1 or parse_gpus(gpus):
        result = fill_with_pool(spec, db, device=device, mlflow_uri=uri, quiet=quiet,
                                workers=workers, gpus=gpus, per_gpu=per_gpu, options=options,
                                max_cells=max_cells, max_env_errors=max_env_errors)
        if result.pool_code == 2:  # the worker printed its line; as `fill` alone, nothing more
            return 2
    else:
        try:
            result = fill(spec, db, device=device, max_cells=max_cells, mlflow_uri=uri,
                          quiet=quiet, options=options, max_env_errors=max_env_errors)
        except WorkerEnvironmentError as error:
            return _stopped(error)
    trained = len(result.summary.done) + len(result.summary.failed)
    runs = sum(result.counts.values())
    cells = _cell_count(db, spec.name)
    shared = f" ({cells} cells; cells with identical keys share a run)" if cells != runs else ""
    if result.summary.failed:
        print(f"{len(result.summary.failed)} cells failed:")
        for run_id, reason in result.summary.failed:
            print(f"  run {run_id}: {reason}")
    print(summary_text(db, spec.name, render))
    nothing = trained == 0 and not any(result.counts.get(s) for s in ("pending", "running"))
    failed = len(result.summary.failed)
    stopped = result.pool_code == ENVIRONMENT_EXIT and result.counts.get("pending")
    print(f"trained {trained}" + (f" ({failed} failed)" if failed else "") + f", reused {reused}"
          + (" - nothing to train" if nothing else "") + f": {result.counts.get('done', 0)} of "
          f"{runs} runs of study {spec.name} done{shared}"
          + (f", {result.counts['failed']} failed" if result.counts.get("failed") else "")
          + (f", {result.counts['pending']} pending" if stopped else ""))
    waiting = _waiting_for_scorer(db, spec.name)
    if waiting:
        print(f"{len(waiting)} tasks ({', '.join(waiting)}) still wait for their scorer run: they "
              "get cells once it is done with per-example losses (see `proxystore status`; run "
              "fill again)")
    return result.pool_code or (1 if result.summary.failed else 0)


# Labels of the study's easy/hard tasks not declared yet (their scorer is not done).
_waiting_for_scorer = studies.waiting_for_scorer


def _stopped(error: WorkerEnvironmentError) -> int:
    """A worker that stopped part-way on errors of this machine: its line, and exit code 3
    (one that refused to start is the CLI's one line and exit 2, as any bad input)."""
    if error.exit_code == 2:
        raise error
    print(f"proxystore: error: {' '.join(str(error).split())}", file=sys.stderr)
    return error.exit_code


_cell_count = studies.cell_count


def summary_text(db: Database, study: str, render: Any) -> str:
    """What the study found: the analysis summaries when available, else the run table."""
    try:
        from proxystore.analysis import summary_text as analysis_summary
    except ImportError:
        analysis_summary = None
    if analysis_summary is not None:
        return str(analysis_summary(db, study))
    frame = study_runs(db, study)
    return render(frame.drop(columns=["error"]))


class _DbProgress:
    """A progress bar fed by polling the study's counts (for pools of worker processes)."""

    def __init__(self, db: Database, study: str, total: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.db, self.study = db, study
        counts = study_counts(db, study)
        self.bar = tqdm(total=total, initial=finished(counts),
                        unit="cell", disable=quiet, file=sys.stderr, dynamic_ncols=True)

    def refresh(self) -> None:
        from proxystore.errors import DatabaseError

        try:
            counts = study_counts(self.db, self.study)
        except DatabaseError:  # the workers wait for the database (or stop); so does the bar
            return
        self.bar.n = finished(counts)
        self.bar.set_postfix_str(f"running {counts.get('running', 0)}", refresh=True)

    def close(self) -> None:
        self.bar.close()


def fill_with_pool(spec: StudySpec, db: Database, *, device: str, mlflow_uri: str | None,
                   quiet: bool, workers: int, gpus: Any, per_gpu: int,
                   options: dict[str, Any] | None = None, max_cells: int | None = None,
                   max_env_errors: int = DEFAULT_MAX_ENV_ERRORS) -> FillResult:
    """Register `spec`, then fill it with a pool of worker processes on this machine.

    `max_cells` is shared out among the workers (the first ones get one more when it does not
    divide), so the pool trains at most that many cells together; a worker whose share is 0
    is not started. When a worker stops on an error (it prints its one line, e.g. a result
    kept in the spool), `pool_code` is 2 and nothing else is read from the database.
    """
    from proxystore import tracking

    registration = register_study(db, spec)
    tracking.prepare(db, spec.name, mlflow_uri)  # the store made once, before workers log
    base = WorkerConfig(db_url=db.url, worker=worker_id("pool").rsplit(":", 1)[0],
                        device=device, study=spec.name, mlflow_uri=mlflow_uri,
                        train_options=dict(options or {}), max_env_errors=max_env_errors)
    total = registration.cells + len(registration.deferred_tasks) * len(spec.candidates) * len(
        spec.seeds)
    progress = _DbProgress(db, spec.name, total, quiet)
    _sigterm_as_interrupt()
    configs = worker_configs(base, workers=workers, gpus=gpus, per_gpu=per_gpu)
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
            code = run_pool(configs, progress)
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
