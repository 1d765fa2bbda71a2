"""`export-results`: a study's finished runs as the CSV and roles file `import-results` reads.

The CSV holds one row per finished cell (done, or diverged: status `diverged`, error empty) with
the errors the views read (the eval metric's final error, top-1 and top-5, the best-epoch error),
device seconds and the candidate's cumulative depth and width. The roles file beside it
(FILE.yaml) holds every task's role, target, class and training-example counts, epochs, image
size, metric and Table 2 strategy, and the study's `analysis:` settings, so importing the pair
into another database gives the same view rows. Per-epoch errors (run_epochs) do not travel.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import yaml

from proxystore.analysis.results_file import TASK_KEYS, ResultsSummary
from proxystore.analysis.views import as_database, query, study_exists
from proxystore.db.session import Database
from proxystore.errors import ResultsFileError

CSV_COLUMNS = ("candidate", "task", "seed", "error", "status", "top1_error", "top5_error",
               "best_error", "gpu_seconds", "cumulative_depth", "cumulative_width")

_CELLS = """
    SELECT c.candidate AS candidate, c.task AS task, c.seed AS seed,
           CASE WHEN r.status = 'done' THEN 0 ELSE 1 END AS diverged,
           COALESCE(t.eval_metric, 'top1') AS eval_metric,
           r.final_top1_error AS top1_error, r.final_top5_error AS top5_error,
           r.best_top1_error AS best1, r.best_top5_error AS best5,
           r.device_seconds AS gpu_seconds,
           a.cumulative_depth AS cumulative_depth, a.cumulative_width AS cumulative_width
    FROM study_cells c
    JOIN studies s ON s.id = c.study_id
    JOIN runs r ON r.id = c.run_id
    JOIN study_candidates sc ON sc.study_id = c.study_id AND sc.label = c.candidate
    JOIN architectures a ON a.id = sc.architecture_id
    LEFT JOIN study_tasks t ON t.study_id = c.study_id AND t.label = c.task
    WHERE s.name = :study
      AND (r.status = 'done' OR (r.status = 'failed' AND r.failure = 'diverged'))
    ORDER BY c.task, c.candidate, c.seed"""


@dataclass(frozen=True, kw_only=True)
class ExportSummary(ResultsSummary):
    """What an export wrote: the files, result rows, diverged rows, tasks and candidates."""

    @property
    def roles(self) -> Path:
        """The roles file, beside the CSV."""
        return self.csv.with_suffix(".yaml")

    LINE: ClassVar[str] = ("{s.csv}: {s.rows} results ({s.diverged} diverged), {s.tasks} tasks,"
                           " {s.candidates} candidates; roles in {s.roles}")
    csv: Path
    diverged: int


def _cell(value: Any) -> Any:
    """Return a CSV field: empty for a missing value (floats print their shortest exact form)."""
    return "" if _blank(value) else value


def result_rows(db: Database | str | None, study: str) -> list[dict[str, Any]]:
    """Return the study's finished cells as import-results rows (CSV_COLUMNS, None if unknown)."""
    frame = query(db, _CELLS, study=study).astype(object)
    frame = frame.where(frame.notna(), None)
    rows = []
    for cell in frame.to_dict("records"):
        diverged = bool(cell["diverged"])
        top5 = cell["eval_metric"] == "top5"
        error = None if diverged else (cell["top5_error"] if top5 else cell["top1_error"])
        if not diverged and error is None:
            continue  # a done run without its metric has no result in the views either
        row = {name: cell.get(name) for name in CSV_COLUMNS}
        row.update(seed=int(cell["seed"]), error=error, status="diverged" if diverged else "done",
                   best_error=None if diverged else (cell["best5"] if top5 else cell["best1"]))
        for name in ("cumulative_depth", "cumulative_width"):
            row[name] = None if row[name] is None else int(row[name])
        if diverged:
            row.update(top1_error=None, top5_error=None)
        rows.append(row)
    return rows


_TASKS = """
    SELECT t.label AS label, t.role AS role, t.proxy_of AS proxy_of,
           COALESCE(t.num_classes, NULLIF(sub.num_classes, 0)) AS num_classes,
           COALESCE(t.train_count, NULLIF(sub.train_count, 0)) AS train_count,
           t.epochs AS epochs, t.image_size AS image_size, t.eval_metric AS eval_metric,
           COALESCE(t.strategy, t.label) AS strategy
    FROM study_tasks t JOIN studies s ON s.id = t.study_id
    LEFT JOIN subsets sub ON sub.id = t.subset_id
    WHERE s.name = :study ORDER BY t.label"""


def roles_document(db: Database | str | None, study: str) -> dict[str, Any]:
    """Return the roles file's content: `analysis` settings and every task's attributes.

    Class and example counts are the task's, else its subset's (what the views use), and the
    strategy is the one the views show, so an import needs no spec to reproduce them.
    """
    tasks = {str(task["label"]): {k: _plain(task[k]) for k in TASK_KEYS if not _blank(task[k])}
             for task in query(db, _TASKS, study=study).astype(object).to_dict("records")}
    return {"analysis": _analysis(db, study), "tasks": tasks}


def _analysis(db: Database | str | None, study: str) -> dict[str, Any]:
    """Return the study's `analysis:` settings as a spec writes them (only those it set)."""
    row = query(db, """
        SELECT analysis_diverged AS diverged, good_rule AS good_rule, good_value AS good_value
        FROM studies WHERE name = :study""", study=study).astype(object).iloc[0]
    out: dict[str, Any] = {}
    if not _blank(row.diverged):
        out["diverged"] = str(row.diverged)
    if not _blank(row.good_rule):
        value = float(row.good_value)
        out["good"] = {str(row.good_rule): int(value) if row.good_rule == "top" else value}
    return out


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


def _plain(value: Any) -> Any:
    """Return numpy and pandas scalars as the YAML-safe Python value."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def export_results(db: Database | str | None, study: str, path: str | Path) -> ExportSummary:
    """Write a study's finished runs to PATH (CSV) and its roles to PATH's .yaml sidecar.

    Args:
        db: an open Database, or a URL / SQLite path (None: $PROXYSTORE_DB, else ./proxystore.db).
        study: the study's name.
        path: the CSV to write (its folder must exist); the roles go to the same name, .yaml.

    Raises:
        NotFoundError: no such study.
        ResultsFileError: PATH is not a .csv name or its folder does not exist.
    """
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise ResultsFileError(f"{path}: the results file must end in .csv (its roles go "
                               "beside it as .yaml)")
    if not path.parent.is_dir():
        raise ResultsFileError(f"{path}: folder {path.parent} does not exist")
    database = as_database(db)
    study_exists(database, study)
    rows = result_rows(database, study)
    roles = roles_document(database, study)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    roles_path = path.with_suffix(".yaml")
    roles_path.write_text(yaml.safe_dump(roles, sort_keys=False), encoding="utf-8")
    return ExportSummary(csv=path, rows=len(rows),
                         diverged=sum(r["status"] == "diverged" for r in rows),
                         tasks=len(roles["tasks"]), candidates=len({r["candidate"] for r in rows}))
