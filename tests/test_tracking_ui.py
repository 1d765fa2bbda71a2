"""`proxystore ui`: MLflow's real server, and nothing of it left after Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import socket

import pytest

from tests.helpers import run_cli
from tests.mlflow_server import group_of_children, members, port_is_free, start_ui


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_ui_stops_mlflows_server_and_every_process_of_it(tmp_path, sig):
    """Stopping the UI stopped only MLflow's first process: uvicorn and its workers held the
    port. Now the server's whole process group goes, and the port is free again."""
    proc, port = start_ui(tmp_path, "--db", str(tmp_path / "p.db"))
    group = group_of_children(proc.pid)
    assert len(members(group)) >= 3, members(group)  # mlflow, uvicorn, its workers
    assert not port_is_free(port)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert members(group) == []
    assert port_is_free(port)
    assert f"MLflow UI on http://127.0.0.1:{port}" in out
    assert (tmp_path / "mlflow.db").is_file()  # beside the database


def test_ui_refuses_a_taken_port_and_a_port_that_is_no_number(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_cli("ui", "--port", str(port), "--db", str(tmp_path / "p.db"), cwd=tmp_path)
    assert busy.returncode == 2
    assert busy.stderr.strip().splitlines() == [
        f"proxystore: error: cannot serve on 127.0.0.1:{port}: Address already in use "
        "(another MLflow UI? pass --port)"]
    word = run_cli("ui", "--port", "http", "--db", str(tmp_path / "p.db"), cwd=tmp_path)
    assert word.returncode == 2
    assert word.stderr.strip().splitlines() == [
        "proxystore: error: --port must be an integer, got 'http'"]  # the command line's check
    far = run_cli("ui", "--port", "70000", "--db", str(tmp_path / "p.db"), cwd=tmp_path)
    assert far.returncode == 2
    assert far.stderr.strip().splitlines() == [
        "proxystore: error: --port must be a port number (1-65535), got 70000"]
