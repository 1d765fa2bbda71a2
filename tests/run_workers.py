"""`python -m tests.run_workers URL N LEASE` — a pool of N fake-trainer workers (for kill tests)."""

from __future__ import annotations

import sys
from dataclasses import replace

from proxystore.runner.pool import run_pool, worker_configs
from proxystore.runner.worker import WorkerConfig, worker_id

if __name__ == "__main__":
    url, count, lease = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    base = WorkerConfig(db_url=url, worker=worker_id("t").rsplit(":", 1)[0], device="cpu",
                        lease_seconds=lease, trainer="tests.fake_trainer:train",
                        idle_wait_seconds=0.2)
    if count == 1:  # in this process, so a test can SIGKILL/SIGSTOP the worker itself
        from proxystore.db import open_database
        from proxystore.runner.worker import run_worker

        base = replace(base, worker=worker_id("solo"))
        try:
            summary = run_worker(open_database(url, pool=False), base)
        except KeyboardInterrupt:
            sys.exit(130)
        print(f"done={len(summary.done)} lost={len(summary.lost)} failed={len(summary.failed)}")
        sys.exit(0)
    sys.exit(run_pool(worker_configs(base, workers=count)))
