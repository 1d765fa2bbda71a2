"""SQLite files: which `--db` values name one, and how to open one that this process can't write.

proxystore opens SQLite files itself (WAL, busy timeout, read-only modes), so a SQLite URL is
`sqlite:///PATH` and nothing else: no in-memory database (each command would see an empty one),
no `file:` URI or `?option` (they would override those choices), no device or directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL

from proxystore.errors import DatabaseError

USAGE = "expected sqlite:///PATH, a file path, or postgresql://USER@HOST:PORT/DB"


def check_bare_path(raw: str) -> None:
    """Refuse a `--db` without `://` that can't be a plain file path (`::::`, `file:x.db`)."""
    if not raw.strip():
        raise DatabaseError(f"--db is empty: {USAGE}")
    if ":" in raw:
        raise DatabaseError(f"--db {raw!r} is neither a database URL nor a plain file path "
                            f"({USAGE}; write a path with ':' in it as sqlite:///PATH)")


def check_url(url: URL, raw: str, shown: str) -> None:
    """Refuse a SQLite URL that is in memory or carries URI options proxystore would not honour.

    `raw` is the URL as given: SQLAlchemy drops a `?part` without `=` silently, so
    `sqlite:///we?ird.db` would open `we` (a `?` in a file name is written `%3F`).
    """
    database = url.database or ""
    if (not database or database == ":memory:" or database.startswith("file::memory:")
            or url.query.get("mode") == "memory"):
        raise DatabaseError(f"{shown} is an in-memory SQLite database, which vanishes when the "
                            "command ends: give a file path (sqlite:///PATH)")
    if database.startswith("file:") or url.query or "?" in raw:
        raise DatabaseError(f"{shown}: proxystore opens SQLite files itself and takes no 'file:' "
                            "URI or '?option'; give sqlite:///PATH")


def check_file(path: Path) -> None:
    """Refuse a path whose folder is missing or that exists but is not a regular file."""
    if not path.parent.is_dir():
        raise DatabaseError(
            f"cannot open SQLite database {path}: directory {path.parent} does not exist")
    if path.exists() and not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise DatabaseError(f"cannot open SQLite database {path}: it is {kind}")


def no_database(path: Path) -> DatabaseError:
    """The error for a command that only reads, given a path with no database (yet)."""
    what = "no database at" if not path.exists() else "empty file, no database, at"
    return DatabaseError(f"{what} {path} (check --db; `proxystore db upgrade --db {path}` "
                         "creates one)")


def is_new(path: Path) -> bool:
    """Whether opening `path` would start a new database (no file, or an empty one)."""
    return not path.exists() or path.stat().st_size == 0


def writable(path: Path) -> bool:
    """Whether this process may write the database: its folder (journal, -wal, -shm) and file."""
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def read_only_uri(path: Path) -> str:
    """Return the `file:` URI that opens `path` read-only, even inside a read-only folder.

    mode=ro still creates `-shm` beside a WAL database; where the folder is not writable and no
    writer has the database open (no `-wal` file), immutable=1 tells SQLite not to try. Where a
    `-wal` exists, plain mode=ro reads it (immutable would ignore committed rows in it).
    """
    uri = f"file:{quote(str(path))}?mode=ro"
    wal = path.with_name(path.name + "-wal")
    if not os.access(path.parent, os.W_OK) and not wal.exists():
        uri += "&immutable=1"
    return uri


def holds_rows(path: Path) -> bool:
    """Whether any table of the SQLite file, other than Alembic's, has a row."""
    import sqlite3

    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return any(conn.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone()
                   for name in tables if name != "alembic_version")
    except sqlite3.Error:
        return True  # when in doubt, keep the file
    finally:
        conn.close()
