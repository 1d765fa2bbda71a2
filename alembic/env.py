"""Alembic environment: migrations run on a connection proxystore hands over (see db/migrate.py).

Run through `proxystore db upgrade`; plain `alembic -c alembic.ini upgrade head` also works in a
checkout and uses --db resolution ($PROXYSTORE_DB, else ./proxystore.db).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from proxystore.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # standalone `alembic` command line
    from proxystore.db import engine as engines

    engine = engines.create(engines.resolve_url(config.get_main_option("sqlalchemy.url") or None))
    with engine.begin() as conn:
        _run(conn)
