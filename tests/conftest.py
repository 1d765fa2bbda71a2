"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from $PROXYSTORE_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/test);
each test gets its own schema, dropped afterwards, so runs don't collide. When CI=true and the
server is unreachable, PostgreSQL tests fail instead of skipping.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from proxystore.db import Database, migrate, open_database
from proxystore.db.engine import parse_url

PG_URL = os.environ.get("PROXYSTORE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_pg_state: dict[str, str | None] = {}



@pytest.fixture(autouse=True)
def _room(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under pytest-xdist, a test marked `exclusive` runs with no other test running anywhere.

    Those are the timing-sensitive tests (leases expiring under SIGSTOP, SIGKILL mid-claim, a
    PostgreSQL restart that would cut every other test's connections). Every test holds a shared
    lock on one file for its duration; an exclusive test holds it exclusively. A turnstile lock
    taken first stops shared holders from starving an exclusive one. Serial runs skip all this.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:
        yield
        return
    exclusive = request.node.get_closest_marker("exclusive") is not None
    base = Path(tempfile.gettempdir()) / f"proxystore-tests-{run}"
    with open(f"{base}.turnstile", "a") as turnstile, open(f"{base}.room", "a") as room:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(room, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run `exclusive` tests first, then `slow` ones, then the rest (each group in file order).

    With `--maxschedchunk 1` (pyproject's addopts) pytest-xdist hands each process the next test
    when it is free, so this order is the schedule: exclusive tests run while nothing long is
    running (an exclusive test waits for every running test to end, idling the other process),
    and the tests of a minute or more start early, where the short ones fill in around them,
    instead of one of them running alone at the end. The sort is stable: the order within each
    group is pytest's own.
    """
    def group(item: pytest.Item) -> int:
        if item.get_closest_marker("exclusive") is not None:
            return 0
        return 1 if item.get_closest_marker("slow") is not None else 2

    items.sort(key=group)


def _pg_problem() -> str | None:
    if "problem" not in _pg_state:
        try:
            engine = create_engine(parse_url(PG_URL), connect_args={"connect_timeout": 5})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_state["problem"] = None
        except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
            _pg_state["problem"] = f"PostgreSQL at {PG_URL} unreachable: {error}"
    return _pg_state["problem"]


def require_pg() -> None:
    """Fail (in CI) or skip (elsewhere) when the test PostgreSQL can't be reached."""
    problem = _pg_problem()
    if problem:
        if IN_CI:
            pytest.fail(problem + " (CI=true: PostgreSQL is required)")
        pytest.skip(problem)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema of this test's own."""
    yield from _pg_schema()


@pytest.fixture
def second_db_url(empty_db_url: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A second database at head on the backend of `empty_db_url` (another file or schema)."""
    urls = iter([f"sqlite:///{tmp_path / 'second.db'}"]) if empty_db_url.startswith("sqlite") \
        else _pg_schema()
    url = next(urls)
    database = open_database(url, check=False, create=True)
    migrate.upgrade(database)
    database.dispose()
    yield url
    next(urls, None)  # drops the schema


def _pg_schema() -> Iterator[str]:
    """Create a fresh PostgreSQL schema, yield a URL searching it, then drop it."""
    require_pg()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(parse_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    admin.dispose()  # a test may have restarted the server under the pooled connection
    admin = create_engine(parse_url(PG_URL), poolclass=NullPool)
    for _attempt in range(30):
        try:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            break
        except OperationalError:
            time.sleep(0.5)
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """URL of an empty database (no schema yet), on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """URL of a database already upgraded to head, on each backend."""
    database = open_database(empty_db_url, check=False, create=True)
    migrate.upgrade(database)
    database.dispose()
    return empty_db_url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """An open database at head, on each backend."""
    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def reader_url(db_url: str) -> Iterator[str]:
    """`db_url` as `proxystore sql` should use it: on PostgreSQL, a new read-only role's URL."""
    if db_url.startswith("sqlite"):
        yield db_url
        return
    from proxystore.db.roles import grant_reader

    role = f"reader_{uuid.uuid4().hex[:12]}"
    database = open_database(db_url, pool=False)
    grant_reader(database, role)
    database.dispose()
    yield make_url(db_url).set(username=role).render_as_string(hide_password=False)
    drop_role(role)


def drop_role(role: str) -> None:
    """Drop a role a test created, with its privileges and defaults in the test database."""
    from proxystore.db.roles import GRANT_LOCK_KEY

    admin = create_engine(parse_url(PG_URL), poolclass=NullPool)
    with admin.begin() as conn:
        # the same turn grant_reader takes: revoking touches the rows granting does
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GRANT_LOCK_KEY})
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    admin.dispose()


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    """An open SQLite database at head, for tests where the backend does not matter."""
    database = open_database(f"sqlite:///{tmp_path / 'test.db'}", create=True)
    yield database
    database.dispose()
