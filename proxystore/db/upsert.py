"""Insert-if-absent for both backends: the heart of "a second study finds the cell done"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, model: type[Any], rows: Sequence[dict[str, Any]],
                  conflict: Sequence[str], chunk: int = 500) -> None:
    """Insert `rows` into `model`'s table, skipping rows that clash on the `conflict` columns.

    Concurrent writers are safe: the unique constraint decides, not a prior SELECT.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    for start in range(0, len(rows), chunk):
        statement = module.insert(model).values(list(rows[start:start + chunk]))
        session.execute(statement.on_conflict_do_nothing(index_elements=list(conflict)))
