"""`python -m tests.run_fill ARGS` — the real command line (`fill`, `worker`), with fake-trainer
workers.

Workers (in this process or a pool's) train with tests/fake_trainer.py, look for new work every
0.2 s and give up on writing a result after $PROXYSTORE_TEST_PATIENCE seconds (default 600, as
in `WorkerConfig`), so a test can run `fill --workers N` through an outage in seconds. A pool's
workers reach the database through $PROXYSTORE_TEST_WORKER_DB when it is set (a link a test can
cut while the command's own connection stays up, as when only the workers' writes fail).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

from proxystore.runner.execution import ExecutionOptions
from proxystore.runner.worker import WorkerConfig

_worker_config = ExecutionOptions.worker_config


def _fake_config(self: ExecutionOptions, *args: Any, **kwargs: Any) -> WorkerConfig:
    """Every command makes its workers' configs here (`fill`, `fill --workers N`, `worker`)."""
    config = _worker_config(self, *args, **kwargs)
    return dataclasses.replace(
        config, trainer="tests.fake_trainer:train", idle_wait_seconds=0.2,
        result_patience_seconds=float(os.environ.get("PROXYSTORE_TEST_PATIENCE", "600")),
        db_url=os.environ.get("PROXYSTORE_TEST_WORKER_DB", config.db_url))


if __name__ == "__main__":
    ExecutionOptions.worker_config = _fake_config  # type: ignore[method-assign]
    from proxystore.cli import main

    main(sys.argv[1:])
