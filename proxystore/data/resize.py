"""The resize policy of the decoded cache, and decoding of image files in worker processes.

Policy: scale the shorter side to the target size (bilinear; antialiased when shrinking), then
crop the centre square. Images already at the size are kept as they are; small images are
upsampled the same way. One function serves arrays and files, so both decode identically.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context

import numpy as np

# Below this many files, a process pool costs more to start than it saves.
POOL_MIN_FILES = 512


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """Return uint8 images (N, H, W, C) as uint8 (N, C, size, size) under the resize policy."""
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    import torch
    import torch.nn.functional as F

    scale = size / min(h, w)
    new_h, new_w = max(size, int(round(h * scale))), max(size, int(round(w * scale)))
    x = torch.from_numpy(np.array(images))  # a copy: sources may be read-only buffers
    x = x.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False,
                      antialias=scale < 1)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[:, :, top:top + size, left:left + size]
    return x.round_().clamp_(0, 255).to(torch.uint8).numpy()


def decode_file(path: str, mode: str, size: int) -> np.ndarray:
    """Decode one image file to uint8 (C, size, size) in PIL mode L or RGB."""
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image.convert(mode))
    if array.ndim == 2:
        array = array[..., None]
    return resize_batch(array[None], size)[0]


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one process per core already; threads would oversubscribe


def decode_files(files: Sequence[str], mode: str, size: int, workers: int | None = None
                 ) -> Iterator[np.ndarray]:
    """Yield decoded images of `files` in order, over a process pool when there are many."""
    decode = partial(decode_file, mode=mode, size=size)
    workers = workers or os.cpu_count() or 1
    if len(files) < POOL_MIN_FILES or workers == 1:
        yield from map(decode, files)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=_init_worker) as pool:
        yield from pool.map(decode, files, chunksize=64)
