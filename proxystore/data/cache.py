"""The decoded uint8 cache: each dataset decoded once per image size, memory-mapped afterwards.

Layout: `<cache dir>/<dataset fingerprint[:16]>-<size>px-v<DECODE_VERSION>/` holding
`train.npy` and `val.npy` (uint8, N×C×S×S), `train_labels.npy`, `val_labels.npy`, `stats.json`
(per-channel mean and std of the training split in [0, 1] units) and `COMPLETE`. A decode writes
into a temporary sibling folder, writes `COMPLETE` last and renames the folder into place
(os.replace), so a crashed decode never leaves a folder that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from proxystore.data import resize
from proxystore.data.registry import DatasetInfo, get_dataset
from proxystore.data.sources import ArrayImages, FileImages, load_source
from proxystore.db import Database
from proxystore.db import engine as engines
from proxystore.errors import DataError

ENV_VAR = "PROXYSTORE_CACHE"
DECODE_VERSION = 1  # bump when the resize policy changes: old caches are then not reused
MARKER = "COMPLETE"
CHUNK = 4096


@dataclass(frozen=True)
class DecodedData:
    """A dataset decoded at one image size: memory-mapped uint8 (N, C, S, S) arrays and stats."""

    dataset: str
    fingerprint: str
    image_size: int
    train: np.ndarray
    val: np.ndarray
    train_labels: np.ndarray
    val_labels: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]
    path: Path


def cache_dir(db_url: str) -> Path:
    """Return the cache directory: $PROXYSTORE_CACHE, else beside a SQLite file, else ~/.cache.

    Args:
        db_url: the database URL the datasets are registered in.
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    url = engines.parse_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = engines.sqlite_path(url)
        if path is not None:
            return path.expanduser().resolve().parent / "proxystore-cache"
    return Path("~/.cache/proxystore").expanduser()


default_cache_dir = cache_dir


def _load(folder: Path, info: DatasetInfo, size: int) -> DecodedData:
    stats = json.loads((folder / "stats.json").read_text())
    return DecodedData(
        dataset=info.name, fingerprint=info.fingerprint, image_size=size,
        train=np.load(folder / "train.npy", mmap_mode="r"),
        val=np.load(folder / "val.npy", mmap_mode="r"),
        train_labels=np.load(folder / "train_labels.npy"),
        val_labels=np.load(folder / "val_labels.npy"),
        mean=tuple(stats["mean"]), std=tuple(stats["std"]), path=folder,
    )


def _chunks(images: ArrayImages | FileImages, split: str, size: int, desc: str):
    items = getattr(images, split)
    bar = tqdm(total=len(items), desc=desc, unit="img", disable=len(items) < 10 * CHUNK,
               leave=False)
    if isinstance(images, ArrayImages):
        for start in range(0, len(items), CHUNK):
            yield start, resize.resize_batch(items[start:start + CHUNK], size)
            bar.update(min(CHUNK, len(items) - start))
    else:
        bar.disable = len(items) < resize.POOL_MIN_FILES
        for i, image in enumerate(resize.decode_files(items, images.mode, size)):
            yield i, image[None]
            bar.update(1)
    bar.close()


def _write(folder: Path, images: ArrayImages | FileImages, channels: int, size: int,
           desc: str) -> tuple[list[float], list[float]]:
    total = np.zeros(channels, np.float64)
    squares = np.zeros(channels, np.float64)
    for split in ("train", "val"):
        n = len(getattr(images, split))
        out = np.lib.format.open_memmap(folder / f"{split}.npy", mode="w+", dtype=np.uint8,
                                        shape=(n, channels, size, size))
        for start, batch in _chunks(images, split, size, f"{desc} {split}"):
            out[start:start + len(batch)] = batch
            if split == "train":
                x = batch.astype(np.float64) / 255.0
                total += x.sum(axis=(0, 2, 3))
                squares += (x * x).sum(axis=(0, 2, 3))
        out.flush()
        del out
    count = len(images.train) * size * size
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    return mean.tolist(), std.tolist()


def decoded(db: Database, dataset: str | DatasetInfo, image_size: int,
            cache_dir: str | Path | None = None) -> DecodedData:
    """Return a dataset decoded at `image_size`, decoding it into the cache first if needed.

    Args:
        db: the open database the dataset is registered in.
        dataset: the dataset's name or info.
        image_size: the side of the square images, in pixels.
        cache_dir: where caches live (default `cache_dir(db.url)`).

    Raises:
        DataError: the source is gone or changed since registration, or holds no images.
    """
    info = get_dataset(db, dataset)
    size = int(image_size)
    if size < 1:
        raise DataError(f"image size must be a positive number of pixels, got {image_size!r}")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir(db.url)
    final = root / f"{info.fingerprint[:16]}-{size}px-v{DECODE_VERSION}"
    if (final / MARKER).is_file():
        return _load(final, info, size)
    _, _, data = load_source(info.source, **info.options)
    if data.content != info.fingerprint:
        raise DataError(f"dataset {info.name!r}: the data at {info.source} changed since it was "
                        "registered (its fingerprint differs)")
    if data.images is None:
        raise DataError(f"dataset {info.name!r} has labels only, no images to decode")
    root.mkdir(parents=True, exist_ok=True)
    temp = root / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temp.mkdir()
    try:
        mean, std = _write(temp, data.images, data.channels, size, info.name)
        np.save(temp / "train_labels.npy", data.train_labels)
        np.save(temp / "val_labels.npy", data.val_labels)
        stats = {"dataset": info.name, "fingerprint": info.fingerprint, "image_size": size,
                 "decode_version": DECODE_VERSION, "mean": mean, "std": std}
        (temp / "stats.json").write_text(json.dumps(stats, indent=1))
        (temp / MARKER).write_text("")  # last: its presence means every file above is whole
        if final.exists() and not (final / MARKER).is_file():
            shutil.rmtree(final)  # an incomplete folder from an older proxystore
        try:
            os.replace(temp, final)
        except OSError:  # another process finished the same decode first: keep theirs
            if not (final / MARKER).is_file():
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return _load(final, info, size)
