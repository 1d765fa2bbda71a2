"""A PostgreSQL role that can only read proxystore: for `sql`, notebooks and dashboards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Connection, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from proxystore.db import engine as engines
from proxystore.db.pg_guard import DANGEROUS_ROLES
from proxystore.db.session import Database
from proxystore.errors import DatabaseError

_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


@dataclass(frozen=True)
class ReaderGrant:
    """What `grant_reader` did: the role, whether it was new, where it may read, how to connect."""

    role: str
    created: bool
    database: str
    schema: str
    objects: int
    url: str

    def line(self) -> str:
        """One line for the CLI."""
        verb = "created" if self.created else "updated"
        return (f"{verb} role {self.role}: may only SELECT the {self.objects} tables and views of "
                f"schema {self.schema} in database {self.database} (and views added later); "
                f"query with --db {self.url}")


def _sql(conn: Connection, template: str, *names: str, password: str | None = None) -> None:
    """Run `template` with each {} an identifier from `names` (and {password} a literal)."""
    extra = {"password": sql.Literal(password)} if password is not None else {}
    statement = sql.SQL(template).format(*map(sql.Identifier, names), **extra)
    driver: Any = conn.connection.driver_connection
    driver.execute(statement)


def _refuse_unsafe_existing(conn: Connection, role: str) -> None:
    row = conn.execute(text(
        "SELECT r.oid, r.rolsuper, r.rolname IN (session_user, current_user) FROM pg_roles r "
        "WHERE r.rolname = :r"), {"r": role}).one_or_none()
    if row is None:
        return
    oid, superuser, connected = row
    why = None
    if connected:
        why = "is the role this command connects as"
    elif superuser:
        why = "is a superuser"
    elif conn.execute(text(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relowner = :o) "
            "OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspowner = :o) "
            "OR EXISTS (SELECT 1 FROM pg_database WHERE datdba = :o)"), {"o": oid}).scalar_one():
        why = "owns tables, schemas or databases (a worker or owner role, not a reader)"
    else:
        member = conn.execute(text(
            "SELECT string_agg(rolname, ', ') FROM pg_roles WHERE rolname = ANY(:d) "
            "AND pg_has_role(:r, oid, 'MEMBER')"), {"d": list(DANGEROUS_ROLES), "r": role}
        ).scalar_one()
        if member:
            why = f"is a member of {member}"
    if why:
        raise DatabaseError(f"role {role} {why}; grant-reader only creates or updates "
                            "read-only roles: pick another name")


def grant_reader(db: Database, role: str, password: str | None = None) -> ReaderGrant:
    """Create or update `role` so that it can log in and only SELECT proxystore's tables and views.

    Args:
        db: an open PostgreSQL database (connected as a role allowed to create roles and grant
            on proxystore's schema, e.g. its owner or a superuser).
        role: the reader's name.
        password: set (or change) the reader's password; None keeps it (a new role has none).

    Raises:
        DatabaseError: SQLite, or the role exists and is not a reader (superuser, owner, the
            connecting role, a member of a role that can touch server files or other sessions).
    """
    if db.dialect != "postgresql":
        raise DatabaseError("roles are a PostgreSQL feature: on SQLite, `proxystore sql` is "
                            "read-only already and file permissions decide who may read")
    if not role.strip():
        raise DatabaseError("grant-reader needs a role name")
    try:
        return _grant(db, role, password)
    except psycopg.Error as error:  # the role statements run on the driver connection
        text_ = " ".join(str(error).split())
        raise DatabaseError(f"grant-reader {role} on {engines.safe_url(db.url)}: {text_}"
                            ) from None
    except sa_exc.DBAPIError as error:
        text_ = " ".join(str(error.orig).split())
        raise DatabaseError(f"grant-reader {role} on {engines.safe_url(db.url)}: {text_}"
                            ) from None


# Grants update shared catalog rows (the database's and the schema's ACLs); PostgreSQL refuses
# two transactions changing one such row at once ("tuple concurrently updated"), so grants of
# this cluster take turns on this transaction-scoped advisory lock.
GRANT_LOCK_KEY = 0x70726F78  # "prox"


def _grant(db: Database, role: str, password: str | None) -> ReaderGrant:
    with db.transaction() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GRANT_LOCK_KEY})
        database, schema = conn.execute(
            text("SELECT current_database(), current_schema()")).one()
        if schema is None:
            raise DatabaseError(f"{engines.safe_url(db.url)}: no schema on the search path")
        _refuse_unsafe_existing(conn, role)
        created = conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM pg_roles "
                                    "WHERE rolname = :r)"), {"r": role}).scalar_one()
        verb = "CREATE" if created else "ALTER"
        if password is None:
            _sql(conn, f"{verb} ROLE {{}} {_ATTRIBUTES}", role)
        else:
            _sql(conn, f"{verb} ROLE {{}} {_ATTRIBUTES} PASSWORD {{password}}", role,
                 password=password)
        _sql(conn, "GRANT CONNECT ON DATABASE {} TO {}", database, role)
        _sql(conn, "REVOKE CREATE ON SCHEMA {} FROM {}", schema, role)
        _sql(conn, "GRANT USAGE ON SCHEMA {} TO {}", schema, role)
        # Only SELECT, whatever it held before; sequences too (nextval writes).
        _sql(conn, "REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}", schema, role)
        _sql(conn, "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}", schema, role)
        _sql(conn, "GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}", schema, role)
        # Views that later migrations add: default privileges of whoever creates them, i.e.
        # this role and the owner of the existing tables (who runs `db upgrade`).
        owners = conn.execute(text(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s "
            "UNION SELECT current_user"), {"s": schema}).scalars().all()
        for owner in sorted(owners):
            _sql(conn, "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES "
                 "TO {}", owner, schema, role)
        if schema != "public":  # so the reader finds the views without options=-csearch_path
            _sql(conn, "ALTER ROLE {} IN DATABASE {} SET search_path TO {}", role, database, schema)
        objects = conn.execute(text(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relkind IN ('r', 'v', 'm', 'p')"), {"s": schema}
        ).scalar_one()
    url = make_url(db.url).set(username=role, password="PASSWORD" if password else None)
    return ReaderGrant(role=role, created=created, database=database, schema=schema,
                       objects=int(objects), url=url.render_as_string(hide_password=False))
