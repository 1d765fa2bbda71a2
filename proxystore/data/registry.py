"""Registered datasets: the `datasets` and `examples` rows, read back as `DatasetInfo`.

A dataset's fingerprint is the hash of its content (images and labels of both splits, or for
ImageFolder trees each file's path, size and label), so the same data under another name or path
is recognised: registering it again under a second name is refused with a message naming the
first (the fingerprint column is unique, and an alias would make `get_dataset` ambiguous).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proxystore.data.sources import SourceData, load_source, parse_source
from proxystore.db import Database
from proxystore.db.store import datasets as store
from proxystore.db.store.datasets import SPLITS, DatasetInfo
from proxystore.errors import DataError

__all__ = ["SPLITS", "DatasetInfo", "class_counts", "get_dataset", "labels", "list_datasets",
           "register_dataset", "register_source_data"]


def register_dataset(db: Database, name: str, source: str, **options: Any) -> DatasetInfo:
    """Register a dataset by name (idempotent for the same name and content).

    Args:
        db: the open database.
        name: the dataset's name, unique in the database.
        source: `sklearn:digits`, `torchvision:CLASS`, `folder:PATH`, `idx:DIR` or `npz:PATH`.
        **options: root, val_fraction, seed, download, scale, skip_bad, mode (see
            `sources.load_source` and docs/data.md).

    Raises:
        DataError: unreadable source, or the name or content already registered otherwise.
    """
    known = _known(db, name, source, options)
    if known is not None:
        return known
    source, opts, data = load_source(source, **options)
    return register_source_data(db, name, source, opts, data)


def _known(db: Database, name: str, source: str, options: dict[str, Any]) -> DatasetInfo | None:
    """The dataset `name` when it is registered from `source` and its content is unchanged.

    Loaded with the options recorded at registration and without the per-file check of a
    folder, so registering a folder again (every `plan` and `fill` does) only lists its files.
    """
    kind, arg = parse_source(source)
    if kind != "folder":
        return None
    info = store.find_dataset(db, name)
    if info is None or info.source != f"{kind}:{arg}":
        return None
    given = {k: v for k, v in options.items() if v is not None}
    try:
        _, _, data = load_source(source, check=False, **{**info.options, **given})
    except DataError:
        return None  # the full registration below reports it
    return info if data.content == info.fingerprint else None


def register_source_data(db: Database, name: str, source: str, options: dict[str, Any],
                         data: SourceData) -> DatasetInfo:
    """Write one dataset row and its examples in one transaction (all or nothing).

    Args:
        db: the open database.
        name: the dataset's name.
        source: the normalized source string recorded on the row.
        options: the content-defining options recorded on the row.
        data: the loaded source (labels are all that is written).
    """
    if not name or not str(name).strip():
        raise DataError("a dataset needs a non-empty name")
    row = dict(
        name=name, source=source, options=options, num_classes=data.num_classes,
        channels=data.channels, image_height=data.image_height, image_width=data.image_width,
        train_count=len(data.train_labels), val_count=len(data.val_labels),
        class_names=list(data.class_names) if data.class_names is not None else None,
        fingerprint=data.content,
    )
    return store.store_dataset(db, row, data.train_labels, data.val_labels)


def get_dataset(db: Database, name: str | DatasetInfo) -> DatasetInfo:
    """Return the registered dataset called `name` (a `DatasetInfo` passes through).

    Args:
        db: the open database.
        name: the dataset's name.

    Raises:
        NotFoundError: no dataset of that name.
    """
    if isinstance(name, DatasetInfo):
        return name
    return store.get_dataset(db, name)


def list_datasets(db: Database) -> list[DatasetInfo]:
    """Return every registered dataset, by name.

    Args:
        db: the open database.
    """
    return store.list_datasets(db)


def labels(db: Database, dataset: str | DatasetInfo, split: str) -> np.ndarray:
    """Return the labels of one split, ordered by example index (one indexed query).

    Args:
        db: the open database.
        dataset: the dataset's name or info.
        split: `train` or `val`.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use train or val")
    info = get_dataset(db, dataset)
    return store.example_labels(db, info.id, split)


def class_counts(db: Database, dataset: str | DatasetInfo) -> dict[str, dict[int, int]]:
    """Return {split: {label: count}} computed in SQL.

    Args:
        db: the open database.
        dataset: the dataset's name or info.
    """
    info = get_dataset(db, dataset)
    return store.class_counts(db, info.id)
