"""Operations on a running study: status with leases and throughput, retry, cancel."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import and_, exists, func, select, update

from proxystore.db.clock import utcnow
from proxystore.db.enums import Failure, RunStatus
from proxystore.db.models import SqlRun, SqlStudy, SqlStudyCell
from proxystore.db.session import Database
from proxystore.db.status import run_counts
from proxystore.errors import NotFoundError
from proxystore.runner.claims import _rows, in_study


def _require_study(db: Database, study: str | None) -> None:
    if study is None:
        return
    with db.session() as session:
        if session.scalar(select(SqlStudy.id).where(SqlStudy.name == study)) is None:
            raise NotFoundError(f"no study named {study!r} in this database")


@dataclass
class StatusReport:
    """Counts, running cells, recent failures, throughput and ETA of a study (or all runs)."""

    counts: pd.DataFrame
    running: pd.DataFrame
    failures: pd.DataFrame
    done_last_hour: int
    pending: int
    # Pending cells a worker put back on an error of its machine (no attempt used), and why.
    returned: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def eta_hours(self) -> float | None:
        """Hours left at the last hour's rate (None when nothing finished in the last hour)."""
        if not self.done_last_hour:
            return None
        return self.pending / self.done_last_hour


def status_report(db: Database, study: str | None = None, failures: int = 10) -> StatusReport:
    """Gather what `proxystore status` shows."""
    _require_study(db, study)
    flt = in_study(study)
    with db.session() as session:
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
        running = pd.DataFrame(session.execute(query).all(),
                               columns=["run", "worker", "attempt", "started_at",
                                        "heartbeat_age_s", "lease_expires_at"])
        failures_frame = pd.DataFrame(session.execute(failed).all(),
                                      columns=["run", "failure", "attempts", "finished_at",
                                               "error"])
        returned_frame = pd.DataFrame(session.execute(returned).all(),
                                      columns=["run", "attempts", "error"])
        done_last_hour = int(session.scalar(rate) or 0)
        pending_count = int(session.scalar(pending) or 0)
    return StatusReport(counts=run_counts(db, study), running=running, failures=failures_frame,
                        done_last_hour=done_last_hour, pending=pending_count,
                        returned=returned_frame)


def retry(db: Database, study: str | None = None, failed: bool = False,
          stale: bool = False) -> int:
    """Put failed cells back to pending (all failed, or only FAILED / only STALE); return count.

    Args:
        db: the open database.
        study: only this study's cells.
        failed: cells whose training failed (diverged, error, oom).
        stale: cells whose worker vanished (lease expired), failed or still pending.
    """
    _require_study(db, study)
    if not failed and not stale:
        failed = stale = True
    conditions = []
    if failed:
        conditions.append(and_(SqlRun.status == RunStatus.FAILED, SqlRun.failure != Failure.STALE))
    if stale:
        conditions.append(and_(SqlRun.status.in_(("failed", "pending")),
                               SqlRun.failure == Failure.STALE))
    from sqlalchemy import or_

    statement = (update(SqlRun).where(or_(*conditions))
                 .values(status=RunStatus.PENDING, attempts=0, worker=None, lease_expires_at=None)
                 .execution_options(synchronize_session=False))
    flt = in_study(study)
    if flt is not None:
        statement = statement.where(flt)
    with db.session(immediate=True) as session:
        return _rows(session.execute(statement))


def cancel(db: Database, study: str) -> tuple[int, int]:
    """Withdraw a study's pending cells; cells another study also links stay pending.

    Returns (cancelled, kept because shared). Registering the study again re-activates them.
    """
    _require_study(db, study)
    other = exists().where(and_(SqlStudyCell.run_id == SqlRun.id,
                                SqlStudyCell.study_id == SqlStudy.id, SqlStudy.name != study))
    mine = in_study(study)
    with db.session(immediate=True) as session:
        kept = session.scalar(select(func.count()).select_from(SqlRun)
                              .where(SqlRun.status == RunStatus.PENDING, mine, other)) or 0
        done = _rows(session.execute(
            update(SqlRun).where(SqlRun.status == RunStatus.PENDING, mine, ~other)
            .values(status=RunStatus.CANCELLED).execution_options(synchronize_session=False)))
    return done, int(kept)
