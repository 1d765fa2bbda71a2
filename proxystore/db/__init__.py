"""The database: engines, the session helper, migrations, and the stores that read and write."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from proxystore.db import engine as engines
from proxystore.db import sqlite_files
from proxystore.db.session import Database, describe_driver_error
from proxystore.errors import DatabaseError

__all__ = ["Database", "announce_new_databases", "forget_new_databases", "open_database",
           "undo_new_databases"]

# SQLite files this process created. The CLI names them when the command has run, and removes
# those still empty when it fails, so that a refused `data add` or `fill` leaves no database.
_NEW_FILES: list[Path] = []


def open_database(db: str | None = None, *, check: bool = True, pool: bool = True,
                  create: bool = False) -> Database:
    """Open the database named by `db` (or $PROXYSTORE_DB, or ./proxystore.db) and connect once.

    Args:
        db: a database URL or a SQLite file path; None resolves as `engines.resolve_url`.
        check: refuse a schema that is not at head (a new SQLite file is upgraded when `create`).
        pool: pool connections; workers and short CLI calls pass False.
        create: a SQLite file that does not exist (or is empty) may be created; commands that
            only read leave this False, so a mistyped path is an error, not a new database.
            Creating one prints `created new database PATH` on stderr.

    Raises:
        DatabaseError: unreachable server, bad credentials, unknown scheme, missing directory,
            a SQLite file that does not exist (without `create`) or is not a database, or a
            schema that is not at head.
    """
    url = engines.resolve_url(db)
    parsed = engines.parse_url(url)
    path = engines.sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
    new = False
    if path is not None:
        path = path.expanduser().resolve()
        sqlite_files.check_file(path)
        new = sqlite_files.is_new(path)
        if new and not create:
            raise sqlite_files.no_database(path)
        if new and not sqlite_files.writable(path):
            raise DatabaseError(f"cannot create SQLite database {path}: directory "
                                f"{path.parent} is not writable")
    database = Database(url=url, engine=engines.create(url, pool=pool))
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except sa_exc.DBAPIError as error:  # refused, unreachable, or a file that is no database
        database.dispose()
        raise DatabaseError(describe_driver_error(error, url)) from None
    created = False
    if check:
        from proxystore.db import migrate

        created = migrate.ensure_current(database, initialize=create)
    if new and (created or not check) and path is not None:  # not if another process made it
        _NEW_FILES.append(path)
    return database


def forget_new_databases() -> None:
    """Stop tracking the SQLite files created so far (a new command starts)."""
    _NEW_FILES.clear()


def announce_new_databases() -> None:
    """Print `created new database PATH` on stderr for each SQLite file this process created."""
    for path in _NEW_FILES:
        if path.exists():
            print(f"created new database {path}", file=sys.stderr)
    _NEW_FILES.clear()


def undo_new_databases() -> None:
    """After a failed command: remove the SQLite files it created that hold no row yet.

    A file something was written to (a study registered before training failed) is kept and
    announced, so that no result is ever removed.
    """
    for path in _NEW_FILES:
        if path.exists() and not sqlite_files.holds_rows(path):
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    announce_new_databases()
