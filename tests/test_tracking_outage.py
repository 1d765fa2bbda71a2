"""MLflow down: training never waits for it, nothing is lost, and `mlflow sync` logs it later.

Each cell used to spend about 4 minutes in MLflow's client retries against an unreachable
server, in the worker's own thread, while the GPU idled. The cell here is real (digits, 2
epochs), the server a closed local port, then a real `mlflow server` (through `proxystore ui`).
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
from sqlalchemy import select

from proxystore.db.models import SqlRun
from proxystore.runner.execution import ExecutionOptions
from proxystore.runner.fill import fill
from proxystore.study.spec import parse_spec
from proxystore.tracking.store import HTTP_SETTINGS
from tests.helpers import run_cli
from tests.mlflow_server import free_port, start_ui
from tests.studies import tiny_spec


def _logged(uri: str) -> ExecutionOptions:
    """On the CPU, logging to the MLflow store `uri`."""
    return ExecutionOptions(device="cpu", mlflow_uri=uri)


def _spy_on_http(monkeypatch) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    """Record (thread, retries, timeout) of every HTTP request MLflow's client makes."""
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )
    from mlflow.utils import rest_utils

    calls: list[tuple[str, int, int]] = []
    real = rest_utils.http_request

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((threading.current_thread().name, MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(),
                      MLFLOW_HTTP_REQUEST_TIMEOUT.get()))
        return real(*args, **kwargs)

    monkeypatch.setattr(rest_utils, "http_request", spy)
    return calls


@pytest.mark.slow
def test_mlflow_down_costs_training_nothing_and_sync_logs_it_later(sqlite_db, tmp_path,
                                                                    monkeypatch):
    calls = _spy_on_http(monkeypatch)
    for key in HTTP_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    down = f"http://127.0.0.1:{free_port()}"
    spec = parse_spec(tiny_spec("outage", "full: {dataset: digits, role: target}\n"))
    result = fill(spec, sqlite_db, _logged(down), quiet=True)

    # Both results are in the database, marked as not in MLflow.
    assert len(result.summary.done) == 2 and not result.summary.failed
    with sqlite_db.session() as session:
        runs = session.scalars(select(SqlRun)).all()
        assert [(r.status, r.mlflow_logged, r.mlflow_run_id) for r in runs] == \
            [("done", False, None)] * 2
    # The training thread made one request (preparing the experiment, before any cell); each
    # finished cell was one failed request in the logging thread; the end of `fill` saw that
    # thread's failure and did not try again. Every request ran with 1 retry and 3 s.
    threads = [name for name, _, _ in calls]
    assert threads.count(threading.current_thread().name) == 1, calls
    assert threads.count("proxystore-mlflow") == 2, calls
    assert {(retries, timeout) for _, retries, timeout in calls} == {(1, 3)}
    assert not [key for key in HTTP_SETTINGS if key in os.environ]  # set for proxystore only

    # `mlflow sync` with the server still down: one line, exit 2, nothing marked logged.
    db_arg = sqlite_db.url
    failed = run_cli("mlflow", "sync", "--db", db_arg, "--mlflow", down, cwd=tmp_path)
    assert failed.returncode == 2
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"proxystore: error: MLflow at {down}"), \
        failed.stderr[-3000:]
    assert "mlflow sync" in lines[0]

    # The server is up: sync logs both runs, complete.
    from mlflow.tracking import MlflowClient

    server, port = start_ui(tmp_path, "--mlflow", f"sqlite:///{tmp_path / 'server.db'}")
    try:
        up = f"http://127.0.0.1:{port}"
        synced = run_cli("mlflow", "sync", "--db", db_arg, "--mlflow", up, cwd=tmp_path)
        assert synced.returncode == 0, synced.stderr[-3000:]
        assert synced.stdout.strip().splitlines()[-1] == "logged 2 runs to MLflow"
        client = MlflowClient(tracking_uri=up)
        experiment = client.get_experiment_by_name("outage")
        logged = client.search_runs([experiment.experiment_id])
        assert sorted(r.data.tags["proxystore.cell"] for r in logged) == \
            ["a/full/s0", "b/full/s0"]
        for run in logged:
            history = client.get_metric_history(run.info.run_id, "top1_error")
            assert [m.step for m in history] == [1, 2]
            assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["spec.yaml"]
        with sqlite_db.session() as session:
            assert {(r.mlflow_logged, r.mlflow_run_id) for r in session.scalars(
                select(SqlRun))} == {(True, r.info.run_id) for r in logged}
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
