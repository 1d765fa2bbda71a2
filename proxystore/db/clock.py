"""The database clock, as SQL expressions that compile on SQLite and PostgreSQL alike.

Leases and heartbeats are compared on the database's clock, never a worker's, so workers on
machines whose clocks disagree still agree on who holds a lease. Times are naive UTC.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import DateTime


class utcnow(FunctionElement[Any]):  # noqa: N801 - reads like the SQL function it stands for
    """The database's current UTC time, optionally shifted by a number of seconds."""

    type = DateTime()
    # The shift is not part of a cache key, so statements using it are compiled each time.
    inherit_cache = False

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__()
        self.seconds = float(seconds)


@compiles(utcnow, "sqlite")
def _sqlite_utcnow(element: utcnow, compiler: Any, **kw: Any) -> str:
    # Millisecond text in the format SQLAlchemy stores DateTime in, so comparisons are correct.
    if element.seconds:
        return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '{element.seconds:+.3f} seconds')"
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


@compiles(utcnow, "postgresql")
def _pg_utcnow(element: utcnow, compiler: Any, **kw: Any) -> str:
    base = "(statement_timestamp() AT TIME ZONE 'UTC')"
    if element.seconds:
        return f"({base} + interval '{element.seconds:.3f} seconds')"
    return base
