"""Writing a study: its row, candidates, tasks, recipes, runs and the links to its cells.

Every write is insert-if-absent (`proxystore.db.upsert.insert_ignore`), so the unique constraints
decide between processes registering the same study at once. The functions take the caller's
session: `proxystore.study.register` writes a study's rows in one transaction, so a spec that is
refused half-way writes nothing.

Cells travel as `(candidate, task, seed, cell key, run row)` tuples, the run row being the
`runs` columns of a new run (`study.register.expand_cells`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from proxystore.db.enums import RunStatus
from proxystore.db.models import (
    SqlExampleLoss,
    SqlRecipe,
    SqlRun,
    SqlStudy,
    SqlStudyCandidate,
    SqlStudyCell,
    SqlStudyTask,
)
from proxystore.db.upsert import insert_ignore

Cell = tuple[str, str, int, str, dict[str, Any]]  # candidate, task, seed, key, run row
CHUNK = 500  # keys per IN (...) list


def upsert_study(session: Session, name: str, spec_text: str, spec_fingerprint: str,
                 analysis: dict[str, Any]) -> int:
    """Insert the study if absent, bring its spec and analysis settings up to date; its id.

    When the stored spec differs, the study's tasks, candidates and links are deleted (they are
    written again); its runs never are.

    Args:
        session: the registration's session.
        name: the study's name.
        spec_text: the spec as written.
        spec_fingerprint: the spec's fingerprint.
        analysis: the `studies` analysis columns: analysis_diverged, good_rule, good_value.
    """
    # Insert-if-absent, then read: a racing registration's row is found, not collided with.
    insert_ignore(session, SqlStudy, [dict(name=name, spec_text=spec_text,
                                           spec_fingerprint=spec_fingerprint)], ["name"])
    study = session.scalar(select(SqlStudy).where(SqlStudy.name == name))
    assert study is not None
    if study.spec_fingerprint != spec_fingerprint:
        # The spec changed: its tasks, candidates and links are rebuilt; runs are never deleted.
        study.spec_text, study.spec_fingerprint = spec_text, spec_fingerprint
        study.updated_at = func.current_timestamp()
        for model in (SqlStudyCell, SqlStudyTask, SqlStudyCandidate):
            session.execute(delete(model).where(model.study_id == study.id))
    study.analysis_diverged, study.good_rule = analysis["analysis_diverged"], analysis["good_rule"]
    study.good_value = analysis["good_value"]
    return study.id


def write_candidates(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the study's candidates (study_id, label, architecture_id, hparams) if absent."""
    insert_ignore(session, SqlStudyCandidate, rows, ["study_id", "label"])


def write_task(session: Session, row: dict[str, Any]) -> None:
    """Insert a study task if absent; when its subset is known, record it on the stored row.

    Args:
        session: the registration's session.
        row: the `study_tasks` columns; subset_id, num_classes and train_count are None while
            the task waits for its scorer.
    """
    insert_ignore(session, SqlStudyTask, [row], ["study_id", "label"])
    if row["subset_id"] is not None:
        session.execute(update(SqlStudyTask)
                        .where(SqlStudyTask.study_id == row["study_id"],
                               SqlStudyTask.label == row["label"])
                        .values(subset_id=row["subset_id"], num_classes=row["num_classes"],
                                train_count=row["train_count"]))


def save_recipe_rows(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert recipe rows (deduplicated by fingerprint) if absent; return fingerprint -> id."""
    insert_ignore(session, SqlRecipe, list(rows), ["fingerprint"])
    found = session.execute(select(SqlRecipe.fingerprint, SqlRecipe.id)
                            .where(SqlRecipe.fingerprint.in_([r["fingerprint"] for r in rows])))
    return {fp: rid for fp, rid in found.all()}


def recipe_spec(session: Session, recipe_id: int) -> dict[str, Any]:
    """The canonical recipe stored under `recipe_id` (what `Recipe.from_stored` reads)."""
    row = session.get(SqlRecipe, recipe_id)
    assert row is not None, f"no recipe {recipe_id}"
    return row.spec


def insert_and_link(session: Session, study_id: int, cells: Sequence[Cell]) -> int:
    """Insert the runs of `cells` that are new, link the study to every one; how many were new.

    A cell whose run was cancelled is made pending again: a study registered again wants it back.
    """
    keys = [c[3] for c in cells]
    before = run_ids(session, keys)
    insert_ignore(session, SqlRun, [c[4] for c in cells], ["cell_key"])
    ids = run_ids(session, keys)
    links = [dict(study_id=study_id, candidate=cand, task=task, seed=seed, run_id=ids[key])
             for cand, task, seed, key, _ in cells]
    insert_ignore(session, SqlStudyCell, links, ["study_id", "candidate", "task", "seed"])
    session.execute(update(SqlRun).where(SqlRun.id.in_(list(ids.values())),
                                         SqlRun.status == RunStatus.CANCELLED)
                    .values(status=RunStatus.PENDING)
                    .execution_options(synchronize_session=False))
    return len(set(ids) - set(before))


def run_ids(session: Session, keys: Sequence[str]) -> dict[str, int]:
    """Cell key -> run id of the keys that have a run."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = list(keys[start:start + CHUNK])
        found.update(dict(session.execute(
            select(SqlRun.cell_key, SqlRun.id).where(SqlRun.cell_key.in_(chunk))).all()))
    return found


def run_states(session: Session, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Cell key -> (run id, status) of the keys that have a run."""
    existing: dict[str, tuple[int, str]] = {}
    for start in range(0, len(keys), CHUNK):
        rows = session.execute(select(SqlRun.cell_key, SqlRun.id, SqlRun.status)
                               .where(SqlRun.cell_key.in_(keys[start:start + CHUNK]))).all()
        existing.update({k: (i, s) for k, i, s in rows})
    return existing


def has_scores(session: Session, run_id: int) -> bool:
    """Whether run `run_id` stored per-example losses."""
    return session.scalar(select(SqlExampleLoss.run_id)
                          .where(SqlExampleLoss.run_id == run_id).limit(1)) is not None


def scored_run(session: Session, keys: Sequence[str]) -> int | None:
    """The id of the first of `keys` whose run is done and has per-example losses, or None."""
    for key in keys:
        run = session.scalar(select(SqlRun).where(SqlRun.cell_key == key))
        if run is not None and run.status == RunStatus.DONE and has_scores(session, run.id):
            return run.id
    return None


def mark_scorer(session: Session, key: str, rescore_key: str, row: dict[str, Any],
                priority: int) -> int:
    """Make sure a scorer cell will be trained first and scored; 1 when its run is new, else 0.

    Args:
        session: the registration's session.
        key: the scorer cell's key.
        rescore_key: the key of its second training (variant "scorer"), used when the cell was
            trained earlier without keeping its losses.
        row: the `runs` columns of a new scorer run, less `cell_key`.
        priority: the least priority of a scorer run.
    """
    run = session.scalar(select(SqlRun).where(SqlRun.cell_key == key))
    new = 0
    if run is not None and run.status == RunStatus.DONE and not has_scores(session, run.id):
        # Trained earlier without its losses: a second training of the same cell scores examples.
        key = rescore_key
        run = session.scalar(select(SqlRun).where(SqlRun.cell_key == key))
    if run is None:
        insert_ignore(session, SqlRun, [dict(row, cell_key=key)], ["cell_key"])
        run = session.scalar(select(SqlRun).where(SqlRun.cell_key == key))
        assert run is not None
        new = 1
    if run.status != RunStatus.DONE:
        run.needs_scores, run.priority = True, max(run.priority, priority)
    return new

