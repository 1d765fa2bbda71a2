"""Bulk writes and reads of integer-keyed rows: COPY on PostgreSQL, executemany on SQLite.

Rows of `examples`, `subset_members` and `example_losses` come by the hundred thousand; an ORM
insert per row would take minutes at ImageNet scale. These helpers run on the connection of the
caller's session, so they commit or roll back with it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.orm import Session

COPY_CHUNK_ROWS = 200_000


def _quote(name: str) -> str:
    return f'"{name}"'  # `index` is a keyword in SQLite


def insert_columns(session: Session, table: str, columns: Sequence[str],
                   values: Sequence[np.ndarray | list | str | int | float]) -> int:
    """Insert rows given column-wise (a scalar repeats); return the row count.

    Args:
        session: the open session whose transaction the rows join.
        table: table name.
        columns: column names, in the order of `values`.
        values: one array per column, or a scalar shared by every row.
    """
    n = max((len(v) for v in values if not np.isscalar(v)), default=0)
    if n == 0:
        return 0
    cols = [np.full(n, v, dtype=object) if np.isscalar(v) else np.asarray(v) for v in values]
    conn = session.connection()
    names = ", ".join(_quote(c) for c in columns)
    if conn.dialect.name == "postgresql":
        _copy(conn, f"COPY {table} ({names}) FROM STDIN", cols, n)
    else:
        marks = ", ".join("?" for _ in columns)
        rows = list(zip(*(c.tolist() for c in cols), strict=True))
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
    return n


def _format(column: np.ndarray) -> list[str]:
    if column.dtype == bool:
        return ["t" if v else "f" for v in column.tolist()]
    if np.issubdtype(column.dtype, np.floating):
        return [repr(v) for v in column.tolist()]
    return [str(v) for v in column.tolist()]


def _copy(conn: Connection, statement: str, cols: list[np.ndarray], n: int) -> None:
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, n, COPY_CHUNK_ROWS):
            parts = [_format(c[start:start + COPY_CHUNK_ROWS]) for c in cols]
            buffer = io.StringIO()
            buffer.writelines("\t".join(row) + "\n" for row in zip(*parts, strict=True))
            copy.write(buffer.getvalue())


def select_ints(session: Session, sql: str, params: tuple) -> np.ndarray:
    """Run a query returning one or more integer columns; return them as an int64 array.

    `sql` uses `?` placeholders; on PostgreSQL they become `%s`.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    rows = conn.exec_driver_sql(sql, params).fetchall()
    if not rows:
        return np.zeros((0,), np.int64)
    if len(rows[0]) == 1:
        return np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
    return np.array(rows, dtype=np.int64)
