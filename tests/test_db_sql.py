"""`proxystore sql` can't write or escape: one statement, a SQLite authorizer, no superusers."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from analysis_data import fill
from sqlalchemy import make_url

from proxystore.analysis.views import TEXT_COLUMNS, query
from proxystore.db import migrate, open_database
from proxystore.db.objects import expected
from proxystore.db.query import ONE_STATEMENT, read_only_query
from proxystore.db.roles import grant_reader
from tests.cells import seed_cells
from tests.conftest import PG_URL, drop_role
from tests.inprocess import run_main

RUNS = 3


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder the server's user may write in too: where an escape would leave its files."""
    folder = Path(tempfile.mkdtemp(prefix="proxystore-escape-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


def _runs(url: str) -> int:
    database = open_database(url, pool=False)
    with database.engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM runs").scalar_one()
    database.dispose()
    return int(count)


def _refused(url: str, statement: str) -> str:
    """Run `sql STATEMENT`, check it failed with exactly one line and printed no rows."""
    result = run_main("sql", statement, "--db", url)
    assert result.returncode == 2, (statement, result)
    lines = result.error_lines()
    assert len(lines) == 1 and lines[0].startswith("proxystore: error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def pg(pg_schema_url) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """A PostgreSQL proxystore with RUNS runs: the superuser's URL and a reader role's URL."""
    database = open_database(pg_schema_url, check=False, pool=False)
    migrate.upgrade(database)
    seed_cells(database, RUNS, study="s")
    role = f"reader_{uuid.uuid4().hex[:12]}"
    grant_reader(database, role)
    database.dispose()
    yield {"superuser": pg_schema_url,
           "reader": make_url(pg_schema_url).set(username=role).render_as_string(False)}
    drop_role(role)


PG_ESCAPES = [
    "COMMIT; DELETE FROM runs",
    "ROLLBACK; DROP TABLE runs CASCADE",
    "DROP TABLE runs CASCADE",
    "COPY (SELECT 1) TO PROGRAM 'id > {outside}/program'",
    "COPY (SELECT 1) TO '{outside}/copied'",
    "SELECT pg_read_file('{secret}')",
    "SELECT * FROM pg_ls_dir('{outside}')",
    "SELECT pg_terminate_backend({pid})",
    "SELECT pg_reload_conf()",
    "SELECT pg_switch_wal()",
    "SELECT pg_stat_reset()",
    "SELECT set_config('role', '{superuser}', false)",
]


@pytest.mark.parametrize("who", ["reader", "superuser"])
@pytest.mark.parametrize("escape", PG_ESCAPES)
def test_sql_escapes_are_refused_on_postgresql(pg, who, escape, outside):
    secret = outside / "secret.txt"
    secret.write_text(token := uuid.uuid4().hex)
    secret.chmod(0o644)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        pid = admin.execute("SELECT pg_backend_pid()").fetchone()[0]
        loaded, reset = admin.execute(
            "SELECT pg_conf_load_time(), (SELECT stats_reset FROM pg_stat_database "
            "WHERE datname = current_database())").fetchone()
        superuser = admin.execute("SELECT current_user").fetchone()[0]
        statement = escape.format(outside=outside, secret=secret, pid=pid, superuser=superuser)
        line = _refused(pg[who], statement)
        assert token not in line and "program" not in os.listdir(outside)
        assert sorted(os.listdir(outside)) == ["secret.txt"]  # no file written by COPY
        # The session it tried to kill still answers; configuration and statistics untouched.
        assert admin.execute("SELECT pg_conf_load_time(), (SELECT stats_reset FROM "
                             "pg_stat_database WHERE datname = current_database())"
                             ).fetchone() == (loaded, reset)
    assert _runs(pg["superuser"]) == RUNS
    assert run_main("db", "check", "--db", pg["superuser"]).returncode == 0
    if who == "superuser":  # refused before anything ran, whatever the statement
        assert f"proxystore sql refuses to run as {superuser} " in line
        assert "proxystore db grant-reader READER" in line
    elif ";" in statement:
        assert line == f"proxystore: error: {ONE_STATEMENT}"
    else:
        denials = ("permission denied", "read-only", "must be superuser", "must be a superuser")
        assert any(denial in line for denial in denials), line


def test_reader_reads_every_view_and_table_on_postgresql(pg):
    for name in sorted(expected()[1] | {"runs", "studies"}):
        frame = read_only_query(pg["reader"], f"SELECT * FROM {name}")
        assert list(frame.columns), name
    rows = run_main("sql", "SELECT count(*) AS n FROM runs", "--format", "csv", "--db",
                    pg["reader"])
    assert rows.returncode == 0 and rows.stdout.split() == ["n", str(RUNS)]


def test_a_member_of_a_dangerous_role_is_refused(pg):
    role = f"signaller_{uuid.uuid4().hex[:12]}"
    database = open_database(pg["superuser"], pool=False)
    with database.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN IN ROLE pg_signal_backend')
    database.dispose()
    try:
        url = make_url(pg["superuser"]).set(username=role).render_as_string(False)
        line = _refused(url, "SELECT 1")
        assert f"refuses to run as {role}" in line and "a member of pg_signal_backend" in line
    finally:
        drop_role(role)


# --- SQLite ------------------------------------------------------------------------------


@pytest.fixture
def lite(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A SQLite proxystore with RUNS runs."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    database = open_database(url, create=True)
    seed_cells(database, RUNS, study="s")
    database.dispose()
    return url


SQLITE_ESCAPES = [
    ("COMMIT; DELETE FROM runs", "transaction control COMMIT"),
    ("DELETE FROM runs", "DELETE runs"),
    ("DROP TABLE runs", "CREATE or DROP"),
    ("ATTACH DATABASE '{outside}/attached.db' AS x", "ATTACH {outside}/attached.db"),
    ("VACUUM INTO '{outside}/copy.db'", "VACUUM"),
    ("PRAGMA user_version = 7", "PRAGMA user_version = 7"),
    ("PRAGMA query_only = OFF", "PRAGMA query_only = OFF"),
    ("PRAGMA journal_mode = DELETE", "PRAGMA journal_mode = DELETE"),
    ("SELECT load_extension('{outside}/x.so')", "function load_extension()"),
    ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
    ("SELECT writefile('{outside}/w.txt', 'x')", "writefile"),
    ("CREATE TEMP TABLE t (x)", "CREATE or DROP"),
]


@pytest.mark.parametrize(("escape", "said"), SQLITE_ESCAPES)
def test_sql_escapes_are_refused_on_sqlite(lite, escape, said, outside):
    path = Path(make_url(lite).database or "")
    line = _refused(lite, escape.format(outside=outside))
    assert said.format(outside=outside) in line, line
    assert os.listdir(outside) == []
    assert _runs(lite) == RUNS
    frame = read_only_query(lite, "PRAGMA user_version")
    assert frame.iloc[0, 0] == 0
    assert read_only_query(lite, "PRAGMA journal_mode").iloc[0, 0] == "wal"
    assert run_main("db", "check", "--db", str(path)).returncode == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_more_than_one_statement_is_one_line(backend, lite, request):
    url = lite if backend == "sqlite" else request.getfixturevalue("pg")["reader"]
    assert _refused(url, "SELECT 1; SELECT 2") == f"proxystore: error: {ONE_STATEMENT}"
    for fine in ("SELECT 1 AS one;", "SELECT 1 AS one; -- and a comment", "SELECT '%s;' AS one"):
        assert len(read_only_query(url, fine)) == 1, fine


def test_every_view_selects_through_the_sqlite_authorizer(tmp_path):
    url = f"sqlite:///{tmp_path / 'v.db'}"
    database = open_database(url, create=True)
    fill(database, tmp_path, study="s", n_candidates=12)
    views = sorted(expected()[1])
    assert len(views) >= 8
    for name in views:
        guarded = read_only_query(url, f"SELECT * FROM {name}")
        plain = query(database, f"SELECT * FROM {name}")
        assert len(guarded) > 0, name
        for column in set(guarded.columns) - TEXT_COLUMNS:
            guarded[column] = pd.to_numeric(guarded[column])
        pd.testing.assert_frame_equal(guarded, plain, check_dtype=False)
    database.dispose()


def test_reads_that_analysis_needs_pass_the_authorizer(lite):
    for statement in (
        "SELECT json_extract(genome, '$.depths') AS d, genome ->> '$.x' AS x FROM architectures",
        "SELECT * FROM json_each('[1, 2]')",
        "SELECT name FROM pragma_table_info('runs')",
        "PRAGMA table_info(runs)",
        "SELECT coalesce(NULL, 1) AS a, ifnull(NULL, 2) AS b, nullif(1, 1) AS c, "
        "abs(-1) AS d, round(2.5) AS e, sqrt(4) AS f, power(2, 3) AS g, lower('A') AS h, "
        "date('2024-01-01') AS i, strftime('%Y', 'now') AS j, group_concat('x') AS k",
        "SELECT status, count(*) AS n, rank() OVER (ORDER BY count(*)) AS r FROM runs "
        "GROUP BY status",
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 3) "
        "SELECT count(*) AS n FROM r",
    ):
        assert len(read_only_query(lite, statement)) >= 1, statement
