"""Datasets and subsets: the `datasets`, `examples`, `subsets` and `subset_members` rows.

Datasets and subsets are content-addressed facts: a dataset by the hash of its content, a subset
by the hash of its members. Writing one is insert-if-absent; a second writer that loses the race
reads the first one's row. Examples and members come by the hundred thousand, so they go through
`proxystore.db.bulk` (COPY on PostgreSQL), in the same transaction as their dataset or subset row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proxystore.db import bulk
from proxystore.db.models import SqlDataset, SqlExample, SqlRun, SqlSubset
from proxystore.db.session import Database
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


@dataclass(frozen=True)
class SubsetInfo:
    """A stored subset as the rest of proxystore sees it."""

    id: int
    dataset: str
    kind: str
    params: dict[str, Any]
    seed: int | None
    name: str
    num_classes: int
    train_count: int
    val_count: int
    label_map: dict[int, int] | None
    fingerprint: str
    scorer_run_id: int | None
    parent_id: int | None = None


def _dataset_info(row: SqlDataset) -> DatasetInfo:
    return DatasetInfo(
        id=row.id, name=row.name, source=row.source, options=dict(row.options or {}),
        num_classes=row.num_classes, channels=row.channels, image_height=row.image_height,
        image_width=row.image_width, train_count=row.train_count, val_count=row.val_count,
        class_names=tuple(row.class_names) if row.class_names is not None else None,
        fingerprint=row.fingerprint,
    )


def _subset_info(row: SqlSubset, dataset: str) -> SubsetInfo:
    return SubsetInfo(
        id=row.id, dataset=dataset, kind=row.kind, params=dict(row.params or {}), seed=row.seed,
        name=row.name, num_classes=row.num_classes, train_count=row.train_count,
        val_count=row.val_count,
        label_map={int(k): int(v) for k, v in row.label_map.items()} if row.label_map else None,
        fingerprint=row.fingerprint, scorer_run_id=row.scorer_run_id, parent_id=row.parent_id,
    )


# --- datasets and examples ------------------------------------------------------------------


def find_dataset(db: Database, name: str) -> DatasetInfo | None:
    """The dataset named `name`, or None when there is none."""
    with db.session() as session:
        row = session.scalars(select(SqlDataset).where(SqlDataset.name == name)).first()
        return _dataset_info(row) if row is not None else None


def get_dataset(db: Database, name: str) -> DatasetInfo:
    """The dataset named `name`.

    Raises:
        NotFoundError: no dataset of that name (the message lists up to ten that exist).
    """
    with db.session() as session:
        row = session.scalars(select(SqlDataset).where(SqlDataset.name == name)).first()
        if row is None:
            known = session.scalars(select(SqlDataset.name).order_by(SqlDataset.name)).all()
            hint = f" (registered: {', '.join(known[:10])})" if known else " (none registered)"
            raise NotFoundError(f"no dataset named {name!r}{hint}")
        return _dataset_info(row)


def list_datasets(db: Database) -> list[DatasetInfo]:
    """Every registered dataset, by name."""
    with db.session() as session:
        return [_dataset_info(r)
                for r in session.scalars(select(SqlDataset).order_by(SqlDataset.name))]


def store_dataset(db: Database, row: dict[str, Any], train_labels: np.ndarray,
                  val_labels: np.ndarray) -> DatasetInfo:
    """Write one dataset row and its examples in one transaction (all or nothing).

    The same name with the same content returns the stored row; the same name with other content,
    or the same content under another name, is refused and writes nothing. A registration racing
    this one (a unique violation) is read back once.

    Args:
        db: the open database.
        row: the `datasets` columns (name, source, options, counts, fingerprint, ...).
        train_labels: the training labels, by example index.
        val_labels: the validation labels, by example index.

    Raises:
        DataError: the name or the content is registered already otherwise.
    """
    for attempt in range(2):
        try:
            return _write_dataset(db, row, {"train": train_labels, "val": val_labels})
        except sa_exc.IntegrityError:  # another process registered it meanwhile: read theirs
            if attempt:
                raise
    raise AssertionError("unreachable")


def _write_dataset(db: Database, values: dict[str, Any],
                   labels: dict[str, np.ndarray]) -> DatasetInfo:
    name, content = values["name"], values["fingerprint"]
    with db.session(immediate=True) as session:
        # One statement for both checks: on PostgreSQL two would see different snapshots, and a
        # racing registration of the same dataset committed between them looks like an alias.
        found = session.scalars(select(SqlDataset).where(
            (SqlDataset.name == name) | (SqlDataset.fingerprint == content))).all()
        same_name = next((row for row in found if row.name == name), None)
        if same_name is not None:
            if same_name.fingerprint == content:
                return _dataset_info(same_name)
            raise DataError(f"dataset {name!r} is already registered with other content "
                            f"(from {same_name.source}); choose another name")
        same_content = next(iter(found), None)
        if same_content is not None:
            raise DataError(f"this content is already registered as dataset "
                            f"{same_content.name!r} (from {same_content.source}); use that name")
        row = SqlDataset(**values)
        session.add(row)
        session.flush()
        for split, split_labels in labels.items():
            bulk.insert_columns(session, "examples", ("dataset_id", "split", "index", "label"),
                                (row.id, split, np.arange(len(split_labels)), split_labels))
        return _dataset_info(row)


def example_labels(db: Database, dataset_id: int, split: str) -> np.ndarray:
    """The labels of one split of a dataset, ordered by example index (one indexed query)."""
    with db.session() as session:
        return bulk.ordered_column(session, "examples", "label",
                                   {"dataset_id": dataset_id, "split": split}, "index")


def class_counts(db: Database, dataset_id: int) -> dict[str, dict[int, int]]:
    """{split: {label: count}} of a dataset's examples, counted in SQL, labels sorted."""
    counts: dict[str, dict[int, int]] = {s: {} for s in SPLITS}
    with db.session() as session:
        query = (select(SqlExample.split, SqlExample.label, func.count())
                 .where(SqlExample.dataset_id == dataset_id)
                 .group_by(SqlExample.split, SqlExample.label))
        for split, label, count in session.execute(query):
            counts[split][int(label)] = int(count)
    return {s: dict(sorted(c.items())) for s, c in counts.items()}


# --- subsets and members --------------------------------------------------------------------


def train_scores(session: Session, run_id: int) -> np.ndarray | None:
    """The per-example training losses a run stored, as float64 rows (index, loss), unordered.

    None when there is no run `run_id`; an empty (0, 2) array when it stored no scores.
    """
    if session.get(SqlRun, run_id) is None:
        return None
    rows = session.connection().exec_driver_sql(
        'SELECT "index", loss FROM example_losses WHERE run_id = {0} AND split = {0}'
        .format("%s" if session.connection().dialect.name == "postgresql" else "?"),
        (run_id, "train"),
    ).fetchall()
    return np.array(rows, dtype=np.float64).reshape(len(rows), 2)


def insert_subset(session: Session, dataset: str, row: dict[str, Any], train: np.ndarray,
                  val: np.ndarray) -> SubsetInfo:
    """Store a subset and its members unless a subset with the same fingerprint exists.

    Runs in the caller's transaction, so a subset and its parents are written together.

    Args:
        session: the open session.
        dataset: the dataset's name (for the returned info).
        row: the `subsets` columns (dataset_id, parent_id, kind, params, ..., fingerprint).
        train: the training member indices.
        val: the validation member indices.

    Returns:
        The stored subset: the one found by fingerprint, or the one written now.
    """
    found = session.scalars(
        select(SqlSubset).where(SqlSubset.fingerprint == row["fingerprint"])).first()
    if found is not None:
        return _subset_info(found, dataset)
    subset = SqlSubset(**row)
    session.add(subset)
    session.flush()
    for split, indices in (("train", train), ("val", val)):
        bulk.insert_columns(session, "subset_members", ("subset_id", "split", "index"),
                            (subset.id, split, indices))
    return _subset_info(subset, dataset)


def get_subset(db: Database, subset: int | str) -> SubsetInfo:
    """A stored subset by id or by fingerprint (a unique prefix is enough).

    Raises:
        NotFoundError: no subset, or more than one, matches.
    """
    with db.session() as session:
        query = select(SqlSubset, SqlDataset.name).join(SqlDataset)
        if isinstance(subset, int) or str(subset).isdigit():
            rows = session.execute(query.where(SqlSubset.id == int(subset))).all()
        else:
            rows = session.execute(
                query.where(SqlSubset.fingerprint.startswith(str(subset))).limit(2)).all()
        if len(rows) != 1:
            raise NotFoundError(f"{'no' if not rows else 'more than one'} subset matches "
                                f"{subset!r}")
        return _subset_info(*rows[0])


def subset_members(db: Database, subset_id: int) -> tuple[np.ndarray, np.ndarray]:
    """A subset's (train, val) example indices, sorted; one indexed query per split."""
    with db.session() as session:
        return tuple(  # type: ignore[return-value]
            bulk.ordered_column(session, "subset_members", "index",
                                {"subset_id": subset_id, "split": split}, "index")
            for split in ("train", "val"))


def list_subsets(db: Database, dataset_id: int, dataset: str) -> list[SubsetInfo]:
    """The stored subsets of one dataset (`dataset` is its name), by id."""
    with db.session() as session:
        rows = session.scalars(select(SqlSubset).where(SqlSubset.dataset_id == dataset_id)
                               .order_by(SqlSubset.id))
        return [_subset_info(row, dataset) for row in rows]


def subset_train_counts(session: Session, subset_ids: set[int]) -> dict[int, int]:
    """Subset id -> its number of training examples, for the ids given."""
    return dict(session.execute(select(SqlSubset.id, SqlSubset.train_count)
                                .where(SqlSubset.id.in_(subset_ids))).all())
