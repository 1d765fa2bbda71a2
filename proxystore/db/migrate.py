"""Schema migrations: run only on request (`proxystore db upgrade`) or on a brand-new SQLite file.

Workers never race migrations: PostgreSQL is never migrated implicitly, and the one implicit case
(a new SQLite file) runs inside BEGIN IMMEDIATE, so a second process waits and then finds the
schema at head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text
from sqlalchemy import exc as sa_exc

from proxystore.db import engine as engines
from proxystore.db.session import Database, describe_driver_error
from proxystore.errors import DatabaseError, SchemaVersionError
from proxystore.resources import migrations_dir

# Any constant works; it only has to be the same for every proxystore process.
_PG_MIGRATION_LOCK = 0x70726F78


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands relative to this proxystore's migrations."""

    current: str | None
    head: str
    known: bool  # False when `current` is a revision this proxystore doesn't have (newer)

    @property
    def at_head(self) -> bool:
        """Whether the schema is exactly what this proxystore expects."""
        return self.current == self.head


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    with migrations_dir() as path:
        config.set_main_option("script_location", str(path))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """Return the newest migration this proxystore ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}


def state(db: Database) -> SchemaState:
    """Return the schema state of `db` (read-only)."""
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return SchemaState(current=current, head=head_revision(),
                       known=current is None or current in _known_revisions())


def _is_empty(conn: Connection) -> bool:
    return not inspect(conn).get_table_names()


def upgrade(db: Database, revision: str = "head") -> SchemaState:
    """Upgrade `db` to `revision` (default head) in one transaction; return the new state."""
    _migrate(db, lambda config: command.upgrade(config, revision))
    return state(db)


def downgrade(db: Database, revision: str) -> SchemaState:
    """Downgrade `db` to `revision` ("base" drops every proxystore table); return the new state."""
    _migrate(db, lambda config: command.downgrade(config, revision))
    return state(db)


def _migrate(db: Database, action: Callable[[Config], None]) -> None:
    current = state(db)
    if not current.known:
        raise SchemaVersionError(
            f"database {engines.safe_url(db.url)} is at schema {current.current}, newer than this "
            f"proxystore knows (head {current.head}): upgrade proxystore"
        )
    try:
        with db.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
            with conn.begin():
                if db.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                 {"k": _PG_MIGRATION_LOCK})
                action(_config(conn))
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
        raise DatabaseError(describe_driver_error(error, db.url)) from error
    except sa_exc.DBAPIError as error:  # e.g. a worker role that does not own the schema
        text_ = " ".join(str(error.orig).split())
        raise DatabaseError(f"cannot migrate {engines.safe_url(db.url)}: {text_} (migrations "
                            "run as the owner of proxystore's schema; nothing was changed)"
                            ) from None
    except CommandError as error:  # an unknown revision: a typo on the command line
        raise DatabaseError(f"{engines.safe_url(db.url)}: {error}; revisions run from base to "
                            f"{head_revision()}") from None


def ensure_current(db: Database, *, initialize: bool = True) -> bool:
    """Refuse a database whose schema is not at head; upgrade a brand-new SQLite file.

    Args:
        db: the open database.
        initialize: upgrade a SQLite file with no tables at all to head (commands that may
            create a database); otherwise such a file is refused like any other.

    Returns:
        Whether this call created the schema.

    Raises:
        SchemaVersionError: the schema is behind or ahead of this proxystore.
    """
    st = state(db)
    if st.at_head:
        return False
    if st.current is None and db.dialect == "sqlite" and initialize:
        with db.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
            with conn.begin():
                empty = _is_empty(conn)
                current = MigrationContext.configure(conn).get_current_revision()
                if empty and current is None:
                    command.upgrade(_config(conn), "head")
                    return True
        st = state(db)
        if st.at_head:  # another process upgraded it while we waited for the lock
            return False
        if st.current is None:
            raise SchemaVersionError(
                f"{engines.safe_url(db.url)} holds tables but no proxystore schema: "
                "point --db at a new file or a proxystore database"
            )
    if not st.known:
        raise SchemaVersionError(
            f"database {engines.safe_url(db.url)} is at schema {st.current}, newer than this "
            f"proxystore knows (head {st.head}): upgrade proxystore"
        )
    raise SchemaVersionError(
        f"database {engines.safe_url(db.url)} is at schema {st.current or 'none'}, "
        f"proxystore needs {st.head}: run `proxystore db upgrade --db {engines.safe_url(db.url)}`"
    )
