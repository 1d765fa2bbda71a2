"""`proxystore ui`: MLflow's server on proxystore's store, stopped whole on Ctrl-C or SIGTERM.

`mlflow server` starts uvicorn, which starts worker processes (and a job runner); stopping only
the first process left the others holding the port. The server runs in a process group of its
own, and on SIGINT or SIGTERM the whole group is stopped: SIGTERM, then SIGKILL for what is
still there after `STOP_SECONDS`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from proxystore.errors import ProxystoreError
from proxystore.tracking.runs import TRAINING_VIEW
from proxystore.tracking.store import ensure_store, sqlite_file

STOP_SECONDS = 10.0
SERVER_WORKERS = 2  # uvicorn's default is 4 processes; one person's browser needs few


def check_port(host: str, port: Any) -> int:
    """The port as an int, when it is one and free on `host`.

    Raises:
        ProxystoreError: not a port number, or the port is taken.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ProxystoreError(f"--port must be a port number (1-65535), got {port!r}")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As servers do: a stopped server's connections in TIME_WAIT don't block the port.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise ProxystoreError(f"cannot serve on {host}:{port}: {error.strerror or error} "
                              "(another MLflow UI? pass --port)") from None
    return port


def server_command(uri: str, host: str, port: int) -> list[str]:
    """The `mlflow server` command line for a store (artifacts in mlartifacts/ beside SQLite)."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
               "--host", host, "--port", str(port), "--workers", str(SERVER_WORKERS)]
    path = sqlite_file(uri)
    if path is not None:
        command += ["--artifacts-destination", str(path.parent / "mlartifacts")]
    return command


@contextlib.contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGINT) raise KeyboardInterrupt here, so one path stops the server."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    saved = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def stop_group(process: subprocess.Popen[Any], seconds: float = STOP_SECONDS) -> None:
    """Stop every process of the server's group: SIGTERM, then SIGKILL after `seconds`."""
    group = process.pid  # the leader of its own session, so its pid is the group id
    for sig, wait in ((signal.SIGTERM, seconds), (signal.SIGKILL, seconds)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()  # reap the leader, so only live members count
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
    process.poll()


def serve(uri: str, host: str = "127.0.0.1", port: int = 5000) -> int:
    """Run MLflow's UI on `uri` until it exits, Ctrl-C or SIGTERM; return its exit code.

    Args:
        uri: the tracking store (a SQL store; a tracking server is already a UI).
        host: the interface to listen on.
        port: the port.
    """
    port = check_port(host, port)
    note = ensure_store(uri)
    if note:
        print(f"proxystore: {note}", file=sys.stderr)
    print(f"MLflow UI on http://{host}:{port} for {uri} (Ctrl-C stops it); the studies in "
          f"MLflow's model-training view: http://{host}:{port}/#/experiments{TRAINING_VIEW}",
          flush=True)
    # MLflow's GenAI job runner is eight more processes that proxystore's runs never use.
    env = dict(os.environ)
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    process = subprocess.Popen(server_command(uri, host, port), start_new_session=True, env=env)
    try:
        with _signals_as_interrupt():
            return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:  # a second Ctrl-C must not leave half the group running
            stop_group(process)
        finally:
            for sig, previous in saved.items():
                signal.signal(sig, previous)
