"""A fast fake trainer for tests where the claim protocol, not training, is the point.

It appends one line per training start to $PROXYSTORE_FAKE_LOG (run id, worker, attempt), so a
test counts training starts rather than rows, sleeps $PROXYSTORE_FAKE_SECONDS while honouring a
lost lease, and returns a result stamped with the worker that produced it. With
$PROXYSTORE_FAKE_HOLD set to a folder, a worker process that finished training writes
`trained-<run id>` there and waits for a file `go` before returning its result, so a test can cut
the database away at the worst moment in another process. With $PROXYSTORE_FAKE_KILL set to a
folder, the first training start of all (the one that creates `killed` there) SIGKILLs its own
process, as the kernel's OOM killer would. With $PROXYSTORE_FAKE_FULL_DISK set to `N@FOLDER`,
the worker whose id ends in `:N` (`*`: every worker) writes its data to /dev/full, which fails
with a real ENOSPC as a full cache disk does, after noting the try in FOLDER; every other worker
waits (up to 120 s) before its first training until FOLDER holds such a note, so the broken
worker really meets cells.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from proxystore.runner.claims import Outcome

# In-process tests: called with the claim when training is over, before the result is written
# (e.g. to cut the database away at the worst moment).
after_training: Callable[[Any], None] | None = None
# In-process tests: called with the claim before training starts (e.g. to fail as a full disk).
before_training: Callable[[Any], None] | None = None


def write_to_full_disk() -> None:
    """Write to /dev/full: a real OSError ENOSPC, as writing a decode to a full disk gives."""
    with open("/dev/full", "wb", buffering=0) as f:
        f.write(b"\0" * 4096)


def _full_disk(worker: str) -> None:
    """$PROXYSTORE_FAKE_FULL_DISK (see the module docstring)."""
    setting = os.environ.get("PROXYSTORE_FAKE_FULL_DISK")
    if not setting:
        return
    which, _, folder = setting.partition("@")
    if which == "*" or worker.endswith(f":{which}"):
        tries = len(os.listdir(folder))
        open(os.path.join(folder, f"enospc-{tries}"), "w").close()
        write_to_full_disk()
    deadline = time.monotonic() + 120
    while not os.listdir(folder) and time.monotonic() < deadline:
        time.sleep(0.05)


def train(db: Any, claim: Any, config: Any, lost: Any = None, on_epoch: Any = None) -> Outcome:
    """Pretend to train `claim` (see module docstring)."""
    from proxystore.train.loop import Interrupted

    log = os.environ.get("PROXYSTORE_FAKE_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{claim.run_id} {config.worker} {claim.attempt}\n")
    _full_disk(config.worker)
    if before_training is not None:
        before_training(claim)
    kill = os.environ.get("PROXYSTORE_FAKE_KILL")
    if kill:
        try:
            os.close(os.open(os.path.join(kill, "killed"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            pass
        else:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
    seconds = float(os.environ.get("PROXYSTORE_FAKE_SECONDS", "0.01"))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lost is not None and lost.is_set():
            raise Interrupted("lease lost")
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    if after_training is not None:
        after_training(claim)
    hold = os.environ.get("PROXYSTORE_FAKE_HOLD")
    if hold:
        open(os.path.join(hold, f"trained-{claim.run_id}"), "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists(os.path.join(hold, "go")) and time.monotonic() < deadline:
            time.sleep(0.05)
    error = (claim.run_id % 97) / 100
    epoch = dict(epoch=1, train_loss=1.0, train_error=error, val_loss=1.0, top1_error=error,
                 top5_error=error / 2, lr=0.1, seconds=seconds)
    return Outcome(epochs=[epoch], values=dict(
        epochs_done=1, final_loss=1.0, final_top1_error=error, final_top5_error=error / 2,
        best_top1_error=error, best_top5_error=error / 2, best_epoch=1, wall_seconds=seconds,
        device_seconds=seconds, device=config.worker))
