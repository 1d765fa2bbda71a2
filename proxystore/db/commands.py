"""`proxystore db ...`: schema migrations, schema checks, and the read-only role."""

from __future__ import annotations

import sys

from proxystore.db import engine as engines
from proxystore.db import migrate, open_database


class DbCommands:
    """Create, upgrade and inspect the database schema; make a read-only role."""

    def upgrade(self, revision: str = "head", db: str | None = None) -> None:
        """Upgrade the database schema to a revision (default: the newest), creating it if new.

        Example:
            proxystore db upgrade --db postgresql://USER@HOST/DB

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

        Example:
            proxystore db downgrade base --db old.db

        Args:
            revision: the Alembic revision to go back to, or "base".
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        database = open_database(db, check=False, pool=False)
        after = migrate.downgrade(database, str(revision)).current
        print(f"{engines.safe_url(database.url)}: schema now {after or 'empty (base)'}")

    def current(self, db: str | None = None) -> None:
        """Print the database's schema revision and this proxystore's newest one.

        Example:
            proxystore db current --db proxystore.db

        Args:
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        database = open_database(db, check=False, pool=False)
        state = migrate.state(database)
        print(f"current: {state.current or 'none (empty database)'}")
        print(f"head:    {state.head}")

    def check(self, db: str | None = None) -> None:
        """Exit 0 when the schema is at the newest revision with every table and view, else 1.

        Example:
            proxystore db check --db postgresql://USER@HOST/DB

        Args:
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.db.objects import missing

        database = open_database(db, check=False, pool=False)
        state = migrate.state(database)
        if not state.at_head:
            word = "ahead of" if not state.known else "behind"
            print(f"schema {state.current or 'empty'} is {word} head {state.head}: "
                  "run `proxystore db upgrade`")
            sys.exit(1)
        lacking = missing(database)
        if lacking:
            print(f"schema at head ({state.head}) but missing {lacking.describe()}: "
                  "the database was changed outside proxystore")
            sys.exit(1)
        print(f"schema at head ({state.head}), every table and view present")

    def grant_reader(self, role: str, password: str | None = None, db: str | None = None) -> None:
        """Create or update a PostgreSQL role that can log in and only read proxystore's tables.

        The role gets LOGIN, no superuser or CREATE rights, USAGE on proxystore's schema and
        SELECT on every table and view in it, now and after later migrations. Running it again
        changes nothing. Use it for `proxystore sql`, notebooks and dashboards.

        Example:
            proxystore db grant-reader analyst --password secret --db postgresql://postgres@HOST/DB

        Args:
            role: the reader's name; an existing role must not be a superuser or own anything.
            password: set or change its password (without it, a new role has none).
            db: a postgresql:// URL of a role that may create roles and grant on the schema.
        """
        from proxystore.db.roles import grant_reader
        from proxystore.errors import DatabaseError

        if engines.parse_url(engines.resolve_url(db)).get_backend_name() != "postgresql":
            raise DatabaseError("roles are a PostgreSQL feature: on SQLite, `proxystore sql` is "
                                "read-only already and file permissions decide who may read")
        database = open_database(db, pool=False)
        password = None if password is None else str(password)
        print(grant_reader(database, str(role), password).line())
