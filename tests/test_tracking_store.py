"""The MLflow store: created once however many workers start together, repaired when half-made.

Real MLflow SQLite stores (`mlflow.db`) and the real command line, with the fast fake trainer
(tests/fake_trainer.py) so that workers finish their first cells at the same moment, which is
when they all reached for a fresh store and wedged it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from proxystore.db import open_database
from proxystore.db.models import SqlRun
from tests.helpers import REPO, run_cli
from tests.studies import FULL_AND_HALF, tiny_spec, write


def _fake_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PROXYSTORE_FAKE_SECONDS="0.05",
               PROXYSTORE_CACHE=str(tmp_path / "cache"))
    env.pop("PROXYSTORE_DB", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _fake_cli(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`python -m tests.run_fill ARGS`: the real command line with fake-trainer workers."""
    return subprocess.Popen([sys.executable, "-m", "tests.run_fill", *args], cwd=REPO,
                            env=_fake_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}


def _logged_cells(uri: str, study: str) -> list[str]:
    """The `proxystore.cell` tag of every active MLflow run of the study's experiment."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(study)
    assert experiment is not None, f"no experiment {study}"
    return sorted(r.data.tags.get("proxystore.cell", "?")
                  for r in client.search_runs([experiment.experiment_id], max_results=1000))


def _assert_store_sound(store: Path, db_path: Path, study: str, cells: int) -> None:
    tables = _tables(store)
    assert not [t for t in tables if t.startswith("_alembic_tmp_")], tables
    logged = _logged_cells(f"sqlite:///{store}", study)
    assert len(logged) == cells and len(set(logged)) == cells, logged
    db = open_database(str(db_path))
    with db.session() as session:
        runs = session.scalars(select(SqlRun)).all()
        assert runs and all(r.status == "done" and r.mlflow_logged and r.mlflow_run_id
                            for r in runs)
    db.dispose()


@pytest.mark.slow
def test_a_pool_of_three_on_a_fresh_directory_logs_every_run(tmp_path):
    """`fill --workers 3` in a fresh directory left 0 of 4 runs in MLflow and a wedged mlflow.db
    (`_alembic_tmp_*` tables) on which `mlflow sync` raised a traceback every time."""
    spec = write(tmp_path, "race", tiny_spec("race", FULL_AND_HALF))
    db_path = tmp_path / "proxystore.db"
    proc = _fake_cli(tmp_path, "fill", str(spec), "--db", str(db_path), "--device", "cpu",
                     "--workers", "3", "--quiet")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "MLflow logging" not in err, err[-3000:]
    _assert_store_sound(tmp_path / "mlflow.db", db_path, "race", 4)
    synced = run_cli("mlflow", "sync", "--db", str(db_path), cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr[-3000:]
    assert synced.stdout.strip().splitlines()[-1].startswith("logged 0 runs"), synced.stdout


@pytest.mark.slow
def test_three_workers_started_at_once_on_a_fresh_store_log_every_run(tmp_path):
    """Three `proxystore worker`s (no pool parent to prepare the store) started together."""
    spec = write(tmp_path, "three", tiny_spec("three", FULL_AND_HALF, seeds="[0, 1, 2]"))
    db_path = tmp_path / "proxystore.db"
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere' / 'other.db'}"
    (tmp_path / "elsewhere").mkdir()
    registered = run_cli("fill", str(spec), "--db", str(db_path), "--max-cells", "0",
                         "--mlflow", elsewhere, cwd=tmp_path)
    assert registered.returncode == 0, registered.stderr[-3000:]
    store = tmp_path / "mlflow.db"
    assert not store.exists()
    procs = [_fake_cli(tmp_path, "worker", "--db", str(db_path), "--device", "cpu")
             for _ in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert "MLflow logging" not in err, err[-3000:]
    _assert_store_sound(store, db_path, "three", 12)


def _filled(tmp_path: Path) -> tuple[Path, Path]:
    """A study filled by fake workers, logged to mlflow.db beside its database."""
    spec = write(tmp_path, "wedge", tiny_spec("wedge", FULL_AND_HALF))
    db_path = tmp_path / "proxystore.db"
    proc = _fake_cli(tmp_path, "fill", str(spec), "--db", str(db_path), "--device", "cpu",
                     "--quiet")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return db_path, tmp_path / "mlflow.db"


def _run_ids(store: Path) -> set[str]:
    with sqlite3.connect(store) as conn:
        return {run for (run,) in conn.execute(
            "SELECT run_uuid FROM runs WHERE lifecycle_stage = 'active'")}


@pytest.mark.slow
def test_sync_finishes_a_table_rebuild_cut_short_and_keeps_every_run(tmp_path):
    """A migration killed between dropping a table and renaming its copy: the copy
    (`_alembic_tmp_tags`) holds the rows; it takes the table's name again, nothing relogged."""
    db_path, store = _filled(tmp_path)
    before = _run_ids(store)
    with sqlite3.connect(store) as conn:
        conn.execute("ALTER TABLE tags RENAME TO _alembic_tmp_tags")
    broken = run_cli("mlflow", "sync", "--db", str(db_path), cwd=tmp_path)
    assert broken.returncode == 0, broken.stderr[-3000:]
    assert "finished the MLflow store's interrupted migration (_alembic_tmp_tags)" in \
        broken.stdout
    assert "logged 0 runs" in broken.stdout
    assert _run_ids(store) == before and len(before) == 4
    _assert_store_sound(store, db_path, "wedge", 4)
    assert not list(tmp_path.glob("mlflow.db.*.bak"))


@pytest.mark.slow
def test_sync_rebuilds_a_store_it_cannot_finish_and_logs_every_run_again(tmp_path):
    """Leftover `_alembic_tmp_*` tables and a version stamp behind the schema (what three
    workers racing on a fresh store left): MLflow refused every call until the file was
    deleted. Sync keeps the file aside and logs every run again from the database."""
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config, _get_latest_schema_revision

    db_path, store = _filled(tmp_path)
    head = _get_latest_schema_revision()
    script = ScriptDirectory.from_config(_get_alembic_config(f"sqlite:///{store}"))
    behind = script.get_revision(head).down_revision
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE _alembic_tmp_runs AS SELECT * FROM runs WHERE 0")
        conn.execute("UPDATE alembic_version SET version_num = ?", (behind,))
    repaired = run_cli("mlflow", "sync", "--db", str(db_path), cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    lines = repaired.stdout.strip().splitlines()
    assert len(lines) == 2, repaired.stdout
    if lines[0].startswith("finished"):  # MLflow's last migration ran again cleanly
        assert lines[1] == "logged 0 runs to MLflow"
    else:
        (kept,) = tmp_path.glob("mlflow.db.*.bak")
        assert f"it is kept as {kept}" in lines[0] and "half-migrated" in lines[0]
        assert lines[1] == "logged 4 runs to MLflow"
        assert len(_run_ids(kept)) == 4  # the old runs are kept, not lost
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
    _assert_store_sound(store, db_path, "wedge", 4)
    again = run_cli("mlflow", "sync", "--db", str(db_path), cwd=tmp_path)
    assert again.stdout.strip().splitlines() == ["logged 0 runs to MLflow"], again.stdout


def test_sync_waits_for_the_stores_lock_so_two_never_log_a_cell_twice(sqlite_db, tmp_path):
    """Two `mlflow sync`s on one store each found every cell missing and both logged it (3 of
    12 cells twice, seen by hand). Logging now holds the store's lock, as creating it does."""
    import fcntl
    import threading

    from proxystore.runner.execution import ExecutionOptions
    from proxystore.runner.fill import fill

    cpu = ExecutionOptions(device="cpu")
    from proxystore.study.spec import parse_spec
    from proxystore.tracking import ensure_store, sync
    from proxystore.tracking.store import lock_file

    fill(parse_spec(tiny_spec("twice", FULL_AND_HALF)), sqlite_db, cpu, quiet=True)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_store(uri)
    done = []
    worker = threading.Thread(target=lambda: done.append(sync(sqlite_db, uri)))
    with open(lock_file(uri), "a") as held:  # another process logging to the store
        fcntl.flock(held, fcntl.LOCK_EX)
        worker.start()
        worker.join(timeout=5)
        assert worker.is_alive() and not done  # waiting, nothing logged meanwhile
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(timeout=120)
    assert [c.created for c in done] == [4]
    assert sync(sqlite_db, uri).created == 0
