"""A worker's own environment: checked before it claims a cell, and told apart from a cell's
failure while it trains, so that one bad node can't drain a study.

Without this, a worker whose cache can't be written (or whose data root is missing, whose disk
is full, whose GPU is gone) claimed cell after cell and marked each one failed within seconds,
leaving the good workers nothing and the study needing `retry --failed`. Now:

- `check_environment` runs before a worker claims anything: the cache directory must take a
  file, the data of the cells it may claim must be readable (or already decoded), the disk must
  hold the decodes still to do, and the device must run a kernel. A worker that fails it
  refuses to start with one line (`WorkerEnvironmentError`, exit 2).
- `environment_failure` recognises an error of the machine rather than of the cell: an OSError
  such as ENOSPC, EDQUOT, EROFS, EIO or ESTALE anywhere, or EACCES, EPERM, ENOENT or ENOTDIR on
  a path under the cache or the cell's data root, and CUDA initialisation errors. The worker
  puts such a cell back to pending without using an attempt (failure `environment`) and stops
  after `WorkerConfig.max_env_errors` of them in a row (exit 3).
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxystore.db.session import Database
from proxystore.db.store import runs
from proxystore.errors import WorkerEnvironmentError

DEFAULT_MAX_ENV_ERRORS = 3
# Exit code of a worker that stopped after max_env_errors environment errors in a row (and of a
# pool worker whose environment failed its check while the others go on).
ENVIRONMENT_EXIT = 3
# Errors of the machine wherever they happen: a full, read-only, failing or vanished filesystem.
ANY_PATH = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ESTALE})
# Errors of the machine when they concern the cache or the data root (elsewhere: a bug).
ON_ROOTS = frozenset({errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR})
# Words of CUDA errors that say the device or driver is unusable, not that a cell is wrong.
CUDA_BROKEN = (
    "CUDA driver", "no CUDA-capable device", "busy or unavailable", "NVIDIA driver",
    "CUDA error: initialization error", "CUDA error: unknown error", "CUDA unknown error",
    "Torch not compiled with CUDA", "no kernel image is available", "uncorrectable ECC",
    "cudaErrorNoDevice", "cudaErrorInitializationError", "cudaErrorDevicesUnavailable",
)


def one_line(error: BaseException) -> str:
    """'TypeName: message' on one line."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def cache_root(config: Any) -> Path:
    """The worker's cache directory: `config.cache_dir`, else the one `data.cache` picks."""
    from proxystore.data.cache import cache_dir

    return Path(config.cache_dir) if config.cache_dir else cache_dir(config.db_url)


@dataclass(frozen=True)
class _Need:
    """A dataset at an image size that unfinished cells will train on."""

    dataset: str
    source: str
    root: str | None
    fingerprint: str
    image_size: int
    images: int
    channels: int

    @property
    def decode_bytes(self) -> int:
        """Bytes of its uint8 cache: every image of both splits, C x S x S."""
        return self.images * self.channels * self.image_size ** 2


def source_path(source: str, options: dict[str, Any] | None) -> Path | None:
    """The local file or folder a dataset source reads (None: shipped with a package)."""
    kind, _, arg = source.partition(":")
    if kind in ("folder", "idx", "npz"):
        return Path(arg).expanduser()
    if kind == "torchvision" and (options or {}).get("root"):
        return Path(str((options or {})["root"])).expanduser()
    return None


def _needs(db: Database, study: str | None) -> list[_Need]:
    """The datasets and image sizes of the pending cells this worker may claim."""
    needs = []
    for need in runs.pending_needs(db, study):
        root = source_path(need.source, need.options)
        needs.append(_Need(need.dataset, need.source, str(root) if root else None,
                           need.fingerprint, need.image_size, need.images, need.channels))
    return sorted(needs, key=lambda n: (n.dataset, n.image_size))


def _decoded(root: Path, need: _Need) -> bool:
    """Whether the cache already holds this dataset at this size (then its source isn't read)."""
    from proxystore.data.cache import DECODE_VERSION, MARKER

    name = f"{need.fingerprint[:16]}-{need.image_size}px-v{DECODE_VERSION}"
    return (root / name / MARKER).is_file()


def _check_cache(root: Path) -> None:
    """The cache directory exists or can be made, and takes a file (written, synced, removed)."""
    probe = root / f".probe-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as error:
        raise WorkerEnvironmentError(
            f"the cache directory {root} is not writable ({one_line(error)}); give this "
            "machine a writable one with $PROXYSTORE_CACHE") from None


def _check_source(need: _Need) -> None:
    """The dataset's file or folder exists here and can be read."""
    if need.root is None:
        return
    path = Path(need.root)
    try:
        if path.is_dir():
            with os.scandir(path) as entries:
                next(entries, None)
        else:
            with open(path, "rb") as f:
                f.read(1)
    except OSError as error:
        raise WorkerEnvironmentError(
            f"dataset {need.dataset!r}: its data ({need.source}) can't be read on this machine "
            f"({one_line(error)}) and it is not decoded at {need.image_size} px in the "
            "cache") from None


def _gigabytes(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def _check_disk(root: Path, missing: list[_Need]) -> None:
    """The cache's filesystem holds every decode still to do."""
    need = sum(n.decode_bytes for n in missing)
    if not need:
        return
    free = shutil.disk_usage(root).free
    if need > free:
        what = ", ".join(f"{n.dataset} at {n.image_size} px" for n in missing)
        raise WorkerEnvironmentError(
            f"not enough free disk for the cache in {root}: decoding {what} needs "
            f"{_gigabytes(need)}, {_gigabytes(free)} free")


def _check_device(device: str) -> None:
    """A CUDA device is present and runs a kernel (the CPU always does)."""
    from proxystore.runner.worker import resolve_device

    try:
        name = resolve_device(device)
        if not name.startswith("cuda"):
            return
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch.cuda.is_available() is false")
        torch.ones(1, device=name).add_(1)
        torch.cuda.synchronize(name)
    except (RuntimeError, AssertionError) as error:
        raise WorkerEnvironmentError(f"device {device} is not usable: {one_line(error)}"
                                     ) from None


def check_environment(db: Database, config: Any, *, device: bool = True) -> None:
    """Refuse to run cells on a machine that can't: cache, data, disk and device.

    Nothing is checked while no cell is pending: a worker with nothing to claim runs none (a
    `fill` of a finished study on a login node says so rather than judging its cache).

    Args:
        db: the open database (which cells are pending, and their datasets).
        config: the worker's WorkerConfig.
        device: check the device too (a pool's parent leaves it to each worker).

    Raises:
        WorkerEnvironmentError: one line naming what is wrong and where.
    """
    needs = _needs(db, config.study)
    if not needs:
        return
    root = cache_root(config)
    _check_cache(root)
    missing = [n for n in needs if not _decoded(root, n)]
    for need in missing:
        _check_source(need)
    _check_disk(root, missing)
    if device:
        _check_device(config.device)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from or during (a DataError wrapping an OSError)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _under(path: Any, roots: list[Path]) -> bool:
    if not path:
        return False
    try:
        target = Path(os.fsdecode(path)).expanduser().absolute()
    except (TypeError, ValueError):
        return False
    for root in roots:
        base = root.expanduser().absolute()
        if target == base or base in target.parents:
            return True
    return False


def environment_failure(error: BaseException, roots: list[Path],
                        must_exist: list[Path] | None = None) -> str | None:
    """The one-line reason when `error` is the machine's fault rather than the cell's, else None.

    Args:
        error: what training the cell raised.
        roots: the cache directory and the cell's data root.
        must_exist: paths (the cell's data root) whose absence makes any error the machine's,
            whatever the loader made of it (a DataError "no file ..." from an unmounted root).
    """
    for path in must_exist or []:
        if not os.path.exists(path):
            return f"{one_line(error)} (the data root {path} is missing on this machine)"
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno is not None:
            if cause.errno in ANY_PATH:
                return one_line(cause)
            if cause.errno in ON_ROOTS and (_under(cause.filename, roots)
                                            or _under(cause.filename2, roots)):
                return one_line(cause)
        text = str(cause)
        if any(words in text for words in CUDA_BROKEN):
            return one_line(cause)
    return None


def cell_roots(db: Database, run_id: int, config: Any) -> list[Path]:
    """The cache directory and the data root of a run's dataset: where an OSError is the
    machine's fault."""
    roots = [cache_root(config)]
    row = runs.run_source(db, run_id)
    if row is not None and (path := source_path(row[0], row[1])) is not None:
        roots.append(path)
    return roots
