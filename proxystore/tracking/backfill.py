"""`proxystore mlflow sync`: log what MLflow misses, through the same path as live logging.

Per study, the experiment's runs are listed once and compared with the study's cells: a cell
whose finished run has no complete MLflow run is logged; duplicates and half-logged runs go; a
run whose study-dependent tags changed (a task's role after a spec change) is retagged; a run
whose cell left the study (a task or candidate dropped from the spec) is deleted, and when it
was a training run, a cell of another study that reuses the training takes its place. A cell
whose run is complete and up to date costs nothing.
"""

from __future__ import annotations

from typing import Any

from proxystore.db.session import Database
from proxystore.db.store import tracking as store
from proxystore.db.store.studies import study_id, study_names
from proxystore.errors import NotFoundError
from proxystore.tracking import describe
from proxystore.tracking.describe import Cell
from proxystore.tracking.runs import TRAINED_IN, Counts, Writer
from proxystore.tracking.store import (
    TrackingError,
    ensure_store,
    quick_http,
    store_lock,
    unreachable,
    why,
)


def sync(db: Database, uri: str, study: str | None = None) -> Counts:
    """Log in MLflow every cell (of `study`, or of every study) whose finished run is missing
    there, remove duplicates, half-logged runs and cells no longer in their study, and bring
    tags up to date; return what it did.

    Args:
        db: the open database.
        uri: the MLflow tracking URI.
        study: only this study's cells (None: every study's, and runs no study links).

    Raises:
        NotFoundError: no such study.
        TrackingError: MLflow is unreachable or refused (what was logged so far stays).
    """
    with db.session() as session:
        if study is not None and study_id(session, study) is None:
            raise NotFoundError(f"no study {study!r} in the database")
        chosen = [study] if study is not None else study_names(session, by_id=True)
        infos = describe.studies(session, chosen)
        orphans = [] if study is not None else store.unlinked_done_runs(session)
    counts = Counts()
    ensure_store(uri)  # before the store's lock, which it takes itself
    with quick_http(), store_lock(uri):
        try:
            logger = Writer(db, uri, counts)
            logger.studies = infos
            listings = {name: _listing(db, logger, name) for name in chosen}
            for name in chosen:  # after every stale run went, so links find their training
                _sync_study(db, logger, name, listings[name])
            for run_id in orphans:
                with db.session() as session:
                    rec = describe.record(session, run_id)
                logger.record(rec, (Cell(describe.NO_STUDY, "", f"run-{run_id}", 0, 0),))
        except (TrackingError, NotFoundError):
            raise
        except Exception as error:  # noqa: BLE001 - connection, HTTP and store errors alike
            reason = why(error)
            then = f"{counts.created} runs logged before that; the results are safe in the database"
            advice = ("run `proxystore mlflow sync` again when MLflow is up" if
                      unreachable(reason) else "fix that and run `proxystore mlflow sync` again")
            raise TrackingError(f"MLflow at {uri} {reason} ({then}); {advice}", reason) from None
    return counts


def _listing(db: Database, logger: Writer, name: str) -> dict[str, list[Any]]:
    """The study's experiment's runs by cell key, without those of cells it no longer has."""
    found = logger.runs_of(logger.experiment(name))
    cells = store.study_cell_keys(db, name)
    for key in [k for k in found if k and k not in cells]:
        for run in found.pop(key):
            logger.client.delete_run(run.info.run_id)
            logger.counts.removed += 1
            # A cell of another study becomes the training run.
            store.forget_mlflow_run(db, run.info.run_id)
    return found


def _sync_study(db: Database, logger: Writer, name: str, runs: dict[str, list[Any]]) -> None:
    """Log what one study's experiment misses; `runs` is its listing by cell key."""
    found = {name: runs}
    legacy = {r.data.tags.get("proxystore.run_id"): r for r in runs.pop("", [])}
    todo = []
    for cell in store.done_cells(db, name):
        mine = runs.get(f"{cell.candidate}/{cell.task}/s{cell.seed}", [])
        labels = {"role": cell.role or None, "proxy_of": cell.proxy_of or None}
        if not (len(mine) == 1 and _current(mine[0], labels, cell.mlflow_run_id)):
            todo.append(cell.run_id)
    for run_id in sorted(set(todo)):
        with db.session() as session:
            rec = describe.record(session, run_id)
        cells = [c for c in rec.cells if c.study == name]
        old = legacy.get(str(run_id))
        if old is not None and cells and not runs.get(cells[0].key):
            runs[cells[0].key] = [old]  # logged before runs carried their cell
        logger.record(rec, cells, found)


def _current(run: Any, labels: dict[str, str | None], training: str | None) -> bool:
    """Whether a cell's MLflow run is complete and its study-dependent tags are up to date
    (a task's role can change with the spec; every other tag is fixed by the cell)."""
    tags = run.data.tags
    own = run.info.run_id == training
    return (run.info.status == "FINISHED" and training is not None
            and all(tags.get(k) == v for k, v in labels.items())
            and tags.get(TRAINED_IN) == (None if own else training))
