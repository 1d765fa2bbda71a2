"""Read-only SQL for users: the `sql` command and notebooks query the views through this.

What it guarantees (docs/security.md): exactly one statement per call; on SQLite a read-only
connection (mode=ro, query_only) behind an authorizer that allows reads only; on PostgreSQL a
READ ONLY transaction that is rolled back, the statement sent alone through the extended
protocol, and never on a connection whose user could leave the database (pg_guard).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pandas as pd
import psycopg
from sqlalchemy import exc as sa_exc

from proxystore.db import engine as engines
from proxystore.db import pg_guard
from proxystore.db.session import describe_driver_error
from proxystore.db.sqlite_guard import ReadOnlyAuthorizer
from proxystore.errors import DatabaseError

ONE_STATEMENT = "proxystore sql runs one statement at a time; this text holds more than one"


def read_only_query(url: str | None, sql: str) -> pd.DataFrame:
    """Run one statement read-only and return its rows; any write fails and changes nothing.

    Args:
        url: a database URL or SQLite path (None: $PROXYSTORE_DB, else ./proxystore.db).
        sql: one SQL statement (a trailing semicolon is fine, a second statement is refused).

    Raises:
        DatabaseError: the statement wrote, held more than one statement, used something the
            SQLite authorizer denies, failed, or (PostgreSQL) the user is a superuser or may
            run programs, touch server files or signal other sessions.
    """
    url = engines.resolve_url(url)
    where = engines.safe_url(url)
    engine = engines.create(url, read_only=True, pool=False)
    try:
        with engine.connect() as conn:
            with conn.begin() as transaction:
                raw: Any = conn.connection.driver_connection
                if conn.dialect.name == "postgresql":
                    frame = _postgresql(raw, sql, where)
                else:
                    frame = _sqlite(raw, sql, url)
                transaction.rollback()
                return frame
    except sa_exc.DBAPIError as error:  # connecting, or our own BEGIN / SET statements
        raise DatabaseError(describe_driver_error(error, url)) from None
    finally:
        engine.dispose()


def _frame(cursor: Any) -> pd.DataFrame:
    if cursor.description is None:  # a statement without rows
        return pd.DataFrame()
    return pd.DataFrame(cursor.fetchall(), columns=[d[0] for d in cursor.description])


def _postgresql(raw: Any, sql: str, where: str) -> pd.DataFrame:
    with raw.cursor() as cursor:
        try:
            pg_guard.refuse_powerful(cursor, where)
            cursor.execute("SET TRANSACTION READ ONLY")
            # prepare=True sends the text through the extended protocol, which takes exactly
            # one statement: "COMMIT; DELETE ..." fails instead of running both.
            cursor.execute(sql, prepare=True)
            return _frame(cursor)
        except psycopg.Error as error:
            raise DatabaseError(_failure(error)) from None


def _sqlite(raw: sqlite3.Connection, sql: str, url: str) -> pd.DataFrame:
    authorizer = ReadOnlyAuthorizer()
    raw.set_authorizer(authorizer)
    cursor = raw.cursor()
    try:
        cursor.execute(sql)
        return _frame(cursor)
    except sqlite3.ProgrammingError as error:
        if "one statement at a time" in str(error):
            raise DatabaseError(ONE_STATEMENT) from None
        raise DatabaseError(_failure(error)) from None
    except sqlite3.Error as error:
        if authorizer.denied:
            raise DatabaseError(f"proxystore sql is read-only and does not allow "
                                f"{authorizer.describe()} (docs/security.md)") from None
        text = str(error).lower()
        if "file is not a database" in text or "unable to open" in text:
            raise DatabaseError(describe_driver_error(error, url)) from None
        raise DatabaseError(_failure(error)) from None
    finally:
        cursor.close()
        raw.set_authorizer(None)


def _failure(error: BaseException) -> str:
    text = " ".join(str(error).split())
    lowered = text.lower()
    if "multiple commands" in lowered:
        return ONE_STATEMENT
    if "read-only" in lowered or "readonly" in lowered or "read only" in lowered:
        return f"proxystore sql is read-only; the statement tried to write: {text}"
    return f"query failed: {text}"
