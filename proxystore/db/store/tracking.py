"""What MLflow logging reads and writes: a run's facts and cells, the studies' specs, which runs
MLflow has, and the MLflow run id of each training.

Functions that take a `Session` read inside the caller's transaction (a run and its studies are
read together); the others open their own. Rows come back as builtin values or the plain frozen
dataclasses below: `proxystore.tracking` never sees an ORM object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session

from proxystore.db.enums import RunStatus
from proxystore.db.models import (
    SqlArchitecture,
    SqlDataset,
    SqlRecipe,
    SqlRun,
    SqlRunEpoch,
    SqlStudy,
    SqlStudyCell,
    SqlStudyTask,
    SqlSubset,
)
from proxystore.db.session import Database
from proxystore.db.store.studies import study_runs_select


@dataclass(frozen=True)
class Cell:
    """One cell of one study: the study's labels for a (possibly shared) run."""

    study: str
    candidate: str
    task: str
    seed: int
    order: int  # study_cells.id: the cell that asked for the run first has the lowest
    role: str | None = None
    proxy_of: str | None = None

    @property
    def key(self) -> str:
        """The cell's name within its study, as the `proxystore.cell` tag carries it."""
        return f"{self.candidate}/{self.task}/s{self.seed}"


@dataclass(frozen=True)
class RunFacts:
    """Every column of a run and of what it trained: its architecture, subset, recipe and
    dataset, and its epochs in order (each a dict of run_epochs' columns)."""

    run: dict[str, Any]
    architecture: dict[str, Any]
    subset: dict[str, Any]
    recipe: dict[str, Any]
    dataset: dict[str, Any]
    epochs: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class DoneCell:
    """A cell of a study whose run is done, with the run's MLflow training run and the task's
    study-dependent labels."""

    run_id: int
    candidate: str
    task: str
    seed: int
    mlflow_run_id: str | None
    role: str | None
    proxy_of: str | None


def _columns(row: Any) -> dict[str, Any]:
    """Every mapped column of an ORM row, by attribute name."""
    return {attr.key: getattr(row, attr.key) for attr in inspect(type(row)).column_attrs}


def run_facts(session: Session, run_id: int) -> RunFacts:
    """Every column of run `run_id` and of its architecture, subset, recipe, dataset, epochs."""
    run = session.get(SqlRun, run_id)
    assert run is not None, f"run {run_id} is not in the database"
    arch = session.get(SqlArchitecture, run.architecture_id)
    subset = session.get(SqlSubset, run.subset_id)
    recipe = session.get(SqlRecipe, run.recipe_id)
    assert arch is not None and subset is not None and recipe is not None
    dataset = session.get(SqlDataset, subset.dataset_id)
    assert dataset is not None
    epochs = session.scalars(select(SqlRunEpoch).where(SqlRunEpoch.run_id == run_id)
                             .order_by(SqlRunEpoch.epoch))
    return RunFacts(run=_columns(run), architecture=_columns(arch), subset=_columns(subset),
                    recipe=_columns(recipe), dataset=_columns(dataset),
                    epochs=tuple(_columns(epoch) for epoch in epochs))


def run_cells(session: Session, run_id: int) -> tuple[Cell, ...]:
    """Every cell (of every study) the run fills, the first asker first."""
    rows = session.execute(
        select(SqlStudy.name, SqlStudyCell.candidate, SqlStudyCell.task, SqlStudyCell.seed,
               SqlStudyCell.id, SqlStudyTask.role, SqlStudyTask.proxy_of)
        .join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id)
        .outerjoin(SqlStudyTask, (SqlStudyTask.study_id == SqlStudyCell.study_id)
                   & (SqlStudyTask.label == SqlStudyCell.task))
        .where(SqlStudyCell.run_id == run_id).order_by(SqlStudyCell.id)).all()
    return tuple(Cell(*row) for row in rows)


def study_specs(session: Session, names: list[str] | None = None) -> list[tuple[str, str]]:
    """(name, spec text) of the studies named (all when None)."""
    query = select(SqlStudy.name, SqlStudy.spec_text)
    if names is not None:
        query = query.where(SqlStudy.name.in_(names))
    return [(name, spec_text) for name, spec_text in session.execute(query)]


def unlinked_done_runs(session: Session) -> list[int]:
    """Ids of the done runs that no study's cell links (e.g. after a spec change)."""
    return list(session.scalars(
        select(SqlRun.id).where(SqlRun.status == RunStatus.DONE,
                                ~SqlRun.id.in_(select(SqlStudyCell.run_id)))))


def study_cell_keys(db: Database, study: str) -> set[str]:
    """The study's cells as `candidate/task/sSEED` (the `proxystore.cell` tag)."""
    with db.session() as session:
        return {f"{c}/{t}/s{s}" for c, t, s in session.execute(
            select(SqlStudyCell.candidate, SqlStudyCell.task, SqlStudyCell.seed)
            .join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id)
            .where(SqlStudy.name == study))}


def done_cells(db: Database, study: str) -> list[DoneCell]:
    """The study's cells whose run is done, by run id (a run may fill several cells)."""
    with db.session() as session:
        rows = session.execute(
            study_runs_select(study, SqlStudyCell.run_id, SqlStudyCell.candidate,
                              SqlStudyCell.task, SqlStudyCell.seed, SqlRun.mlflow_run_id,
                              SqlStudyTask.role, SqlStudyTask.proxy_of)
            .outerjoin(SqlStudyTask, (SqlStudyTask.study_id == SqlStudyCell.study_id)
                       & (SqlStudyTask.label == SqlStudyCell.task))
            .where(SqlRun.status == RunStatus.DONE)
            .order_by(SqlRun.id)).all()
    return [DoneCell(*row) for row in rows]


def not_logged_count(db: Database, study: str) -> int:
    """How many of the study's done runs are not yet in MLflow."""
    with db.session() as session:
        return int(session.scalar(
            study_runs_select(study, func.count(func.distinct(SqlRun.id)))
            .where(SqlRun.status == RunStatus.DONE, SqlRun.mlflow_logged.is_(False))) or 0)


def note_logged(db: Database, run_id: int, mlflow_run_id: str) -> None:
    """Record that run `run_id` is logged, its training run being `mlflow_run_id`."""
    with db.session() as session:
        session.execute(update(SqlRun).where(SqlRun.id == run_id)
                        .values(mlflow_run_id=mlflow_run_id, mlflow_logged=True))


def forget_mlflow_run(db: Database, mlflow_run_id: str) -> None:
    """The MLflow run `mlflow_run_id` was deleted: the run it trained is not logged any more."""
    with db.session() as session:
        session.execute(update(SqlRun).where(SqlRun.mlflow_run_id == mlflow_run_id)
                        .values(mlflow_run_id=None, mlflow_logged=False))


def mlflow_run_id(db: Database, run_id: int) -> str | None:
    """The MLflow training run of run `run_id` (None when it is not logged)."""
    with db.session() as session:
        return session.scalar(select(SqlRun.mlflow_run_id).where(SqlRun.id == run_id))
