"""Counts of runs by status, overall and per study."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from proxystore.db.models import RUN_STATUSES, SqlRun, SqlStudy, SqlStudyCell
from proxystore.db.session import Database


def run_counts(db: Database, study: str | None = None) -> pd.DataFrame:
    """Return one row per study (or one overall row) with a column per run status and a total."""
    with db.session() as session:
        if study is None:
            overall = session.execute(
                select(SqlRun.status, func.count()).group_by(SqlRun.status)
            ).all()
            rows: list[tuple[object, ...]] = [("(all runs)", status, n) for status, n in overall]
            cells = (
                select(SqlStudy.name, SqlRun.status, func.count(func.distinct(SqlRun.id)))
                .join(SqlStudyCell, SqlStudyCell.study_id == SqlStudy.id)
                .join(SqlRun, SqlRun.id == SqlStudyCell.run_id)
                .group_by(SqlStudy.name, SqlRun.status)
            )
        else:
            rows = []
            cells = (
                select(SqlStudy.name, SqlRun.status, func.count(func.distinct(SqlRun.id)))
                .join(SqlStudyCell, SqlStudyCell.study_id == SqlStudy.id)
                .join(SqlRun, SqlRun.id == SqlStudyCell.run_id)
                .where(SqlStudy.name == study)
                .group_by(SqlStudy.name, SqlRun.status)
            )
        rows += [tuple(r) for r in session.execute(cells).all()]
    frame = pd.DataFrame(rows, columns=["scope", "status", "runs"])
    if frame.empty:
        scopes = ["(all runs)"] if study is None else [study]
        return pd.DataFrame({"scope": scopes, **{s: [0] * len(scopes) for s in RUN_STATUSES},
                             "total": [0] * len(scopes)})
    table = frame.pivot_table(index="scope", columns="status", values="runs",
                              aggfunc="sum", fill_value=0, sort=False)
    for status in RUN_STATUSES:
        if status not in table.columns:
            table[status] = 0
    table = table[list(RUN_STATUSES)].astype(int)
    table["total"] = table.sum(axis=1)
    return table.reset_index()
