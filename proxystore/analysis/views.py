"""The analysis views as DataFrames, one function per view, filtered to one study."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import text

from proxystore.db import Database, open_database
from proxystore.db.store import studies
from proxystore.errors import NotFoundError


@dataclass(frozen=True)
class ViewSpec:
    """An analysis view: the columns that order its rows, and its reader's docstring."""

    order: tuple[str, ...]
    doc: str


# Every analysis view (their columns are fixed by issue 7). Each gets a reader, NAME(db, study),
# made by `_reader` at the end of this module: adding a view here adds its function.
VIEWS: dict[str, ViewSpec] = {
    "cell_errors": ViewSpec(
        ("task", "candidate", "seed"),
        "Return the cell_errors view for `study`: one row per finished cell."),
    "candidate_errors": ViewSpec(
        ("task", "candidate"), "Return the candidate_errors view for `study`: means over seeds."),
    "apr_correlations": ViewSpec(
        ("task_a", "task_b"),
        "Return the apr_correlations view for `study`: Spearman rho of every task pair."),
    "imagenet_x_matches": ViewSpec(
        ("target", "reference"),
        "Return the imagenet_x_matches view for `study` (seed 2, Table 3)."),
    "imagenet_x_summary": ViewSpec(
        ("study",), "Return the imagenet_x_summary view for `study` (seed 2's headline, "
        "Table 3's average)."),
    "depth_width_correlations": ViewSpec(
        ("task",), "Return the depth_width_correlations view for `study` (seed 2, Table 4)."),
    "proxy_quality": ViewSpec(
        ("target", "proxy"), "Return the proxy_quality view for `study` (seed 1, Table 2)."),
    "proxy_strategies": ViewSpec(
        ("strategy",), "Return the proxy_strategies view for `study` (seed 1, Table 2: one row "
        "per strategy)."),
    "epoch_correlations": ViewSpec(
        ("task", "epoch"), "Return the epoch_correlations view for `study` (seed 1, Figure 4)."),
}
TEXT_COLUMNS = {"study", "candidate", "task", "task_a", "task_b", "target", "reference", "match",
                "proxy", "role", "proxy_of", "label", "eval_metric", "strategy", "diverged",
                "good_rule"}


def as_database(db: Database | str | None, *, create: bool = False) -> Database:
    """Return `db` if it is open already, else open the database it names (at head)."""
    return db if isinstance(db, Database) else open_database(db, pool=False, create=create)


def query(db: Database | str | None, sql: str, **params: object) -> pd.DataFrame:
    """Run a read query with bound parameters; numeric columns come back as numbers (NULL=NaN)."""
    database = as_database(db)
    with database.engine.connect() as conn:
        result = conn.execute(text(sql), params)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for column in frame.columns:
        if column not in TEXT_COLUMNS:
            frame[column] = pd.to_numeric(frame[column])
    return frame


def study_exists(db: Database | str | None, study: str) -> None:
    """Raise NotFoundError naming the known studies when `study` is not in the database."""
    database = as_database(db)
    if studies.study_exists(database, study):
        return
    with database.session() as session:
        names = studies.study_names(session)
    known = ", ".join(names) if names else "none yet"
    raise NotFoundError(f"no study named {study!r} (studies: {known})")


def view(db: Database | str | None, name: str, study: str) -> pd.DataFrame:
    """Return the rows of analysis view `name` for `study`, in a stable order.

    Args:
        db: an open Database, or a URL / SQLite path.
        name: one of VIEWS.
        study: the study's name.
    """
    if name not in VIEWS:
        raise NotFoundError(f"no analysis view {name!r} (views: {', '.join(VIEWS)})")
    order = ", ".join(VIEWS[name].order)
    return query(db, f"SELECT * FROM {name} WHERE study = :study ORDER BY {order}", study=study)


def study_tasks(db: Database | str | None, study: str) -> pd.DataFrame:
    """Return the study's tasks: label, role, proxy_of, num_classes, epochs, eval_metric,
    strategy, subset_id and train_count."""
    return query(db, """
        SELECT t.label AS label, t.role AS role, t.proxy_of AS proxy_of,
               COALESCE(t.num_classes, NULLIF(sub.num_classes, 0)) AS num_classes,
               t.epochs AS epochs, t.eval_metric AS eval_metric,
               COALESCE(t.strategy, t.label) AS strategy, t.subset_id AS subset_id,
               COALESCE(t.train_count, NULLIF(sub.train_count, 0)) AS train_count
        FROM study_tasks t JOIN studies s ON s.id = t.study_id
        LEFT JOIN subsets sub ON sub.id = t.subset_id
        WHERE s.name = :study ORDER BY t.label""", study=study)


def candidate_shapes(db: Database | str | None, study: str) -> pd.DataFrame:
    """Return each candidate's cumulative depth and width (NaN where unknown)."""
    return query(db, """
        SELECT sc.label AS candidate, a.cumulative_depth AS cumulative_depth,
               a.cumulative_width AS cumulative_width
        FROM study_candidates sc JOIN studies s ON s.id = sc.study_id
        JOIN architectures a ON a.id = sc.architecture_id
        WHERE s.name = :study ORDER BY sc.label""", study=study)


def epoch_errors(db: Database | str | None, study: str) -> pd.DataFrame:
    """Return per (task, epoch, candidate) the mean epoch error and result of its cells.

    A cell's result (y) is its best-epoch error, else its final error (seed 1, Figure 4). Same
    definition as the epoch_correlations view, at candidate level (for bootstrapping).
    """
    return query(db, """
        SELECT c.task AS task, e.epoch AS epoch, c.candidate AS candidate,
               AVG(CASE WHEN t.eval_metric = 'top5' THEN e.top5_error ELSE e.top1_error END) AS x,
               AVG(CASE WHEN t.eval_metric = 'top5'
                        THEN COALESCE(r.best_top5_error, r.final_top5_error)
                        ELSE COALESCE(r.best_top1_error, r.final_top1_error) END) AS y
        FROM study_cells c
        JOIN studies s ON s.id = c.study_id
        JOIN runs r ON r.id = c.run_id
        JOIN run_epochs e ON e.run_id = r.id
        LEFT JOIN study_tasks t ON t.study_id = c.study_id AND t.label = c.task
        WHERE s.name = :study AND r.status = 'done'
          AND (CASE WHEN t.eval_metric = 'top5' THEN e.top5_error ELSE e.top1_error END)
              IS NOT NULL
          AND (CASE WHEN t.eval_metric = 'top5'
                    THEN COALESCE(r.best_top5_error, r.final_top5_error)
                    ELSE COALESCE(r.best_top1_error, r.final_top1_error) END) IS NOT NULL
        GROUP BY c.task, e.epoch, c.candidate
        ORDER BY c.task, e.epoch, c.candidate""", study=study)


def analysis_settings(db: Database | str | None, study: str) -> pd.Series:
    """Return the study's analysis settings (diverged, good_rule, good_value, thresholds)."""
    return query(db, "SELECT * FROM analysis_settings WHERE study = :study",
                 study=study).iloc[0]


def _reader(name: str, doc: str) -> Callable[[Database | str | None, str], pd.DataFrame]:
    """The function `name(db, study)` that returns view `name`'s rows for `study`."""
    def read(db: Database | str | None, study: str) -> pd.DataFrame:
        return view(db, name, study)

    read.__name__ = read.__qualname__ = name
    read.__doc__ = doc
    return read


# cell_errors(db, study), candidate_errors(db, study), ...: one function per view, as before.
for _name, _spec in VIEWS.items():
    globals()[_name] = _reader(_name, _spec.doc)
del _name, _spec
