"""Transactions that may be retried: deadlocks, serialization failures and lost connections.

Every write of the claim protocol runs through `retrying`, so a PostgreSQL restart or a SQLite
writer holding the lock delays a worker instead of failing its cell.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from proxystore.errors import DatabaseError

T = TypeVar("T")


def rows(result: Any) -> int:
    """Rows an UPDATE matched (a CursorResult's rowcount; 0 when the driver gives none)."""
    return int(getattr(result, "rowcount", 0) or 0)


def transient(error: BaseException) -> bool:
    """Whether a database error may pass: a deadlock, serialization failure or lost connection.

    Example:
        >>> transient(ValueError("deadlock"))
        False
    """
    if not isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, DatabaseError)):
        return False
    # A DatabaseError's own line is for people; the driver's words are in what it wraps.
    cause = error.__cause__ or error.__context__
    texts = [str(getattr(error, "orig", error) or error), str(getattr(cause, "orig", cause))]
    message = " ".join(texts).lower()
    return any(s in message for s in (
        "deadlock", "could not serialize", "database is locked", "server closed",
        "connection", "terminating", "the database system is",
    ))


def retrying(fn: Callable[[], T], attempts: int = 8) -> T:
    """Run a transaction, retrying deadlocks, serialization failures and dropped connections."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return fn()
        except (sa_exc.OperationalError, sa_exc.InterfaceError, DatabaseError) as error:
            if not transient(error) or attempt == attempts - 1:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def async_commit(conn: Any) -> None:
    """Commit this transaction without waiting for the WAL flush (PostgreSQL).

    Only for claims and heartbeats: if the server crashes and forgets one, the worst case is that
    another worker trains the cell too, and the first writer's result check then refuses the
    stale one. Results (complete/fail) keep durable commits.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit = off"))
