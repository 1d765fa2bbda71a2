"""The one session helper every store module uses, and translation of driver errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from proxystore.db import engine as engines
from proxystore.errors import DatabaseError


def describe_driver_error(error: BaseException, url: str) -> str:
    """Return one readable line for a driver error (connection refused, bad password, ...)."""
    orig = getattr(error, "orig", None) or error
    text = " ".join(str(orig).split())
    lowered = text.lower()
    where = engines.safe_url(url)
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"cannot connect to {where}: authentication failed (check user and password)"
    if "fatal:" in lowered:  # the server answered and refused: role or database missing, ...
        reason = text[lowered.index("fatal:") + len("fatal:"):].strip()
        return f"cannot connect to {where}: {reason}"
    if "connection refused" in lowered or "could not connect" in lowered or (
        "connection failed" in lowered
    ):
        return f"cannot connect to {where}: the server refused the connection or is not running"
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return f"cannot connect to {where}: unknown host"
    if "timeout" in lowered and "connect" in lowered:
        return f"cannot connect to {where}: timed out"
    if "unable to open database file" in lowered:
        return f"cannot open SQLite database {where}: unable to open the file"
    if "file is not a database" in lowered:
        return f"cannot open SQLite database {where}: the file is not a SQLite database"
    if "database is locked" in lowered:
        return _locked(orig, where, text)
    if "permission denied" in lowered or "must be owner" in lowered:
        return (f"{where}: {text} (this role may not do that: workers need the grants in "
                "docs/security.md, readers may only read)")
    if "attempt to write a readonly database" in lowered:
        return (f"cannot write SQLite database {where}: the file or its folder is read-only "
                "for this user (reading works)")
    if "cannot contain nul" in lowered:
        return f"{where} can't store a text value holding a NUL byte (\\x00): {text}"
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return f"the database refused a write (read-only): {text}"
    return f"database error on {where}: {text}"


def _denied(error: sa_exc.DBAPIError) -> bool:
    """Whether PostgreSQL refused a statement for lack of privilege (SQLSTATE 42501)."""
    return getattr(error.orig, "sqlstate", None) == "42501"


def _locked(orig: BaseException, where: str, text: str) -> str:
    """One line for SQLite's "database is locked", saying which lock failed and why."""
    name = getattr(orig, "sqlite_errorname", None)
    if name == "SQLITE_BUSY":  # the busy handler waited the whole timeout
        seconds = engines.SQLITE_BUSY_TIMEOUT_MS / 1000
        return (f"SQLite database {where} stayed locked past the busy timeout ({seconds:.0f} s): "
                "another process held the write lock all that time")
    if name == "SQLITE_BUSY_SNAPSHOT":  # refused at once; waiting could not have helped
        return (f"SQLite database {where}: another process wrote after this transaction had "
                "read, so it could not take the write lock (SQLITE_BUSY_SNAPSHOT); run the "
                "command again")
    return f"SQLite database {where} is locked ({name or 'no error code'}): {text}"


@dataclass
class Database:
    """An open database: its URL, engine and session factory."""

    url: str
    engine: Engine
    _factory: sessionmaker[Session] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self, *, immediate: bool = False) -> Iterator[Session]:
        """Yield a session that commits on success, rolls back on error, and always closes.

        Args:
            immediate: on SQLite, take the write lock at BEGIN (BEGIN IMMEDIATE) so a
                read-then-write transaction can't fail half-way on a lock upgrade.
        """
        session = self._factory()
        try:
            if immediate and self.dialect == "sqlite":  # this BEGIN can fail too (read-only)
                session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            yield session
            session.commit()
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DataError) as error:
            # DataError: a value the database can't hold (a NUL byte in PostgreSQL text, ...)
            session.rollback()
            raise DatabaseError(describe_driver_error(error, self.url)) from error
        except sa_exc.ProgrammingError as error:
            session.rollback()
            if not _denied(error):
                raise
            raise DatabaseError(describe_driver_error(error, self.url)) from error
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextlib.contextmanager
    def transaction(self, *, immediate: bool = False) -> Iterator[Connection]:
        """Yield a Core connection in a transaction: the lean path for hot statements (claims).

        Same contract as `session`: commit on success, roll back on error, driver errors become
        DatabaseError.
        """
        options = {"sqlite_begin": "IMMEDIATE"} if immediate and self.dialect == "sqlite" else {}
        try:
            with self.engine.connect().execution_options(**options) as conn:
                with conn.begin():
                    yield conn
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DataError) as error:
            raise DatabaseError(describe_driver_error(error, self.url)) from error
        except sa_exc.ProgrammingError as error:
            if not _denied(error):
                raise
            raise DatabaseError(describe_driver_error(error, self.url)) from error

    def dispose(self) -> None:
        """Close every pooled connection (call before forking workers)."""
        self.engine.dispose()
