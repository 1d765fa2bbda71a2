"""Studies: whether one exists, its runs (the one "runs of a study" join), and their counts.

Every question of the form "which runs belong to study S" goes through `study_runs_select`, so
the join of runs, study_cells and studies is written once. A run may back several cells of one
study (two tasks sharing a subset), so counts are of distinct runs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from proxystore.db.enums import RunStatus
from proxystore.db.models import SqlRun, SqlStudy, SqlStudyCell
from proxystore.db.session import Database
from proxystore.errors import NotFoundError


def study_runs_select(study: str, *columns: Any) -> Select:
    """A SELECT of `columns` over the runs of `study`, joined through its cells.

    Callers add their own `where`, `group_by` and `order_by`; the join is fixed here.

    Args:
        study: the study's name.
        *columns: ORM columns or expressions of SqlRun, SqlStudyCell or SqlStudy.

    Example:
        >>> str(study_runs_select("demo", SqlRun.id)).count("JOIN")
        2
    """
    return (select(*columns).select_from(SqlStudyCell)
            .join(SqlRun, SqlRun.id == SqlStudyCell.run_id)
            .join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id)
            .where(SqlStudy.name == study))


def study_id(session: Session, study: str) -> int | None:
    """The id of the study named `study`, or None when there is none."""
    return session.scalar(select(SqlStudy.id).where(SqlStudy.name == study))


def study_exists(db: Database, study: str) -> bool:
    """Whether a study named `study` is registered in `db`."""
    with db.session() as session:
        return study_id(session, study) is not None


def require_study(db: Database, study: str | None) -> None:
    """Raise NotFoundError naming `study` when it is not registered (None: nothing to check)."""
    if study is not None and not study_exists(db, study):
        raise NotFoundError(f"no study named {study!r} in this database")


def run_counts(db: Database, study: str) -> dict[str, int]:
    """Distinct runs of `study` by status, e.g. {"done": 12, "pending": 3}."""
    with db.session() as session:
        rows = session.execute(
            study_runs_select(study, SqlRun.status, func.count(func.distinct(SqlRun.id)))
            .group_by(SqlRun.status)).all()
    return {str(status): int(n) for status, n in rows}


def finished(counts: dict[str, int]) -> int:
    """How many runs are finished (done or failed), from `run_counts`."""
    return counts.get(RunStatus.DONE, 0) + counts.get(RunStatus.FAILED, 0)


def cell_count(db: Database, study: str) -> int:
    """How many cells `study` has (a run backing two cells counts twice)."""
    with db.session() as session:
        return int(session.scalar(
            select(func.count()).select_from(SqlStudyCell).join(SqlStudy)
            .where(SqlStudy.name == study)) or 0)


def study_names(session: Session, *, by_id: bool = False) -> list[str]:
    """Every study's name, in name order (or in the order they were registered: `by_id`).

    Example:
        >>> with db.session() as session:  # doctest: +SKIP
        ...     study_names(session)
        ['cifar-proxies', 'demo']
    """
    order = SqlStudy.id if by_id else SqlStudy.name
    return list(session.scalars(select(SqlStudy.name).order_by(order)))
