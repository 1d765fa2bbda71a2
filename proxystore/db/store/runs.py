"""Runs: claims, leases, results and example losses, and the reads of runs the runner needs.

DESIGN.md's "Claiming work", as SQL:

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

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import aliased

from proxystore.db.clock import utcnow
from proxystore.db.enums import Failure, RunStatus
from proxystore.db.models import (
    SqlArchitecture,
    SqlDataset,
    SqlExampleLoss,
    SqlRecipe,
    SqlRun,
    SqlRunEpoch,
    SqlStudy,
    SqlStudyCell,
    SqlSubset,
)
from proxystore.db.session import Database
from proxystore.db.store.retry import async_commit, retrying, rows
from proxystore.db.store.studies import study_runs_select

DEFAULT_LEASE_SECONDS = 120.0
DEFAULT_MAX_ATTEMPTS = 3


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


@dataclass(frozen=True)
class Outcome:
    """A finished training, ready to be written with its run row."""

    epochs: list[dict[str, Any]]
    values: dict[str, Any]  # run columns: final/best errors, seconds, device, ...
    losses: np.ndarray | None = None  # per-example training losses (scorer runs)
    correct: np.ndarray | None = None
    indices: np.ndarray | None = None


def in_study(study: str | None) -> Any:
    """A WHERE clause keeping runs linked to `study` (None: no filter)."""
    if study is None:
        return None
    mine = aliased(SqlRun)
    linked = study_runs_select(study, literal(1), run=mine).where(mine.id == SqlRun.id).exists()
    # A scorer trained again for its losses (its cell was done, by another study, without them)
    # is a run of its own, linked to no study cell: it belongs to the study whose cell it repeats.
    cell = aliased(SqlRun)
    repeats = study_runs_select(study, literal(1), run=cell).where(
        cell.architecture_id == SqlRun.architecture_id, cell.subset_id == SqlRun.subset_id,
        cell.recipe_id == SqlRun.recipe_id, cell.seed == SqlRun.seed).exists()
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
            return rows(result)
    return retrying(do)


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


def running_workers(db: Database) -> set[str]:
    """The worker ids holding a running cell."""
    with db.session() as session:
        return {w for w in session.scalars(select(SqlRun.worker).where(
            SqlRun.status == RunStatus.RUNNING).distinct()) if w}


def claim(db: Database, worker: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
          study: str | None = None) -> Claim | None:
    """Claim the next pending cell (highest priority, then oldest), or None when none is left.

    Reaping expired leases is the caller's (see `runner.claims.claim_next`).

    Args:
        db: the open database.
        worker: this worker's id (host:pid:n).
        lease_seconds: how long the claim holds without a heartbeat.
        study: only cells of this study.
    """
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
            async_commit(conn)
            row = conn.execute(statement).first()
        if row is None:
            return None
        return Claim(run_id=row[0], cell_key=row[1], attempt=row[2], worker=worker,
                     architecture_id=row[3], subset_id=row[4], recipe_id=row[5], seed=row[6],
                     needs_scores=bool(row[7]))
    return retrying(do)


def _held(claim: Claim) -> Any:
    return and_(SqlRun.id == claim.run_id, SqlRun.worker == claim.worker,
                SqlRun.status == RunStatus.RUNNING, SqlRun.attempts == claim.attempt)


def heartbeat(db: Database, claim: Claim, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Renew the lease; False when the worker no longer holds the cell."""
    def do() -> bool:
        with db.transaction() as conn:
            async_commit(conn)
            result = conn.execute(
                update(SqlRun).where(_held(claim))
                .values(lease_expires_at=utcnow(lease_seconds), heartbeat_at=utcnow()))
            return rows(result) > 0
    return retrying(do)


def _insert_rows(conn: Any, run_id: int, outcome: Outcome) -> None:
    """Insert a result's epochs and example losses (inside the transaction that marks it done)."""
    if outcome.epochs:
        conn.execute(insert(SqlRunEpoch), [dict(run_id=run_id, **e) for e in outcome.epochs])
    if outcome.losses is not None:
        assert outcome.indices is not None and outcome.correct is not None
        losses = [dict(run_id=run_id, split="train", index=int(i), loss=float(v),
                       correct=bool(c))
                  for i, v, c in zip(outcome.indices, outcome.losses, outcome.correct,
                                     strict=True)]
        for start in range(0, len(losses), 5000):
            conn.execute(insert(SqlExampleLoss), losses[start:start + 5000])


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
            if not rows(result):
                return False  # not held: nothing was written, the empty transaction commits
            _insert_rows(conn, claim.run_id, outcome)
            return True
    return retrying(do)


def write_kept(db: Database, claim: Claim, outcome: Outcome,
               attempts: int = 8) -> Literal["written", "done", "missing"]:
    """Write a result kept in the spool (see `runner.spool`) unless its run is done by now.

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
            if not rows(result):
                found = conn.execute(select(SqlRun.id).where(same_cell)).first()
                return "done" if found is not None else "missing"
            # A run that is not done has no epochs; clear any all the same, so this can't fail.
            for table in (SqlRunEpoch, SqlExampleLoss):
                conn.execute(delete(table).where(table.run_id == claim.run_id))
            _insert_rows(conn, claim.run_id, outcome)
            return "written"
    return retrying(do, attempts)


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
            return rows(result) > 0
    return retrying(do)


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
            return rows(result) > 0
    return retrying(do)


@dataclass(frozen=True)
class CellFacts:
    """What a claimed cell trains: its genome, recipe, dataset and subset label map."""

    genome: dict[str, Any]
    recipe: dict[str, Any]  # the stored canonical recipe (Recipe.from_stored reads it)
    dataset: str
    channels: int
    label_map: dict[int, int] | None


def cell_facts(db: Database, claim: Claim) -> CellFacts:
    """The architecture, recipe, dataset and label map of a claimed cell."""
    with db.session() as session:
        genome = session.get(SqlArchitecture, claim.architecture_id).genome  # type: ignore[union-attr]
        subset = session.get(SqlSubset, claim.subset_id)
        assert subset is not None
        dataset = session.get(SqlDataset, subset.dataset_id)
        assert dataset is not None
        recipe = session.get(SqlRecipe, claim.recipe_id)
        assert recipe is not None, f"no recipe {claim.recipe_id}"
        label_map = ({int(k): int(v) for k, v in subset.label_map.items()}
                     if subset.label_map else None)
        return CellFacts(genome=dict(genome), recipe=recipe.spec, dataset=dataset.name,
                         channels=dataset.channels, label_map=label_map)


def cell_name(db: Database, run_id: int, study: str | None = None
              ) -> tuple[str, str, int] | None:
    """(candidate, task, seed) of the first study cell that links a run, `study`'s first; None
    when no study links it."""
    with db.session() as session:
        query = (select(SqlStudyCell.candidate, SqlStudyCell.task, SqlStudyCell.seed)
                 .join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id)
                 .where(SqlStudyCell.run_id == run_id))
        if study is not None:
            query = query.order_by((SqlStudy.name != study), SqlStudyCell.id)
        row = session.execute(query.limit(1)).first()
    return None if row is None else (str(row[0]), str(row[1]), int(row[2]))


@dataclass(frozen=True)
class DatasetNeed:
    """A dataset at an image size that pending cells will train on."""

    dataset: str
    source: str
    options: dict[str, Any] | None
    fingerprint: str
    image_size: int
    images: int  # train and val
    channels: int


def pending_needs(db: Database, study: str | None) -> list[DatasetNeed]:
    """The datasets and image sizes of the pending cells (of `study`, when given)."""
    pairs = (select(SqlSubset.dataset_id, SqlRecipe.image_size).select_from(SqlRun)
             .join(SqlSubset, SqlSubset.id == SqlRun.subset_id)
             .join(SqlRecipe, SqlRecipe.id == SqlRun.recipe_id)
             .where(SqlRun.status == RunStatus.PENDING).distinct())
    flt = in_study(study)
    if flt is not None:
        pairs = pairs.where(flt)
    with db.session() as session:
        sizes = session.execute(pairs).all()
        datasets = {row.id: row for row in session.scalars(
            select(SqlDataset).where(SqlDataset.id.in_({d for d, _ in sizes})))}
        return [DatasetNeed(datasets[d].name, datasets[d].source, datasets[d].options,
                            datasets[d].fingerprint, int(size),
                            datasets[d].train_count + datasets[d].val_count,
                            datasets[d].channels) for d, size in sizes]


def run_source(db: Database, run_id: int) -> tuple[str, dict[str, Any] | None] | None:
    """(source, options) of a run's dataset, or None when there is no such run."""
    with db.session() as session:
        row = session.execute(
            select(SqlDataset.source, SqlDataset.options)
            .join(SqlSubset, SqlSubset.dataset_id == SqlDataset.id)
            .join(SqlRun, SqlRun.subset_id == SqlSubset.id).where(SqlRun.id == run_id)).first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True)
class ScorerProgress:
    """Runs that score examples (needs_scores): how many are done, how many running."""

    done: int
    running: int


def scorer_progress(db: Database) -> ScorerProgress:
    """Scorer runs done and running: one cheap count, which an idle worker polls.

    A change of `done` since the last look means easy/hard tasks may now get their cells.
    """
    with db.session() as session:
        counts = dict(session.execute(
            select(SqlRun.status, func.count())
            .where(SqlRun.status.in_((RunStatus.DONE, RunStatus.RUNNING)),
                   SqlRun.needs_scores.is_(True))
            .group_by(SqlRun.status)).all())
    return ScorerProgress(done=int(counts.get(RunStatus.DONE, 0)),
                          running=int(counts.get(RunStatus.RUNNING, 0)))


@dataclass(frozen=True)
class RunEnd:
    """How a run ended: its id, status and error."""

    run_id: int
    status: str
    error: str | None


def runs_of_workers(db: Database, study: str, workers: list[str]) -> list[RunEnd]:
    """The runs of `study` last held by one of `workers`, one row per cell linking them."""
    with db.session() as session:
        found = session.execute(
            study_runs_select(study, SqlRun.id, SqlRun.status, SqlRun.error)
            .where(SqlRun.worker.in_(workers))).all()
    return [RunEnd(int(run_id), str(status), error) for run_id, status, error in found]


def status_counts(db: Database) -> dict[str, int]:
    """Every run (linked to a study or not) by status."""
    with db.session() as session:
        return {str(status): int(n) for status, n in session.execute(
            select(SqlRun.status, func.count()).group_by(SqlRun.status)).all()}


@dataclass(frozen=True)
class LeaseReport:
    """Running cells with their leases, recent failures and throughput (of a study or all)."""

    running: pd.DataFrame  # run, worker, attempt, started_at, heartbeat_age_s, lease_expires_at
    failures: pd.DataFrame  # run, failure, attempts, finished_at, error (latest first)
    returned: pd.DataFrame  # run, attempts, error: pending after an error of a worker's machine
    done_last_hour: int
    pending: int


def lease_report(db: Database, study: str | None = None, failures: int = 10) -> LeaseReport:
    """What `proxystore status` shows beside the counts; `failures` rows at most per table."""
    flt = in_study(study)
    age = func.julianday(utcnow()) - func.julianday(SqlRun.heartbeat_at)
    if db.dialect == "postgresql":
        age = func.extract("epoch", utcnow() - SqlRun.heartbeat_at) / 86400.0
    query = (select(SqlRun.id, SqlRun.worker, SqlRun.attempts, SqlRun.started_at,
                    (age * 86400.0).label("heartbeat_age_s"), SqlRun.lease_expires_at)
             .where(SqlRun.status == RunStatus.RUNNING).order_by(SqlRun.started_at))
    failed = (select(SqlRun.id, SqlRun.failure, SqlRun.attempts, SqlRun.finished_at,
                     SqlRun.error).where(SqlRun.status == RunStatus.FAILED)
              .order_by(SqlRun.finished_at.desc()).limit(failures))
    rate = select(func.count()).select_from(SqlRun).where(
        SqlRun.status == RunStatus.DONE, SqlRun.finished_at >= utcnow(-3600))
    is_pending = SqlRun.status == RunStatus.PENDING
    pending = select(func.count()).select_from(SqlRun).where(is_pending)
    returned = (select(SqlRun.id, SqlRun.attempts, SqlRun.error)
                .where(is_pending, SqlRun.failure == Failure.ENVIRONMENT)
                .order_by(SqlRun.id).limit(failures))
    if flt is not None:
        query, failed = query.where(flt), failed.where(flt)
        rate, pending = rate.where(flt), pending.where(flt)
        returned = returned.where(flt)
    with db.session() as session:
        return LeaseReport(
            running=pd.DataFrame(session.execute(query).all(),
                                 columns=["run", "worker", "attempt", "started_at",
                                          "heartbeat_age_s", "lease_expires_at"]),
            failures=pd.DataFrame(session.execute(failed).all(),
                                  columns=["run", "failure", "attempts", "finished_at",
                                           "error"]),
            returned=pd.DataFrame(session.execute(returned).all(),
                                  columns=["run", "attempts", "error"]),
            done_last_hour=int(session.scalar(rate) or 0),
            pending=int(session.scalar(pending) or 0))


def retry_runs(db: Database, study: str | None = None, failed: bool = True,
               stale: bool = True) -> int:
    """Put failed cells back to pending with no attempt used; return how many.

    The arguments are `runner.ops.retry`'s, after it has checked the study and resolved
    "neither flag" to both.
    """
    conditions = []
    if failed:
        conditions.append(and_(SqlRun.status == RunStatus.FAILED, SqlRun.failure != Failure.STALE))
    if stale:
        conditions.append(and_(SqlRun.status.in_(("failed", "pending")),
                               SqlRun.failure == Failure.STALE))
    statement = (update(SqlRun).where(or_(*conditions))
                 .values(status=RunStatus.PENDING, attempts=0, worker=None, lease_expires_at=None)
                 .execution_options(synchronize_session=False))
    flt = in_study(study)
    if flt is not None:
        statement = statement.where(flt)
    with db.session(immediate=True) as session:
        return rows(session.execute(statement))


def cancel_runs(db: Database, study: str) -> tuple[int, int]:
    """Withdraw a study's pending cells; cells another study also links stay pending.

    Returns (cancelled, kept because shared).
    """
    other = exists_in_other_study(study)
    mine = in_study(study)
    with db.session(immediate=True) as session:
        kept = session.scalar(select(func.count()).select_from(SqlRun)
                              .where(SqlRun.status == RunStatus.PENDING, mine, other)) or 0
        done = rows(session.execute(
            update(SqlRun).where(SqlRun.status == RunStatus.PENDING, mine, ~other)
            .values(status=RunStatus.CANCELLED).execution_options(synchronize_session=False)))
    return done, int(kept)


def exists_in_other_study(study: str) -> Any:
    """A WHERE clause keeping runs that a study other than `study` links."""
    other = aliased(SqlRun)
    return (study_runs_select(None, literal(1), run=other)
            .where(other.id == SqlRun.id, SqlStudy.name != study).exists())
