"""`import-results`: results trained elsewhere become finished, imported runs of a study.

Every row the import needs (architecture, dataset, subset, recipe, run) is identified by a
fingerprint of what it stands for, so importing the same file twice changes nothing, and a
corrected file updates only the rows that changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from proxystore.analysis.results_file import ResultsFile, TaskInfo, read_results, roles_mapping
from proxystore.analysis.views import as_database
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
from proxystore.errors import ResultsFileError, SpecError
from proxystore.fingerprint import fingerprint
from proxystore.study.spec import AnalysisSettings, default_strategy, parse_analysis

IMPORTED = "imported"  # the architecture space, dataset source, recipe optimizer and trainer tag


@dataclass(frozen=True)
class ImportSummary:
    """What an import did: rows read, runs created and updated, tasks and candidates."""

    study: str
    rows: int
    created: int
    updated: int
    tasks: int
    candidates: int

    def line(self) -> str:
        """One line for the terminal."""
        return (f"{self.study}: {self.rows} results, {self.created} runs imported, "
                f"{self.updated} updated, {self.rows - self.created - self.updated} unchanged "
                f"({self.tasks} tasks, {self.candidates} candidates)")


def cell_key(study: str, candidate: str, task: str, seed: int) -> str:
    """Return the cell key of an imported result: it never collides with a trained cell's."""
    return fingerprint({"study": study, "candidate": candidate, "task": task, "seed": seed,
                        "source": IMPORTED})


def _get_or_add(session: Any, model: Any, fp: str, **values: Any) -> Any:
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


def _task_rows(session: Any, study: str, info: TaskInfo) -> tuple[int, int]:
    """Return (subset id, recipe id) of an imported task, creating them on first import."""
    dataset = _get_or_add(
        session, SqlDataset, fingerprint({"imported_dataset": info.label, "study": study}),
        name=f"{IMPORTED}:{study}:{info.label}", source=IMPORTED, options={},
        num_classes=info.num_classes or 0, channels=0, train_count=info.train_count or 0,
        val_count=0)
    subset = _get_or_add(
        session, SqlSubset, fingerprint({"imported_subset": dataset.fingerprint}),
        dataset_id=dataset.id, kind=IMPORTED, params={}, name=info.label,
        num_classes=info.num_classes or 0, train_count=info.train_count or 0, val_count=0)
    spec = {"imported": True, "epochs": info.epochs, "eval_metric": info.eval_metric,
            "image_size": info.image_size}
    recipe = _get_or_add(
        session, SqlRecipe, fingerprint(spec), spec=spec, epochs=info.epochs or 0, batch_size=0,
        optimizer=IMPORTED, lr=0.0, weight_decay=0.0, schedule=IMPORTED,
        image_size=info.image_size or 0, eval_metric=info.eval_metric)
    return subset.id, recipe.id


def _metrics(row: dict[str, Any], metric: str) -> dict[str, Any]:
    """Return a run's columns for a result row; a diverged row is a failed run without errors."""
    if row.get("status") == "diverged":
        return dict(status="failed", failure="diverged", final_top1_error=None,
                    final_top5_error=None, best_top1_error=None, best_top5_error=None,
                    device_seconds=row.get("gpu_seconds"),
                    epochs_done=row.get("epochs"))
    top1, top5 = row.get("top1_error"), row.get("top5_error")
    best1 = best5 = None
    if metric == "top5":
        top5, best5 = row["error"], row.get("best_error")
    else:
        top1, best1 = row["error"], row.get("best_error")
    return dict(status="done", failure=None, final_top1_error=top1, final_top5_error=top5,
                best_top1_error=best1, best_top5_error=best5,
                device_seconds=row.get("gpu_seconds"), epochs_done=row.get("epochs"))


def _existing_runs(session: Any, keys: list[str]) -> dict[str, SqlRun]:
    """Return the runs already stored under these cell keys (looked up 500 at a time)."""
    existing: dict[str, SqlRun] = {}
    for start in range(0, len(keys), 500):
        existing.update({run.cell_key: run for run in session.scalars(
            select(SqlRun).where(SqlRun.cell_key.in_(keys[start:start + 500])))})
    return existing


def _study_row(session: Any, study: str, spec_text: str,
               settings: AnalysisSettings | None) -> SqlStudy:
    """Return the study's row, created on first import; `settings` replace its analysis ones."""
    st = session.scalar(select(SqlStudy).where(SqlStudy.name == study))
    if st is None:
        st = SqlStudy(name=study, spec_text=spec_text, spec_fingerprint=fingerprint(spec_text))
        session.add(st)
        session.flush()
    if settings is not None:
        _set(st, analysis_diverged=settings.diverged, good_rule=settings.good_rule,
             good_value=settings.good_value)
    return st


def _write_tasks(session: Any, study_id: int, study: str,
                 results: ResultsFile) -> dict[str, tuple[int, int]]:
    """Create or update the study's tasks; return label -> (subset id, recipe id)."""
    task_ids: dict[str, tuple[int, int]] = {}
    for info in results.tasks.values():
        subset_id, recipe_id = _task_rows(session, study, info)
        task_ids[info.label] = (subset_id, recipe_id)
        values = dict(subset_id=subset_id, role=info.role, proxy_of=info.proxy_of,
                      num_classes=info.num_classes, train_count=info.train_count,
                      epochs=info.epochs, image_size=info.image_size,
                      eval_metric=info.eval_metric,
                      strategy=info.strategy or default_strategy(info.label, info.proxy_of))
        row = session.get(SqlStudyTask, (study_id, info.label))
        if row is None:
            session.add(SqlStudyTask(study_id=study_id, label=info.label, regime={}, **values))
        else:
            _set(row, **values)
    return task_ids


def _write_candidates(session: Any, study_id: int, study: str,
                      results: ResultsFile) -> dict[str, int]:
    """Create the candidates' imported architectures and links; return label -> arch id."""
    prints = {label: fingerprint({"label": label, "study": study, "space": IMPORTED})
              for label in results.candidates}
    known = {a.fingerprint: a for a in session.scalars(select(SqlArchitecture).where(
        SqlArchitecture.space == IMPORTED, SqlArchitecture.name.in_(list(prints))))}
    members = {m.label for m in session.scalars(
        select(SqlStudyCandidate).where(SqlStudyCandidate.study_id == study_id))}
    archs = {}
    for label, shape in results.candidates.items():
        arch = known.get(prints[label]) or SqlArchitecture(
            fingerprint=prints[label], space=IMPORTED, name=label,
            genome={"label": label, "study": study})
        _set(arch, cumulative_depth=shape.get("cumulative_depth"),
             cumulative_width=shape.get("cumulative_width"))
        archs[label] = arch
    session.add_all(archs.values())
    session.flush()
    arch_ids = {label: arch.id for label, arch in archs.items()}
    session.add_all([SqlStudyCandidate(study_id=study_id, label=label, architecture_id=arch_id,
                                       hparams={})
                     for label, arch_id in arch_ids.items() if label not in members])
    return arch_ids


def write_results(db: Database, results: ResultsFile, study: str,
                  spec_text: str | None = None,
                  settings: AnalysisSettings | None = None) -> ImportSummary:
    """Write validated results into `study` in one transaction; return what changed.

    `settings` (the spec's `analysis:`) replaces the study's analysis settings when given.
    """
    if spec_text is None:
        spec_text = yaml.safe_dump(
            {"imported_from": results.path.name,
             "tasks": {t.label: {k: v for k, v in vars(t).items() if v is not None
                                 and k != "label"} for t in results.tasks.values()}},
            sort_keys=True)
    created = updated = 0
    with db.session(immediate=True) as session:
        st = _study_row(session, study, spec_text, settings)
        task_ids = _write_tasks(session, st.id, study, results)
        arch_ids = _write_candidates(session, st.id, study, results)
        keys = {cell_key(study, r["candidate"], r["task"], r["seed"]): r for r in results.rows}
        existing = _existing_runs(session, list(keys))
        cells = {(c.candidate, c.task, c.seed): c for c in session.scalars(
            select(SqlStudyCell).where(SqlStudyCell.study_id == st.id))}
        new_runs: dict[str, SqlRun] = {}
        for key, record in keys.items():
            metrics = _metrics(record, results.tasks[record["task"]].eval_metric)
            run = existing.get(key)
            if run is None:
                subset_id, recipe_id = task_ids[record["task"]]
                run = SqlRun(cell_key=key, architecture_id=arch_ids[record["candidate"]],
                             subset_id=subset_id, recipe_id=recipe_id, seed=record["seed"],
                             trainer_version=IMPORTED, imported=True, **metrics)
                new_runs[key] = run
                created += 1
            elif _set(run, imported=True, **metrics):
                updated += 1
        session.add_all(list(new_runs.values()))
        session.flush()
        for key, record in keys.items():
            run = existing.get(key) or new_runs[key]
            cell = cells.get((record["candidate"], record["task"], record["seed"]))
            if cell is None:
                session.add(SqlStudyCell(study_id=st.id, candidate=record["candidate"],
                                         task=record["task"], seed=record["seed"], run_id=run.id))
            elif cell.run_id != run.id:
                cell.run_id = run.id
    return ImportSummary(study=study, rows=len(results.rows), created=created, updated=updated,
                         tasks=len(results.tasks), candidates=len(results.candidates))


def import_results(db: Database | str | None, path: str | Path, study: str, *,
                   roles: Any = None, spec: str | Path | None = None) -> ImportSummary:
    """Import a results CSV into `study` as finished runs marked imported.

    Args:
        db: an open Database, or a URL / SQLite path (None: $PROXYSTORE_DB, else ./proxystore.db).
        path: CSV with columns candidate, task, seed, error; optional top1_error, top5_error,
            gpu_seconds, epochs, task_num_classes, cumulative_depth, cumulative_width.
        study: the study to add the results to (created when new).
        roles: task roles (see `results_file.load_roles`); default: the CSV's YAML sidecar.
        spec: a study spec YAML whose ``tasks`` give the roles when `roles` is not given; its
            text is stored as the study's spec.
    """
    spec_text, settings = None, None
    if spec is not None:
        try:
            spec_text = Path(spec).read_text(encoding="utf-8")
        except OSError as error:
            raise ResultsFileError(f"{spec}: cannot read the study spec ({error.strerror})"
                                   ) from None
        if roles is None:
            roles = Path(spec)  # load_roles reads its tasks
        settings = _spec_settings(spec, spec_text)
    results = read_results(path, roles)
    if settings is None:
        settings = _roles_settings(roles, Path(path))
    return write_results(as_database(db, create=True), results, study, spec_text, settings)


def _roles_settings(roles: Any, path: Path) -> AnalysisSettings | None:
    """Return the `analysis:` settings a roles file carries (export-results writes them)."""
    raw = roles_mapping(roles, path)
    if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), (dict, list)) \
            or "analysis" not in raw:
        return None
    try:
        return parse_analysis(raw["analysis"] or {})
    except SpecError as error:
        raise ResultsFileError(f"roles of {path}: {error}") from None


def _spec_settings(spec: str | Path, text: str) -> AnalysisSettings:
    """Return the `analysis:` settings of a spec file; ResultsFileError names a bad one."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raw = None  # read_results reports the unreadable file
    try:
        return parse_analysis(raw.get("analysis", {}) if isinstance(raw, dict) else {})
    except SpecError as error:
        raise ResultsFileError(f"{spec}: {error}") from None
