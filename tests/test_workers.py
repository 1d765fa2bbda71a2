"""Many workers and their failures: every cell done exactly once, whatever is killed.

These run on SQLite and PostgreSQL with a fast fake trainer (tests/fake_trainer.py) that logs
every training start, so "exactly once" counts trainings, not rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proxystore.db.models import SqlRun, SqlRunEpoch
from tests.cells import seed_cells
from tests.helpers import REPO

# Leases of a second, SIGKILL and SIGSTOP, a PostgreSQL restart: these tests run alone
# (`exclusive`), not beside other tests. The rest of this file times nothing and shares the machine.


def _spawn(url: str, workers: int, lease: float, log: Path, seconds: float):
    env = dict(os.environ, PYTHONPATH=str(REPO), PROXYSTORE_FAKE_LOG=str(log),
               PROXYSTORE_FAKE_SECONDS=str(seconds))
    return subprocess.Popen([sys.executable, "-m", "tests.run_workers", url, str(workers),
                             str(lease)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _starts(log: Path) -> list[tuple[int, str, int]]:
    if not log.exists():
        return []
    return [(int(a), b, int(c)) for a, b, c in
            (line.split() for line in log.read_text().splitlines())]


def _wait_running(db, timeout: float = 60) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with db.session() as session:
            run_id = session.scalar(select(SqlRun.id).where(SqlRun.status == "running"))
        if run_id is not None:
            return run_id
        time.sleep(0.1)
    raise AssertionError("no cell was claimed in time")


def _results(db):
    with db.session() as session:
        runs = session.scalars(select(SqlRun).order_by(SqlRun.id)).all()
        epochs = Counter(session.scalars(select(SqlRunEpoch.run_id)).all())
    return runs, epochs


@pytest.mark.exclusive
def test_four_workers_do_every_cell_exactly_once(db, tmp_path):
    seed_cells(db, 200)
    log = tmp_path / "starts.log"
    proc = _spawn(db.url, 4, 30, log, 0.01)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    runs, epochs = _results(db)
    assert len(runs) == 200 and {r.status for r in runs} == {"done"}
    starts = Counter(run_id for run_id, _, _ in _starts(log))
    assert len(starts) == 200 and set(starts.values()) == {1}  # no cell trained twice
    assert all(epochs[r.id] == 1 and r.attempts == 1 for r in runs)
    assert len({r.worker for r in runs}) > 1  # the work was actually shared


@pytest.mark.exclusive
def test_killed_worker_cell_is_reclaimed_and_finished_once(db, tmp_path):
    seed_cells(db, 1)
    log = tmp_path / "starts.log"
    victim = _spawn(db.url, 1, 1.5, log, 60)
    run_id = _wait_running(db)
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    time.sleep(2.0)  # past the victim's 1.5 s lease: the rescuer must find the cell reclaimable
    rescuer = _spawn(db.url, 1, 1.5, log, 0.01)
    out, err = rescuer.communicate(timeout=120)
    assert rescuer.returncode == 0, err[-2000:]
    runs, epochs = _results(db)
    (run,) = runs
    assert run.id == run_id and run.status == "done" and run.attempts == 2
    assert epochs[run.id] == 1  # nothing of the killed attempt is visible
    starts = _starts(log)
    assert [a for _, _, a in starts] == [1, 2]
    assert run.device == starts[1][1]  # the result is the rescuer's


@pytest.mark.exclusive
def test_paused_worker_cannot_write_its_stale_result(db, tmp_path):
    seed_cells(db, 1)
    log = tmp_path / "starts.log"
    stale = _spawn(db.url, 1, 1.0, log, 2.0)
    _wait_running(db)
    time.sleep(0.2)
    stale.send_signal(signal.SIGSTOP)
    time.sleep(2.0)  # lease (1 s) expires while the worker is frozen
    rescuer = _spawn(db.url, 1, 1.0, log, 0.01)
    out, err = rescuer.communicate(timeout=120)
    assert rescuer.returncode == 0, err[-2000:]
    stale.send_signal(signal.SIGCONT)
    out, err = stale.communicate(timeout=120)
    assert stale.returncode == 0, err[-2000:]
    assert "lost=1" in out and "done=0" in out
    runs, epochs = _results(db)
    (run,) = runs
    starts = _starts(log)
    assert len(starts) == 2 and run.status == "done" and run.attempts == 2
    assert run.device == starts[1][1] and epochs[run.id] == 1


@pytest.mark.exclusive
def test_postgresql_restart_under_running_workers_loses_nothing(pg_schema_url, tmp_path):
    from proxystore.db import migrate, open_database

    db = open_database(pg_schema_url, check=False)
    migrate.upgrade(db)
    seed_cells(db, 120)
    log = tmp_path / "starts.log"
    proc = _spawn(pg_schema_url, 4, 30, log, 0.1)
    deadline = time.time() + 60
    while time.time() < deadline and len(_starts(log)) < 20:
        time.sleep(0.2)
    cluster = os.listdir("/etc/postgresql")[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"],
                   check=True, capture_output=True)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    db.dispose()
    runs, epochs = _results(db)
    assert {r.status for r in runs} == {"done"}
    assert all(epochs[r.id] == 1 for r in runs)
    done = Counter(run_id for run_id, _, _ in _starts(log))
    assert set(done) == {r.id for r in runs}


def test_status_retry_and_cancel(db, tmp_path):
    from proxystore.runner import claims
    from proxystore.runner.ops import cancel, retry, status_report

    seed_cells(db, 6)
    first = claims.claim_next(db, "w1", lease_seconds=60)
    claims.fail(db, first, "diverged", "diverged: loss became NaN/inf in epoch 1")
    second = claims.claim_next(db, "w2", lease_seconds=0.01)
    time.sleep(0.1)
    assert claims.reap_expired(db, max_attempts=1) == 1  # stale after its only attempt
    third = claims.claim_next(db, "w3", lease_seconds=60)
    report = status_report(db, "kill")
    assert report.counts.loc[0, "failed"] == 2 and report.counts.loc[0, "running"] == 1
    assert list(report.running["worker"]) == ["w3"]
    assert set(report.failures["failure"]) == {"diverged", "stale"}
    assert "lease expired on worker w2" in set(report.failures["error"])
    assert retry(db, "kill", stale=True) == 1
    assert retry(db, "kill", failed=True) == 1
    cancelled, kept = cancel(db, "kill")
    assert (cancelled, kept) == (5, 0)
    with db.session() as session:
        statuses = Counter(session.scalars(select(SqlRun.status)).all())
    assert statuses == {"cancelled": 5, "running": 1}
    assert third is not None and second is not None
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SqlRun)) == 6


def test_fill_with_two_real_workers_on_digits(db_url, tmp_path):
    """The real trainer, two worker processes: every cell trained once, by either worker."""
    from proxystore.db import open_database
    from tests.helpers import run_cli
    from tests.studies import FULL_AND_HALF, tiny_spec, write

    spec = write(tmp_path, "two", tiny_spec("two", FULL_AND_HALF, epochs=1))
    result = run_cli("fill", str(spec), "--db", db_url, "--device", "cpu", "--workers", "2",
                     "--quiet", "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    db = open_database(db_url)
    runs, epochs = _results(db)
    assert len(runs) == 4 and {r.status for r in runs} == {"done"}
    assert all(r.attempts == 1 and epochs[r.id] == 1 for r in runs)
    assert {r.worker.rsplit(":", 1)[1] for r in runs} <= {"0", "1"}
    assert "trained 4, reused 0: 4 of 4 runs of study two done" in result.stdout


def test_max_cells_is_shared_out_among_pool_workers(tmp_path):
    """`--max-cells N` with several workers trains N cells in all, not N per worker (or all)."""
    from proxystore.db import open_database
    from tests.helpers import run_cli
    from tests.studies import FULL_AND_HALF, tiny_spec, write

    spec = write(tmp_path, "cap", tiny_spec("cap", FULL_AND_HALF, epochs=1))
    db_path = tmp_path / "cap.db"
    for cap, done in (("0", 0), ("3", 3)):  # 0 registers only; 3 = shares of 2 and 1
        result = run_cli("fill", str(spec), "--db", str(db_path), "--device", "cpu",
                         "--workers", "2", "--max-cells", cap, "--quiet", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        runs, _ = _results(open_database(str(db_path)))
        assert len(runs) == 4 and sum(r.status == "done" for r in runs) == done
        assert {r.status for r in runs} <= {"done", "pending"}


def test_reap_worker_returns_only_that_workers_cells(db):
    """On both databases: the dead worker's running cell goes back (or fails after its last
    attempt), with the reason; another worker's cell and finished ones are left alone."""
    from proxystore.runner import claims

    seed_cells(db, 3)
    a = claims.claim_next(db, "A", lease_seconds=600)
    b = claims.claim_next(db, "B", lease_seconds=600)
    assert a is not None and b is not None
    assert claims.reap_worker(db, "A", "worker A was killed by SIGKILL") == 1
    assert claims.reap_worker(db, "A", "again") == 0
    runs = {r.id: r for r in _results(db)[0]}
    assert (runs[a.run_id].status, runs[a.run_id].worker) == ("pending", None)
    assert (runs[a.run_id].failure, runs[a.run_id].error) == ("stale",
                                                              "worker A was killed by SIGKILL")
    assert (runs[b.run_id].status, runs[b.run_id].worker) == ("running", "B")
    again = claims.claim_next(db, "C", lease_seconds=600)
    assert again is not None
    assert claims.reap_worker(db, "C", "worker C exited with code 1", max_attempts=1) == 1
    assert {r.id: r.status for r in _results(db)[0]}[again.run_id] == "failed"


@pytest.mark.exclusive
def test_a_pool_worker_killed_mid_cell_gives_its_cell_back_at_once(tmp_path):
    """A worker SIGKILLed mid-cell (the OOM killer) held its cell until the lease expired: the
    other workers had finished and exited by then, and `fill --workers` ended with exit 0 and a
    cell still "running". The pool now puts the cell back at once, says so, and exits 1."""
    from proxystore.db import open_database
    from tests.studies import FULL_AND_HALF, tiny_spec, write

    spec = write(tmp_path, "oom", tiny_spec("oom", FULL_AND_HALF, seeds="[0, 1, 2]"))
    (tmp_path / "kill").mkdir()
    log = tmp_path / "starts.log"
    env = dict(os.environ, PYTHONPATH=str(REPO), PROXYSTORE_FAKE_LOG=str(log),
               PROXYSTORE_FAKE_SECONDS="0.5", PROXYSTORE_FAKE_KILL=str(tmp_path / "kill"),
               PROXYSTORE_CACHE=str(tmp_path / "cache"))
    db_path = tmp_path / "oom.db"
    done = subprocess.run([sys.executable, "-m", "tests.run_fill", "fill", str(spec), "--db",
                           str(db_path), "--device", "cpu", "--workers", "2", "--quiet",
                           "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    (killed_run, killed_worker, _), *_ = _starts(log)
    errors = [line for line in done.stderr.splitlines() if line.startswith("proxystore: error")]
    assert errors == [f"proxystore: error: worker {killed_worker} was killed by SIGKILL; "
                      "1 cell it held went back to pending"], done.stderr[-3000:]
    runs, _ = _results(open_database(str(db_path)))
    assert len(runs) == 12 and {r.status for r in runs} == {"done"}  # the survivor did it
    again = {r.id: r for r in runs}[killed_run]
    assert again.attempts == 2 and again.worker != killed_worker
    assert Counter(run for run, _, _ in _starts(log))[killed_run] == 2


def test_launch_slurm_with_submitits_local_executor(tmp_path):
    """`launch slurm` registers the study and its jobs fill it (submitit's local executor)."""
    from proxystore.db import open_database
    from tests.helpers import run_cli
    from tests.studies import tiny_spec, write

    spec = write(tmp_path, "slurm", tiny_spec("slurm", "full: {dataset: digits, role: target}\n",
                                              epochs=1))
    db_path = tmp_path / "s.db"
    result = run_cli("launch", "slurm", str(spec), "--nodes", "2", "--gpus-per-node", "0",
                     "--cluster", "local", "--folder", str(tmp_path / "logs"), "--db",
                     str(db_path), "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "submitted 2 jobs" in result.stdout
    db = open_database(str(db_path))
    deadline = time.time() + 300
    while time.time() < deadline:
        runs, _ = _results(db)
        if runs and all(r.status == "done" for r in runs):
            break
        time.sleep(1)
    runs, epochs = _results(db)
    assert len(runs) == 2 and all(r.status == "done" and r.attempts == 1 for r in runs)
    refused = run_cli("launch", "slurm", str(spec), "--db", str(db_path), cwd=tmp_path)
    assert refused.returncode == 2 and "PostgreSQL" in refused.stderr


def test_deadlocks_and_serialization_failures_are_retried():
    from sqlalchemy.exc import OperationalError

    from proxystore.runner.claims import _retrying

    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE runs", {}, Exception("deadlock detected"))
        if len(calls) == 2:
            raise OperationalError("UPDATE runs", {}, Exception(
                "could not serialize access due to concurrent update"))
        return "claimed"

    assert _retrying(flaky) == "claimed" and len(calls) == 3

    def broken() -> None:
        raise OperationalError("SELECT", {}, Exception("syntax error at or near"))

    try:
        _retrying(broken)
    except OperationalError:
        pass
    else:
        raise AssertionError("a real error must not be retried away")


def test_worker_refuses_a_schema_that_is_not_at_head(pg_schema_url, tmp_path):
    from tests.helpers import run_cli

    result = run_cli("worker", "--db", pg_schema_url, cwd=tmp_path)
    assert result.returncode == 2
    assert "run `proxystore db upgrade" in result.stderr


def test_status_command_shows_leases_and_failures(db, tmp_path):
    from proxystore.runner import claims
    from tests.helpers import run_cli

    seed_cells(db, 3)
    held = claims.claim_next(db, "node7:123:0", lease_seconds=600)
    failed = claims.claim_next(db, "node8:9:0", lease_seconds=600)
    claims.fail(db, failed, "diverged", "diverged: loss became NaN/inf in epoch 3")
    result = run_cli("status", "--study", "kill", "--db", db.url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "node7:123:0" in result.stdout and "running:" in result.stdout
    assert "diverged: loss became NaN/inf in epoch 3" in result.stdout
    assert "1 pending" in result.stdout or "ETA for 1 pending" in result.stdout
    assert held is not None
    missing = run_cli("status", "--study", "nope", "--db", db.url, cwd=tmp_path)
    assert missing.returncode == 2 and "no study named 'nope'" in missing.stderr
