"""Logging to MLflow: one MLflow run per (study, cell), from what the database recorded.

The database is the record; MLflow is a view of it. Live logging (a worker, after it wrote a
result) and `proxystore mlflow sync` (whatever is missing) both go through `Writer.cell`, so
a run logged late looks exactly like one logged at once. The MLflow run of the cell that first
asked for a training is its *training run* (`runs.mlflow_run_id`); every other cell it fills,
in the same study or another, gets its own run in its study's experiment with the same params,
metrics and times, its study's labels, and `proxystore.trained_in` naming the training run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from proxystore.db.session import Database
from proxystore.db.store import tracking as store
from proxystore.tracking import describe
from proxystore.tracking.describe import Cell, Record, Study
from proxystore.tracking.store import (
    TrackingError,
    artifact_root,
    client,
    ensure_store,
    quick_http,
    store_lock,
    why,
)

# The experiment tag by which MLflow's UI picks its view: model training, not GenAI.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
NOTE = "mlflow.note.content"
CELL_TAG, TRAINED_IN = "proxystore.cell", "proxystore.trained_in"
# MLflow 3's UI opens experiments in the view its GenAI/model-training switch names (GenAI
# unless changed), whatever `mlflow.experimentKind` says; this query picks model training.
TRAINING_VIEW = "?workflowType=machine_learning"
# Tags a cell's run carries or not depending on its study (removed when no longer due).
STUDY_TAGS = ("role", "proxy_of", TRAINED_IN, TRAINED_IN + "_experiment", NOTE)
REPORT_TAG = "proxystore.report"  # on a study's experiment: EXPERIMENT/RUN/DATE of its report


@dataclass
class Counts:
    """What one logging pass did in MLflow: runs created, retagged, and removed (duplicates,
    half-logged runs, runs of cells no longer in their study)."""

    created: int = 0
    retagged: int = 0
    removed: int = 0


def cell_tags(record: Record, cell: Cell, trained_in: Any | None) -> dict[str, str]:
    """The tags of a cell's MLflow run: its study's labels, and the training run if reused."""
    tags = {k: v for k, v in record.tags.items() if v}
    tags.update({"study": cell.study, "candidate": cell.candidate, "task": cell.task,
                 CELL_TAG: cell.key, "proxystore.reused": str(trained_in is not None).lower(),
                 "mlflow.runName": f"{cell.candidate} @ {cell.task} s{cell.seed}"})
    tags.update({k: v for k, v in (("role", cell.role), ("proxy_of", cell.proxy_of)) if v})
    if trained_in is not None:
        experiment = trained_in.info.experiment_id
        tags[TRAINED_IN] = trained_in.info.run_id
        tags[TRAINED_IN + "_experiment"] = experiment
        tags[NOTE] = (f"Trained once for another cell and reused here: [the training run]"
                      f"({ui_link(experiment, trained_in.info.run_id)}).")
    return tags


def ui_link(experiment: str, run: str | None = None, path: str = "") -> str:
    """A link inside MLflow's UI, in its model-training view (MLflow 3 opens GenAI's)."""
    target = f"#/experiments/{experiment}" + (f"/runs/{run}" if run else "") + path
    return target + TRAINING_VIEW


def experiment_note(description: str, tags: dict[str, str]) -> str:
    """A study experiment's description: the spec's, and a link to its latest report."""
    report = tags.get(REPORT_TAG)
    if not report:
        return description
    experiment, run, when = (report.split("/", 2) + ["", ""])[:3]
    link = f"Latest report ({when}): [index.html]({ui_link(experiment, run, '/artifacts')})"
    return f"{description}\n\n{link}" if description else link


class Writer:
    """One client and what it learnt (experiments, runs) during one logging pass."""

    def __init__(self, db: Database, uri: str, counts: Counts | None = None,
                 known: dict[str, str] | None = None) -> None:
        self.db, self.uri = db, uri
        self.counts = counts if counts is not None else Counts()
        self.client = client(uri)
        # Experiment ids by name; live logging passes the process's own, so a worker looks
        # its study's experiment up (and checks its note) once, not once per cell.
        self.experiments: dict[str, str] = known if known is not None else {}
        self.studies: dict[str, Study] = {}

    def experiment(self, name: str) -> str:
        """The id of the study's experiment, created (with its note and kind) when missing."""
        if name in self.experiments:
            return self.experiments[name]
        study = self.studies.get(name) or Study(name, "", "")
        wanted = {EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1]}
        found = self.client.get_experiment_by_name(name)
        note = experiment_note(study.description, found.tags if found is not None else {})
        if note:
            wanted[NOTE] = note
        if found is None:
            root = artifact_root(self.uri)
            location = f"{root}/{_folder(name)}" if root else None
            try:
                found_id = self.client.create_experiment(name, artifact_location=location,
                                                         tags=wanted)
            except Exception:  # another worker created it first; anything else repeats below
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
            else:
                self.experiments[name] = found_id
                return str(found_id)
        if found.lifecycle_stage == "deleted":  # the study is still in the database
            self.client.restore_experiment(found.experiment_id)
        for key, value in wanted.items():
            if found.tags.get(key) != value:
                self.client.set_experiment_tag(found.experiment_id, key, value)
        self.experiments[name] = found.experiment_id
        return str(found.experiment_id)

    def training_run(self, record: Record) -> Any | None:
        """The run's training run in MLflow, when it exists and is active."""
        if not record.mlflow_run_id:
            return None
        try:
            run = self.client.get_run(record.mlflow_run_id)
        except Exception as error:
            if getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        complete = run.info.lifecycle_stage == "active" and run.info.status == "FINISHED"
        return run if complete else None

    def cell(self, record: Record, cell: Cell, found: list[Any], trained_in: Any | None) -> Any:
        """Make the cell's MLflow run exist once, complete and tagged; return it."""
        keep = [r for r in found if r.info.status == "FINISHED"]
        keep.sort(key=lambda r: (r.info.run_id != record.mlflow_run_id, r.info.start_time,
                                 r.info.run_id))
        for extra in [r for r in found if not keep or r is not keep[0]]:
            self.client.delete_run(extra.info.run_id)  # a duplicate or a half-logged one
            self.counts.removed += 1
        if trained_in is not None and keep and keep[0].info.run_id == trained_in.info.run_id:
            trained_in = None  # this cell holds the training run itself
        tags = cell_tags(record, cell, trained_in)
        if keep:
            run = keep[0]
            changed = {k: v for k, v in tags.items() if run.data.tags.get(k) != v}
            stale = [k for k in STUDY_TAGS if k in run.data.tags and k not in tags]
            if changed:
                self._tags(run.info.run_id, changed)
            for key in stale:
                self.client.delete_tag(run.info.run_id, key)
            self.counts.retagged += bool(changed or stale)
            return run
        return self._create(record, cell, tags)

    def _create(self, record: Record, cell: Cell, tags: dict[str, str]) -> Any:
        from mlflow.entities import Metric, Param

        experiment = self.experiment(cell.study)
        run = self.client.create_run(experiment, start_time=record.start_ms, tags=tags)
        run_id = run.info.run_id
        try:
            metrics = [Metric(k, v, at, step) for k, v, at, step in record.metrics]
            params = [Param(k, v) for k, v in record.params.items()]
            # MLflow takes at most 100 params and 1,000 entities in one batch.
            while metrics or params:
                self.client.log_batch(run_id, metrics=metrics[:900], params=params[:100])
                metrics, params = metrics[900:], params[100:]
            study = self.studies.get(cell.study)
            if study is not None and study.spec_text:
                self.client.log_text(run_id, study.spec_text, "spec.yaml")
            # FINISHED last: a run without it is half-logged and the next pass replaces it.
            self.client.set_terminated(run_id, status="FINISHED", end_time=record.end_ms)
        except BaseException:
            try:
                self.client.delete_run(run_id)
            except Exception:  # noqa: BLE001 - MLflow is away; the next pass replaces it
                pass
            raise
        self.counts.created += 1
        return run  # its info (ids) is what links need

    def _tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, v) for k, v in tags.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, tags=items[start:start + 100])

    def runs_of(self, experiment: str, run_id: int | None = None) -> dict[str, list[Any]]:
        """The experiment's active runs by cell key (only those of one run when given)."""
        where = f"tags.`proxystore.run_id` = '{run_id}'" if run_id is not None else ""
        by_key: dict[str, list[Any]] = {}
        token = None
        while True:
            page = self.client.search_runs([experiment], filter_string=where,
                                           max_results=1000, page_token=token)
            for run in page:
                by_key.setdefault(run.data.tags.get(CELL_TAG, ""), []).append(run)
            token = page.token
            if not token:
                return by_key

    def record(self, record: Record, cells: Iterable[Cell],
               found: dict[str, dict[str, list[Any]]] | None = None) -> None:
        """Log `cells` of one run (its training run first when missing) and note it as logged.

        `found` maps a study to its experiment's runs by cell key (looked up when None).
        """
        training = self.training_run(record)
        chosen = sorted(cells, key=lambda c: c.order)
        if training is None and chosen:
            first = min(record.cells, key=lambda c: c.order) if record.cells else chosen[0]
            if first not in chosen:
                first = chosen[0]
            chosen.remove(first)
            chosen.insert(0, first)
        for cell in chosen:
            runs = self._found(found, cell, record)
            if training is not None:
                runs = [r for r in runs if r.info.run_id != training.info.run_id or
                        r.data.tags.get(CELL_TAG) == cell.key]
            run = self.cell(record, cell, runs, training)
            if training is None:  # noted at once: the cells after it link to it
                training = run
                self._note_logged(record.run_id, run.info.run_id)

    def _found(self, found: dict[str, dict[str, list[Any]]] | None, cell: Cell,
               record: Record) -> list[Any]:
        if found is not None and cell.study in found:
            runs = found[cell.study].get(cell.key, [])
        else:
            by_key = self.runs_of(self.experiment(cell.study), record.run_id)
            runs = by_key.get(cell.key, [])
            legacy = [r for r in by_key.get("", []) if r.info.run_id == record.mlflow_run_id]
            runs = runs or legacy  # logged before runs carried their cell: adopt it
        return runs

    def _note_logged(self, run_id: int, mlflow_run_id: str) -> None:
        store.note_logged(self.db, run_id, mlflow_run_id)


def _folder(name: str) -> str:
    """A folder name for an experiment's artifacts: readable and unique per study name."""
    import hashlib
    import re

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "study"
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


_experiments: dict[str, dict[str, str]] = {}  # store -> study -> experiment id, for log_run


def log_run(db: Database, run_id: int, uri: str) -> str:
    """Log one finished run in MLflow, once per cell that links it; return its training run.

    Args:
        db: the open database.
        run_id: the finished run (runs.id).
        uri: the MLflow tracking URI.

    Raises:
        TrackingError: MLflow refused or could not be reached (the run stays not logged).
    """
    ensure_store(uri)  # before the store's lock, which it takes itself
    known = _experiments.setdefault(uri, {})
    with quick_http(), store_lock(uri):
        try:
            logger = Writer(db, uri, known=known)
            with db.session() as session:
                rec = describe.record(session, run_id)
                logger.studies = describe.studies(session, sorted({c.study for c in rec.cells}))
            cells = rec.cells or (Cell(describe.NO_STUDY, "", f"run-{run_id}", 0, 0),)
            logger.record(rec, cells)
        except Exception as error:  # noqa: BLE001 - connection, HTTP and store errors alike
            known.clear()  # an experiment deleted or restored meanwhile: look again next time
            if isinstance(error, TrackingError):
                raise
            raise TrackingError(f"MLflow at {uri} {why(error)}", why(error)) from None
    return str(store.mlflow_run_id(db, run_id))


def try_log_run(db: Database, run_id: int, uri: str) -> bool:
    """log_run that never raises: on failure the run stays marked as not yet logged."""
    try:
        log_run(db, run_id, uri)
        return True
    except Exception:  # noqa: BLE001 - MLflow may fail in many ways; the DB keeps the result
        return False
