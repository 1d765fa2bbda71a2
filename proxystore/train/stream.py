"""Batches for the loop: indexed on the device, or streamed from a memory-mapped uint8 cache.

Streaming, for data larger than the device's memory: a background thread gathers each batch's
images from the cache (np.take by index) into one of a ring of pinned CPU buffers; the loop
copies it to the device with non_blocking=True and records a CUDA event, which the thread waits
on before it refills that buffer. Crop and flip then run on the device as for resident data, and
the batches are the same as the resident path's for the same order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
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


def batches(x: torch.Tensor | StreamedImages, y: torch.Tensor, order: torch.Tensor | np.ndarray,
            batch_size: int, steps: int, *, depth: int = 3
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
    """
    if isinstance(x, StreamedImages):
        yield from _streamed(x, y, np.asarray(order), batch_size, steps, depth)
        return
    order_t = torch.as_tensor(order, device=y.device)
    for step in range(steps):
        idx = order_t[step * batch_size:(step + 1) * batch_size]
        yield x[idx], y[idx]


def _streamed(x: StreamedImages, y: torch.Tensor, order: np.ndarray, batch_size: int,
              steps: int, depth: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Stream batches through a ring of pinned buffers filled by a background thread."""
    device = y.device
    cuda = device.type == "cuda"
    order_t = torch.as_tensor(order, device=device)
    shape = x.images.shape[1:]
    slots = [torch.empty((batch_size, *shape), dtype=torch.uint8, pin_memory=True)
             for _ in range(depth)] if cuda else []
    copied: list[torch.cuda.Event | None] = [None] * depth
    free: queue.Queue[int] = queue.Queue()
    for slot in range(depth):
        free.put(slot)
    ready: queue.Queue[tuple[int, torch.Tensor | None] | BaseException | None] = queue.Queue(depth)
    stop = threading.Event()

    def fill() -> None:
        try:
            for step in range(steps):
                if stop.is_set():
                    return
                rows = x.indices[order[step * batch_size:(step + 1) * batch_size]]
                if not cuda:  # on the CPU the batch *is* the buffer: a fresh array each time
                    ready.put((-1, torch.from_numpy(np.take(x.images, rows, axis=0))))
                    continue
                slot = free.get()
                if stop.is_set():
                    return
                event = copied[slot]
                if event is not None:
                    event.synchronize()  # the previous copy out of this buffer has finished
                out = slots[slot][:len(rows)].numpy()
                np.take(x.images, rows, axis=0, out=out)
                ready.put((slot, None))
            ready.put(None)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, re-raised there
            ready.put(error)

    thread = threading.Thread(target=fill, name="proxystore-stream", daemon=True)
    thread.start()
    try:
        for step in range(steps):
            item = ready.get()
            if isinstance(item, BaseException):
                raise item
            assert item is not None
            slot, batch = item
            idx = order_t[step * batch_size:(step + 1) * batch_size]
            if batch is None:
                n = len(idx)
                batch = slots[slot][:n].to(device, non_blocking=True)
                event = torch.cuda.Event()
                event.record()
                copied[slot] = event
                free.put(slot)
            yield batch, y[idx]
    finally:
        stop.set()
        free.put(0)  # wake a thread waiting for a slot so it can see `stop`
        while thread.is_alive():
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
