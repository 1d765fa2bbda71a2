"""Operations on a running study: status with leases and throughput, retry, cancel."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from proxystore.db.session import Database
from proxystore.db.status import run_counts
from proxystore.db.store import runs
from proxystore.db.store.studies import require_study


@dataclass
class StatusReport:
    """Counts, running cells, recent failures, throughput and ETA of a study (or all runs)."""

    counts: pd.DataFrame
    running: pd.DataFrame
    failures: pd.DataFrame
    done_last_hour: int
    pending: int
    # Pending cells a worker put back on an error of its machine (no attempt used), and why.
    returned: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def eta_hours(self) -> float | None:
        """Hours left at the last hour's rate (None when nothing finished in the last hour)."""
        if not self.done_last_hour:
            return None
        return self.pending / self.done_last_hour


def status_report(db: Database, study: str | None = None, failures: int = 10) -> StatusReport:
    """Gather what `proxystore status` shows."""
    require_study(db, study)
    leases = runs.lease_report(db, study, failures)
    return StatusReport(counts=run_counts(db, study), running=leases.running,
                        failures=leases.failures, done_last_hour=leases.done_last_hour,
                        pending=leases.pending, returned=leases.returned)


def retry(db: Database, study: str | None = None, failed: bool = False,
          stale: bool = False) -> int:
    """Put failed cells back to pending (all failed, or only FAILED / only STALE); return count.

    Args:
        db: the open database.
        study: only this study's cells.
        failed: cells whose training failed (diverged, error, oom).
        stale: cells whose worker vanished (lease expired), failed or still pending.
    """
    require_study(db, study)
    if not failed and not stale:
        failed = stale = True
    return runs.retry_runs(db, study, failed=failed, stale=stale)


def cancel(db: Database, study: str) -> tuple[int, int]:
    """Withdraw a study's pending cells; cells another study also links stay pending.

    Returns (cancelled, kept because shared). Registering the study again re-activates them.
    """
    require_study(db, study)
    return runs.cancel_runs(db, study)
