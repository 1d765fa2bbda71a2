"""Dataset sources: load a source string (`sklearn:digits`, `idx:DIR`, ...) into labels and images.

Every source ends as a `SourceData`: labels of a train and a validation split, image geometry,
class names where the source has them, a content fingerprint, and a way to read the images
(arrays in memory, or image files for ImageFolder trees). Sources without a validation split get
a seeded stratified split (`stratified_split`, default fraction `DEFAULT_VAL_FRACTION`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from proxystore.data import arrays
from proxystore.errors import DataError
from proxystore.limits import MAX_SEED, SEED_RULE, integer_in

DEFAULT_VAL_FRACTION = 0.2
DEFAULT_SEED = 0
SOURCE_KINDS = ("sklearn", "torchvision", "folder", "idx", "npz")
# Options each source kind accepts; `download` is used while loading but never changes content.
OPTIONS = {
    "sklearn": ("val_fraction", "seed"),
    "torchvision": ("root", "val_fraction", "seed", "download"),
    "folder": ("skip_bad", "mode", "skipped", "found_modes"),
    "idx": (),
    "npz": ("val_fraction", "seed", "scale"),
}


@dataclass(frozen=True)
class ArrayImages:
    """Images held as uint8 arrays (N, H, W, C), one per split."""

    train: np.ndarray
    val: np.ndarray


@dataclass(frozen=True)
class FileImages:
    """Images as files on disk (ImageFolder trees), decoded on demand; `mode` is PIL's L or RGB."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    mode: str


@dataclass(frozen=True)
class SourceData:
    """What a source holds: labels per split, geometry, class names, content fingerprint, images.

    `recorded` holds what the loader found that the dataset's options keep (a folder's mode and
    skipped files).
    """

    train_labels: np.ndarray
    val_labels: np.ndarray
    num_classes: int
    channels: int
    image_height: int | None
    image_width: int | None
    class_names: tuple[str, ...] | None
    content: str
    images: ArrayImages | FileImages | None
    recorded: Mapping[str, Any] = field(default_factory=dict)


def parse_source(source: str) -> tuple[str, str]:
    """Split `kind:argument` and check the kind; a path argument is made absolute."""
    kind, sep, arg = str(source).partition(":")
    if not sep or kind not in SOURCE_KINDS or not arg:
        raise DataError(f"unknown dataset source {source!r}: expected one of "
                        "sklearn:digits, torchvision:CLASS, folder:PATH, idx:DIR, npz:PATH")
    if kind in ("folder", "idx", "npz"):
        arg = str(Path(arg).expanduser().resolve())
    return kind, arg


def normalize_options(kind: str, options: dict[str, Any]) -> dict:
    """Return the options that define a source's content, defaults filled in; reject unknowns."""
    allowed = OPTIONS[kind]
    unknown = sorted(k for k, v in options.items() if k not in allowed and v is not None)
    if unknown:
        raise DataError(f"source kind {kind!r} takes no option {', '.join(unknown)} "
                        f"(it takes: {', '.join(allowed) or 'none'})")
    out = {k: v for k, v in options.items() if v is not None and k != "download"}
    if "root" in out:
        out["root"] = str(Path(out["root"]).expanduser().resolve())
    if "scale" in out:
        out["scale"] = arrays.parse_scale(out["scale"])
    if kind == "folder":
        from proxystore.data.folder import normalize_folder_options

        out = normalize_folder_options(out)
    if "val_fraction" in allowed:
        fraction = out.get("val_fraction", DEFAULT_VAL_FRACTION)
        seed = out.get("seed", DEFAULT_SEED)
        try:
            fraction = float(fraction)
        except (TypeError, ValueError):
            raise DataError(f"val_fraction must be a number in (0, 1), got {fraction!r}") from None
        if not 0.0 < fraction < 1.0:
            raise DataError(f"val_fraction must lie in (0, 1), got {fraction}")
        out["val_fraction"] = fraction
        if (isinstance(seed, str) and seed.strip().isdigit()) or (
                isinstance(seed, float) and seed.is_integer()):
            seed = int(seed)
        if not integer_in(seed, 0, MAX_SEED):
            raise DataError(f"seed must be {SEED_RULE}, got {seed!r}")
        out["seed"] = int(seed)
    return out


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train, val) positions: round(fraction × count) of each class go to val.

    Implemented here rather than with scikit-learn so a dataset's split (and so its fingerprint)
    never changes with a library version.
    """
    rng = np.random.default_rng(seed)
    val_parts = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = int(np.floor(val_fraction * len(members) + 0.5))
        val_parts.append(rng.permutation(members)[:take])
    val = np.sort(np.concatenate(val_parts)) if val_parts else np.zeros(0, np.int64)
    mask = np.ones(len(labels), bool)
    mask[val] = False
    return np.flatnonzero(mask), val


def as_nhwc(images: Any, what: str, name: str = "images", scale: int | float | None = None
            ) -> np.ndarray:
    """Return `images` as a C-contiguous uint8 array (N, H, W, C) with C in {1, 3}.

    The pixel scale follows `arrays.to_uint8` (dtype and `scale`, never the data's maximum).
    """
    x = np.asarray(images)
    if not (x.ndim == 3 or (x.ndim == 4 and (x.shape[3] in (1, 3) or x.shape[1] in (1, 3)))):
        raise DataError(f"{what}: expected images shaped (N, H, W) or (N, H, W, C) with C 1 or 3, "
                        f"got {x.shape}")
    x = arrays.to_uint8(x, what, name, scale)  # checked as stored: indices are the user's
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[1] in (1, 3) and x.shape[3] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)  # channels-first sources (SVHN, STL10)
    return np.ascontiguousarray(x)


def as_labels(labels: Any, n: int, what: str, name: str = "labels") -> np.ndarray:
    """Return labels as int64, one per image, each from 0 to MAX_CLASSES - 1 (`arrays`)."""
    return arrays.check_labels(labels, n, what, name)


def labels_content(train: np.ndarray, val: np.ndarray) -> str:
    """Return the content fingerprint of a labels-only source (benchmarks, tests)."""
    digest = hashlib.sha256(b"proxystore-labels-v1")
    for labels in (train, val):
        digest.update(np.asarray(labels, "<i8").tobytes())
        digest.update(b"|")
    return digest.hexdigest()


def from_arrays(x_train: Any, y_train: Any, x_val: Any | None, y_val: Any | None,
                options: dict, what: str, class_names: Any = None) -> SourceData:
    """Build `SourceData` from arrays, splitting off a stratified validation set when none."""
    scale = options.get("scale")
    x_train = as_nhwc(x_train, what, "x_train", scale)
    y_train = as_labels(y_train, len(x_train), what, "y_train")
    if x_val is None:
        train, val = stratified_split(y_train, options["val_fraction"], options["seed"])
        x_val, y_val = x_train[val], y_train[val]
        x_train, y_train = x_train[train], y_train[train]
    else:
        x_val = as_nhwc(x_val, what, "x_val", scale)
        y_val = as_labels(y_val, len(x_val), what, "y_val")
    if x_train.shape[1:] != x_val.shape[1:]:
        raise DataError(f"{what}: train images {x_train.shape[1:]} and validation images "
                        f"{x_val.shape[1:]} differ in shape")
    if len(x_train) == 0:
        raise DataError(f"{what}: no training images")
    digest = hashlib.sha256(b"proxystore-arrays-v1")
    for x, y in ((x_train, y_train), (x_val, y_val)):
        digest.update(repr(x.shape).encode())
        digest.update(x.data)
        digest.update(y.astype("<i8").tobytes())
    names = tuple(str(c) for c in class_names) if class_names is not None else None
    return SourceData(
        train_labels=y_train, val_labels=y_val,
        num_classes=arrays.class_count(y_train, y_val, names, what),
        channels=int(x_train.shape[3]), image_height=int(x_train.shape[1]),
        image_width=int(x_train.shape[2]), class_names=names, content=digest.hexdigest(),
        images=ArrayImages(x_train, x_val),
    )


def load_source(source: str, check: bool = True, **options: Any
                ) -> tuple[str, dict, SourceData]:
    """Load a source; return its normalized string, its content-defining options and its data.

    Args:
        source: `sklearn:digits`, `torchvision:CLASS`, `folder:PATH`, `idx:DIR` or `npz:PATH`.
        check: inspect every image file of a folder (registration); False trusts the recorded
            options (`skipped`, `mode`) and only lists the files.
        **options: root (torchvision), val_fraction and seed (for sources without a validation
            split), download (torchvision only; never changes the content), scale (npz),
            skip_bad and mode (folder); see docs/data.md.

    Raises:
        DataError: unknown source or option, missing or corrupt files.
    """
    from proxystore.data import folder, formats

    kind, arg = parse_source(source)
    download = bool(options.pop("download", False))
    if download:
        options["download"] = True  # only torchvision accepts it; others reject it below
    opts = normalize_options(kind, options)
    if kind == "folder":
        data, was_split = folder.load_folder(arg, opts, download, check=check)
    else:
        loader = {"sklearn": formats.load_sklearn, "torchvision": formats.load_torchvision,
                  "idx": formats.load_idx, "npz": formats.load_npz}
        data, was_split = loader[kind](arg, opts, download)
    if not was_split:  # the source has its own validation split: fraction and seed play no part
        opts = {k: v for k, v in opts.items() if k not in ("val_fraction", "seed")}
    # skip_bad only allows skipping; what was skipped (recorded) is what defines the content.
    opts = {**{k: v for k, v in opts.items() if k != "skip_bad"}, **data.recorded}
    return f"{kind}:{arg}", opts, data
