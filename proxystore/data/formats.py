"""Loaders of array sources; each returns (SourceData, whether it split off a validation set).

ImageFolder trees are loaded by `folder.py`.
"""

from __future__ import annotations

import gzip
import inspect
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from proxystore.data.sources import SourceData, from_arrays
from proxystore.errors import DataError


def load_sklearn(name: str, opts: dict, download: bool) -> tuple[SourceData, bool]:
    """Load `sklearn:digits`: 1,797 8×8 digits, pixel values 0–16 scaled to 0–255."""
    if name != "digits":
        raise DataError(f"unknown sklearn dataset {name!r}: only sklearn:digits is embedded")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.floor(bunch.images * (255.0 / 16.0) + 0.5).astype(np.uint8)
    names = [str(c) for c in bunch.target_names]
    return from_arrays(images, bunch.target, None, None, opts, "sklearn:digits", names), True


def _read_maybe_gzip(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"cannot read {path}: {error}") from None


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (MNIST format, unsigned bytes), gzipped or not."""
    raw = _read_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX header promises {expected} bytes, file holds "
                        f"{len(raw) - header} (truncated or corrupt)")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _idx_file(directory: Path, prefix: str, kind: str) -> Path:
    for name in (f"{prefix}-{kind}-ubyte", f"{prefix}-{kind.replace('-idx', '.idx')}-ubyte"):
        for suffix in (".gz", ""):
            path = directory / (name + suffix)
            if path.is_file():
                return path
    raise DataError(f"no {prefix}-{kind}-ubyte[.gz] in {directory}")


def load_idx(directory: str, opts: dict, download: bool) -> tuple[SourceData, bool]:
    """Load MNIST-format IDX files: train-* for training, t10k-* for validation."""
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"idx source: no directory {root}")
    arrays = []
    for prefix in ("train", "t10k"):
        images = read_idx(_idx_file(root, prefix, "images-idx3"))
        labels = read_idx(_idx_file(root, prefix, "labels-idx1"))
        arrays += [images, labels]
    x_train, y_train, x_val, y_val = arrays
    return from_arrays(x_train, y_train, x_val, y_val, opts, f"idx:{root}"), False


def load_npz(path: str, opts: dict, download: bool) -> tuple[SourceData, bool]:
    """Load an .npz with x_train, y_train and optionally x_val, y_val and class_names."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"npz source: no file {file}")
    # np.load guesses the format from the first bytes: anything that is neither a zip nor an
    # .npy is taken for a pickle, so a text file would be reported as "pickled data".
    if not zipfile.is_zipfile(file):
        raise DataError(f"{file}: not a valid .npz file (it is not a zip archive; write one "
                        "with numpy.savez)")
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{file}: not a valid .npz file: {error}") from None
    # A member that is not an .npy comes back as its raw bytes, not as an array.
    broken = sorted(k for k, v in arrays.items() if not isinstance(v, np.ndarray))
    if broken:
        raise DataError(f"{file}: not a valid .npz file: member(s) {', '.join(broken)} not "
                        "stored as numpy .npy arrays")
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing or ("x_val" in arrays) != ("y_val" in arrays):
        raise DataError(f"{file}: an .npz source needs x_train, y_train (and x_val with y_val); "
                        f"it has {', '.join(sorted(arrays))}")
    split = "x_val" not in arrays
    data = from_arrays(arrays["x_train"], arrays["y_train"], arrays.get("x_val"),
                       arrays.get("y_val"), opts, f"npz:{file}", arrays.get("class_names"))
    return data, split


def _tv_split(cls: type, root: str, train: bool, download: bool) -> Any:
    params = inspect.signature(cls).parameters
    if "train" in params:
        return cls(root, train=train, download=download)
    if "split" in params:
        choices = ("train",) if train else ("val", "test")
        for i, split in enumerate(choices):
            try:
                return cls(root, split=split, download=download)
            except ValueError:
                if i == len(choices) - 1:
                    raise
    return cls(root, download=download) if train else None


def _tv_arrays(ds: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    labels = next((getattr(ds, a) for a in ("targets", "labels", "_labels")
                   if getattr(ds, a, None) is not None), None)
    data = getattr(ds, "data", None)
    if data is not None and labels is not None and np.asarray(data).ndim in (3, 4):
        return np.asarray(data), np.asarray(labels)
    images, targets = [], []
    for image, target in ds:  # generic fallback: decode every image (PIL) in order
        images.append(np.asarray(image))
        targets.append(int(target))
    if len({im.shape for im in images}) > 1:
        raise DataError(f"{what}: images differ in size; export them as an ImageFolder tree "
                        "and register it with folder:PATH")
    return np.stack(images), np.asarray(targets)


def load_torchvision(name: str, opts: dict, download: bool) -> tuple[SourceData, bool]:
    """Load a torchvision dataset class from `root`, downloading only when asked."""
    import torchvision.datasets as tvd
    from torch.utils.data import Dataset

    cls = getattr(tvd, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Dataset)):
        raise DataError(f"unknown torchvision dataset class {name!r} (e.g. CIFAR10, MNIST)")
    root = opts.get("root")
    if root is None:
        raise DataError(f"torchvision:{name} needs --root DIR (where its files are)")
    if not download and not Path(root).is_dir():
        raise DataError(f"torchvision:{name}: no directory {root} (pass --download to fetch)")
    what = f"torchvision:{name} at {root}"
    try:
        train_ds = _tv_split(cls, root, True, download)
        val_ds = _tv_split(cls, root, False, download)
    except (RuntimeError, OSError, ValueError, EOFError) as error:
        message = " ".join(str(error).split())
        raise DataError(f"{what}: cannot load ({message})") from None
    x_train, y_train = _tv_arrays(train_ds, what)
    x_val, y_val = _tv_arrays(val_ds, what) if val_ds is not None else (None, None)
    names = getattr(train_ds, "classes", None)
    names = names if names and all(isinstance(c, str) for c in names) else None
    data = from_arrays(x_train, y_train, x_val, y_val, opts, what, names)
    return data, val_ds is None
