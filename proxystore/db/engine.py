"""Database URLs and engines: SQLite (WAL, busy timeout, foreign keys), PostgreSQL (psycopg 3)."""

from __future__ import annotations

import math
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from proxystore.db import sqlite_files
from proxystore.errors import DatabaseError

ENV_VAR = "PROXYSTORE_DB"
DEFAULT_FILE = "proxystore.db"
SQLITE_BUSY_TIMEOUT_MS = 60_000


def resolve_url(db: str | None = None) -> str:
    """Return the database URL: `db`, else $PROXYSTORE_DB, else ./proxystore.db as SQLite.

    A bare path (no ``://``) is taken as a SQLite file; one that can't be a plain path (`::::`,
    `file:x.db`) is refused rather than created.
    """
    if isinstance(db, bool) or (db is not None and not str(db).strip()):
        raise DatabaseError(f"--db needs a value: {sqlite_files.USAGE}")
    raw = str(db) if db is not None else os.environ.get(ENV_VAR, "")
    if not raw:
        raw = file_url(Path.cwd() / DEFAULT_FILE)
    elif "://" not in raw:
        sqlite_files.check_bare_path(raw)
        raw = file_url(Path(raw).expanduser().resolve())
    # Refuse what no command could open before any command (even `ui`) acts on it.
    parsed = parse_url(raw)
    path = sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is not None:
        sqlite_files.check_file(path.expanduser().resolve())
    return raw


def file_url(path: Path) -> str:
    """Return the sqlite:/// URL of a file path, escaped so '?', '#' and '%' stay in the path."""
    return URL.create("sqlite", database=str(path)).render_as_string()


def parse_url(raw: str) -> URL:
    """Parse and normalize a URL: `postgresql://` and `postgres://` use psycopg 3."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {raw!r} (expected sqlite:///PATH or "
                            "postgresql://USER@HOST:PORT/DB)") from None
    backend = url.get_backend_name()
    if backend == "postgres":
        url = url.set(drivername="postgresql+psycopg")
    elif backend == "postgresql":
        if url.get_driver_name() not in ("psycopg", "psycopg2", ""):
            url = url.set(drivername="postgresql+psycopg")
        elif url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        sqlite_files.check_url(url, raw, safe_url(raw))
    else:
        raise DatabaseError(
            f"unknown database URL scheme {url.drivername!r} in {safe_url(raw)}: "
            "proxystore works with sqlite:///PATH and postgresql://USER@HOST:PORT/DB"
        )
    return url


def safe_url(url: str | URL) -> str:
    """Return the URL with any password hidden, for messages."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def sqlite_path(url: URL) -> Path | None:
    """Return the file of a SQLite URL, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    return Path(database)


def register_sqlite_functions(dbapi_connection: sqlite3.Connection) -> None:
    """Give SQLite the math functions the analysis views use (it may lack sqrt, and lacks corr).

    Users of the plain ``sqlite3`` shell get them from SQLite's own math extension where it is
    compiled in; docs/analysis.md explains.
    """
    def _sqrt(x: float | None) -> float | None:
        if x is None or x < 0:
            return None
        return math.sqrt(x)

    dbapi_connection.create_function("sqrt", 1, _sqrt, deterministic=True)
    dbapi_connection.create_function(
        "power", 2, lambda x, y: None if x is None or y is None else float(x) ** float(y),
        deterministic=True,
    )


def _configure_sqlite(engine: Engine, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) emit BEGIN, so claims can use BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Naive timestamps are UTC everywhere, whatever the server's time zone.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()


def create(url: str, *, read_only: bool = False, pool: bool = True) -> Engine:
    """Create an engine for `url`, checking what can be checked before connecting.

    Args:
        url: a SQLite or PostgreSQL URL (see `resolve_url`).
        read_only: open SQLite read-only (mode=ro, query_only); PostgreSQL read-only
            transactions are set per query by the caller.
        pool: pool connections (off for short-lived CLI processes and forked workers).
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        assert path is not None  # parse_url refuses in-memory databases
        path = path.expanduser().resolve()
        sqlite_files.check_file(path)
        # A file this process can't write (or in a folder it can't) is opened read-only, so
        # reading works there and a write fails as one line instead of at the WAL pragma.
        read_only = read_only or (path.exists() and not sqlite_files.writable(path))
        if read_only:
            if sqlite_files.is_new(path):
                raise sqlite_files.no_database(path)
            parsed = parsed.set(database=sqlite_files.read_only_uri(path),
                                query={"uri": "true"})
        else:
            parsed = parsed.set(database=str(path))
        engine = create_engine(
            parsed,
            poolclass=NullPool if not pool else None,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine, read_only)
        return engine
    # No pre-ping: it costs a round trip per transaction; a connection that died (a server
    # restart) fails its statement, is discarded by the pool, and the caller's retry reconnects.
    kwargs: dict[str, Any] = {}
    if not pool:
        kwargs["poolclass"] = NullPool
    engine = create_engine(parsed, connect_args={"connect_timeout": 10}, **kwargs)
    _configure_postgresql(engine)
    return engine
