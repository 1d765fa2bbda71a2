"""MLflow tracking: every (study, cell) one MLflow run, logged off the training path.

- `store`: where proxystore logs (`tracking_uri`), and the store made ready once, under a lock
  (created, upgraded, or repaired when a migration was interrupted);
- `describe`: what MLflow shows of a finished run, read from the database;
- `runs`: the one code path that logs a run's cells (live, after a result is written);
- `backfill`: `proxystore mlflow sync`, what MLflow misses, through that same path;
- `background`: the thread a worker hands finished runs to, so MLflow never stalls training;
- `hooks`: what `fill`, a pool's parent and `report` call;
- `server`: `proxystore ui`, MLflow's server stopped whole.
"""

from __future__ import annotations

from proxystore.tracking.backfill import sync
from proxystore.tracking.background import log_later
from proxystore.tracking.hooks import finish, log_report, prepare
from proxystore.tracking.runs import Counts, log_run, try_log_run
from proxystore.tracking.store import TrackingError, ensure_store, tracking_uri

__all__ = ["Counts", "TrackingError", "ensure_store", "finish", "log_later", "log_report",
           "log_run", "prepare", "sync", "tracking_uri", "try_log_run"]
