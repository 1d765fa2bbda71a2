"""The resize policy of the decoded cache, and decoding of image files in worker processes.

Policy: scale the shorter side to the target size (bilinear; antialiased when shrinking), then
crop the centre square. Images already at the size are kept as they are; small images are
upsampled the same way. One function serves arrays and files, so both decode identically.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import partial

import numpy as np

from proxystore.data.pool import POOL_MIN_ITEMS, ordered_map

POOL_MIN_FILES = POOL_MIN_ITEMS  # below this many files, decoding runs in this process


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
    """Decode one image file to uint8 (C, size, size) in mode L or RGB (`images` mode rule).

    Raises:
        DataError: naming the file, when it cannot be decoded.
    """
    from proxystore.data.images import open_pixels
    from proxystore.errors import DataError

    pixels = open_pixels(path, mode)
    try:
        return resize_batch(pixels[None], size)[0]
    except (RuntimeError, ValueError, MemoryError) as error:  # torch on an impossible shape
        raise DataError(f"{path}: cannot resize {pixels.shape[1]} x {pixels.shape[0]} to "
                        f"{size} px: {error}") from None


def _init_worker() -> None:
    # One process per core already: torch's threads would oversubscribe. Set before torch is
    # imported (only when an image needs resizing), so a worker does not pay for importing it.
    os.environ["OMP_NUM_THREADS"] = "1"


def decode_files(files: Sequence[str], mode: str, size: int, workers: int | None = None
                 ) -> Iterator[np.ndarray]:
    """Yield decoded images of `files` in order, over a process pool when there are many."""
    decode = partial(decode_file, mode=mode, size=size)
    yield from ordered_map(decode, files, workers, initializer=_init_worker)
