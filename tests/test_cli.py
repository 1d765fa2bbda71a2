"""The command line: help text everywhere, README coverage, one-line errors with exit code 2."""

from __future__ import annotations

import inspect
import re
import sqlite3

import pytest

from proxystore.cli import Proxystore
from proxystore.cli_commands import group_class, members
from proxystore.db import migrate, open_database
from tests.helpers import REPO, run_cli


def _commands() -> list[tuple[str, object]]:
    """Every (command path, function) the CLI exposes, groups included (found by introspection)."""
    found: list[tuple[str, object]] = []
    for name, member in members(Proxystore).items():
        if isinstance(member, property):
            found.append((name, member))
            for sub, fn in members(group_class(Proxystore, name)).items():
                found.append((f"{name} {sub}", fn))
        else:
            found.append((name, member))
    return found


def test_every_command_has_help_text():
    commands = _commands()
    assert len(commands) >= 8
    for path, fn in commands:
        doc = inspect.getdoc(fn.fget if isinstance(fn, property) else fn) or ""
        assert doc.strip(), f"`proxystore {path}` has no docstring (its --help shows it)"
        if isinstance(fn, property) or inspect.isclass(fn):
            continue
        params = [p for p in inspect.signature(fn).parameters if p != "self"]
        if params:
            assert "Args:" in doc, f"`proxystore {path}` documents no Args"
        for param in params:
            assert re.search(rf"^\s+{param}( \(.*\))?:", doc, re.M), (
                f"`proxystore {path}` does not document --{param}"
            )
        assert re.search(r"^Examples?:\n\s+proxystore ", doc, re.M), (
            f"`proxystore {path}` has no Example: section (its --help prints it)")


def test_every_command_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for path, _ in _commands():
        name = path.replace("_", "-")
        assert f"proxystore {name}" in readme, f"`proxystore {name}` is missing from README.md"


def test_help_runs_for_a_group():
    result = run_cli("db", "--help")
    assert result.returncode == 0
    shown = result.stdout + result.stderr
    assert "upgrade" in shown and "Create, upgrade" in shown


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@127.0.0.1/test", "unknown database URL scheme 'mysql'"),
        ("/no/such/directory/x.db", "directory /no/such/directory does not exist"),
        ("postgresql://postgres@127.0.0.1:1/test", "refused the connection"),
        ("postgresql://no_such_role@127.0.0.1:5432/test", 'role "no_such_role" does not exist'),
    ],
)
def test_bad_database_gives_one_line_and_exit_2(url, expected, tmp_path):
    if "5432" in url:
        from tests.conftest import require_pg

        require_pg()
    result = run_cli("status", "--db", url, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    debug = run_cli("status", "--db", url, "--debug", cwd=tmp_path)
    assert "Traceback" in debug.stderr


@pytest.mark.parametrize("command", [("status",), ("db", "current"), ("db", "upgrade"),
                                     ("sql", "SELECT * FROM runs")])
def test_a_file_that_is_not_a_database_gives_one_line_and_exit_2(command, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("these are my notes, not a database\n" * 100)
    result = run_cli(*command, "--db", str(notes), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "notes.txt" in lines[0] and "not a SQLite database" in lines[0], (
        result.stderr)
    assert notes.read_text() == "these are my notes, not a database\n" * 100


def test_default_database_is_proxystore_db_in_working_directory(tmp_path):
    result = run_cli("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "proxystore.db").exists()
    env_db = tmp_path / "other.db"
    result = run_cli("db", "upgrade", cwd=tmp_path, env={"PROXYSTORE_DB": f"sqlite:///{env_db}"})
    assert result.returncode == 0 and env_db.exists()


def test_new_sqlite_file_is_upgraded_on_first_use(tmp_path):
    path = tmp_path / "fresh.db"
    database = open_database(str(path), create=True)
    assert migrate.state(database).at_head


def test_database_behind_head_is_refused(tmp_path, db_url):
    database = open_database(db_url)
    migrate.downgrade(database, "base")
    with database.engine.begin() as conn:  # something else lives here: not "brand new"
        conn.exec_driver_sql("CREATE TABLE keepme (x integer)")
    result = run_cli("status", "--db", db_url, cwd=tmp_path)
    assert result.returncode == 2
    assert "proxystore db upgrade" in result.stderr or "no proxystore schema" in result.stderr


def test_postgresql_is_never_migrated_implicitly(pg_schema_url, tmp_path):
    result = run_cli("status", "--db", pg_schema_url, cwd=tmp_path)
    assert result.returncode == 2
    assert "run `proxystore db upgrade" in result.stderr
    database = open_database(pg_schema_url, check=False)
    assert migrate.state(database).current is None


def test_database_from_a_newer_proxystore_is_refused(db_url, tmp_path):
    database = open_database(db_url)
    with database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    result = run_cli("status", "--db", db_url, cwd=tmp_path)
    assert result.returncode == 2
    assert "newer than this proxystore" in result.stderr
    assert run_cli("db", "check", "--db", db_url, cwd=tmp_path).returncode == 1


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_unknown_revision_is_one_line_and_changes_nothing(command, sqlite_db, tmp_path):
    result = run_cli("db", command, "0003_nosuch", "--db", sqlite_db.url, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'0003_nosuch'" in lines[0], result.stderr
    assert migrate.state(sqlite_db).at_head


def test_db_check_exit_codes(db_url, tmp_path):
    assert run_cli("db", "check", "--db", db_url, cwd=tmp_path).returncode == 0
    migrate.downgrade(open_database(db_url, check=False), "base")
    result = run_cli("db", "check", "--db", db_url, cwd=tmp_path)
    assert result.returncode == 1 and "behind head" in result.stdout


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO studies (name, spec_text, spec_fingerprint) VALUES ('x', '', '')",
        "UPDATE studies SET name = 'y'",
        "DELETE FROM studies",
        "CREATE TABLE sneaky (x integer)",
        "DROP TABLE studies",
    ],
)
def test_sql_command_cannot_write(db_url, reader_url, statement, tmp_path):
    database = open_database(db_url)
    with database.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO studies (name, spec_text, spec_fingerprint) VALUES ('keep', 't', 'f')"
        )
    result = run_cli("sql", statement, "--db", reader_url, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert "read-only" in result.stderr or "read only" in result.stderr
    check = run_cli("sql", "SELECT name FROM studies", "--format", "csv", "--db", reader_url,
                    cwd=tmp_path)
    assert check.returncode == 0
    assert check.stdout.split() == ["name", "keep"]
    tables = run_cli("sql", "SELECT count(*) AS n FROM runs", "--format", "json", "--db",
                     reader_url)
    assert '"n": 0' in tables.stdout


def test_sql_reads_sqlite_written_by_another_connection(tmp_path):
    path = tmp_path / "p.db"
    open_database(str(path), create=True)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO studies (name, spec_text, spec_fingerprint) VALUES ('a','','')")
    result = run_cli("sql", "SELECT name FROM studies", "--format", "csv", "--db", str(path))
    assert result.stdout.split() == ["name", "a"]


def test_bad_sql_is_one_line(sqlite_db, tmp_path):
    result = run_cli("sql", "SELECT * FROM no_such_table", "--db", sqlite_db.url)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("proxystore: error: query failed")
    assert len(result.stderr.strip().splitlines()) == 1
