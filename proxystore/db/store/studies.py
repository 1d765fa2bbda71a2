"""Studies: whether one exists, its runs (the one "runs of a study" join), and their counts.

Every question of the form "which runs belong to study S" goes through `study_runs_select`, so
the join of runs, study_cells and studies is written once. A run may back several cells of one
study (two tasks sharing a subset), so counts are of distinct runs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from proxystore.db.enums import RunStatus
from proxystore.db.models import SqlRun, SqlStudy, SqlStudyCell, SqlStudyTask
from proxystore.db.session import Database
from proxystore.errors import NotFoundError


def study_runs_select(study: str | None, *columns: Any, run: Any = SqlRun) -> Select:
    """A SELECT of `columns` over the runs of `study`, joined through its cells.

    Callers add their own `where`, `group_by` and `order_by`; the join is fixed here.

    Args:
        study: the study's name; None: the runs of every study (group by SqlStudy.name).
        *columns: ORM columns or expressions of `run`, SqlStudyCell or SqlStudy.
        run: the runs entity to join: SqlRun, or an alias of it when the select is a
            subquery correlated with an outer SqlRun (see `runs.in_study`).

    Example:
        >>> str(study_runs_select("demo", SqlRun.id)).count("JOIN")
        2
    """
    query = (select(*columns).select_from(SqlStudyCell)
             .join(run, run.id == SqlStudyCell.run_id)
             .join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id))
    return query if study is None else query.where(SqlStudy.name == study)


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


def study_names(db: Database) -> list[str]:
    """The names of every registered study, sorted."""
    with db.session() as session:
        return list(session.scalars(select(SqlStudy.name).order_by(SqlStudy.name)))


def run_counts_by_study(db: Database, study: str | None = None) -> dict[str, dict[str, int]]:
    """Distinct runs by status of each study (or of `study` only), by study name.

    Example:
        run_counts_by_study(db) -> {"demo": {"done": 12, "pending": 3}}
    """
    query = (study_runs_select(study, SqlStudy.name, SqlRun.status,
                               func.count(func.distinct(SqlRun.id)))
             .group_by(SqlStudy.name, SqlRun.status).order_by(SqlStudy.name, SqlRun.status))
    with db.session() as session:
        rows = session.execute(query).all()
    counts: dict[str, dict[str, int]] = {}
    for name, status, n in rows:
        counts.setdefault(str(name), {})[str(status)] = int(n)
    return counts


def run_counts(db: Database, study: str) -> dict[str, int]:
    """Distinct runs of `study` by status, e.g. {"done": 12, "pending": 3}."""
    return run_counts_by_study(db, study).get(study, {})


def finished(counts: dict[str, int]) -> int:
    """How many runs are finished (done or failed), from `run_counts`."""
    return counts.get(RunStatus.DONE, 0) + counts.get(RunStatus.FAILED, 0)


def cell_count(db: Database, study: str) -> int:
    """How many cells `study` has (a run backing two cells counts twice)."""
    with db.session() as session:
        return int(session.scalar(
            select(func.count()).select_from(SqlStudyCell).join(SqlStudy)
            .where(SqlStudy.name == study)) or 0)


def run_table(db: Database, study: str) -> pd.DataFrame:
    """One row per cell of a study with its run's status and errors.

    Columns: candidate, task, seed, run, status, top1_error, best_top1_error, seconds, error.
    """
    query = (study_runs_select(study, SqlStudyCell.candidate, SqlStudyCell.task,
                               SqlStudyCell.seed, SqlRun.id, SqlRun.status,
                               SqlRun.final_top1_error, SqlRun.best_top1_error,
                               SqlRun.wall_seconds, SqlRun.error)
             .order_by(SqlStudyCell.task, SqlStudyCell.candidate, SqlStudyCell.seed))
    with db.session() as session:
        rows = session.execute(query).all()
    return pd.DataFrame(rows, columns=["candidate", "task", "seed", "run", "status",
                                       "top1_error", "best_top1_error", "seconds", "error"])


def waiting_for_scorer(db: Database, study: str) -> list[str]:
    """Labels of the study's tasks still waiting for their scorer, sorted.

    A task on an easy/hard (loss-quantile) subset is stored with no subset until its scorer run
    is done with per-example losses: that NULL is the fact, whatever the spec's text says.
    """
    with db.session() as session:
        return sorted(session.scalars(
            select(SqlStudyTask.label).join(SqlStudy)
            .where(SqlStudy.name == study, SqlStudyTask.subset_id.is_(None))).all())


def studies_waiting_for_scorer(db: Database, study: str | None = None) -> dict[str, str]:
    """{name: spec text} of the studies (or of `study` only) with a task waiting for its scorer.

    The spec text is what `materialize_deferred` needs to declare the waiting tasks' subsets.
    """
    query = (select(SqlStudy.name, SqlStudy.spec_text)
             .where(SqlStudy.id.in_(select(SqlStudyTask.study_id)
                                    .where(SqlStudyTask.subset_id.is_(None))))
             .order_by(SqlStudy.name))
    if study is not None:
        query = query.where(SqlStudy.name == study)
    with db.session() as session:
        return {str(name): str(text) for name, text in session.execute(query).all()}
