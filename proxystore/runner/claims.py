"""Claiming cells, holding leases, writing results: DESIGN.md's "Claiming work".

The SQL lives in the store (`proxystore.db.store.runs`, whose docstring tells the protocol:
one UPDATE with SKIP LOCKED per claim, leases on the database clock, one transaction per
result). This module is the worker's side of it: how often expired leases are looked for, and
which of this host's workers are dead. Its names (`claim_next`, `complete`, `Claim`, ...) stay
the runner's vocabulary.
"""

from __future__ import annotations

import socket
import time

from proxystore.db.session import Database
from proxystore.db.store import runs
from proxystore.db.store.retry import retrying as _retrying
from proxystore.db.store.retry import transient
from proxystore.db.store.runs import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    Claim,
    Outcome,
    complete,
    fail,
    heartbeat,
    reap_expired,
    reap_worker,
    release,
    write_kept,
)
from proxystore.processes import pid_alive

__all__ = [
    "DEFAULT_LEASE_SECONDS", "DEFAULT_MAX_ATTEMPTS", "REAP_INTERVAL_SECONDS", "Claim", "Outcome",
    "_retrying", "claim_next", "complete", "fail", "heartbeat",
    "pid_alive", "reap_dead_local", "reap_expired", "reap_worker", "release", "transient",
    "write_kept",
]

# Expired leases are looked for at most this often per database handle: a lease is minutes
# long, so a sweep per claim would only add a write transaction to every claim.
REAP_INTERVAL_SECONDS = 5.0
_last_reap: dict[int, float] = {}


def claim_next(db: Database, worker: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
               study: str | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS
               ) -> Claim | None:
    """Claim the next pending cell (highest priority, then oldest), or None when none is left.

    Args:
        db: the open database.
        worker: this worker's id (host:pid:n).
        lease_seconds: how long the claim holds without a heartbeat.
        study: only cells of this study.
        max_attempts: expired leases of runs with this many attempts become failed.
    """
    now = time.monotonic()
    if now - _last_reap.get(id(db), -1e9) >= REAP_INTERVAL_SECONDS:
        _last_reap[id(db)] = now
        reap_expired(db, max_attempts)
    return runs.claim(db, worker, lease_seconds=lease_seconds, study=study)


def reap_dead_local(db: Database, reaper: str,
                    max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> dict[str, int]:
    """Return at once the running cells of workers of this host whose process is gone.

    A worker id is host:pid:n, the pid being the process that claimed the cell. A cell held by
    this host's worker whose pid no longer runs (a SIGKILLed `fill`, a crashed node rebooted)
    goes back to pending, or failed after max attempts, with `failure` stale, instead of
    waiting for its lease. A live pid is never reaped (a reused pid only delays the cell until
    its lease expires), and neither is another host's cell: its pid means nothing here.
    Returns {dead worker: cells put back}.

    Args:
        db: the open database.
        reaper: this worker's id, recorded in the reason.
        max_attempts: a cell that has used this many attempts becomes failed.
    """
    host = socket.gethostname()
    workers = {w for w in runs.running_workers(db) if w.startswith(host + ":")}
    reaped = {}
    for worker in sorted(workers):
        pid = worker[len(host) + 1:].split(":", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        n = reap_worker(db, worker, f"worker {worker} is gone (no process {pid} on {host}); "
                        f"put back by {reaper}", max_attempts)
        if n:
            reaped[worker] = n
    return reaped
