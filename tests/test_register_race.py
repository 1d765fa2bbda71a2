"""Registering the same new study from many places at once just works: that is how a cluster
starts. Racing processes on SQLite and PostgreSQL all succeed, and leave exactly one set of rows.
"""

from __future__ import annotations

import multiprocessing as mp
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, func, select, text

from proxystore.db import migrate, open_database
from proxystore.db.engine import parse_url
from proxystore.db.models import Base
from proxystore.study.register import register_study
from proxystore.study.spec import parse_spec
from tests.conftest import PG_URL, require_pg
from tests.register_race import race
from tests.studies import FULL_AND_HALF, tiny_spec

RACERS = 4
TRIALS = 6
# Two ready tasks and an easy/hard pair waiting for its scorer: every registration write path
# (dataset and examples, subsets and members, architectures, recipes, the study, its tasks,
# candidates and cells, the scorer's run).
TASKS = FULL_AND_HALF + """\
easy: {dataset: digits, role: proxy, proxy_of: full,
       subset: {kind: loss_quantile, a: 0.5, b: 1.0, scorer: {candidate: a, task: full}}}
"""


@contextmanager
def _fresh_databases(backend: str, count: int, tmp: Path) -> Iterator[list[str]]:
    """`count` empty databases: new SQLite files (migrated by their first user, as a fresh file
    is), or new PostgreSQL schemas upgraded once (as `proxystore db upgrade` would)."""
    if backend == "sqlite":
        yield [f"sqlite:///{tmp / f'race{i}.db'}" for i in range(count)]
        return
    require_pg()
    admin = create_engine(parse_url(PG_URL))
    schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    urls = []
    try:
        for schema in schemas:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
            database = open_database(url, check=False, pool=False)
            migrate.upgrade(database)
            database.dispose()
            urls.append(url)
        yield urls
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _row_counts(url: str) -> dict[str, int]:
    database = open_database(url, pool=False)
    try:
        with database.session() as session:
            return {table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
                    for table in Base.metadata.sorted_tables}
    finally:
        database.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_registrations_of_a_new_study_all_succeed_with_one_set_of_rows(backend, tmp_path):
    """Two `fill`s of a new study on a fresh SQLite file: in 2 of 4 trials one exited 2 with
    "database is locked" (a read lock upgraded to a write lock outside BEGIN IMMEDIATE); on
    PostgreSQL one exited 1 with a UniqueViolation on uq_studies_name."""
    text_ = tiny_spec("race", TASKS)
    with _fresh_databases(backend, TRIALS + 1, tmp_path) as urls:
        reference, *trials = urls
        solo = open_database(reference, pool=False, create=True)
        register_study(solo, parse_spec(text_))
        solo.dispose()
        expected = _row_counts(reference)
        assert expected["studies"] == 1 and expected["runs"] == 4  # 2 x 2; the scorer is one

        context = mp.get_context("spawn")
        barrier, results = context.Barrier(RACERS), context.Queue()
        racers = [context.Process(target=race, args=(trials, text_, barrier, results, i,
                                                     f"sqlite:///{tmp_path / f'warm{i}.db'}"))
                  for i in range(RACERS)]
        for process in racers:
            process.start()
        outcomes = [results.get(timeout=300) for _ in range(RACERS * TRIALS)]
        for process in racers:
            process.join(timeout=60)
        failures = sorted(o for o in outcomes if o[2] != "ok")
        assert not failures, failures
        assert [p.exitcode for p in racers] == [0] * RACERS
        for url in trials:
            assert _row_counts(url) == expected, url


def test_a_lock_upgrade_refusal_is_not_called_a_busy_timeout(tmp_path):
    """SQLite refuses at once to upgrade a read transaction to a write one when another process
    wrote meanwhile (SQLITE_BUSY_SNAPSHOT): no timeout ran out, yet the message blamed it. Only
    a write lock that stayed taken past the busy timeout (SQLITE_BUSY) says so."""
    import sqlite3

    from proxystore.db.session import describe_driver_error

    path = tmp_path / "lock.db"
    url = f"sqlite:///{path}"
    first = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    first.execute("PRAGMA journal_mode = WAL")
    first.execute("CREATE TABLE t (x INTEGER)")
    second = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    second.execute("BEGIN")
    second.execute("SELECT * FROM t").fetchall()
    first.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError) as upgrade:
        second.execute("INSERT INTO t VALUES (2)")
    second.execute("ROLLBACK")
    first.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as timeout:
        second.execute("BEGIN IMMEDIATE")
    first.execute("ROLLBACK")

    refused = describe_driver_error(upgrade.value, url)
    assert "busy timeout" not in refused
    assert refused == (f"SQLite database {url}: another process wrote after this transaction "
                       "had read, so it could not take the write lock (SQLITE_BUSY_SNAPSHOT); "
                       "run the command again")
    assert describe_driver_error(timeout.value, url) == (
        f"SQLite database {url} stayed locked past the busy timeout (60 s): another process "
        "held the write lock all that time")

    # Both are worth another try: the retry loops read the driver's words, not this line.
    from sqlalchemy import exc as sa_exc

    from proxystore.errors import DatabaseError
    from proxystore.runner.claims import transient

    for error in (upgrade.value, timeout.value):
        wrapped = DatabaseError(describe_driver_error(error, url))
        wrapped.__cause__ = sa_exc.OperationalError("INSERT", {}, error)
        assert transient(wrapped)
