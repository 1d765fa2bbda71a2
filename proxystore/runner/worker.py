"""A worker: claim a cell, train it while a heartbeat holds the lease, write the result, repeat."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxystore.db.enums import Failure
from proxystore.db.session import Database
from proxystore.db.store import runs as run_store
from proxystore.db.store import studies
from proxystore.errors import DatabaseError, WorkerEnvironmentError
from proxystore.runner import claims, environment, spool
from proxystore.runner.cell import cell_label, load_inputs
from proxystore.runner.claims import Claim, Outcome
from proxystore.runner.execution import compile_cache_dir as compile_cache_dir
from proxystore.train.options import TrainOptions

log = logging.getLogger("proxystore.worker")


def worker_id(suffix: str | int = 0) -> str:
    """A worker id that names the machine and process: host:pid:suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{suffix}"


def resolve_device(device: str = "auto") -> str:
    """`auto` is the first CUDA device when there is one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker runs: which database, device, study, lease and MLflow store.

    Frozen: a pool derives each worker's config with `dataclasses.replace`, and the config
    travels to worker processes (and Slurm jobs) pickled as it is. Commands make it from their
    `execution.ExecutionOptions` (`ExecutionOptions.worker_config`).
    """

    db_url: str
    worker: str
    device: str = "auto"
    study: str | None = None
    lease_seconds: float = claims.DEFAULT_LEASE_SECONDS
    max_attempts: int = claims.DEFAULT_MAX_ATTEMPTS
    mlflow_uri: str | None = None
    max_cells: int | None = None
    cache_dir: str | None = None
    # CPU threads for torch. None: 1 on the CPU, where small networks gain little from a second
    # thread and collapse (10x slower, measured) when other processes compete for the cores;
    # parallelism on a CPU machine comes from --workers. Untouched on CUDA.
    threads: int | None = None
    # "module:function" replacing train_claim, e.g. a fast fake trainer in tests.
    trainer: str | None = None
    idle_wait_seconds: float = 2.0
    # How cells are executed, never what they compute (compile, cuda_graphs, ...); the command
    # line's flags become these in `execution.train_options`.
    train_options: TrainOptions = field(default_factory=TrainOptions)
    # Worker processes sharing this worker's device: each may keep 1/share of the resident
    # budget (half the device's memory) for images, so K cells per GPU don't run it out.
    share: int = 1
    # How long a worker that could not write a finished result (the database away) keeps
    # retrying before it stops; the result waits in the spool meanwhile (see `spool`).
    result_patience_seconds: float = 600.0
    # Errors of this machine (not of the cell) in a row after which the worker stops; each one
    # puts its cell back without using an attempt (see `environment`).
    max_env_errors: int = environment.DEFAULT_MAX_ENV_ERRORS


@dataclass
class WorkerSummary:
    """What one worker did."""

    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    flushed: list[int] = field(default_factory=list)  # kept results written at start
    # Cells put back to pending on an error of this machine, with the reason.
    returned: list[tuple[int, str]] = field(default_factory=list)


class _Heartbeat(threading.Thread):
    """Renews a claim's lease every third of its length; sets `lost` when it is gone."""

    def __init__(self, db: Database, claim: Claim, lease_seconds: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{claim.run_id}")
        self.db, self.claim, self.lease = db, claim, lease_seconds
        self.lost = threading.Event()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lease / 3):
            try:
                if not claims.heartbeat(self.db, self.claim, self.lease):
                    self.lost.set()
                    return
            except Exception as error:  # noqa: BLE001 - keep trying until the lease runs out
                log.warning("heartbeat of run %s failed: %s", self.claim.run_id, error)

    def stop(self) -> None:
        self._stop_event.set()


def _epoch_row(metrics: Any) -> dict[str, Any]:
    return {k: getattr(metrics, k) for k in ("epoch", "train_loss", "train_error", "val_loss",
                                              "top1_error", "top5_error", "lr", "seconds")}


def train_claim(db: Database, claim: Claim, config: WorkerConfig,
                lost: threading.Event | None = None,
                on_epoch: Callable[[Any], None] | None = None) -> Outcome:
    """Train a claimed cell and return its outcome (raises on divergence, OOM or interrupt)."""
    import torch

    from proxystore.train.data import TrainData, resident_budget
    from proxystore.train.loop import train
    from proxystore.train.losses import score_examples

    inputs = load_inputs(db, claim, config.cache_dir)
    device = resolve_device(config.device)
    torch.manual_seed(claim.seed)
    model = inputs.architecture.build(num_classes=inputs.num_classes, in_channels=inputs.channels)
    data = TrainData.from_arrays(inputs.train_images, inputs.train_labels, inputs.val_images,
                                 inputs.val_labels, inputs.train_indices, inputs.val_indices,
                                 inputs.mean, inputs.std, inputs.label_map, device,
                                 max_resident_bytes=resident_budget(device) // config.share)
    epochs: list[dict[str, Any]] = []

    def record(metrics: Any) -> None:
        epochs.append(_epoch_row(metrics))
        if on_epoch is not None:
            on_epoch(metrics)

    result = train(model, data, inputs.recipe, claim.seed, device, on_epoch=record,
                   should_stop=(lambda: lost.is_set()) if lost is not None else None,
                   options=config.train_options)
    values = dict(
        epochs_done=len(result.epochs), final_loss=result.final_loss,
        final_top1_error=result.final_top1_error, final_top5_error=result.final_top5_error,
        best_top1_error=result.best_top1_error, best_top5_error=result.best_top5_error,
        best_epoch=result.best_epoch, wall_seconds=result.wall_seconds,
        device_seconds=result.device_seconds, device=result.device)
    outcome = Outcome(epochs=[_epoch_row(e) for e in result.epochs], values=values)
    if claim.needs_scores:
        losses, correct = score_examples(
            model, inputs.train_images[inputs.train_indices],
            inputs.train_labels[inputs.train_indices], inputs.label_map, inputs.mean, inputs.std,
            device)
        outcome = Outcome(epochs=outcome.epochs, values=values, losses=losses, correct=correct,
                          indices=inputs.train_indices)
    return outcome


def _trainer(config: WorkerConfig) -> Callable[..., Outcome]:
    if not config.trainer:
        return train_claim
    import importlib

    module, _, name = config.trainer.partition(":")
    trainer: Callable[..., Outcome] = getattr(importlib.import_module(module), name)
    return trainer


def _environment_failure(db: Database, claim: Claim, config: WorkerConfig,
                         error: BaseException) -> str | None:
    """The reason when `error` is this machine's fault rather than the cell's, else None."""
    try:
        roots = environment.cell_roots(db, claim.run_id, config)
    except DatabaseError:  # the database is away: judge by the cache alone
        roots = [environment.cache_root(config)]
    return environment.environment_failure(error, roots, must_exist=roots[1:])


def run_claim(db: Database, claim: Claim, config: WorkerConfig, summary: WorkerSummary,
              on_epoch: Callable[[Any], None] | None = None) -> str:
    """Train one claimed cell and record what happened; Ctrl-C puts it back to pending.

    Returns what became of it: done, failed, lost, or environment (an error of this machine
    put it back to pending without using an attempt).
    """
    from proxystore.train.loop import DivergedError, Interrupted, OutOfMemoryError

    beat = _Heartbeat(db, claim, config.lease_seconds)
    beat.start()
    try:
        outcome = _trainer(config)(db, claim, config, beat.lost, on_epoch)
    except (KeyboardInterrupt, Interrupted) as stop:
        beat.stop()
        if beat.lost.is_set():
            summary.lost.append(claim.run_id)
            log.warning("lost the lease of run %s; its result is discarded", claim.run_id)
            return "lost"
        claims.release(db, claim, "interrupted by the user")
        raise KeyboardInterrupt from stop
    except Exception as error:  # noqa: BLE001 - one broken cell must not stop the others
        beat.stop()
        if isinstance(error, DivergedError):
            failure = Failure.DIVERGED
            reason = f"diverged: loss became NaN/inf in epoch {error.epoch}"
        elif isinstance(error, OutOfMemoryError):
            failure, reason = Failure.OOM, f"out of memory in epoch {error.epoch}"
        elif (broken := _environment_failure(db, claim, config, error)) is not None:
            claims.release(db, claim, f"worker {claim.worker}: {broken}", Failure.ENVIRONMENT)
            summary.returned.append((claim.run_id, broken))
            log.warning("run %s went back to pending, no attempt used: an error of this "
                        "machine, not of the cell: %s", claim.run_id, broken)
            return "environment"
        else:
            failure = Failure.ERROR
            reason = f"{type(error).__name__}: {' '.join(str(error).split())}"
            log.debug("run %s failed", claim.run_id, exc_info=True)
        claims.fail(db, claim, failure, reason)
        summary.failed.append((claim.run_id, reason))
        return "failed"
    beat.stop()
    if not _write_result(db, claim, outcome, config):
        summary.lost.append(claim.run_id)
        log.warning("lost the lease of run %s; its result is discarded", claim.run_id)
        return "lost"
    summary.done.append(claim.run_id)
    if config.mlflow_uri:  # logged by a background thread: MLflow never holds up training
        from proxystore.tracking import log_later

        log_later(db, claim.run_id, config.mlflow_uri)
    return "done"


# The patience loop's retries start this far apart and double up to the cap.
RESULT_RETRY_SECONDS = (1.0, 30.0)


def _write_result(db: Database, claim: Claim, outcome: Outcome, config: WorkerConfig) -> bool:
    """Write a finished result; False when the cell was no longer this worker's to write.

    When the database stays away through `claims.complete`'s retries, the result is first kept
    in the spool, then written (`claims.write_kept`) as soon as the database answers again,
    retrying for `config.result_patience_seconds`; after that the worker stops with one line
    naming the file, which the next worker on this machine writes.
    """
    try:
        return claims.complete(db, claim, outcome)
    except DatabaseError as error:
        if not claims.transient(error):
            raise
        problem = error
    path = spool.keep(db.url, claim, outcome, config.cache_dir)
    log.warning("cannot write the result of run %s (%s); kept it in %s and retrying for %.0f s",
                claim.run_id, problem, path, config.result_patience_seconds)
    deadline = time.monotonic() + config.result_patience_seconds
    delay, cap = RESULT_RETRY_SECONDS
    while (wait := min(delay, deadline - time.monotonic())) > 0:
        time.sleep(wait)
        delay = min(delay * 2, cap)
        try:
            state = claims.write_kept(db, claim, outcome, attempts=1)
        except DatabaseError as error:
            if not claims.transient(error):
                raise
            problem = error
            continue
        if state == "missing":
            log.warning("the database is back but run %s is not in it; its result stays in %s",
                        claim.run_id, path)
            return False
        path.unlink(missing_ok=True)
        log.warning("the database is back: %s", f"wrote the result of run {claim.run_id}"
                    if state == "written" else f"run {claim.run_id} was done meanwhile")
        return state == "written"
    raise DatabaseError(
        f"the database is unreachable ({problem}; still after "
        f"{config.result_patience_seconds:.0f} s): the result of run {claim.run_id} is kept in "
        f"{path} and will be written by the next `proxystore fill` or `proxystore worker` on "
        "this machine")


def flush_kept(db: Database, config: WorkerConfig) -> list[int]:
    """Write every result this machine kept for this database; return the runs written.

    A kept result is written unless its run is done by now (then its file is just removed).
    """
    written = []
    for path in spool.kept(db.url, config.cache_dir):
        claim, outcome = spool.read(path, db.url)
        state = claims.write_kept(db, claim, outcome)
        if state == "missing":
            log.warning("kept result %s: run %s is not in this database; left in place",
                        path, claim.run_id)
            continue
        path.unlink(missing_ok=True)
        if state == "written":
            written.append(claim.run_id)
            log.warning("wrote the kept result of run %s from %s", claim.run_id, path)
        else:
            log.warning("dropped the kept result of run %s from %s: another worker finished "
                        "it meanwhile", claim.run_id, path)
        if state == "written" and config.mlflow_uri:
            from proxystore.tracking import log_later

            log_later(db, claim.run_id, config.mlflow_uri)
    return written


def run_worker(db: Database, config: WorkerConfig,
               on_claim: Callable[[Claim, str], None] | None = None,
               on_epoch: Callable[[Any], None] | None = None,
               on_done: Callable[[Claim], None] | None = None,
               when_idle: Callable[[], bool] | None = None) -> WorkerSummary:
    """Check this machine, then write the results kept in the spool, then claim and train cells
    until none is pending.

    First puts back the cells of this host's workers whose process is gone
    (`claims.reap_dead_local`), then refuses to start on a machine that can't run cells
    (`environment.check_environment`; not when `max_cells` is 0). Stops early after
    `max_cells` trainings. Raises DatabaseError when a finished result could not be written
    within `config.result_patience_seconds` (it stays in the spool), and
    WorkerEnvironmentError (exit code 3) after `config.max_env_errors` errors of this machine
    in a row, each of whose cells went back to pending.

    Args:
        db: the open database.
        config: the worker's settings.
        on_claim: called with each claim and its readable label before training.
        on_epoch: called after every epoch with its metrics.
        on_done: called after each cell, whatever its outcome.
        when_idle: called when nothing is pending; True means new cells may have appeared
            (e.g. easy/hard subsets after their scorer finished), so look again.
    """
    summary = _prepare(db, config)
    trained = in_a_row = 0
    if when_idle is None:
        when_idle = _WhenIdle(db, config)
    while config.max_cells is None or trained < config.max_cells:
        claim = claims.claim_next(db, config.worker, lease_seconds=config.lease_seconds,
                                  study=config.study, max_attempts=config.max_attempts)
        if claim is None:
            if when_idle():
                continue
            break
        if on_claim is not None:
            on_claim(claim, cell_label(db, claim.run_id, config.study))
        if run_claim(db, claim, config, summary, on_epoch) == "environment":
            in_a_row += 1
            if in_a_row >= config.max_env_errors:
                raise WorkerEnvironmentError(
                    f"stopped after {in_a_row} environment errors in a row (last: "
                    f"{summary.returned[-1][1]}); the cells went back to pending without "
                    "using an attempt", exit_code=environment.ENVIRONMENT_EXIT)
            continue  # not trained: doesn't count towards max_cells
        in_a_row = 0
        trained += 1
        if on_done is not None:
            on_done(claim)
    return summary


def _prepare(db: Database, config: WorkerConfig) -> WorkerSummary:
    """Before the first claim: put back dead local workers' cells, check this machine, write
    the results kept in the spool, and set torch's threads and compile cache."""
    summary = WorkerSummary()
    for dead, n in claims.reap_dead_local(db, config.worker, config.max_attempts).items():
        log.warning("worker %s is gone: %s it held went back to pending", dead,
                    "the cell" if n == 1 else f"the {n} cells")
    if config.max_cells != 0:
        environment.check_environment(db, config)
    summary.flushed = flush_kept(db, config)
    if config.threads or not resolve_device(config.device).startswith("cuda"):
        import torch

        torch.set_num_threads(config.threads or 1)
    if config.train_options.compile_mode:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = compile_cache_dir(config)
    return summary


class _WhenIdle:
    """When idle: add the cells of easy/hard tasks whose scorer finished since the last look;
    wait while a scorer trains elsewhere.

    Which tasks wait for a scorer is read from the database (a task stored without a subset),
    and their studies' specs are materialized only when a scorer run finished since the last
    tick (the first tick looks once): an idle worker re-registers nothing.
    """

    def __init__(self, db: Database, config: WorkerConfig) -> None:
        self.db, self.config = db, config
        self.scorers_done: int | None = None  # scorer runs done at the last look

    def __call__(self) -> bool:
        """True when new cells may be pending (look again), False when the worker may stop."""
        scorers = run_store.scorer_progress(self.db)
        if scorers.done != self.scorers_done:
            self.scorers_done = scorers.done
            if self._materialize():
                return True
        if scorers.running:
            time.sleep(self.config.idle_wait_seconds)
            return True
        return False

    def _materialize(self) -> int:
        """Declare the waiting tasks whose scorer is done; return the new runs."""
        from proxystore.study.register import materialize_deferred
        from proxystore.study.spec import parse_spec

        waiting = studies.studies_waiting_for_scorer(self.db, self.config.study)
        return sum(materialize_deferred(self.db, parse_spec(text)) for text in waiting.values())
