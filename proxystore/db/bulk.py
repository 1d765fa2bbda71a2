"""Bulk writes and reads of integer-keyed rows: COPY on PostgreSQL, executemany on SQLite.

Rows of `examples`, `subset_members` and `example_losses` come by the hundred thousand; an ORM
insert per row would take minutes at ImageNet scale. These helpers run on the connection of the
caller's session, so they commit or roll back with it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.orm import Session

COPY_CHUNK_ROWS = 200_000
# SQLite's default page cache (2 MiB) thrashes while a million rows go into a secondary index
# in random order; 256 MiB keeps the index pages of an ImageNet-sized insert in memory.
SQLITE_BULK_CACHE_KIB = 262_144


def _driver(conn: Connection) -> Any:
    """The DBAPI connection under `conn` (sqlite3 or psycopg), in the same transaction."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("the session's connection is closed")
    return raw


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
    n = max((len(np.asarray(v)) for v in values if not np.isscalar(v)), default=0)
    if n == 0:
        return 0
    conn = session.connection()
    names = ", ".join(_quote(c) for c in columns)
    if conn.dialect.name == "postgresql":
        cols = [np.full(n, v, dtype=object) if np.isscalar(v) else np.asarray(v) for v in values]
        _copy(conn, f"COPY {table} ({names}) FROM STDIN", cols, n)
    else:
        _sqlite_insert(conn, table, names, values, n)
    return n


def _sqlite_insert(conn: Connection, table: str, names: str, values: Sequence, n: int) -> None:
    """INSERT ... SELECT over json_each: rows never become Python tuples (~3x executemany).

    A column equal to 0..n-1 comes from json_each's own `key`; one varying column is `value`;
    several travel as JSON rows and are taken apart with `->>`.
    """
    select: list[str | None] = []
    params: list = []
    varying: list[np.ndarray] = []
    for v in values:
        if np.isscalar(v):
            select.append("?")
            params.append(v.item() if hasattr(v, "item") else v)
        elif "key" not in select and np.array_equal(v, np.arange(n)):
            select.append("key")
        else:
            select.append(None)
            varying.append(np.asarray(v))
    if len(varying) == 1:
        select = ["value" if c is None else c for c in select]
        payload: list = varying[0].tolist()
    else:
        parts = iter(range(len(varying)))
        select = [f"value ->> {next(parts)}" if c is None else c for c in select]
        payload = ([list(row) for row in zip(*(a.tolist() for a in varying), strict=True)]
                   if varying else [0] * n)
    params.append(json.dumps(payload))
    cursor = _driver(conn).cursor()
    previous = cursor.execute("PRAGMA cache_size").fetchone()[0]
    cursor.execute(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
    try:
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {', '.join(select)} "  # type: ignore[arg-type]
                       "FROM json_each(?)", params)
    finally:
        cursor.execute(f"PRAGMA cache_size = {previous}")
        cursor.close()


def _format(column: np.ndarray) -> list[str]:
    if column.dtype == bool:
        return ["t" if v else "f" for v in column.tolist()]
    if np.issubdtype(column.dtype, np.floating):
        return [repr(v) for v in column.tolist()]
    return [str(v) for v in column.tolist()]


def _copy(conn: Connection, statement: str, cols: list[np.ndarray], n: int) -> None:
    with _driver(conn).cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, n, COPY_CHUNK_ROWS):
            parts = [_format(c[start:start + COPY_CHUNK_ROWS]) for c in cols]
            buffer = io.StringIO()
            buffer.writelines("\t".join(row) + "\n" for row in zip(*parts, strict=True))
            copy.write(buffer.getvalue())


def ordered_column(session: Session, table: str, column: str, where: dict[str, object],
                   order_by: str) -> np.ndarray:
    """Return one integer column of the rows matching `where`, ordered, as an int64 array.

    One query whose result is aggregated in the database into a single value (a JSON array on
    SQLite, a comma-separated string on PostgreSQL), so a million rows never become a million
    Python objects.

    Args:
        session: the open session.
        table: table name.
        column: the integer column to return.
        where: column -> value equalities (ANDed).
        order_by: the column that orders the result.
    """
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    condition = " AND ".join(f"{_quote(c)} = {mark}" for c in where)
    col, order = _quote(column), _quote(order_by)
    if postgres:
        sql = (f"SELECT string_agg({col}::text, ',' ORDER BY {order}) FROM {table} "
               f"WHERE {condition}")
    else:  # SQLite keeps a subquery's ORDER BY under an aggregate (it never flattens it)
        sql = (f"SELECT json_group_array({col}) FROM (SELECT {col} FROM {table} "
               f"WHERE {condition} ORDER BY {order})")
    cursor = _driver(conn).cursor()
    try:
        cursor.execute(sql, tuple(where.values()))
        text = cursor.fetchone()[0]
    finally:
        cursor.close()
    if postgres:
        return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)
    return np.array(json.loads(text), dtype=np.int64)
