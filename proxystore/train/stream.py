"""Batches for the loop: indexed on the device, or streamed from a memory-mapped uint8 cache.

Streaming, for data larger than the device's memory: a background thread gathers each batch's
images from the cache (np.take by index) into one of a ring of pinned CPU buffers; the loop
copies it to the device with non_blocking=True and records a CUDA event, which the thread waits
on before it refills that buffer. Crop and flip then run on the device as for resident data, and
the batches are the same as the resident path's for the same order.

One thread gathers about 10,000 images/s at 224 px from the page cache (docs/benchmarks.md),
the rate a fast GPU trains at, so on CUDA each batch's gather is split across a few threads
(numpy releases the GIL while it copies; from disk, more reads in flight help too). The rows are
checked once per pass, so the gather can use np.take's unbuffered mode: with mode="raise" and
`out`, numpy gathers into a temporary and copies it again, which made it about 3x slower.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class StreamedImages:
    """A subset left in its (memory-mapped) cache: `images[indices]`, never copied whole."""

    images: np.ndarray
    indices: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        """(N, C, H, W) of the subset, as a resident tensor would have."""
        return (len(self.indices), *self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.indices)


def gather_threads(device: torch.device) -> int:
    """Threads that gather a streamed batch: up to 4 of this process's CPUs on CUDA, 1 on the
    CPU (where the cores are busy training)."""
    if device.type != "cuda":
        return 1
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def batches(x: torch.Tensor | StreamedImages, y: torch.Tensor, order: torch.Tensor | np.ndarray,
            batch_size: int, steps: int, *, depth: int = 3, threads: int | None = None
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield `steps` (uint8 images, labels) batches on y's device, taking `order` in turn.

    Args:
        x: resident uint8 images on the device, or StreamedImages.
        y: int64 labels on the device.
        order: positions into the subset (a permutation for training, arange for evaluation);
            batch i is order[i*batch_size:(i+1)*batch_size].
        batch_size: examples per batch (the last may be shorter when `order` runs out).
        steps: how many batches to yield.
        depth: pinned buffers in flight when streaming.
        threads: threads gathering each streamed batch (None: `gather_threads(y.device)`).
    """
    if isinstance(x, StreamedImages):
        threads = gather_threads(y.device) if threads is None else threads
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        yield from _streamed(x, y, np.asarray(order), batch_size, steps, depth, threads)
        return
    order_t = torch.as_tensor(order, device=y.device)
    for step in range(steps):
        idx = order_t[step * batch_size:(step + 1) * batch_size]
        yield x[idx], y[idx]


class _Gather:
    """np.take of a batch's rows into `out`, split into contiguous chunks across threads."""

    def __init__(self, images: np.ndarray, threads: int) -> None:
        self.images, self.threads = images, threads
        self.pool = (ThreadPoolExecutor(threads - 1, thread_name_prefix="proxystore-gather")
                     if threads > 1 else None)

    def __call__(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Gather images[rows] into out; rows must be in range (checked by the caller)."""
        if self.pool is None or len(rows) < 2 * self.threads:
            self._take(rows, out, 0, len(rows))
            return
        bounds = np.linspace(0, len(rows), self.threads + 1).astype(int)
        futures = [self.pool.submit(self._take, rows, out, a, b)
                   for a, b in zip(bounds[1:-1], bounds[2:], strict=True)]
        self._take(rows, out, 0, bounds[1])  # the calling thread takes the first chunk
        for future in futures:
            future.result()

    def _take(self, rows: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
        np.take(self.images, rows[start:stop], axis=0, out=out[start:stop], mode="clip")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


class _Ring:
    """Pinned staging buffers (CUDA) filled by a background thread, handed out in step order.

    On the CPU the gathered batch is the tensor itself (a fresh array each step), so there is
    no ring; on CUDA each slot is reused once the copy out of it has finished.
    """

    def __init__(self, x: StreamedImages, device: torch.device, batch_size: int,
                 depth: int, threads: int) -> None:
        self.x, self.device, self.depth = x, device, depth
        self.cuda = device.type == "cuda"
        self.shape = x.images.shape[1:]
        self.slots = [torch.empty((batch_size, *self.shape), dtype=torch.uint8, pin_memory=True)
                      for _ in range(depth)] if self.cuda else []
        self.copied: list[torch.cuda.Event | None] = [None] * depth
        self.free: queue.Queue[int] = queue.Queue()
        for slot in range(depth):
            self.free.put(slot)
        self.ready: queue.Queue[tuple[int, torch.Tensor | None] | BaseException | None] = \
            queue.Queue(depth)
        self.stop = threading.Event()
        self.gather = _Gather(x.images, threads)

    def fill(self, order: np.ndarray, batch_size: int, steps: int) -> None:
        """The producer: gather each step's rows into a free slot (or a fresh CPU batch)."""
        x, shape = self.x, self.shape
        try:
            for step in range(steps):
                if self.stop.is_set():
                    return
                rows = x.indices[order[step * batch_size:(step + 1) * batch_size]]
                if not self.cuda:  # on the CPU the batch *is* the buffer: a fresh array each time
                    batch = np.empty((len(rows), *shape), dtype=x.images.dtype)
                    self.gather(rows, batch)
                    self.ready.put((-1, torch.from_numpy(batch)))
                    continue
                slot = self.free.get()
                if self.stop.is_set():
                    return
                event = self.copied[slot]
                if event is not None:
                    event.synchronize()  # the previous copy out of this buffer has finished
                self.gather(rows, self.slots[slot][:len(rows)].numpy())
                self.ready.put((slot, None))
            self.ready.put(None)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, re-raised there
            self.ready.put(error)

    def take(self, n: int) -> torch.Tensor:
        """The next batch of `n` images on the device (re-raises the producer's error)."""
        item = self.ready.get()
        if isinstance(item, BaseException):
            raise item
        assert item is not None
        slot, batch = item
        if batch is not None:
            return batch
        batch = self.slots[slot][:n].to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.copied[slot] = event
        self.free.put(slot)
        return batch

    def close(self, thread: threading.Thread) -> None:
        """Stop the producer, drain what it still puts, and join it."""
        self.stop.set()
        self.free.put(0)  # wake a thread waiting for a slot so it can see `stop`
        while thread.is_alive():
            try:
                self.ready.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
        self.gather.close()


def _streamed(x: StreamedImages, y: torch.Tensor, order: np.ndarray, batch_size: int,
              steps: int, depth: int, threads: int
              ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Stream batches through a ring of pinned buffers filled by a background thread."""
    if len(x.indices) and (x.indices.min() < 0 or x.indices.max() >= len(x.images)):
        raise IndexError(f"streamed subset: indices must lie in [0, {len(x.images)}), "
                         f"got [{x.indices.min()}, {x.indices.max()}]")
    order_t = torch.as_tensor(order, device=y.device)
    ring = _Ring(x, y.device, batch_size, depth, threads)
    thread = threading.Thread(target=ring.fill, args=(order, batch_size, steps),
                              name="proxystore-stream", daemon=True)
    thread.start()
    try:
        for step in range(steps):
            idx = order_t[step * batch_size:(step + 1) * batch_size]
            yield ring.take(len(idx)), y[idx]
    finally:
        ring.close(thread)
