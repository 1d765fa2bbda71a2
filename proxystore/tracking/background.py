"""Logging off the training path: a worker hands finished runs to a thread and trains on.

With MLflow down, a synchronous log cost each cell minutes of client retries while the GPU
idled. Here the worker only queues the run id; one thread per process logs it with short
timeouts (`store.quick_http`), and a run it could not log stays `mlflow_logged = false` for
`proxystore mlflow sync` (or the end of `fill`, which syncs its study). At exit the thread gets
`DRAIN_SECONDS` to finish; the result itself was committed before it was ever queued.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time

from proxystore.db.session import Database
from proxystore.tracking.store import why

log = logging.getLogger("proxystore.tracking")
DRAIN_SECONDS = 10.0


class Logger(threading.Thread):
    """A daemon thread logging queued runs of one database to one MLflow store."""

    def __init__(self, db: Database, uri: str) -> None:
        super().__init__(daemon=True, name="proxystore-mlflow")
        self.db, self.uri = db, uri
        self.queue: queue.Queue[int | None] = queue.Queue()
        self.failed: list[int] = []
        self.attempts = 0

    def run(self) -> None:
        from proxystore.tracking.runs import log_run

        while (run_id := self.queue.get()) is not None:
            self.attempts += 1
            try:
                log_run(self.db, run_id, self.uri)
            except Exception as error:  # noqa: BLE001 - the run stays not logged, for sync
                self.failed.append(run_id)
                if _problems.get(self.uri) is None:  # one line per outage, not one per cell
                    log.warning("MLflow at %s %s: run %s is not logged; the result is safe in "
                                "the database and `proxystore mlflow sync` logs it later",
                                self.uri, why(error), run_id)
                _problems[self.uri] = why(error)
            else:
                _problems.pop(self.uri, None)
            finally:
                self.queue.task_done()

    def drain(self, seconds: float) -> bool:
        """Wait up to `seconds` for the queue to empty; True when it did."""
        deadline = time.monotonic() + seconds
        while self.queue.unfinished_tasks:
            if time.monotonic() >= deadline or not self.is_alive():
                return False
            time.sleep(0.05)
        return True


_loggers: dict[tuple[str, str], Logger] = {}
_problems: dict[str, str] = {}  # store -> why the last attempt failed, while it fails
_lock = threading.Lock()


def log_later(db: Database, run_id: int, uri: str) -> None:
    """Queue a finished run for logging in this process's background thread; return at once.

    Args:
        db: the open database (the thread reads the run from it).
        run_id: the finished run (runs.id), its result already committed.
        uri: the MLflow tracking URI.
    """
    with _lock:
        logger = _loggers.get((db.url, uri))
        if logger is None or not logger.is_alive():
            logger = _loggers[(db.url, uri)] = Logger(db, uri)
            logger.start()
    logger.queue.put(run_id)


def drain(seconds: float = DRAIN_SECONDS) -> list[Logger]:
    """Give every background logger up to `seconds` (in all) to finish; return them."""
    deadline = time.monotonic() + seconds
    loggers = list(_loggers.values())
    for logger in loggers:
        if not logger.drain(max(0.0, deadline - time.monotonic())):
            left = logger.queue.unfinished_tasks
            log.warning("%d finished runs were not logged to MLflow at %s in time; "
                        "`proxystore mlflow sync` logs them", left, logger.uri)
    return loggers


def problem(uri: str) -> str | None:
    """Why this process's last attempt to reach `uri` failed, or None when it worked."""
    return _problems.get(uri)


def note_problem(uri: str, reason: str | None) -> None:
    """Record the outcome of an attempt to reach `uri` outside the thread (None: it worked)."""
    if reason is None:
        _problems.pop(uri, None)
    else:
        _problems[uri] = reason


atexit.register(drain)
