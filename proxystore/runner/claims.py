"""Claiming cells, holding leases, writing results: DESIGN.md's "Claiming work".

- PostgreSQL: one UPDATE claims the next pending cell, its subquery locking with
  FOR UPDATE SKIP LOCKED, so concurrent claimers never wait on or take the same row.
- SQLite: the same UPDATE inside BEGIN IMMEDIATE (one writer at a time, WAL for readers).
- Leases live on the database clock. Every write of a result, failure or release checks that the
  worker still holds the run (worker, status running, same attempt), in the same transaction as
  its epochs and example losses: a worker that lost its lease changes nothing.
- The one exception is a result kept in the spool while the database was away (`write_kept`):
  it is written unless the run is done by now, since a finished result beats retraining.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
from sqlalchemy import and_, case, delete, exists, insert, or_, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import aliased

from proxystore.db.clock import utcnow
from proxystore.db.enums import Failure, RunStatus
from proxystore.db.models import SqlExampleLoss, SqlRun, SqlRunEpoch, SqlStudy, SqlStudyCell
from proxystore.db.session import Database
from proxystore.errors import DatabaseError
from proxystore.processes import pid_alive

DEFAULT_LEASE_SECONDS = 120.0
DEFAULT_MAX_ATTEMPTS = 3
# Expired leases are looked for at most this often per database handle: a lease is minutes
# long, so a sweep per claim would only add a write transaction to every claim.
REAP_INTERVAL_SECONDS = 5.0
T = TypeVar("T")
_last_reap: dict[int, float] = {}


@dataclass(frozen=True)
class Claim:
    """A cell this worker holds: the run and what it needs to train it."""

    run_id: int
    cell_key: str
    attempt: int
    worker: str
    architecture_id: int
    subset_id: int
    recipe_id: int
    seed: int
    needs_scores: bool


def _rows(result: Any) -> int:
    """Rows an UPDATE matched (a CursorResult's rowcount; 0 when the driver gives none)."""
    return int(getattr(result, "rowcount", 0) or 0)


def transient(error: BaseException) -> bool:
    """Whether a database error may pass: a deadlock, serialization failure or lost connection."""
    if not isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, DatabaseError)):
        return False
    # A DatabaseError's own line is for people; the driver's words are in what it wraps.
    cause = error.__cause__ or error.__context__
    texts = [str(getattr(error, "orig", error) or error), str(getattr(cause, "orig", cause))]
    message = " ".join(texts).lower()
    return any(s in message for s in (
        "deadlock", "could not serialize", "database is locked", "server closed",
        "connection", "terminating", "the database system is",
    ))


def _retrying(fn: Callable[[], T], attempts: int = 8) -> T:
    """Run a transaction, retrying deadlocks, serialization failures and dropped connections."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return fn()
        except (sa_exc.OperationalError, sa_exc.InterfaceError, DatabaseError) as error:
            if not transient(error) or attempt == attempts - 1:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def _async_commit(conn: Any) -> None:
    """Commit this transaction without waiting for the WAL flush (PostgreSQL).

    Only for claims and heartbeats: if the server crashes and forgets one, the worst case is that
    another worker trains the cell too, and the first writer's result check then refuses the
    stale one. Results (complete/fail) keep durable commits.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit = off"))


def in_study(study: str | None) -> Any:
    """A WHERE clause keeping runs linked to `study` (None: no filter)."""
    if study is None:
        return None
    linked = exists().where(and_(SqlStudyCell.run_id == SqlRun.id,
                                 SqlStudyCell.study_id == SqlStudy.id, SqlStudy.name == study))
    # A scorer trained again for its losses (its cell was done, by another study, without them)
    # is a run of its own, linked to no study cell: it belongs to the study whose cell it repeats.
    cell = aliased(SqlRun)
    repeats = exists().where(and_(
        SqlStudyCell.run_id == cell.id, SqlStudyCell.study_id == SqlStudy.id,
        SqlStudy.name == study, cell.architecture_id == SqlRun.architecture_id,
        cell.subset_id == SqlRun.subset_id, cell.recipe_id == SqlRun.recipe_id,
        cell.seed == SqlRun.seed))
    return or_(linked, and_(SqlRun.needs_scores.is_(True), repeats))


def _return_running(db: Database, which: Any, error: Any, max_attempts: int) -> int:
    """Send the running cells `which` selects back to pending (failed after max attempts), as
    `stale` with `error`: the one way a cell leaves a worker that can no longer give it back."""
    def do() -> int:
        with db.transaction(immediate=True) as conn:
            result = conn.execute(
                update(SqlRun)
                .where(SqlRun.status == RunStatus.RUNNING, which)
                .values(status=case((SqlRun.attempts >= max_attempts, RunStatus.FAILED),
                                    else_=RunStatus.PENDING),
                        failure=Failure.STALE, error=error, worker=None, lease_expires_at=None))
            return _rows(result)
    return _retrying(do)


def reap_expired(db: Database, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> int:
    """Return running cells whose lease expired to pending (or failed after max attempts)."""
    return _return_running(db, SqlRun.lease_expires_at < utcnow(),
                           "lease expired on worker " + SqlRun.worker, max_attempts)


def reap_worker(db: Database, worker: str, reason: str,
                max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> int:
    """Return the running cells of a worker known to be dead (its process exited) to pending, or
    failed after max attempts, at once rather than when their leases expire. A dead process
    writes nothing more, so no stale result can follow; `reason` becomes the runs' error."""
    return _return_running(db, SqlRun.worker == worker, reason[:2000], max_attempts)


def claim_next(db: Database, worker: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
               study: str | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS
               ) -> Claim | None:
    """Claim the next pending cell (highest priority, then oldest), or None when none is left.

    Args:
        db: the open database.
        worker: this worker's id (host:pid:n).
        lease_seconds: how long the claim holds without a heartbeat.
        study: only cells of this study.
        max_attempts: expired leases of runs with this many attempts become failed.
    """
    now = time.monotonic()
    if now - _last_reap.get(id(db), -1e9) >= REAP_INTERVAL_SECONDS:
        _last_reap[id(db)] = now
        reap_expired(db, max_attempts)
    pick = select(SqlRun.id).where(SqlRun.status == RunStatus.PENDING)
    flt = in_study(study)
    if flt is not None:
        pick = pick.where(flt)
    pick = pick.order_by(SqlRun.priority.desc(), SqlRun.id).limit(1)
    if db.dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    statement = (
        update(SqlRun)
        .where(SqlRun.id == pick.scalar_subquery(), SqlRun.status == RunStatus.PENDING)
        .values(status=RunStatus.RUNNING, worker=worker, attempts=SqlRun.attempts + 1,
                lease_expires_at=utcnow(lease_seconds), heartbeat_at=utcnow(),
                started_at=utcnow())
        .returning(SqlRun.id, SqlRun.cell_key, SqlRun.attempts, SqlRun.architecture_id,
                   SqlRun.subset_id, SqlRun.recipe_id, SqlRun.seed, SqlRun.needs_scores)
    )

    def do() -> Claim | None:
        with db.transaction(immediate=True) as conn:
            _async_commit(conn)
            row = conn.execute(statement).first()
        if row is None:
            return None
        return Claim(run_id=row[0], cell_key=row[1], attempt=row[2], worker=worker,
                     architecture_id=row[3], subset_id=row[4], recipe_id=row[5], seed=row[6],
                     needs_scores=bool(row[7]))
    return _retrying(do)


def _held(claim: Claim) -> Any:
    return and_(SqlRun.id == claim.run_id, SqlRun.worker == claim.worker,
                SqlRun.status == RunStatus.RUNNING, SqlRun.attempts == claim.attempt)


def heartbeat(db: Database, claim: Claim, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Renew the lease; False when the worker no longer holds the cell."""
    def do() -> bool:
        with db.transaction() as conn:
            _async_commit(conn)
            result = conn.execute(
                update(SqlRun).where(_held(claim))
                .values(lease_expires_at=utcnow(lease_seconds), heartbeat_at=utcnow()))
            return _rows(result) > 0
    return _retrying(do)


@dataclass(frozen=True)
class Outcome:
    """A finished training, ready to be written with its run row."""

    epochs: list[dict[str, Any]]
    values: dict[str, Any]  # run columns: final/best errors, seconds, device, ...
    losses: np.ndarray | None = None  # per-example training losses (scorer runs)
    correct: np.ndarray | None = None
    indices: np.ndarray | None = None


def _insert_rows(conn: Any, run_id: int, outcome: Outcome) -> None:
    """Insert a result's epochs and example losses (inside the transaction that marks it done)."""
    if outcome.epochs:
        conn.execute(insert(SqlRunEpoch), [dict(run_id=run_id, **e) for e in outcome.epochs])
    if outcome.losses is not None:
        assert outcome.indices is not None and outcome.correct is not None
        rows = [dict(run_id=run_id, split="train", index=int(i), loss=float(v),
                     correct=bool(c))
                for i, v, c in zip(outcome.indices, outcome.losses, outcome.correct,
                                   strict=True)]
        for start in range(0, len(rows), 5000):
            conn.execute(insert(SqlExampleLoss), rows[start:start + 5000])


def complete(db: Database, claim: Claim, outcome: Outcome) -> bool:
    """Write a result: run row, epochs and example losses in one transaction, only while held.

    Returns False (and writes nothing) when the lease was lost to another attempt.
    """
    def do() -> bool:
        with db.transaction() as conn:
            result = conn.execute(
                update(SqlRun).where(_held(claim))
                .values(status=RunStatus.DONE, finished_at=utcnow(), lease_expires_at=None,
                        failure=None, error=None, **outcome.values))
            if not _rows(result):
                return False  # not held: nothing was written, the empty transaction commits
            _insert_rows(conn, claim.run_id, outcome)
            return True
    return _retrying(do)


def write_kept(db: Database, claim: Claim, outcome: Outcome,
               attempts: int = 8) -> Literal["written", "done", "missing"]:
    """Write a result kept in the spool (see `spool`) unless its run is done by now.

    A finished result beats retraining: it is written whatever the run's status or attempt
    (a worker training it again then finds the cell not held and discards its own result).
    Same rows as `complete`, in one transaction. Returns "written", "done" (the run was
    finished meanwhile: nothing written) or "missing" (no such run in this database).
    """
    same_cell = and_(SqlRun.id == claim.run_id, SqlRun.cell_key == claim.cell_key)

    def do() -> Literal["written", "done", "missing"]:
        with db.transaction(immediate=True) as conn:
            result = conn.execute(
                update(SqlRun).where(same_cell, SqlRun.status != RunStatus.DONE)
                .values(status=RunStatus.DONE, worker=claim.worker, finished_at=utcnow(),
                        lease_expires_at=None, failure=None, error=None, **outcome.values))
            if not _rows(result):
                found = conn.execute(select(SqlRun.id).where(same_cell)).first()
                return "done" if found is not None else "missing"
            # A run that is not done has no epochs; clear any all the same, so this can't fail.
            for table in (SqlRunEpoch, SqlExampleLoss):
                conn.execute(delete(table).where(table.run_id == claim.run_id))
            _insert_rows(conn, claim.run_id, outcome)
            return "written"
    return _retrying(do, attempts)


def fail(db: Database, claim: Claim, failure: Failure, error: str,
         epochs: list[dict[str, Any]] | None = None) -> bool:
    """Mark a held cell failed with its reason (diverged, oom, error); False if not held."""
    def do() -> bool:
        with db.transaction() as conn:
            result = conn.execute(
                update(SqlRun).where(_held(claim))
                .values(status=RunStatus.FAILED, finished_at=utcnow(), lease_expires_at=None,
                        failure=failure, error=error[:2000],
                        epochs_done=len(epochs) if epochs else 0))
            return _rows(result) > 0
    return _retrying(do)


def release(db: Database, claim: Claim, reason: str = "interrupted",
            failure: Failure = Failure.INTERRUPTED) -> bool:
    """Put a held cell back to pending (Ctrl-C, or an error of the worker's machine: failure
    `environment`); the attempt does not count."""
    def do() -> bool:
        with db.transaction() as conn:
            result = conn.execute(
                update(SqlRun).where(_held(claim))
                .values(status=RunStatus.PENDING, worker=None, lease_expires_at=None,
                        attempts=SqlRun.attempts - 1, failure=failure, error=reason[:2000]))
            return _rows(result) > 0
    return _retrying(do)


def reap_dead_local(db: Database, reaper: str,
                    max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> dict[str, int]:
    """Return at once the running cells of workers of this host whose process is gone.

    A worker id is host:pid:n, the pid being the process that claimed the cell. A cell held by
    this host's worker whose pid no longer runs (a SIGKILLed `fill`, a crashed node rebooted)
    goes back to pending, or failed after max attempts, with `failure` stale, instead of
    waiting for its lease. A live pid is never reaped (a reused pid only delays the cell until
    its lease expires), and neither is another host's cell: its pid means nothing here.
    Returns {dead worker: cells put back}.

    Args:
        db: the open database.
        reaper: this worker's id, recorded in the reason.
        max_attempts: a cell that has used this many attempts becomes failed.
    """
    host = socket.gethostname()
    with db.session() as session:
        workers = {w for w in session.scalars(select(SqlRun.worker).where(
            SqlRun.status == RunStatus.RUNNING).distinct()) if w and w.startswith(host + ":")}
    reaped = {}
    for worker in sorted(workers):
        pid = worker[len(host) + 1:].split(":", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        n = reap_worker(db, worker, f"worker {worker} is gone (no process {pid} on {host}); "
                        f"put back by {reaper}", max_attempts)
        if n:
            reaped[worker] = n
    return reaped
