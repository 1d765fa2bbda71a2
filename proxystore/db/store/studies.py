"""Studies: whether one exists, its runs (the one "runs of a study" join), and their counts.

Every question of the form "which runs belong to study S" goes through `study_runs_select`, so
the join of runs, study_cells and studies is written once. A run may back several cells of one
study (two tasks sharing a subset), so counts are of distinct runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from proxystore.db.enums import RunStatus
from proxystore.db.models import SqlRecipe, SqlRun, SqlStudy, SqlStudyCell, SqlStudyTask
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


# --- for `plan --explain` (store-study, issue 17) -------------------------------------------


@dataclass(frozen=True)
class LinkedRun:
    """A run as another study links it: the study, the run and the parts of its cell key."""

    name: str  # the study's name
    id: int
    architecture_id: int
    seed: int
    trainer_version: str
    spec: dict[str, Any] | None  # the run's canonical recipe (None: a run without a recipe)


def linked_runs_select(*columns: Any) -> Select:
    """`study_runs_select` for every study at once: runs joined to each study linking them.

    Callers add a `where` (e.g. on the study's name or the run's subset).
    """
    return study_runs_select(None, *columns)


def studies_of_runs(session: Session, run_ids: Sequence[int],
                    other_than: str | None = None) -> dict[int, set[str]]:
    """Run id -> the names of the studies that link it, leaving out the study `other_than`.

    Args:
        session: an open session.
        run_ids: the runs asked about (queried 500 at a time).
        other_than: a study's name to leave out (None: every study).
    """
    studies_of: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(run_ids), 500):
        query = (select(SqlStudy.name, SqlStudyCell.run_id)
                 .join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id)
                 .where(SqlStudyCell.run_id.in_(run_ids[start:start + 500])))
        if other_than is not None:
            query = query.where(SqlStudy.name != other_than)
        for name, run_id in session.execute(query):
            studies_of[run_id].add(name)
    return studies_of


def runs_on_subset(session: Session, subset_id: int, other_than: str) -> list[LinkedRun]:
    """The runs on subset `subset_id` of every study but `other_than`, once per linking study."""
    rows = session.execute(
        linked_runs_select(SqlStudy.name, SqlRun.id, SqlRun.architecture_id, SqlRun.seed,
                           SqlRun.trainer_version, SqlRecipe.spec)
        .outerjoin(SqlRecipe, SqlRecipe.id == SqlRun.recipe_id)
        .where(SqlRun.subset_id == subset_id, SqlStudy.name != other_than)).all()
    return [LinkedRun(*row) for row in rows]


def study_names(session: Session, *, by_id: bool = False) -> list[str]:
    """Every study's name, in name order (or in the order they were registered: `by_id`).

    Example:
        >>> with db.session() as session:  # doctest: +SKIP
        ...     study_names(session)
        ['cifar-proxies', 'demo']
    """
    order = SqlStudy.id if by_id else SqlStudy.name
    return list(session.scalars(select(SqlStudy.name).order_by(order)))
