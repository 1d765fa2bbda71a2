"""Counts of runs by status, overall and per study."""

from __future__ import annotations

import pandas as pd

from proxystore.db.models import RUN_STATUSES
from proxystore.db.session import Database
from proxystore.db.store.runs import status_counts
from proxystore.db.store.studies import run_counts_by_study


def run_counts(db: Database, study: str | None = None) -> pd.DataFrame:
    """Return one row per study (or one overall row) with a column per run status and a total."""
    rows: list[tuple[object, ...]] = []
    if study is None:
        rows += [("(all runs)", status, n) for status, n in status_counts(db).items()]
    for name, counts in run_counts_by_study(db, study).items():
        rows += [(name, status, n) for status, n in counts.items()]
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
