"""One bad node must not drain a study.

A worker whose cache could not be written (or whose disk was full, whose data root was missing)
claimed cell after cell and failed each within seconds, leaving the good workers nothing. Now it
refuses to start (exit 2), or puts such cells back without using an attempt and stops after a
few in a row (exit 3), while the good workers train every cell.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

import tests.fake_trainer as fake
from proxystore.db import open_database
from proxystore.db.models import SqlRun
from proxystore.errors import DataError, WorkerEnvironmentError
from proxystore.runner.environment import check_environment, environment_failure
from proxystore.runner.ops import status_report
from proxystore.runner.worker import WorkerConfig, run_worker
from proxystore.study.register import register_study
from proxystore.study.spec import parse_spec
from tests.cells import seed_cells
from tests.helpers import REPO, run_cli
from tests.studies import FULL_AND_HALF, tiny_spec, write


def _raised(action) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        action()
    except BaseException as error:  # noqa: BLE001 - the error is what the test looks at
        return error
    raise AssertionError("expected an error")


def _runs(url: str) -> list[tuple[int, str, int, str | None, str | None]]:
    db = open_database(url, pool=False)
    try:
        with db.session() as session:
            return [tuple(r) for r in session.execute(  # type: ignore[misc]
                select(SqlRun.id, SqlRun.status, SqlRun.attempts, SqlRun.failure, SqlRun.error)
                .order_by(SqlRun.id)).all()]
    finally:
        db.dispose()


def _fake(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real command line with fake-trainer workers (tests/run_fill.py)."""
    full = dict(os.environ, PYTHONPATH=str(REPO), **env)
    full.pop("PROXYSTORE_DB", None)
    return subprocess.run([sys.executable, "-m", "tests.run_fill", *args], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=600)


def test_errors_of_the_machine_are_told_from_errors_of_the_cell(tmp_path):
    """Real OSErrors: a full disk anywhere, a missing or blocked path under the cache or the
    data root, CUDA that can't start. A missing file elsewhere, a device-side assert or a bad
    value are the cell's own failures."""
    cache, data = tmp_path / "cache", tmp_path / "data"
    cache.mkdir()
    data.mkdir()
    (cache / "blocker").write_text("")
    roots = [cache, data]
    not_a_dir = _raised(lambda: (cache / "blocker" / "x").mkdir())
    full = _raised(fake.write_to_full_disk)
    missing_data = _raised(lambda: open(data / "train.npz", "rb"))
    elsewhere = _raised(lambda: open(tmp_path / "other.npz", "rb"))

    def wrapped() -> None:
        try:
            open(data / "gone.npz", "rb")
        except OSError:
            raise DataError("npz: cannot read the file") from None

    assert environment_failure(not_a_dir, roots) == (
        f"NotADirectoryError: [Errno 20] Not a directory: '{cache / 'blocker' / 'x'}'")
    assert environment_failure(full, roots) == "OSError: [Errno 28] No space left on device"
    assert environment_failure(missing_data, roots) == (
        f"FileNotFoundError: [Errno 2] No such file or directory: '{data / 'train.npz'}'")
    assert environment_failure(_raised(wrapped), roots) == (
        f"FileNotFoundError: [Errno 2] No such file or directory: '{data / 'gone.npz'}'")
    assert environment_failure(elsewhere, roots) is None
    unmounted = DataError(f"npz source: no file {tmp_path / 'mnt' / 'x.npz'}")
    assert environment_failure(unmounted, roots, must_exist=[data]) is None
    assert environment_failure(unmounted, roots, must_exist=[tmp_path / "mnt"]) == (
        f"DataError: npz source: no file {tmp_path / 'mnt' / 'x.npz'} (the data root "
        f"{tmp_path / 'mnt'} is missing on this machine)")
    assert environment_failure(RuntimeError("CUDA error: initialization error"), roots)
    assert environment_failure(RuntimeError("Found no NVIDIA driver on your system."), roots)
    assert environment_failure(RuntimeError("CUDA error: device-side assert triggered"),
                               roots) is None
    assert environment_failure(ValueError("bad genome"), roots) is None


@pytest.mark.slow
def test_a_worker_whose_cache_is_not_writable_refuses_to_start_and_a_good_pool_trains_all(
        db_url, tmp_path, monkeypatch):
    """The cache is a path under a file (tests run as root, so permissions would not stop
    them): `worker` and `fill`, alone or as a pool, refuse with one line and exit 2, claiming
    nothing. Before, the real worker claimed every cell and failed it. The commands that refuse
    (in the parent, before any worker starts) run in this process: a subprocess each cost more
    than the rest of the test."""
    from tests.inprocess import run_main

    spec = write(tmp_path, "env", tiny_spec("env", FULL_AND_HALF, epochs=1))
    mlflow = ("--mlflow", f"sqlite:///{tmp_path / 'ml.db'}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROXYSTORE_DB", raising=False)
    registered = run_main("fill", str(spec), "--db", db_url, "--max-cells", "0", "--quiet",
                          *mlflow)
    assert registered.returncode == 0, registered.stderr[-3000:]
    (tmp_path / "blocker").write_text("")
    bad = tmp_path / "blocker" / "cache"
    line = (f"proxystore: error: the cache directory {bad} is not writable (NotADirectoryError: "
            f"[Errno 20] Not a directory: '{bad}'); give this machine a writable one with "
            "$PROXYSTORE_CACHE")
    for command in (("worker", "--study", "env"), ("worker", "--study", "env", "--workers", "2"),
                    ("fill", str(spec), "--quiet"), ("fill", str(spec), "--workers", "2",
                                                     "--quiet")):
        monkeypatch.setenv("PROXYSTORE_CACHE", str(bad))
        refused = run_main(*command, "--db", db_url, "--device", "cpu", *mlflow)
        monkeypatch.delenv("PROXYSTORE_CACHE")
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr[-3000:])
        assert refused.stderr.strip().splitlines() == [line], command
        assert [(status, attempts) for _, status, attempts, _, _ in _runs(db_url)] == [
            ("pending", 0)] * 4, command
    good = _fake("worker", "--study", "env", "--workers", "2", "--db", db_url, "--device", "cpu",
                 *mlflow, env={"PROXYSTORE_CACHE": str(tmp_path / "cache")})
    assert good.returncode == 0, good.stderr[-3000:]
    assert [(status, attempts) for _, status, attempts, _, _ in _runs(db_url)] == [
        ("done", 1)] * 4
    # With nothing left to claim, the broken machine judges nothing and says so.
    monkeypatch.setenv("PROXYSTORE_CACHE", str(bad))
    finished = run_main("fill", str(spec), "--db", db_url, "--device", "cpu", "--quiet", *mlflow)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "nothing to train" in finished.stdout


def test_a_pool_worker_on_a_full_disk_puts_its_cells_back_and_stops_while_the_other_trains_all(
        db_url, tmp_path):
    """`fill --workers 2` where worker 1's disk is full (a real ENOSPC through the fake
    trainer's hook): it gives each cell back without using an attempt, stops after 3 in a row,
    the parent prints one line for it, worker 0 trains every cell, and the command exits 3.
    Before, worker 1 failed the cells it met (exit 1, `retry --failed` needed)."""
    spec = write(tmp_path, "full", tiny_spec("full", FULL_AND_HALF, seeds="[0, 1, 2]"))
    notes = tmp_path / "notes"
    notes.mkdir()
    result = _fake("fill", str(spec), "--db", db_url, "--device", "cpu", "--workers", "2",
                   "--quiet", "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}",
                   env={"PROXYSTORE_CACHE": str(tmp_path / "cache"),
                        "PROXYSTORE_FAKE_FULL_DISK": f"1@{notes}",
                        "PROXYSTORE_FAKE_SECONDS": "0.2"})
    assert result.returncode == 3, (result.stdout, result.stderr[-3000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("proxystore:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert errors[0].startswith("proxystore: error: worker "), errors
    assert errors[0].split(": ", 3)[2].endswith(":1")  # worker 1, under its own pid
    assert errors[0].endswith(
        ": stopped after 3 environment errors in a row (last: OSError: [Errno 28] No space "
        "left on device); the cells went back to pending without using an attempt")
    assert len(list(notes.iterdir())) == 3
    assert [(status, attempts) for _, status, attempts, _, _ in _runs(db_url)] == [
        ("done", 1)] * 12
    assert re.search(r"\btrained 12\b", result.stdout), result.stdout


def test_a_pool_whose_every_worker_stops_on_its_machine_says_the_cells_are_pending(tmp_path):
    """Both workers on a full disk: a line each, exit 3, and the summary counts the cells left
    pending instead of "nothing to train"."""
    from tests.studies import GENOME_A

    spec = write(tmp_path, "all", tiny_spec("all", FULL_AND_HALF, archs={"a": GENOME_A}))
    notes = tmp_path / "notes"
    notes.mkdir()
    result = _fake("fill", str(spec), "--db", str(tmp_path / "all.db"), "--device", "cpu",
                   "--workers", "2", "--quiet", "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}",
                   env={"PROXYSTORE_CACHE": str(tmp_path / "cache"),
                        "PROXYSTORE_FAKE_FULL_DISK": f"*@{notes}"})
    assert result.returncode == 3, (result.stdout, result.stderr[-3000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("proxystore:")]
    assert len(errors) == 2 and all("stopped after 3 environment errors" in e for e in errors)
    assert "nothing to train" not in result.stdout and "2 pending" in result.stdout
    assert [r[1:3] for r in _runs(f"sqlite:///{tmp_path / 'all.db'}")] == [("pending", 0)] * 2


def test_a_worker_stops_after_max_env_errors_in_a_row_and_status_shows_why(db, tmp_path,
                                                                          monkeypatch):
    seed_cells(db, 4)
    monkeypatch.setattr(fake, "before_training", lambda claim: fake.write_to_full_disk())
    config = WorkerConfig(db_url=db.url, worker="node9:1:0", device="cpu",
                          trainer="tests.fake_trainer:train", cache_dir=str(tmp_path / "cache"),
                          max_env_errors=2, idle_wait_seconds=0.1)
    with pytest.raises(WorkerEnvironmentError) as stop:
        run_worker(db, config)
    assert stop.value.exit_code == 3
    assert str(stop.value) == (
        "stopped after 2 environment errors in a row (last: OSError: [Errno 28] No space left "
        "on device); the cells went back to pending without using an attempt")
    runs = _runs(db.url)
    first = runs[0][0]  # the next pending cell both times
    reason = "worker node9:1:0: OSError: [Errno 28] No space left on device"
    assert runs[0][1:] == ("pending", 0, "environment", reason)
    assert all(r[1:] == ("pending", 0, None, None) for r in runs[1:])
    report = status_report(db, "kill")
    assert report.failures.empty
    assert report.returned.to_dict("records") == [dict(run=first, attempts=0, error=reason)]
    shown = run_cli("status", "--study", "kill", "--db", db.url, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "put back by a worker's environment (pending, no attempt used):" in shown.stdout
    assert reason in shown.stdout


def test_only_environment_errors_in_a_row_stop_a_worker(db, tmp_path, monkeypatch):
    """A full disk every other cell, with max_env_errors 2: never two in a row, so the worker
    goes on and every cell is trained, each in one attempt."""
    seed_cells(db, 5)
    calls: list[int] = []

    def every_other(claim: object) -> None:
        calls.append(1)
        if len(calls) % 2:
            fake.write_to_full_disk()

    monkeypatch.setattr(fake, "before_training", every_other)
    config = WorkerConfig(db_url=db.url, worker="node9:1:0", device="cpu",
                          trainer="tests.fake_trainer:train", cache_dir=str(tmp_path / "cache"),
                          max_env_errors=2, idle_wait_seconds=0.1)
    summary = run_worker(db, config)
    assert len(summary.done) == 5 and len(summary.returned) == 5 and not summary.failed
    assert [r[1:3] for r in _runs(db.url)] == [("done", 1)] * 5


def _npz_study(tmp_path: Path) -> tuple[Path, str]:
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=rng.integers(0, 255, (40, 8, 8, 1), dtype=np.uint8),
             y_train=np.arange(40) % 2, x_val=rng.integers(0, 255, (10, 8, 8, 1), dtype=np.uint8),
             y_val=np.arange(10) % 2)
    text = tiny_spec("npz", "full: {dataset: tiny, role: target}\n").replace(
        "digits:\n    source: sklearn:digits\n    val_fraction: 0.2\n    seed: 0",
        f"tiny:\n    source: npz:{path}")
    return path, text


def test_unreadable_data_full_disk_and_missing_device_are_refused_at_start(db, tmp_path,
                                                                           monkeypatch):
    """The check before claiming: the study's data must be readable here unless already
    decoded, the disk must hold the decodes, the device must run."""
    from proxystore.data.cache import decoded
    from proxystore.runner import environment

    path, text = _npz_study(tmp_path)
    register_study(db, parse_spec(text))
    config = WorkerConfig(db_url=db.url, worker="w", device="cpu", study="npz",
                          cache_dir=str(tmp_path / "cache"))
    check_environment(db, config)
    moved = path.rename(tmp_path / "moved.npz")
    with pytest.raises(WorkerEnvironmentError) as unreadable:
        check_environment(db, config)
    assert str(unreadable.value) == (
        f"dataset 'tiny': its data (npz:{path}) can't be read on this machine "
        f"(FileNotFoundError: [Errno 2] No such file or directory: '{path}') and it is not "
        "decoded at 8 px in the cache")
    moved.rename(path)
    decoded(db, "tiny", 8, cache_dir=tmp_path / "cache")
    path.rename(moved)
    check_environment(db, config)  # decoded already: the source is not needed

    elsewhere = WorkerConfig(db_url=db.url, worker="w", device="cpu", study="npz",
                             cache_dir=str(tmp_path / "empty"))
    moved.rename(path)
    real = environment.shutil.disk_usage
    monkeypatch.setattr(environment.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=1000))
    with pytest.raises(WorkerEnvironmentError) as full:
        check_environment(db, elsewhere)
    assert str(full.value) == (
        f"not enough free disk for the cache in {tmp_path / 'empty'}: decoding tiny at 8 px "
        "needs 0.00 GB, 0.00 GB free")
    monkeypatch.undo()

    gpu = WorkerConfig(db_url=db.url, worker="w", device="cuda:99", study="npz",
                       cache_dir=str(tmp_path / "cache"))
    with pytest.raises(WorkerEnvironmentError) as device:
        check_environment(db, gpu)
    assert str(device.value).startswith("device cuda:99 is not usable: ")


@pytest.mark.exclusive
def test_a_sigkilled_fill_rerun_at_once_takes_its_cell_back(db_url, tmp_path):
    """The killed fill's cell (this host, dead pid) stayed `running` until its lease expired,
    and the rerun said "nothing to train". Now the rerun puts it back at once and trains it."""
    from tests.studies import GENOME_A

    spec = write(tmp_path, "kill", tiny_spec("kill", FULL_AND_HALF, archs={"a": GENOME_A}))
    env = dict(os.environ, PYTHONPATH=str(REPO), PROXYSTORE_CACHE=str(tmp_path / "cache"),
               PROXYSTORE_FAKE_SECONDS="300")
    args = [sys.executable, "-m", "tests.run_fill", "fill", str(spec), "--db", db_url,
            "--device", "cpu", "--quiet", "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}"]
    victim = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not any(r[1] == "running" for r in _runs(db_url)):
        assert victim.poll() is None and time.monotonic() < deadline, victim.communicate()
        time.sleep(0.2)
    victim.kill()
    victim.communicate(timeout=60)
    (held,) = [r for r in _runs(db_url) if r[1] == "running"]
    again = _fake(*args[3:], env={"PROXYSTORE_CACHE": str(tmp_path / "cache")})
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.search(r"\btrained 2\b", again.stdout), again.stdout
    import socket

    assert (f"worker {socket.gethostname()}:{victim.pid}:0 is gone: the cell it held went back "
            "to pending") in again.stderr
    runs = {r[0]: r for r in _runs(db_url)}
    assert {r[1] for r in runs.values()} == {"done"}
    assert runs[held[0]][2] == 2  # the killed attempt counts, as any lost worker's does


def test_only_dead_processes_of_this_host_are_reaped(db):
    """A live pid (this test) and another host's cell are never touched; a dead pid and a
    zombie (exited, not yet waited for) of this host are."""
    import socket

    from proxystore.runner import claims

    seed_cells(db, 4)
    host = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    zombie = subprocess.Popen(["true"])
    deadline = time.monotonic() + 30
    while claims.pid_alive(zombie.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [f"{host}:{os.getpid()}:0", f"{host}:{dead.pid}:0", f"elsewhere:{dead.pid}:0",
               f"{host}:{zombie.pid}:1"]
    held = {w: claims.claim_next(db, w, lease_seconds=600) for w in workers}
    assert claims.reap_dead_local(db, "me:1:0") == {workers[1]: 1, workers[3]: 1}
    zombie.wait()
    runs = {r[0]: r for r in _runs(db.url)}
    state = {w: runs[c.run_id][1] for w, c in held.items() if c is not None}
    assert state == {workers[0]: "running", workers[1]: "pending", workers[2]: "running",
                     workers[3]: "pending"}
    assert runs[held[workers[1]].run_id][3:] == (  # type: ignore[union-attr]
        "stale", f"worker {workers[1]} is gone (no process {dead.pid} on {host}); put back by "
        "me:1:0")


@pytest.mark.parametrize(("args", "line"), [
    (("worker", "--lease", "0"), "--lease must be a number of seconds from 5 to 86400, got 0"),
    (("worker", "--lease", "-1"), "--lease must be a number of seconds from 5 to 86400, got -1"),
    (("worker", "--lease", "4.9"),
     "--lease must be a number of seconds from 5 to 86400, got 4.9"),
    (("worker", "--lease", "1e400"),
     "--lease must be a finite number, got '1e400'"),  # the command line's type check
    (("worker", "--max-attempts", "0"), "--max-attempts must be an integer from 1 to 100, got 0"),
    (("worker", "--max-attempts", "2.5"),
     "--max-attempts must be an integer, got '2.5'"),
    (("worker", "--max-env-errors", "0"),
     "--max-env-errors must be an integer from 1 to 1000, got 0"),
    (("fill", "jobs/none.yaml", "--max-env-errors", "0"),
     "--max-env-errors must be an integer from 1 to 1000, got 0"),
    (("launch", "slurm", "jobs/none.yaml", "--lease", "0"),
     "--lease must be a number of seconds from 5 to 86400, got 0"),
])
def test_leases_and_attempt_counts_out_of_bounds_are_one_line_and_exit_2(tmp_path, capsys,
                                                                          args, line):
    """`worker --lease 0` (or -1) and `--max-attempts 0` were accepted, and two such workers
    trained the same cells twice: every claim had expired at once."""
    from proxystore.cli import main

    db = tmp_path / "never.db"
    with pytest.raises(SystemExit) as refused:
        main([*args, "--db", str(db)])
    assert refused.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"proxystore: error: {line}"]
    assert not db.exists()
