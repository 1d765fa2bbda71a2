"""Read-only SQL for users: the `sql` command and notebooks query the views through this."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import exc as sa_exc

from proxystore.db import engine as engines
from proxystore.db.session import describe_driver_error
from proxystore.errors import DatabaseError


def read_only_query(url: str | None, sql: str) -> pd.DataFrame:
    """Run one statement read-only and return its rows; any write fails and changes nothing.

    SQLite is opened with mode=ro and PRAGMA query_only; PostgreSQL runs the statement in a READ
    ONLY transaction that is rolled back.
    """
    url = engines.resolve_url(url)
    engine = engines.create(url, read_only=True, pool=False)
    try:
        with engine.connect() as conn:
            with conn.begin() as transaction:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                result = conn.exec_driver_sql(sql)
                if not result.returns_rows:
                    transaction.rollback()
                    return pd.DataFrame()
                frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
                transaction.rollback()
                return frame
    except sa_exc.DBAPIError as error:
        text = " ".join(str(getattr(error, "orig", error)).split())
        lowered = text.lower()
        if "read-only" in lowered or "readonly" in lowered or "read only" in lowered:
            raise DatabaseError(f"proxystore sql is read-only; the statement tried to write: {text}"
                                ) from None
        if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)) and (
            "connect" in lowered or "unable to open" in lowered
        ) or "file is not a database" in lowered:
            raise DatabaseError(describe_driver_error(error, url)) from None
        raise DatabaseError(f"query failed: {text}") from None
    finally:
        engine.dispose()
