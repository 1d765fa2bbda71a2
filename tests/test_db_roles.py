"""`proxystore db grant-reader`: a login role that can only read proxystore, made idempotently."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import make_url

from proxystore.db import open_database
from proxystore.db.roles import GRANT_LOCK_KEY
from tests.conftest import PG_URL, drop_role, require_pg
from tests.helpers import REPO
from tests.inprocess import run_main
from tests.studies import FULL_AND_HALF, GENOME_A, tiny_spec, write


@pytest.fixture
def role() -> Iterator[str]:
    """A role name no other test uses, dropped afterwards if the test created it."""
    require_pg()
    name = f"reader_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(PG_URL) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    if exists:
        drop_role(name)


@pytest.fixture
def pg_url(pg_schema_url) -> str:  # type: ignore[no-untyped-def]
    """A PostgreSQL proxystore at head (superuser URL)."""
    assert run_main("db", "upgrade", "--db", pg_schema_url).returncode == 0
    return pg_schema_url


def _privileges(url: str, role: str) -> dict[str, object]:
    """What `role` may do: its attributes and, per object of the schema, its privileges."""
    database = open_database(url, pool=False)
    with database.engine.connect() as conn:
        attributes = conn.exec_driver_sql(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            f"rolbypassrls FROM pg_roles WHERE rolname = '{role}'").one()
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        schema_rights = conn.exec_driver_sql(
            f"SELECT has_schema_privilege('{role}', '{schema}', 'USAGE'), "
            f"has_schema_privilege('{role}', '{schema}', 'CREATE')").one()
        tables = conn.exec_driver_sql(
            "SELECT c.relname, "
            + ", ".join(f"has_table_privilege('{role}', c.oid, '{p}')"
                        for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE",
                                  "REFERENCES", "TRIGGER"))
            + " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'v') ORDER BY 1").all()
    database.dispose()
    return {"attributes": tuple(attributes), "schema": tuple(schema_rights),
            "tables": {row[0]: tuple(row[1:]) for row in tables}}


def test_grant_reader_makes_a_login_role_that_can_only_select(pg_url, role):
    result = run_main("db", "grant-reader", role, "--db", pg_url)
    assert result.returncode == 0, result
    assert result.stdout.startswith(f"created role {role}: may only SELECT the ")
    granted = _privileges(pg_url, role)
    assert granted["attributes"] == (True, False, False, False, False, False)
    assert granted["schema"] == (True, False)  # USAGE, no CREATE
    tables = granted["tables"]
    assert {"runs", "studies", "alembic_version", "proxy_quality", "apr_correlations"} <= set(
        tables)
    only_select = (True, False, False, False, False, False, False)
    assert {name: rights for name, rights in tables.items() if rights != only_select} == {}

    reader = make_url(pg_url).set(username=role).render_as_string(False)
    rows = run_main("sql", "SELECT count(*) AS n FROM apr_correlations", "--format", "csv",
                    "--db", reader)
    assert rows.returncode == 0 and rows.stdout.split() == ["n", "0"], rows


def test_grant_reader_again_changes_nothing_and_takes_back_other_rights(pg_url, role):
    assert run_main("db", "grant-reader", role, "--db", pg_url).returncode == 0
    first = _privileges(pg_url, role)
    database = open_database(pg_url, pool=False)
    with database.engine.begin() as conn:  # someone granted it more in between
        conn.exec_driver_sql(f'GRANT INSERT, DELETE ON runs TO "{role}"')
        conn.exec_driver_sql(f'ALTER ROLE "{role}" CREATEDB')
    database.dispose()
    again = run_main("db", "grant-reader", role, "--db", pg_url)
    assert again.returncode == 0 and again.stdout.startswith(f"updated role {role}:"), again
    assert _privileges(pg_url, role) == first


def test_views_added_later_are_readable(pg_url, role):
    assert run_main("db", "grant-reader", role, "--db", pg_url).returncode == 0
    database = open_database(pg_url, pool=False)
    with database.engine.begin() as conn:  # what a later migration does, as the owner
        conn.exec_driver_sql("CREATE VIEW later_view AS SELECT count(*) AS n FROM runs")
    database.dispose()
    reader = make_url(pg_url).set(username=role).render_as_string(False)
    rows = run_main("sql", "SELECT n FROM later_view", "--format", "csv", "--db", reader)
    assert rows.returncode == 0 and rows.stdout.split() == ["n", "0"], rows


def test_grant_reader_sets_a_password(pg_url, role):
    assert run_main("db", "grant-reader", role, "--password", "s3cr'et%", "--db",
                    pg_url).returncode == 0
    database = open_database(pg_url, pool=False)
    with database.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'").scalar_one()
    database.dispose()
    assert stored is not None and stored.startswith(("SCRAM-SHA-256$", "md5"))


def test_grant_reader_refuses_a_role_that_is_not_a_reader(pg_url, role):
    database = open_database(pg_url, pool=False)
    with database.engine.begin() as conn:
        user = conn.exec_driver_sql("SELECT current_user").scalar_one()
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql('CREATE TABLE owned_by_role (x integer)')
        conn.exec_driver_sql(f'ALTER TABLE owned_by_role OWNER TO "{role}"')
    database.dispose()
    for name, why in ((user, "is the role this command connects as"),
                      (role, "owns tables, schemas or databases")):
        result = run_main("db", "grant-reader", name, "--db", pg_url)
        assert result.returncode == 2
        assert result.error_lines() == [
            f"proxystore: error: role {name} {why}" + result.error_lines()[0].split(why, 1)[1]]
    attributes = _privileges(pg_url, user)["attributes"]
    assert attributes[1] is True  # still a superuser


def test_grant_reader_on_sqlite_is_one_line(tmp_path):
    path = tmp_path / "p.db"
    result = run_main("db", "grant-reader", "reader", "--db", str(path))
    assert result.returncode == 2
    assert result.error_lines() == [
        "proxystore: error: roles are a PostgreSQL feature: on SQLite, `proxystore sql` is "
        "read-only already and file permissions decide who may read"]
    assert not path.exists()


def _worker_grants() -> list[str]:
    """The SQL statements docs/security.md gives for a worker role."""
    text = (REPO / "docs" / "security.md").read_text()
    block = text.split("<!-- worker-grants", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    return [s.strip() for s in block.split(";") if s.strip()]


def test_the_documented_worker_grants_are_enough_to_fill(pg_url, role, tmp_path):
    url = make_url(pg_url)
    schema = url.query["options"].split("search_path=", 1)[1]
    database = open_database(pg_url, pool=False)
    with database.engine.begin() as conn:
        # the turn grant_reader takes: GRANT CONNECT updates the database's ACL row, which
        # other tests' grants change at the same moment ("tuple concurrently updated")
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({GRANT_LOCK_KEY})")
        for statement in _worker_grants():
            conn.exec_driver_sql(statement.replace("WORKER", f'"{role}"')
                                 .replace("DBNAME", f'"{url.database}"')
                                 .replace("SCHEMA SCHEMA", f'SCHEMA "{schema}"')
                                 .replace("TO SCHEMA", f'TO "{schema}"'))
    database.dispose()
    worker = url.set(username=role, password="secret").difference_update_query(["options"])
    worker_url = worker.render_as_string(False)
    spec = write(tmp_path, "w", tiny_spec("w", FULL_AND_HALF, archs={"a": GENOME_A}, epochs=1))
    result = run_main("fill", str(spec), "--db", worker_url, "--device", "cpu", "--quiet",
                      "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}")
    assert result.returncode == 0, result
    assert _privileges(pg_url, role)["attributes"][1] is False  # not a superuser
    rows = run_main("sql", "SELECT status, count(*) AS n FROM runs GROUP BY status", "--format",
                    "csv", "--db", worker_url)
    assert rows.stdout.split() == ["status,n", "done,2"], rows
    upgrade = run_main("db", "downgrade", "base", "--db", worker_url)  # no schema changes
    assert upgrade.returncode == 2 and "must be owner" in upgrade.stderr, upgrade


def test_a_reader_that_tries_to_write_gets_one_line(pg_url, role, tmp_path):
    assert run_main("db", "grant-reader", role, "--db", pg_url).returncode == 0
    reader = make_url(pg_url).set(username=role).render_as_string(False)
    spec = write(tmp_path, "r", tiny_spec("r", FULL_AND_HALF, archs={"a": GENOME_A}))
    for command, table in ((("retry",), "runs"),
                           (("fill", str(spec), "--max-cells", "0"), "datasets")):
        result = run_main(*command, "--db", reader)
        assert result.returncode == 2, result
        assert len(result.error_lines()) == 1, result.stderr
        assert f"permission denied for table {table} (this role may not do that" in result.stderr
    rows = run_main("sql", "SELECT count(*) AS n FROM datasets", "--format", "csv", "--db", reader)
    assert rows.stdout.split() == ["n", "0"]


def test_grants_at_the_same_moment_take_turns_instead_of_failing(pg_url):
    """Two grant-reader calls at once touch the same catalog rows (the database's ACL); without
    the advisory lock PostgreSQL refused one with "tuple concurrently updated" (seen in CI)."""
    import threading

    from proxystore.db.roles import grant_reader

    roles = [f"reader_{uuid.uuid4().hex[:12]}" for _ in range(6)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(roles))

    def grant(role: str) -> None:
        database = open_database(pg_url, pool=False)
        try:
            barrier.wait(timeout=30)
            grant_reader(database, role)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            database.dispose()

    threads = [threading.Thread(target=grant, args=(role,)) for role in roles]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        for role in roles:
            rights = _privileges(make_url(pg_url).set(username=role).render_as_string(False),
                                 role)
            assert rights["schema"] == (True, False), (role, rights)
    finally:
        for role in roles:
            drop_role(role)
