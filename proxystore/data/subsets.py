"""Proxy subsets: declared by kind, parameters, seed and parent; stored as example-id sets.

A subset's fingerprint is sha256 over the dataset fingerprint and the sorted training and
validation member indices (int64 little-endian), so two declarations that select the same examples
are one row. The validation side is the parent's validation set (the full one at the top);
a `classes` subset restricts it to the classes it keeps, and its children inherit that. The
label space is the distinct labels of the training and validation members; when it is smaller
than the dataset's, `label_map` sends its sorted labels to 0..k-1. Both follow from the members,
so from the fingerprint. (A hard-examples subset that happens to miss a class in training still
has every class in validation, so it keeps the dataset's full label space.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from proxystore.data import selection
from proxystore.data.kinds import check_params, select, subset_kind
from proxystore.data.registry import DatasetInfo, get_dataset, labels
from proxystore.db import Database
from proxystore.db.store import datasets as store
from proxystore.db.store.datasets import SubsetInfo
from proxystore.errors import DataError
from proxystore.limits import MAX_SEED


@dataclass(frozen=True)
class SubsetDecl:
    """A subset as a study declares it: kind, parameters, seed, and optionally a parent subset."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    parent: SubsetDecl | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", check_params(self.kind, self.params))
        seed = None
        if subset_kind(self.kind).seeded:
            seed = 0 if self.seed is None else selection.integer(self.seed, "seed", 0, MAX_SEED)
        object.__setattr__(self, "seed", seed)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> SubsetDecl:
        """Build from a mapping: `kind`, `seed`, `parent`, parameters flat or under `params`."""
        spec = dict(spec)
        if "kind" not in spec:
            raise DataError(f"a subset declaration needs a kind: {spec!r}")
        kind, seed, parent = spec.pop("kind"), spec.pop("seed", None), spec.pop("parent", None)
        params = {**spec.pop("params", {}), **spec}
        return cls(kind, params, seed, cls.from_dict(parent) if parent else None)

    def to_dict(self) -> dict[str, Any]:
        """Return the flat mapping `from_dict` reads (defaults filled in)."""
        out: dict[str, Any] = {"kind": self.kind, **self.params}
        if self.seed is not None:
            out["seed"] = self.seed
        if self.parent is not None:
            out["parent"] = self.parent.to_dict()
        return out


def subset_name(decl: SubsetDecl, kept_classes: int) -> str:
    """Return a readable name: classes-5-s0, random-0.25-s1, hard-0.0-0.1-by-run12, ..."""
    return subset_kind(decl.kind).name_of(decl.params, decl.seed, kept_classes)


def members_fingerprint(dataset_fingerprint: str, train: np.ndarray, val: np.ndarray) -> str:
    """sha256 over the dataset fingerprint and the sorted train and val indices."""
    digest = hashlib.sha256(b"proxystore-subset-v1|" + dataset_fingerprint.encode())
    for split, indices in (("train", train), ("val", val)):
        digest.update(f"|{split}|".encode())
        digest.update(np.sort(np.asarray(indices, "<i8")).tobytes())
    return digest.hexdigest()


@dataclass
class _Planned:
    decl: SubsetDecl
    name: str
    train: np.ndarray
    val: np.ndarray
    label_map: dict[int, int] | None
    fingerprint: str
    parent: _Planned | None
    num_classes: int


def _losses(session: Session, run_id: int, indices: np.ndarray) -> np.ndarray:
    scored = store.train_scores(session, run_id)
    if scored is None:
        raise DataError(f"scorer run {run_id} does not exist")
    if not len(scored):
        raise DataError(f"scorer run {run_id} has no per-example scores; score it first")
    order = np.argsort(scored[:, 0], kind="stable")
    scored_indices, losses = scored[order, 0].astype(np.int64), scored[order, 1]
    position = np.minimum(np.searchsorted(scored_indices, indices), len(scored_indices) - 1)
    missing = int((scored_indices[position] != indices).sum())
    if missing:
        raise DataError(f"scorer run {run_id} lacks scores for {missing} of {len(indices)} "
                        "training examples of this subset")
    return losses[position]


def _plan(session: Session, info: DatasetInfo, decl: SubsetDecl, y_train: np.ndarray,
          y_val: np.ndarray) -> _Planned:
    parent = _plan(session, info, decl.parent, y_train, y_val) if decl.parent else None
    train_in = parent.train if parent else np.arange(len(y_train))
    val_in = parent.val if parent else np.arange(len(y_val))
    kind = subset_kind(decl.kind)
    losses = _losses(session, decl.params["scorer_run"], train_in) if kind.scored else None
    train = select(decl.kind, decl.params, decl.seed, train_in, y_train[train_in], losses)
    kept = np.unique(y_train[train])
    val = kind.validation(val_in, y_val[val_in], kept, decl.params, decl.seed)
    space = np.unique(np.concatenate([kept, y_val[val]]))
    label_map = ({int(c): i for i, c in enumerate(space)} if len(space) < info.num_classes
                 else None)
    name = subset_name(decl, len(kept))
    return _Planned(decl, f"{parent.name}/{name}" if parent else name, train, val, label_map,
                    members_fingerprint(info.fingerprint, train, val), parent, len(space))


def _store(session: Session, info: DatasetInfo, plan: _Planned) -> SubsetInfo:
    parent = _store(session, info, plan.parent) if plan.parent else None
    decl = plan.decl
    row = dict(
        dataset_id=info.id, parent_id=parent.id if parent else None, kind=decl.kind,
        params=decl.params, seed=decl.seed, name=plan.name,
        num_classes=plan.num_classes,
        train_count=len(plan.train), val_count=len(plan.val),
        label_map={str(k): v for k, v in plan.label_map.items()} if plan.label_map else None,
        scorer_run_id=decl.params.get("scorer_run"), fingerprint=plan.fingerprint,
    )
    return store.insert_subset(session, info.name, row, plan.train, plan.val)


def declare_subset(db: Database, dataset: str | DatasetInfo, decl: SubsetDecl) -> SubsetInfo:
    """Compute a subset's members and store it (and its parents) unless already stored.

    Args:
        db: the open database.
        dataset: the dataset's name or info.
        decl: what to keep; the same members always give the same row.

    Raises:
        DataError: the declaration can't be met (too many classes, no scores, ...); nothing is
            written then.
    """
    info = get_dataset(db, dataset)
    y_train, y_val = labels(db, info, "train"), labels(db, info, "val")
    for attempt in range(2):
        try:
            with db.session(immediate=True) as session:
                plan = _plan(session, info, decl, y_train, y_val)
                return _store(session, info, plan)
        except sa_exc.IntegrityError:  # another process stored the same subset meanwhile
            if attempt:
                raise
    raise AssertionError("unreachable")


def get_subset(db: Database, subset: int | str) -> SubsetInfo:
    """Return a stored subset by id or by fingerprint (a unique prefix is enough).

    Args:
        db: the open database.
        subset: the subset's id, or its fingerprint or a unique prefix of it.
    """
    return store.get_subset(db, subset)


def subset_indices(db: Database, subset_id: int | SubsetInfo) -> tuple[np.ndarray, np.ndarray]:
    """Return a subset's (train, val) example indices, sorted; one indexed query per split.

    Args:
        db: the open database.
        subset_id: the subset's id (or its info).
    """
    sid = subset_id.id if isinstance(subset_id, SubsetInfo) else int(subset_id)
    return store.subset_members(db, sid)


def stored_decl(db: Database, subset: int | str) -> SubsetDecl:
    """Return the declaration a stored subset (and its parents) was first made with.

    Args:
        db: the open database.
        subset: the subset's id, or its fingerprint or a unique prefix of it.
    """
    info = get_subset(db, subset)
    parent = stored_decl(db, info.parent_id) if info.parent_id is not None else None
    return SubsetDecl(info.kind, info.params, info.seed, parent)


def list_subsets(db: Database, dataset: str | DatasetInfo) -> list[SubsetInfo]:
    """Return the stored subsets of one dataset, by id.

    Args:
        db: the open database.
        dataset: the dataset's name or info.
    """
    info = get_dataset(db, dataset)
    return store.list_subsets(db, info.id, info.name)
