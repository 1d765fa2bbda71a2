"""The tables and views proxystore expects at head, and which of them a database lacks.

The revision in `alembic_version` says what was migrated, not what is still there: a table or
view dropped by hand leaves it unchanged. Tables come from the models' metadata; views from a
scratch in-memory SQLite migrated to head, so they follow every migration's view files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from alembic import command
from sqlalchemy import create_engine, inspect

from proxystore.db.migrate import _config
from proxystore.db.models import Base
from proxystore.db.session import Database


@dataclass(frozen=True)
class Missing:
    """Tables and views proxystore expects that a database lacks."""

    tables: tuple[str, ...]
    views: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.tables or self.views)

    def describe(self) -> str:
        """One phrase naming what is missing, e.g. `table runs, view proxy_quality`."""
        return ", ".join([f"table {t}" for t in self.tables] + [f"view {v}" for v in self.views])


@functools.lru_cache(maxsize=1)
def expected() -> tuple[frozenset[str], frozenset[str]]:
    """Return (tables, views) of a database at this proxystore's head."""
    tables = set(Base.metadata.tables) | {"alembic_version"}
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
            views = set(inspect(conn).get_view_names())
    finally:
        engine.dispose()
    return frozenset(tables), frozenset(views)


def missing(db: Database) -> Missing:
    """Return the expected tables and views that `db` lacks (in its default schema)."""
    tables, views = expected()
    with db.engine.connect() as conn:
        found = inspect(conn)
        have_tables = set(found.get_table_names())
        have_views = set(found.get_view_names())
    return Missing(tables=tuple(sorted(tables - have_tables)),
                   views=tuple(sorted(views - have_views)))
