"""The progress bars of `fill`: one fed by the worker in this process, one fed by polling the
database while a pool of worker processes trains.

Both draw on stderr with tqdm and stay silent with `quiet`; neither reads the database itself
(the pool's bar is given a function that counts).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class Progress:
    """One progress bar: cells done of the study's total, the current cell, epoch and ETA.

    Its methods are `run_worker`'s callbacks (`on_claim`, `on_epoch`, `on_done`).

    Example:
        >>> bar = Progress(total=4, done=1, quiet=True)
        >>> bar.grow(6)
        >>> bar.close()
    """

    def __init__(self, total: int, done: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, unit="cell", disable=quiet,
                        dynamic_ncols=True, file=sys.stderr,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} cells "
                                   "[{elapsed}<{remaining}] {postfix}")
        self.label = ""
        self.epochs = 0

    def claim(self, claim: Any, label: str, epochs: int | None = None) -> None:
        """A cell was claimed: show its label."""
        self.label = label
        self.bar.set_postfix_str(f"{label}: starting", refresh=True)

    def epoch(self, metrics: Any) -> None:
        """An epoch of the current cell ended: show its number and validation error."""
        self.bar.set_postfix_str(f"{self.label}: epoch {metrics.epoch} "
                                 f"top1 err {metrics.top1_error:.3f}", refresh=True)

    def done(self, claim: Any) -> None:
        """A cell ended (whatever its outcome)."""
        self.bar.update(1)

    def grow(self, total: int) -> None:
        """The study has more cells now (easy/hard tasks declared after their scorer)."""
        self.bar.total = total
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class PoolProgress:
    """A progress bar fed by polling the study's counts (for pools of worker processes).

    Args:
        poll: returns (cells finished, cells running) of the study; it may raise
            DatabaseError while the database is away (the bar then waits, as the workers do).
        total: the study's cells.
        quiet: no bar.
    """

    def __init__(self, poll: Callable[[], tuple[int, int]], total: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.poll = poll
        finished, _ = poll()
        self.bar = tqdm(total=total, initial=finished,
                        unit="cell", disable=quiet, file=sys.stderr, dynamic_ncols=True)

    def refresh(self) -> None:
        """Read the counts again (`run_pool` calls this while it waits)."""
        from proxystore.errors import DatabaseError

        try:
            finished, running = self.poll()
        except DatabaseError:  # the workers wait for the database (or stop); so does the bar
            return
        self.bar.n = finished
        self.bar.set_postfix_str(f"running {running}", refresh=True)

    def close(self) -> None:
        self.bar.close()
