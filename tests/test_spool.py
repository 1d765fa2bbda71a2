"""A finished result outlives a database outage: kept in the spool, written when it returns.

Real PostgreSQL behind tests/forwarder.py, which the fake trainer (tests/fake_trainer.py) cuts at
the worst moment: training is over and the result is about to be written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proxystore.db import Database, migrate, open_database
from proxystore.db.models import SqlRun, SqlRunEpoch
from proxystore.errors import ProxystoreError
from proxystore.runner import claims, spool
from proxystore.runner.worker import WorkerConfig, run_worker, worker_id
from tests import fake_trainer
from tests.cells import seed_cells
from tests.forwarder import Forwarder
from tests.helpers import REPO


@pytest.fixture
def outage(pg_schema_url: str) -> Iterator[tuple[Database, Forwarder, str]]:
    """The test's database (direct), a forwarder to its server, and the URL through it."""
    from proxystore.db.engine import parse_url

    direct = open_database(pg_schema_url, check=False)
    migrate.upgrade(direct)
    parsed = parse_url(pg_schema_url)
    proxy = Forwarder((parsed.host or "127.0.0.1", parsed.port or 5432))
    url = pg_schema_url.replace(f"{parsed.host}:{parsed.port or 5432}",
                                f"127.0.0.1:{proxy.port}", 1)
    assert url != pg_schema_url
    yield direct, proxy, url
    fake_trainer.after_training = None
    proxy.close()
    direct.dispose()


def _config(url: str, tmp_path: Path, **overrides: object) -> WorkerConfig:
    config = WorkerConfig(db_url=url, worker=worker_id("spool"), device="cpu", lease_seconds=30,
                          trainer="tests.fake_trainer:train", idle_wait_seconds=0.2,
                          cache_dir=str(tmp_path / "cache"))
    return replace(config, **overrides)  # type: ignore[arg-type]


def _trainings(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _state(db: Database) -> tuple[list[tuple[int, str, int]], int]:
    """(run id, status, epochs) of every run, and epochs of runs that are not done."""
    with db.session() as session:
        runs = session.execute(
            select(SqlRun.id, SqlRun.status, func.count(SqlRunEpoch.epoch))
            .outerjoin(SqlRunEpoch, SqlRunEpoch.run_id == SqlRun.id)
            .group_by(SqlRun.id, SqlRun.status).order_by(SqlRun.id)).all()
    orphans = sum(n for _, status, n in runs if status != "done")
    return [(int(a), str(b), int(c)) for a, b, c in runs], orphans


def test_outage_at_completion_keeps_the_result_and_writes_it_when_the_database_returns(
        outage, tmp_path, monkeypatch):
    db, proxy, url = outage
    seed_cells(db, 1)
    log = tmp_path / "starts.log"
    monkeypatch.setenv("PROXYSTORE_FAKE_LOG", str(log))
    spool = tmp_path / "cache" / "spool"
    seen: dict[str, object] = {}

    def restore_once_kept() -> None:
        deadline = time.monotonic() + 120
        while not list(spool.glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        seen["kept"] = [json.loads(p.read_text()) for p in spool.glob("*.json")]
        seen["during"] = _state(db)
        proxy.restore()

    def cut(claim: object) -> None:
        proxy.cut()
        threading.Thread(target=restore_once_kept, daemon=True).start()

    fake_trainer.after_training = cut
    worker = open_database(url, pool=False)
    summary = run_worker(worker, _config(url, tmp_path))
    worker.dispose()
    (run_id,) = summary.done
    (kept,) = seen["kept"]  # type: ignore[misc]
    assert kept["claim"]["run_id"] == run_id and len(kept["epochs"]) == 1
    assert seen["during"] == ([(run_id, "running", 0)], 0)  # nothing half-written meanwhile
    assert _state(db) == ([(run_id, "done", 1)], 0)
    assert _trainings(log) == 1
    assert not list(spool.glob("*"))  # the spool file is gone once the result is written


def test_worker_out_of_patience_stops_with_one_line_and_the_next_worker_writes_the_result(
        outage, tmp_path, monkeypatch):
    db, proxy, url = outage
    seed_cells(db, 2)
    log = tmp_path / "starts.log"
    monkeypatch.setenv("PROXYSTORE_FAKE_LOG", str(log))
    fake_trainer.after_training = lambda claim: proxy.cut()
    worker = open_database(url, pool=False)
    with pytest.raises(ProxystoreError) as raised:
        run_worker(worker, _config(url, tmp_path, result_patience_seconds=1.5))
    worker.dispose()
    fake_trainer.after_training = None
    (path,) = (tmp_path / "cache" / "spool").glob("*.json")
    message = str(raised.value)
    run_id = _state(db)[0][0][0]
    assert "\n" not in message and message.startswith("the database is unreachable")
    assert f"the result of run {run_id} is kept in {path}" in message
    assert _state(db) == ([(run_id, "running", 0), (run_id + 1, "pending", 0)], 0)

    proxy.restore()  # the next worker on this machine (a process of its own) writes it first
    env = dict(os.environ, PYTHONPATH=str(REPO), PROXYSTORE_CACHE=str(tmp_path / "cache"))
    rescuer = subprocess.run([sys.executable, "-m", "tests.run_workers", url, "1", "30"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert rescuer.returncode == 0, rescuer.stderr[-3000:]
    assert f"wrote the kept result of run {run_id} from {path}" in rescuer.stderr
    assert "done=1" in rescuer.stdout  # it trained only the other cell
    assert _state(db) == ([(run_id, "done", 1), (run_id + 1, "done", 1)], 0)
    assert _trainings(log) == 2 and not path.exists()
    with db.session() as session:
        first = session.get(SqlRun, run_id)
        assert first is not None and first.device.endswith(":spool")  # the first worker's


def _finish_elsewhere(db: Database, tmp_path: Path) -> tuple[claims.Claim, Path]:
    """A result kept by worker A for attempt 1, whose lease then expired; B claimed attempt 2."""
    first = claims.claim_next(db, "A", lease_seconds=0.05)
    assert first is not None
    outcome = fake_trainer.train(db, first, WorkerConfig(db_url=db.url, worker="A"))
    path = spool.keep(db.url, first, outcome, str(tmp_path / "cache"))
    time.sleep(0.1)
    claims.reap_expired(db)
    second = claims.claim_next(db, "B", lease_seconds=60)
    assert second is not None and second.run_id == first.run_id and second.attempt == 2
    return second, path


def test_kept_result_beats_a_retraining_in_progress(db, tmp_path):
    seed_cells(db, 1)
    second, path = _finish_elsewhere(db, tmp_path)
    other = spool.keep(db.url + "x", second, fake_trainer.train(
        db, second, WorkerConfig(db_url=db.url, worker="C")), str(tmp_path / "cache"))
    summary = run_worker(db, _config(db.url, tmp_path))
    assert summary.flushed == [second.run_id] and not summary.done and not path.exists()
    assert other.exists()  # another database's kept result is not this worker's business
    b_result = fake_trainer.train(db, second, WorkerConfig(db_url=db.url, worker="B"))
    assert claims.complete(db, second, b_result) is False  # B finds the cell no longer held
    assert _state(db) == ([(second.run_id, "done", 1)], 0)
    with db.session() as session:
        run = session.get(SqlRun, second.run_id)
        assert run is not None and (run.device, run.worker, run.status) == ("A", "A", "done")


def test_kept_result_of_a_run_finished_since_is_dropped(db, tmp_path):
    seed_cells(db, 1)
    second, path = _finish_elsewhere(db, tmp_path)
    assert claims.complete(db, second, fake_trainer.train(
        db, second, WorkerConfig(db_url=db.url, worker="B")))
    summary = run_worker(db, _config(db.url, tmp_path))
    assert summary.flushed == [] and not path.exists()
    assert _state(db) == ([(second.run_id, "done", 1)], 0)
    with db.session() as session:
        run = session.get(SqlRun, second.run_id)
        assert run is not None and (run.device, run.worker, run.attempts) == ("B", "B", 2)


def test_kept_file_holds_every_row_of_the_result(sqlite_db, tmp_path):
    import numpy as np

    seed_cells(sqlite_db, 1)
    claim = claims.claim_next(sqlite_db, "A", lease_seconds=60)
    assert claim is not None
    base = fake_trainer.train(sqlite_db, claim, WorkerConfig(db_url=sqlite_db.url, worker="A"))
    outcome = claims.Outcome(epochs=base.epochs, values=base.values,
                             losses=np.array([0.5, 2.0], np.float32),
                             correct=np.array([True, False]), indices=np.array([3, 7]))
    path = spool.keep(sqlite_db.url, claim, outcome, str(tmp_path))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    again, kept = spool.read(path, sqlite_db.url)
    assert again == claim and kept.values == outcome.values and kept.epochs == outcome.epochs
    assert kept.losses is not None and kept.correct is not None and kept.indices is not None
    assert kept.losses.tolist() == [0.5, 2.0] and kept.correct.tolist() == [True, False]
    assert kept.indices.tolist() == [3, 7]
    assert claims.write_kept(sqlite_db, again, kept) == "written"
    assert claims.write_kept(sqlite_db, again, kept) == "done"  # a second flush writes nothing
    assert _state(sqlite_db) == ([(claim.run_id, "done", 1)], 0)


def _run_fill(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    full = dict(os.environ, PYTHONPATH=str(REPO), **env)
    return subprocess.Popen([sys.executable, "-m", "tests.run_fill", *args], cwd=REPO, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize(("command", "link"), [
    ("fill", "workers"), ("fill", "everyone"), ("worker", "workers")])
def test_pool_with_a_worker_out_of_patience_exits_2_with_its_line(outage, tmp_path, command,
                                                                  link):
    """`fill --workers 2` exited 0 (`worker --workers 2` 1) although a worker had stopped with
    its result in the spool, when only the workers' link failed; when every connection failed,
    the pool's progress bar stopped `fill` with a line of its own while the workers waited."""
    from tests.studies import GENOME_A, tiny_spec, write

    db, proxy, url = outage
    spec = write(tmp_path, "pool", tiny_spec(
        "pool", "full: {dataset: digits, subset: {kind: full}, role: target}",
        archs={"a": GENOME_A}))  # one cell: one worker trains it, the other finds nothing
    hold = tmp_path / "hold"
    hold.mkdir()
    log = tmp_path / "starts.log"
    env = {"PROXYSTORE_CACHE": str(tmp_path / "cache"), "PROXYSTORE_FAKE_LOG": str(log),
           "PROXYSTORE_TEST_PATIENCE": "1.5"}
    if link == "workers":
        env["PROXYSTORE_TEST_WORKER_DB"] = url
    common = ("--db", db.url if link == "workers" else url, "--device", "cpu",
              "--mlflow", f"sqlite:///{tmp_path / 'mlflow.db'}")
    args = ("fill", str(spec), "--workers", "2", "--quiet", *common)
    if command == "worker":  # register the study, then join its work with a pool
        register = _run_fill(*args, "--max-cells", "0", env=env)
        assert register.communicate(timeout=300) and register.returncode == 0
        args = ("worker", "--study", "pool", "--workers", "2", *common)
    pool = _run_fill(*args, env={**env, "PROXYSTORE_FAKE_HOLD": str(hold)})
    deadline = time.monotonic() + 240
    while not list(hold.glob("trained-*")) and time.monotonic() < deadline:
        assert pool.poll() is None, pool.communicate()
        time.sleep(0.05)
    proxy.cut()  # training is over; the result is about to be written
    (hold / "go").touch()
    out, err = pool.communicate(timeout=300)
    (path,) = (tmp_path / "cache" / "spool").glob("*.json")
    ((run_id, status, epochs),), _ = _state(db)
    assert (status, epochs) == ("running", 0)  # nothing half-written
    assert pool.returncode == 2, (out, err[-3000:])
    errors = [line for line in err.splitlines() if line.startswith("proxystore: error:")]
    assert all(line.startswith("proxystore: error: worker ") for line in errors), err[-3000:]
    (kept,) = [line for line in errors if "the database is unreachable" in line]
    assert f"the result of run {run_id} is kept in {path}" in kept
    assert "trained" not in out  # no summary read from a database that may be away

    proxy.restore()  # the next fill on this machine writes the kept result and trains nothing
    again = _run_fill(*args, env=env)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert f"wrote the kept result of run {run_id} from {path}" in err
    assert _state(db) == ([(run_id, "done", 1)], 0) and _trainings(log) == 1
