"""The decoded uint8 cache: each dataset decoded once per image size, memory-mapped afterwards.

Layout: `<cache dir>/<dataset fingerprint[:16]>-<size>px-v<DECODE_VERSION>/` holding
`train.npy` and `val.npy` (uint8, N×C×S×S), `train_labels.npy`, `val_labels.npy`, `stats.json`
(per-channel mean and std of the training split in [0, 1] units) and `COMPLETE`. A decode writes
into a temporary sibling folder, writes `COMPLETE` last and renames the folder into place
(os.replace), so a crashed decode never leaves a folder that looks complete. A decode killed
outright (SIGKILL, the OOM killer, a lost node) never removes its temporary folder, so every call
first removes temporary folders whose writer is gone (`remove_abandoned`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import time
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
from proxystore.limits import IMAGE_SIZE_RULE, valid_image_size
from proxystore.processes import pid_alive

log = logging.getLogger(__name__)

ENV_VAR = "PROXYSTORE_CACHE"
# Bump when the resize policy or a conversion changes: old caches are then not reused.
# 2: 16-bit images are scaled by 1/257 (they were clipped to 255).
DECODE_VERSION = 2
MARKER = "COMPLETE"
CHUNK = 4096
# A temporary folder with no write for this long is abandoned, whoever made it: the only evidence
# for a folder another host made on a shared filesystem, and the cover for a reused pid.
STALE_SECONDS = 24 * 3600
# `.<final name>.tmp-<host>-<pid>-<tag>`; folders of older proxystores have no host.
TEMP_NAME = re.compile(r"\..+\.tmp-(?:(?P<host>.+)-)?(?P<pid>\d{1,9})-[0-9a-f]{8}")


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
    arrays = isinstance(images, ArrayImages)
    # Decided before the bar is built: tqdm cannot enable a bar that was built disabled (it
    # failed with "'tqdm' object has no attribute 'last_print_n'" on folders of 512-40,959 files).
    quiet = len(items) < (10 * CHUNK if arrays else resize.POOL_MIN_FILES)
    bar = tqdm(total=len(items), desc=desc, unit="img", disable=quiet, leave=False)
    if isinstance(images, ArrayImages):
        for start in range(0, len(items), CHUNK):
            yield start, resize.resize_batch(items[start:start + CHUNK], size)
            bar.update(min(CHUNK, len(items) - start))
    else:
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


def temp_folder(final: Path, pid: int) -> Path:
    """The hidden sibling of `final` that process `pid` of this host decodes into.

    Args:
        final: the cache folder the decode will be renamed to.
        pid: the decoding process's id.
    """
    return final.parent / f".{final.name}.tmp-{socket.gethostname()}-{pid}-{uuid.uuid4().hex[:8]}"


def remove_abandoned(root: Path, stale_seconds: float = STALE_SECONDS) -> list[Path]:
    """Remove temporary decode folders under `root` whose writer is gone; return them.

    A folder is abandoned when this host made it and its pid no longer exists, or when nothing in
    it was written for `stale_seconds`. A folder from another host (or an older proxystore, which
    did not name the host) is judged by age alone: its pid means nothing here.

    Args:
        root: the cache directory.
        stale_seconds: how long without a write makes any temporary folder abandoned.
    """
    removed = []
    host, now = socket.gethostname(), time.time()
    for path in root.glob(".*.tmp-*"):
        match = TEMP_NAME.fullmatch(path.name)
        if match is None or path.is_symlink() or not path.is_dir():
            continue
        pid = int(match["pid"])
        mine = match["host"] == host
        if mine and pid == os.getpid():
            continue  # this process is writing it
        dead = mine and not pid_alive(pid)
        last_write = _last_write(path)
        if last_write is None:
            continue  # renamed into place or removed by its writer meanwhile
        if dead or now - last_write > stale_seconds:
            log.info("removing abandoned temporary decode folder %s", path)
            shutil.rmtree(path, ignore_errors=True)  # another cleaner may be removing it too
            removed.append(path)
    return removed


def _last_write(folder: Path) -> float | None:
    """Newest mtime of the folder and its files (a memory-mapped write moves only the file's)."""
    try:
        times = [folder.stat().st_mtime]
        with os.scandir(folder) as entries:
            times += [entry.stat().st_mtime for entry in entries]
    except FileNotFoundError:
        return None
    return max(times)


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
    if not valid_image_size(image_size):
        raise DataError(f"image size must be {IMAGE_SIZE_RULE} pixels, got {image_size!r}")
    size = int(image_size)
    info = get_dataset(db, dataset)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir(db.url)
    final = root / f"{info.fingerprint[:16]}-{size}px-v{DECODE_VERSION}"
    if root.is_dir():
        remove_abandoned(root)
    if (final / MARKER).is_file():
        return _load(final, info, size)
    # The options recorded at registration (a folder's mode and skipped files) are trusted:
    # the files were checked then, and a file that fails to decode now is named.
    _, _, data = load_source(info.source, check=False, **info.options)
    if data.content != info.fingerprint:
        raise DataError(f"dataset {info.name!r}: the data at {info.source} changed since it was "
                        "registered (its fingerprint differs)")
    if data.images is None:
        raise DataError(f"dataset {info.name!r} has labels only, no images to decode")
    root.mkdir(parents=True, exist_ok=True)
    temp = temp_folder(final, os.getpid())
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
