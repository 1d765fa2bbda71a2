"""The database: engines, the session helper, migrations, and the stores that read and write."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from proxystore.db import engine as engines
from proxystore.db.session import Database, describe_driver_error
from proxystore.errors import DatabaseError

__all__ = ["Database", "open_database"]


def open_database(db: str | None = None, *, check: bool = True, pool: bool = True) -> Database:
    """Open the database named by `db` (or $PROXYSTORE_DB, or ./proxystore.db) and connect once.

    Args:
        db: a database URL or a SQLite file path; None resolves as `engines.resolve_url`.
        check: refuse a schema that is not at head (a brand-new SQLite file is upgraded).
        pool: pool connections; workers and short CLI calls pass False.

    Raises:
        DatabaseError: unreachable server, bad credentials, unknown scheme, missing directory,
            a file that is not a SQLite database, or a schema that is not at head.
    """
    url = engines.resolve_url(db)
    database = Database(url=url, engine=engines.create(url, pool=pool))
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except sa_exc.DBAPIError as error:  # refused, unreachable, or a file that is no database
        database.dispose()
        raise DatabaseError(describe_driver_error(error, url)) from None
    if check:
        from proxystore.db import migrate

        migrate.ensure_current(database)
    return database
