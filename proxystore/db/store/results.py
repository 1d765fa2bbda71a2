"""Results files: what `import-results` writes and `export-results` reads.

An import is one transaction (`write_import`): the study, its tasks (each with an imported
dataset, subset and recipe), its candidates (each an imported architecture), and one finished
run per cell. Every row is found again by its fingerprint or cell key, so importing the same
file twice changes nothing and a corrected file updates only what changed. What the rows hold
(fingerprints, metrics, names) is decided by `proxystore.analysis.importer`; this module only
writes and reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from proxystore.db.models import (
    SqlArchitecture,
    SqlDataset,
    SqlRecipe,
    SqlRun,
    SqlStudy,
    SqlStudyCandidate,
    SqlStudyCell,
    SqlStudyTask,
    SqlSubset,
)
from proxystore.db.session import Database

IMPORTED = "imported"  # the architecture space, dataset source, recipe optimizer and trainer tag
KEYS_PER_QUERY = 500  # cell keys per IN (...) lookup


@dataclass(frozen=True)
class ImportedStudy:
    """The study an import writes into; `settings` (analysis_diverged, good_rule, good_value)
    replace its analysis settings when given."""

    name: str
    spec_text: str
    spec_fingerprint: str
    settings: dict[str, Any] | None = None


@dataclass(frozen=True)
class ImportedTask:
    """A task of an import: its dataset, subset and recipe rows (each by fingerprint; values
    besides the fingerprint and, for the subset, its dataset) and its study_tasks columns."""

    label: str
    dataset: tuple[str, dict[str, Any]]
    subset: tuple[str, dict[str, Any]]
    recipe: tuple[str, dict[str, Any]]
    values: dict[str, Any]


@dataclass(frozen=True)
class ImportedCandidate:
    """A candidate of an import: its imported architecture's fingerprint, genome and shape."""

    label: str
    fingerprint: str
    genome: dict[str, Any]
    cumulative_depth: int | None = None
    cumulative_width: int | None = None


@dataclass(frozen=True)
class ImportedCell:
    """One result: the cell it fills, its run's cell key and the run's result columns."""

    key: str
    candidate: str
    task: str
    seed: int
    metrics: dict[str, Any]


def write_import(db: Database, study: ImportedStudy, tasks: Sequence[ImportedTask],
                 candidates: Sequence[ImportedCandidate],
                 cells: Sequence[ImportedCell]) -> tuple[int, int]:
    """Write an import in one transaction; return (runs created, runs updated).

    Nothing is written when any statement fails. A run is updated only when one of its result
    columns (or its `imported` mark) differs from the file's.
    """
    with db.session(immediate=True) as session:
        study_id = _study_row(session, study)
        task_ids = _write_tasks(session, study_id, tasks)
        arch_ids = _write_candidates(session, study_id, candidates)
        return _write_cells(session, study_id, cells, task_ids, arch_ids)


def _get_or_add(session: Session, model: Any, fp: str, **values: Any) -> Any:
    row = session.scalar(select(model).where(model.fingerprint == fp))
    if row is None:
        row = model(fingerprint=fp, **values)
        session.add(row)
        session.flush()
    return row


def _set(row: Any, **values: Any) -> bool:
    """Set attributes that differ; return whether any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _study_row(session: Session, study: ImportedStudy) -> int:
    """Return the study's id, its row created on first import; settings replace its own."""
    st = session.scalar(select(SqlStudy).where(SqlStudy.name == study.name))
    if st is None:
        st = SqlStudy(name=study.name, spec_text=study.spec_text,
                      spec_fingerprint=study.spec_fingerprint)
        session.add(st)
        session.flush()
    if study.settings is not None:
        _set(st, **study.settings)
    return st.id


def _write_tasks(session: Session, study_id: int,
                 tasks: Sequence[ImportedTask]) -> dict[str, tuple[int, int]]:
    """Create or update the study's tasks; return label -> (subset id, recipe id)."""
    task_ids: dict[str, tuple[int, int]] = {}
    for task in tasks:
        dataset = _get_or_add(session, SqlDataset, task.dataset[0], **task.dataset[1])
        subset = _get_or_add(session, SqlSubset, task.subset[0], dataset_id=dataset.id,
                             **task.subset[1])
        recipe = _get_or_add(session, SqlRecipe, task.recipe[0], **task.recipe[1])
        task_ids[task.label] = (subset.id, recipe.id)
        values = dict(subset_id=subset.id, **task.values)
        row = session.get(SqlStudyTask, (study_id, task.label))
        if row is None:
            session.add(SqlStudyTask(study_id=study_id, label=task.label, regime={}, **values))
        else:
            _set(row, **values)
    return task_ids


def _write_candidates(session: Session, study_id: int,
                      candidates: Sequence[ImportedCandidate]) -> dict[str, int]:
    """Create the candidates' imported architectures and links; return label -> arch id."""
    known = {a.fingerprint: a for a in session.scalars(select(SqlArchitecture).where(
        SqlArchitecture.space == IMPORTED,
        SqlArchitecture.name.in_([c.label for c in candidates])))}
    members = {m.label for m in session.scalars(
        select(SqlStudyCandidate).where(SqlStudyCandidate.study_id == study_id))}
    archs = {}
    for candidate in candidates:
        arch = known.get(candidate.fingerprint) or SqlArchitecture(
            fingerprint=candidate.fingerprint, space=IMPORTED, name=candidate.label,
            genome=candidate.genome)
        _set(arch, cumulative_depth=candidate.cumulative_depth,
             cumulative_width=candidate.cumulative_width)
        archs[candidate.label] = arch
    session.add_all(archs.values())
    session.flush()
    arch_ids = {label: arch.id for label, arch in archs.items()}
    session.add_all([SqlStudyCandidate(study_id=study_id, label=label, architecture_id=arch_id,
                                       hparams={})
                     for label, arch_id in arch_ids.items() if label not in members])
    return arch_ids


def _existing_runs(session: Session, keys: list[str]) -> dict[str, SqlRun]:
    """Return the runs already stored under these cell keys (looked up 500 at a time)."""
    existing: dict[str, SqlRun] = {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        existing.update({run.cell_key: run for run in session.scalars(
            select(SqlRun).where(SqlRun.cell_key.in_(keys[start:start + KEYS_PER_QUERY])))})
    return existing


def _write_cells(session: Session, study_id: int, cells: Sequence[ImportedCell],
                 task_ids: dict[str, tuple[int, int]],
                 arch_ids: dict[str, int]) -> tuple[int, int]:
    """Create or update each cell's run and link the study's cell to it; (created, updated)."""
    created = updated = 0
    existing = _existing_runs(session, [cell.key for cell in cells])
    links = {(c.candidate, c.task, c.seed): c for c in session.scalars(
        select(SqlStudyCell).where(SqlStudyCell.study_id == study_id))}
    new_runs: dict[str, SqlRun] = {}
    for cell in cells:
        run = existing.get(cell.key)
        if run is None:
            subset_id, recipe_id = task_ids[cell.task]
            new_runs[cell.key] = SqlRun(
                cell_key=cell.key, architecture_id=arch_ids[cell.candidate],
                subset_id=subset_id, recipe_id=recipe_id, seed=cell.seed,
                trainer_version=IMPORTED, imported=True, **cell.metrics)
            created += 1
        elif _set(run, imported=True, **cell.metrics):
            updated += 1
    session.add_all(list(new_runs.values()))
    session.flush()
    for cell in cells:
        run = existing.get(cell.key) or new_runs[cell.key]
        link = links.get((cell.candidate, cell.task, cell.seed))
        if link is None:
            session.add(SqlStudyCell(study_id=study_id, candidate=cell.candidate, task=cell.task,
                                     seed=cell.seed, run_id=run.id))
        elif link.run_id != run.id:
            link.run_id = run.id
    return created, updated
