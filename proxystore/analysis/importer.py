"""`import-results`: results trained elsewhere become finished, imported runs of a study.

Every row the import needs (architecture, dataset, subset, recipe, run) is identified by a
fingerprint of what it stands for, so importing the same file twice changes nothing, and a
corrected file updates only the rows that changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from proxystore.analysis.results_file import (
    ResultsFile,
    ResultsSummary,
    TaskInfo,
    read_results,
    roles_mapping,
)
from proxystore.analysis.views import as_database
from proxystore.db.session import Database
from proxystore.db.store.results import (
    IMPORTED,
    ImportedCandidate,
    ImportedCell,
    ImportedStudy,
    ImportedTask,
    write_import,
)
from proxystore.errors import ResultsFileError, SpecError
from proxystore.fingerprint import fingerprint
from proxystore.study.spec import AnalysisSettings, default_strategy, parse_analysis

__all__ = ["IMPORTED", "ImportSummary", "cell_key", "import_results", "write_results"]


@dataclass(frozen=True, kw_only=True)
class ImportSummary(ResultsSummary):
    """What an import did: rows read, runs created and updated, tasks and candidates."""

    LINE: ClassVar[str] = ("{s.study}: {s.rows} results, {s.created} runs imported, {s.updated}"
                           " updated, {s.unchanged} unchanged ({s.tasks} tasks, {s.candidates}"
                           " candidates)")
    study: str
    created: int
    updated: int

    @property
    def unchanged(self) -> int:
        """Rows whose run was stored already as the file has it."""
        return self.rows - self.created - self.updated


def cell_key(study: str, candidate: str, task: str, seed: int) -> str:
    """Return the cell key of an imported result: it never collides with a trained cell's."""
    return fingerprint({"study": study, "candidate": candidate, "task": task, "seed": seed,
                        "source": IMPORTED})


def _task(study: str, info: TaskInfo) -> ImportedTask:
    """The rows of an imported task: its dataset, subset and recipe, and its study_tasks values."""
    dataset = fingerprint({"imported_dataset": info.label, "study": study})
    spec = {"imported": True, "epochs": info.epochs, "eval_metric": info.eval_metric,
            "image_size": info.image_size}
    return ImportedTask(
        label=info.label,
        dataset=(dataset, dict(name=f"{IMPORTED}:{study}:{info.label}", source=IMPORTED,
                               options={}, num_classes=info.num_classes or 0, channels=0,
                               train_count=info.train_count or 0, val_count=0)),
        subset=(fingerprint({"imported_subset": dataset}),
                dict(kind=IMPORTED, params={}, name=info.label,
                     num_classes=info.num_classes or 0, train_count=info.train_count or 0,
                     val_count=0)),
        recipe=(fingerprint(spec), dict(spec=spec, epochs=info.epochs or 0, batch_size=0,
                                        optimizer=IMPORTED, lr=0.0, weight_decay=0.0,
                                        schedule=IMPORTED, image_size=info.image_size or 0,
                                        eval_metric=info.eval_metric)),
        values=dict(role=info.role, proxy_of=info.proxy_of, num_classes=info.num_classes,
                    train_count=info.train_count, epochs=info.epochs,
                    image_size=info.image_size, eval_metric=info.eval_metric,
                    strategy=info.strategy or default_strategy(info.label, info.proxy_of)))


def _candidate(study: str, label: str, shape: dict[str, Any]) -> ImportedCandidate:
    """The imported architecture of a candidate."""
    return ImportedCandidate(
        label=label, fingerprint=fingerprint({"label": label, "study": study, "space": IMPORTED}),
        genome={"label": label, "study": study},
        cumulative_depth=shape.get("cumulative_depth"),
        cumulative_width=shape.get("cumulative_width"))


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
    imported = ImportedStudy(
        name=study, spec_text=spec_text, spec_fingerprint=fingerprint(spec_text),
        settings=None if settings is None else dict(
            analysis_diverged=settings.diverged, good_rule=settings.good_rule,
            good_value=settings.good_value))
    keys = {cell_key(study, r["candidate"], r["task"], r["seed"]): r for r in results.rows}
    cells = [ImportedCell(key=key, candidate=r["candidate"], task=r["task"], seed=r["seed"],
                          metrics=_metrics(r, results.tasks[r["task"]].eval_metric))
             for key, r in keys.items()]
    created, updated = write_import(
        db, imported, [_task(study, info) for info in results.tasks.values()],
        [_candidate(study, label, shape) for label, shape in results.candidates.items()], cells)
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
