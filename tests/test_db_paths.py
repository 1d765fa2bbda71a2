"""Database paths are never guessed: odd --db values, missing or new files, read-only folders."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from proxystore.db import open_database, sqlite_files
from tests.helpers import REPO
from tests.inprocess import run_main

SPEC = str(REPO / "jobs" / "demo.yaml")
CSV_TEXT = "candidate,task,seed,error\na,full,0,0.5\nb,full,0,0.25\n"

# Every command that takes --db, with the other arguments it needs to reach the database.
READ_COMMANDS = [
    ("plan", SPEC), ("status",), ("analyze", "s"), ("report", "s", "--out", "rep"),
    ("sql", "SELECT 1"), ("arch", "show", "1"), ("data", "list"), ("data", "show", "x"),
    ("data", "subset", "x", "full"), ("data", "cache", "x", "--image-size", "8"),
    ("worker", "--device", "cpu"), ("retry",), ("cancel", "--study", "s"), ("mlflow", "sync"),
    ("db", "current"), ("db", "check"), ("db", "downgrade", "base"),
]
CREATE_COMMANDS = [
    ("fill", SPEC, "--max-cells", "0", "--quiet"), ("db", "upgrade"),
    ("data", "add", "digits", "sklearn:digits"), ("import-results", "results.csv", "--study", "s"),
    ("arch", "sample", "--count", "1", "--save", "--out", "sampled.jsonl"),
]
ALL_COMMANDS = [*READ_COMMANDS, *CREATE_COMMANDS, ("db", "grant-reader", "r"), ("ui",),
                ("launch", "slurm", SPEC, "--cluster", "local")]


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    """An empty working directory with a results CSV, as the current directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROXYSTORE_DB", raising=False)
    (tmp_path / "results.csv").write_text(CSV_TEXT)
    return tmp_path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("::::", "'::::' is neither a database URL nor a plain file path"),
        ("file:foo.db?mode=ro", "'file:foo.db?mode=ro' is neither a database URL"),
        ("/dev/null", "cannot open SQLite database /dev/null: it is not a regular file"),
        ("sqlite:///:memory:", "sqlite:///:memory: is an in-memory SQLite database"),
        ("sqlite://", "sqlite:// is an in-memory SQLite database"),
        ("sqlite:///x.db?mode=ro", "takes no 'file:' URI or '?option'"),
        ("sqlite:///file:x.db?mode=ro&uri=true", "takes no 'file:' URI or '?option'"),
        ("sqlite:///we?ird.db", "takes no 'file:' URI or '?option'"),  # SQLAlchemy opened 'we'

        ("/tmp", "cannot open SQLite database /tmp: it is a directory"),
    ],
)
def test_an_odd_db_is_one_line_and_exit_2_for_every_command(value, expected, workdir):
    before = sorted(os.listdir(workdir))
    for command in ALL_COMMANDS:
        result = run_main(*command, "--db", value)
        assert result.returncode == 2, (command, result)
        assert len(result.error_lines()) == 1, (command, result.stderr)
        assert expected in result.stderr, (command, result.stderr)
    assert sorted(os.listdir(workdir)) == before  # nothing created: no '::::', no 'file:foo.db'


def test_a_bare_path_keeps_its_question_marks_and_hashes(workdir):
    name = "we?ird #1%.db"
    created = run_main("db", "upgrade", "--db", name)
    assert created.returncode == 0, created
    assert created.stderr == f"created new database {workdir / name}\n"
    assert sorted(p for p in os.listdir(workdir) if not p.endswith(("-wal", "-shm"))) == [
        "results.csv", name]
    assert run_main("db", "check", "--db", name).returncode == 0
    rows = run_main("sql", "SELECT count(*) AS n FROM runs", "--format", "csv", "--db", name)
    assert rows.returncode == 0 and rows.stdout.split() == ["n", "0"], rows


def test_an_empty_db_value_is_refused(workdir):
    result = run_main("status", "--db", "")
    assert result.returncode == 2 and "--db needs a value" in result.stderr
    assert not (workdir / "proxystore.db").exists()


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_commands_that_only_read_refuse_a_missing_sqlite_file(command, workdir):
    missing = workdir / "typo.db"
    result = run_main(*command, "--db", str(missing))
    assert result.returncode == 2, result
    assert result.error_lines() == [
        f"proxystore: error: no database at {missing} (check --db; `proxystore db upgrade --db "
        f"{missing}` creates one)"]
    assert not missing.exists()
    default = run_main(*command)  # the default ./proxystore.db is not created either
    assert default.returncode == 2 and f"no database at {workdir / 'proxystore.db'}" in (
        default.stderr)
    assert not (workdir / "proxystore.db").exists()


def test_an_empty_file_is_not_a_database_for_a_read_command(workdir):
    (workdir / "empty.db").touch()
    result = run_main("status", "--db", "empty.db")
    assert result.returncode == 2
    assert f"empty file, no database, at {workdir / 'empty.db'}" in result.stderr
    assert (workdir / "empty.db").stat().st_size == 0


@pytest.mark.parametrize("command", CREATE_COMMANDS, ids=" ".join)
def test_commands_that_may_create_say_so_once(command, workdir):
    path = workdir / "new.db"
    first = run_main(*command, "--db", str(path))
    assert first.returncode == 0, first
    assert f"created new database {path}\n" in first.stderr
    assert run_main("db", "check", "--db", str(path)).returncode == 0
    again = run_main(*command, "--db", str(path))
    assert again.returncode == 0, again
    assert "created new database" not in again.stderr


@pytest.mark.parametrize("command", [
    ("data", "add", "x", "npz:missing.npz"),
    ("import-results", "missing.csv", "--study", "s"),
    ("fill", "missing.yaml"),
], ids=" ".join)
def test_a_creating_command_that_fails_leaves_no_database(command, workdir):
    path = workdir / "new.db"
    result = run_main(*command, "--db", str(path))
    assert result.returncode == 2, result
    assert len(result.error_lines()) == 1 and "created new database" not in result.stderr
    assert not [p.name for p in workdir.iterdir() if p.name.startswith("new.db")]


def test_db_downgrade_to_a_number_is_one_line(workdir):
    assert run_main("db", "upgrade", "--db", "p.db").returncode == 0
    result = run_main("db", "downgrade", "9999", "--db", "p.db")  # fire passes an int
    assert result.returncode == 2
    assert len(result.error_lines()) == 1 and "'9999'" in result.stderr, result.stderr
    assert run_main("db", "check", "--db", "p.db").returncode == 0


def test_import_results_refuses_a_nul_byte_naming_file_line_and_column(db_url, workdir):
    path = workdir / "nul.csv"
    path.write_text("candidate,task,seed,error\na,full,0,0.5\nb\x00x,full,0,0.25\n")
    result = run_main("import-results", str(path), "--study", "s", "--db", db_url)
    assert result.returncode == 2, result
    assert result.error_lines() == [
        f"proxystore: error: {path}: line 3, column 'candidate': the value holds a NUL byte "
        "(\\x00)"]
    database = open_database(db_url, pool=False)
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM runs").scalar_one() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM studies").scalar_one() == 0
    database.dispose()


def test_read_only_uri_is_immutable_only_without_a_wal_in_an_unwritable_folder(tmp_path,
                                                                            monkeypatch):
    path = tmp_path / "p.db"
    path.touch()
    assert sqlite_files.read_only_uri(path) == f"file:{path}?mode=ro"
    monkeypatch.setattr(sqlite_files.os, "access", lambda p, mode: Path(p) != tmp_path)
    assert sqlite_files.read_only_uri(path) == f"file:{path}?mode=ro&immutable=1"
    path.with_name("p.db-wal").touch()  # a writer has it open: immutable would miss its rows
    assert sqlite_files.read_only_uri(path) == f"file:{path}?mode=ro"
    odd = tmp_path / "a?b#c%d.db"
    assert sqlite_files.read_only_uri(odd).startswith(f"file:{tmp_path}/a%3Fb%23c%25d.db?mode=ro")


def _unprivileged(*command: str) -> list[str]:
    """`command` without the capabilities that let root ignore file permissions."""
    if os.geteuid() != 0:
        return list(command)
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", caps, "--inh-caps", caps, *command]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PROXYSTORE_DB", None)
    return subprocess.run(_unprivileged(sys.executable, "-m", "proxystore", *args), env=env,
                          text=True, capture_output=True, timeout=300)


def test_a_database_in_a_read_only_folder_can_be_read(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "p.db"
    database = open_database(str(path), create=True)
    with database.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO studies (name, spec_text, spec_fingerprint) "
                             "VALUES ('kept', '', '')")
    database.dispose()
    writer = sqlite3.connect(path)  # a writer with the file open: its rows wait in -wal
    try:
        path.chmod(0o444)
        folder.chmod(0o555)
        probe = subprocess.run(_unprivileged("touch", str(folder / "probe")),
                               capture_output=True, text=True)
        if probe.returncode == 0:
            pytest.fail("the chmod'ed folder stayed writable (root without dropped "
                        "capabilities?): this test could not make a read-only folder")
        before = sorted(os.listdir(folder))
        assert before == ["p.db"]
        status = _cli("status", "--db", str(path))
        assert status.returncode == 0, status.stderr
        assert "(all runs)" in status.stdout
        rows = _cli("sql", "SELECT name FROM studies", "--format", "csv", "--db", str(path))
        assert rows.returncode == 0, rows.stderr
        assert rows.stdout.split() == ["name", "kept"]
        fill = _cli("fill", SPEC, "--db", str(path), "--max-cells", "0", "--quiet")
        assert fill.returncode == 2
        assert len(fill.stderr.strip().splitlines()) == 1 and "read" in fill.stderr, fill.stderr
        assert sorted(os.listdir(folder)) == before

        folder.chmod(0o755)  # now a writer keeps committed rows in its -wal file
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("INSERT INTO studies (name, spec_text, spec_fingerprint) "
                       "VALUES ('in-wal', '', '')")
        writer.commit()
        folder.chmod(0o555)
        assert (folder / "p.db-wal").exists()
        rows = _cli("sql", "SELECT name FROM studies ORDER BY name", "--format", "csv",
                    "--db", str(path))
        assert rows.returncode == 0, rows.stderr
        assert rows.stdout.split() == ["name", "in-wal", "kept"]
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
        writer.close()
