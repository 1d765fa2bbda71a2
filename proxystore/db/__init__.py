"""The database: engines, the session helper, migrations, and the stores that read and write."""

from __future__ import annotations

import sys

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from proxystore.db import engine as engines
from proxystore.db import sqlite_files
from proxystore.db.session import Database, describe_driver_error
from proxystore.errors import DatabaseError

__all__ = ["Database", "open_database"]


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
    if new and (created or not check):  # not when another process created it meanwhile
        print(f"created new database {path}", file=sys.stderr)
    return database
