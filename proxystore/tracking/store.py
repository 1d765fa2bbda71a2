"""Where proxystore logs to MLflow, and that store made ready once: created, upgraded or repaired.

MLflow creates and migrates a SQL store the first time a client opens it, with no lock: three
workers opening a fresh `mlflow.db` together each ran the migrations, and the store was left
with `_alembic_tmp_*` tables and a version stamp that matched no schema, refusing every later
call. Here the store is prepared once per process under an exclusive lock on `mlflow.db.lock`
beside the file (a lock file in the temporary folder for other SQL stores), before any client
touches it; a store found half-made is finished or, failing that, moved aside and started anew,
since every run in it can be logged again from proxystore's database.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from proxystore.db import engine as engines
from proxystore.errors import ProxystoreError

ARTIFACTS_FOLDER = "mlartifacts"
# MLflow's HTTP client retries for minutes by default (7 retries, 120 s each); proxystore's own
# calls give up after one retry and 3 s per request, and leave the rest to `mlflow sync`.
HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_settings_lock = threading.RLock()
_ready: set[str] = set()


class TrackingError(ProxystoreError):
    """MLflow is unreachable, refused a call, or its store can't be made usable."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message  # what went wrong, without where (see `why`)


def tracking_uri(db_url: str, override: str | None = None) -> str:
    """The MLflow tracking URI: `override`, else $MLFLOW_TRACKING_URI, else beside the database.

    Beside a SQLite database `DIR/x.db` it is `sqlite:///DIR/mlflow.db`; beside PostgreSQL it is
    `sqlite:///./mlflow.db` in the working directory (use a tracking server for many nodes).

    Args:
        db_url: the proxystore database's URL.
        override: the URI given on the command line (--mlflow), if any.
    """
    if override:
        return str(override)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    parsed = engines.parse_url(db_url)
    path = engines.sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
    folder = path.expanduser().resolve().parent if path is not None else Path.cwd()
    return f"sqlite:///{folder / 'mlflow.db'}"


def scheme(uri: str) -> str:
    """The store's kind: sqlite, postgresql, ..., http, file (a bare path is a file store)."""
    head = uri.split("://", 1)[0] if "://" in uri else "file"
    return head.split("+", 1)[0].lower()


def sqlite_file(uri: str) -> Path | None:
    """The file of a `sqlite:///PATH` store (None for other stores or an in-memory one)."""
    if scheme(uri) != "sqlite":
        return None
    path = uri.split("://", 1)[1].lstrip("/")
    if not path or path == ":memory:":
        return None
    return Path("/" + path) if uri.startswith("sqlite:////") else Path(path).resolve()


def artifact_root(uri: str) -> str | None:
    """Where new experiments keep artifacts: `mlartifacts/` beside a SQLite store, else in the
    working directory for another SQL store; None (the server decides) for a tracking server."""
    path = sqlite_file(uri)
    if path is not None:
        return (path.parent / ARTIFACTS_FOLDER).as_uri()
    if scheme(uri) in _SQL_SCHEMES:
        return (Path.cwd() / ARTIFACTS_FOLDER).as_uri()
    return None


@contextlib.contextmanager
def quick_http() -> Iterator[None]:
    """MLflow's HTTP retries and timeout cut short for the calls inside, then put back."""
    with _settings_lock:
        saved = {key: os.environ.get(key) for key in HTTP_SETTINGS}
        os.environ.update(HTTP_SETTINGS)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def quiet_mlflow() -> None:
    """MLflow and Alembic talk at INFO about every migration; keep proxystore's output clean."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def client(uri: str) -> Any:
    """An MlflowClient on a store that `ensure_store` made ready."""
    ensure_store(uri)
    from mlflow.tracking import MlflowClient

    quiet_mlflow()
    return MlflowClient(tracking_uri=uri)


def ensure_store(uri: str) -> str | None:
    """Create, upgrade or repair a SQL store once per process, under a lock; return what was
    repaired (one line) or None. Tracking servers and file stores are left to MLflow.

    Args:
        uri: the MLflow tracking URI.

    Raises:
        TrackingError: the store can't be reached or made usable (the line says what to do).
    """
    if uri in _ready or scheme(uri) not in _SQL_SCHEMES:
        return None
    import mlflow  # noqa: F401 - configures its loggers on import, so quieten them after

    quiet_mlflow()
    path = sqlite_file(uri)
    try:
        with store_lock(uri), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Alembic's notes on SQLite table rebuilds
            note = _prepare(uri, path)
    except TrackingError:
        raise
    except Exception as error:  # noqa: BLE001 - driver, MLflow and OS errors all end here
        reason = f"can't be opened ({one_line(error)})"
        raise TrackingError(f"the MLflow store {_safe(uri)} {reason}", reason) from None
    _ready.add(uri)
    return note


def forget(uri: str) -> None:
    """Drop what this process cached about a store (after it was moved aside and rebuilt)."""
    _ready.discard(uri)
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry

        engine = SqlAlchemyStore._engine_map.pop(uri, None)
        if engine is not None:
            engine.dispose()
        TrackingStoreRegistry._get_store_with_resolved_uri.cache_clear()
    except (ImportError, AttributeError):  # another MLflow: nothing cached that way
        pass


def lock_file(uri: str) -> Path:
    """The lock file of a store: `mlflow.db.lock` beside SQLite, else one in the temp folder."""
    path = sqlite_file(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.with_name(path.name + ".lock")
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"proxystore-mlflow-{digest}.lock"


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold the store's lock: one process at a time creates it, or logs to it (so two syncs,
    or a sync and a worker, never both create a cell's run). Not reentrant: take it once."""
    with _exclusive(lock_file(uri)):
        yield


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare(uri: str, path: Path | None) -> str | None:
    """The store at MLflow's head with every table; a line when something had to be repaired."""
    import sqlalchemy
    from mlflow.store.db import utils as db_utils
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(uri, poolclass=NullPool)
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
        leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
        fresh = not [t for t in tables if not t.startswith("alembic_")]
        head = db_utils._get_latest_schema_revision()
        if fresh or (not leftovers and db_utils._get_schema_version(engine) == head
                     and db_utils._all_tables_exist(engine)):
            _open(uri)
            return None
        backup = _backup(path) if path is not None else None
        try:
            _finish_batches(engine, leftovers)
            db_utils._upgrade_db(engine)
            if db_utils._get_schema_version(engine) != head:
                raise RuntimeError("still not at MLflow's schema after the upgrade")
            _open(uri)
            if backup is not None:
                backup.unlink()
            return (f"finished the MLflow store's interrupted migration "
                    f"({', '.join(leftovers) or 'version stamp behind'})" if leftovers else
                    f"upgraded the MLflow store {_safe(uri)} to MLflow's schema")
        except Exception as error:  # noqa: BLE001 - any failure: rebuild (SQLite) or say so
            if path is None:
                reason = (f"is half-migrated and proxystore could not finish it "
                          f"({one_line(error)}); back it up and run `mlflow db upgrade "
                          f"{_safe(uri)}`")
                raise TrackingError(f"the MLflow store {_safe(uri)} {reason}", reason) from None
            problem = one_line(error)
    finally:
        engine.dispose()
    assert backup is not None
    path.unlink()
    forget(uri)
    _open(uri)
    return (f"the MLflow store {path} was half-migrated and could not be finished ({problem}); "
            f"it is kept as {backup} and a new store was started, to which every run is "
            "logged again from the database")


def _finish_batches(engine: Any, leftovers: list[str]) -> None:
    """Undo or complete the table rebuilds Alembic left on SQLite (`_alembic_tmp_<table>`).

    A rebuild copies <table> into the temporary table, drops <table>, then renames the copy:
    while <table> exists it still holds every row and the copy is dropped; without it the copy
    holds them and takes its name.
    """
    import sqlalchemy

    with engine.begin() as conn:
        tables = set(sqlalchemy.inspect(conn).get_table_names())
        for temporary in leftovers:
            table = temporary.removeprefix("_alembic_tmp_")
            if table in tables:
                conn.exec_driver_sql(f'DROP TABLE "{temporary}"')
            else:
                conn.exec_driver_sql(f'ALTER TABLE "{temporary}" RENAME TO "{table}"')


def _backup(path: Path) -> Path:
    """A consistent copy of a SQLite store beside it, before anything changes it."""
    import sqlite3

    target = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    source, copy = sqlite3.connect(path), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return target


def _open(uri: str) -> None:
    """Open the store as MLflow does (creating tables on a fresh one), with our artifact root."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(uri, artifact_root(uri) or "./mlruns")


def _safe(uri: str) -> str:
    return engines.safe_url(uri) if scheme(uri) in _SQL_SCHEMES else uri


def one_line(error: BaseException) -> str:
    """An exception as one short line (MLflow's errors span many)."""
    text = re.sub(r" ?\(Background on this error at: [^)]*\)", "", " ".join(str(error).split()))
    text = text or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def why(error: BaseException) -> str:
    """What went wrong with MLflow, to follow "MLflow at URI": "is unreachable (...)" or
    "failed: ..." with its own message on one line."""
    if isinstance(error, TrackingError):
        return error.reason
    text = " ".join(str(error).split())
    if "Connection refused" in text or "Failed to establish a new connection" in text:
        return "is unreachable (connection refused)"
    if "timed out" in text.lower() or "Read timeout" in text:
        timeout = HTTP_SETTINGS["MLFLOW_HTTP_REQUEST_TIMEOUT"]
        return f"is unreachable (no answer within {timeout} s)"
    if "filesystem tracking backend" in text:
        return ("is a file store, which MLflow 3 refuses by default: use sqlite:///PATH/mlflow.db "
                "(or set MLFLOW_ALLOW_FILE_STORE=true)")
    return f"failed: {one_line(error)}"


def unreachable(reason: str) -> bool:
    """Whether `why` said MLflow could not be reached (trying later may work)."""
    return reason.startswith("is unreachable")
