"""Registered datasets: the `datasets` and `examples` rows, read back as `DatasetInfo`.

A dataset's fingerprint is the hash of its content (images and labels of both splits, or for
ImageFolder trees each file's path, size and label), so the same data under another name or path
is recognised: registering it again under a second name is refused with a message naming the
first (the fingerprint column is unique, and an alias would make `get_dataset` ambiguous).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from proxystore.data import bulk
from proxystore.data.sources import SourceData, load_source, parse_source
from proxystore.db import Database
from proxystore.db.models import SqlDataset, SqlExample
from proxystore.errors import DataError, NotFoundError

SPLITS = ("train", "val")


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset as the rest of proxystore sees it."""

    id: int
    name: str
    source: str
    options: dict[str, Any]
    num_classes: int
    channels: int
    image_height: int | None
    image_width: int | None
    train_count: int
    val_count: int
    class_names: tuple[str, ...] | None
    fingerprint: str


def _info(row: SqlDataset) -> DatasetInfo:
    return DatasetInfo(
        id=row.id, name=row.name, source=row.source, options=dict(row.options or {}),
        num_classes=row.num_classes, channels=row.channels, image_height=row.image_height,
        image_width=row.image_width, train_count=row.train_count, val_count=row.val_count,
        class_names=tuple(row.class_names) if row.class_names is not None else None,
        fingerprint=row.fingerprint,
    )


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
    with db.session() as session:
        row = session.scalars(select(SqlDataset).where(SqlDataset.name == name)).first()
        info = _info(row) if row is not None else None
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
    for attempt in range(2):
        try:
            return _write_dataset(db, name, source, options, data)
        except sa_exc.IntegrityError:  # another process registered it meanwhile: read theirs
            if attempt:
                raise
    raise AssertionError("unreachable")


def _write_dataset(db: Database, name: str, source: str, options: dict[str, Any],
                   data: SourceData) -> DatasetInfo:
    with db.session(immediate=True) as session:
        # One statement for both checks: on PostgreSQL two would see different snapshots, and a
        # racing registration of the same dataset committed between them looks like an alias.
        found = session.scalars(select(SqlDataset).where(
            (SqlDataset.name == name) | (SqlDataset.fingerprint == data.content))).all()
        same_name = next((row for row in found if row.name == name), None)
        if same_name is not None:
            if same_name.fingerprint == data.content:
                return _info(same_name)
            raise DataError(f"dataset {name!r} is already registered with other content "
                            f"(from {same_name.source}); choose another name")
        same_content = next(iter(found), None)
        if same_content is not None:
            raise DataError(f"this content is already registered as dataset "
                            f"{same_content.name!r} (from {same_content.source}); use that name")
        row = SqlDataset(
            name=name, source=source, options=options, num_classes=data.num_classes,
            channels=data.channels, image_height=data.image_height,
            image_width=data.image_width, train_count=len(data.train_labels),
            val_count=len(data.val_labels),
            class_names=list(data.class_names) if data.class_names is not None else None,
            fingerprint=data.content,
        )
        session.add(row)
        session.flush()
        for split, labels in (("train", data.train_labels), ("val", data.val_labels)):
            bulk.insert_columns(session, "examples", ("dataset_id", "split", "index", "label"),
                                (row.id, split, np.arange(len(labels)), labels))
        return _info(row)


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
    with db.session() as session:
        row = session.scalars(select(SqlDataset).where(SqlDataset.name == name)).first()
        if row is None:
            known = session.scalars(select(SqlDataset.name).order_by(SqlDataset.name)).all()
            hint = f" (registered: {', '.join(known[:10])})" if known else " (none registered)"
            raise NotFoundError(f"no dataset named {name!r}{hint}")
        return _info(row)


def list_datasets(db: Database) -> list[DatasetInfo]:
    """Return every registered dataset, by name.

    Args:
        db: the open database.
    """
    with db.session() as session:
        return [_info(r) for r in session.scalars(select(SqlDataset).order_by(SqlDataset.name))]


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
    with db.session() as session:
        return bulk.ordered_column(session, "examples", "label",
                                   {"dataset_id": info.id, "split": split}, "index")


def class_counts(db: Database, dataset: str | DatasetInfo) -> dict[str, dict[int, int]]:
    """Return {split: {label: count}} computed in SQL.

    Args:
        db: the open database.
        dataset: the dataset's name or info.
    """
    info = get_dataset(db, dataset)
    counts: dict[str, dict[int, int]] = {s: {} for s in SPLITS}
    with db.session() as session:
        query = (select(SqlExample.split, SqlExample.label, func.count())
                 .where(SqlExample.dataset_id == info.id)
                 .group_by(SqlExample.split, SqlExample.label))
        for split, label, count in session.execute(query):
            counts[split][int(label)] = int(count)
    return {s: dict(sorted(c.items())) for s, c in counts.items()}
