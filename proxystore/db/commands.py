"""`proxystore db ...`: schema migrations."""

from __future__ import annotations

import sys

from proxystore.db import engine as engines
from proxystore.db import migrate, open_database


class DbCommands:
    """Create, upgrade and inspect the database schema."""

    def upgrade(self, revision: str = "head", db: str | None = None) -> None:
        """Upgrade the database schema to a revision (default: the newest), creating it if new.

        Args:
            revision: the Alembic revision to upgrade to; "head" is the newest.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        database = open_database(db, check=False, pool=False, create=True)
        before = migrate.state(database).current
        after = migrate.upgrade(database, str(revision)).current
        where = engines.safe_url(database.url)
        print(f"{where}: schema {before or 'empty'} -> {after}" if before != after
              else f"{where}: schema already at {after}")

    def downgrade(self, revision: str, db: str | None = None) -> None:
        """Downgrade the database schema to a revision ("base" removes every proxystore table).

        Args:
            revision: the Alembic revision to go back to, or "base".
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        database = open_database(db, check=False, pool=False)
        after = migrate.downgrade(database, str(revision)).current
        print(f"{engines.safe_url(database.url)}: schema now {after or 'empty (base)'}")

    def current(self, db: str | None = None) -> None:
        """Print the database's schema revision and this proxystore's newest one.

        Args:
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        database = open_database(db, check=False, pool=False)
        state = migrate.state(database)
        print(f"current: {state.current or 'none (empty database)'}")
        print(f"head:    {state.head}")

    def check(self, db: str | None = None) -> None:
        """Exit 0 when the schema is at this proxystore's newest revision, 1 when it is not.

        Args:
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        database = open_database(db, check=False, pool=False)
        state = migrate.state(database)
        if state.at_head:
            print(f"schema at head ({state.head})")
            return
        word = "ahead of" if not state.known else "behind"
        print(f"schema {state.current or 'empty'} is {word} head {state.head}: "
              "run `proxystore db upgrade`")
        sys.exit(1)
