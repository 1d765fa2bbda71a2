"""An ordered map over a process pool, for per-file work (header checks, decoding) of folders."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a process pool costs more to start than it saves.
POOL_MIN_ITEMS = 512


def ordered_map(function: Callable[[T], R], items: Sequence[T], workers: int | None = None,
                initializer: Callable[[], Any] | None = None,
                min_items: int = POOL_MIN_ITEMS) -> Iterator[R]:
    """Yield `function(item)` for each item in order, over a spawned process pool when many.

    An exception in a worker is raised here, and whatever was still queued is cancelled
    (the pool does not decode the rest of a dataset before reporting a bad file).

    Args:
        function: a picklable function of one item.
        items: the items.
        workers: processes (default: every core).
        initializer: run once in each worker process.
        min_items: below this many items, run in this process.
    """
    workers = workers or os.cpu_count() or 1
    if len(items) < min_items or workers == 1:
        yield from map(function, items)
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=initializer)
    try:
        yield from pool.map(function, items, chunksize=64)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
