"""Subset kinds with exact sizes and class counts, identity by members, composition."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from proxystore.data.registry import labels, register_dataset
from proxystore.data.subsets import (
    SubsetDecl,
    declare_subset,
    get_subset,
    list_subsets,
    stored_decl,
    subset_indices,
)
from proxystore.db import open_database
from proxystore.db.models import SqlSubset, SqlSubsetMember
from proxystore.errors import DataError

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A SQLite database with Fashion-MNIST registered once for this module."""
    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('fashion') / 'f.db'}", create=True)
    register_dataset(db, "fashion", f"idx:{FASHION}")
    yield db
    db.dispose()


def declare(db, dataset: str, **spec):  # type: ignore[no-untyped-def]
    return declare_subset(db, dataset, SubsetDecl.from_dict(spec))


def train_class_counts(db, dataset: str, info) -> Counter:  # type: ignore[no-untyped-def]
    train, _ = subset_indices(db, info.id)
    return Counter(labels(db, dataset, "train")[train].tolist())


def subset_rows(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(SqlSubset)),
                session.scalar(select(func.count()).select_from(SqlSubsetMember)))


def test_full_and_random_fraction_one_are_the_same_subset(fashion) -> None:
    full = declare(fashion, "fashion", kind="full")
    assert (full.train_count, full.val_count, full.num_classes) == (60000, 10000, 10)
    assert full.label_map is None and full.name == "full"
    again = declare(fashion, "fashion", kind="random", fraction=1.0, seed=7)
    per_class_all = declare(fashion, "fashion", kind="per_class", n=6000)
    assert again.id == per_class_all.id == full.id
    assert again.fingerprint == full.fingerprint


def test_random_fraction_count_and_stratified_sizes(fashion) -> None:
    tenth = declare(fashion, "fashion", kind="random", fraction=0.1, seed=1)
    assert (tenth.train_count, tenth.val_count, tenth.name) == (6000, 10000, "random-0.1-s1")
    assert declare(fashion, "fashion", kind="random", fraction=0.1, seed=1).id == tenth.id
    assert declare(fashion, "fashion", kind="random", fraction=0.1, seed=2).id != tenth.id
    counted = declare(fashion, "fashion", kind="random", count=1234, seed=0)
    assert counted.train_count == 1234 and counted.name == "random-n1234-s0"
    strat = declare(fashion, "fashion", kind="random", fraction=0.05, stratified=True)
    assert train_class_counts(fashion, "fashion", strat) == {c: 300 for c in range(10)}


def test_half_the_classes_and_the_other_half(fashion) -> None:
    half = declare(fashion, "fashion", kind="classes", fraction=0.5, seed=0)
    other = declare(fashion, "fashion", kind="classes", fraction=0.5, complement=True, seed=0)
    assert (half.train_count, half.val_count, half.num_classes) == (30000, 5000, 5)
    assert (other.train_count, other.val_count, other.num_classes) == (30000, 5000, 5)
    kept, rest = set(half.label_map), set(other.label_map)
    assert kept.isdisjoint(rest) and kept | rest == set(range(10))
    assert sorted(half.label_map.values()) == [0, 1, 2, 3, 4]
    assert list(half.label_map) == sorted(half.label_map)
    # Validation keeps exactly the same classes.
    _, val = subset_indices(fashion, half.id)
    assert set(labels(fashion, "fashion", "val")[val].tolist()) == kept
    # k=5 with the same seed selects the same examples: one row.
    assert declare(fashion, "fashion", kind="classes", k=5, seed=0).id == half.id
    assert half.name == "classes-5-s0" and other.name == "classes-5-other-s0"


def test_per_class_cap(fashion) -> None:
    ten = declare(fashion, "fashion", kind="per_class", n=10, seed=0)
    assert (ten.train_count, ten.val_count, ten.num_classes) == (100, 10000, 10)
    assert train_class_counts(fashion, "fashion", ten) == {c: 10 for c in range(10)}


def test_named_classes_keep_exactly_those_labels_in_both_splits(fashion) -> None:
    upper = declare(fashion, "fashion", kind="classes", labels=[6, 0, 4, 2])
    assert (upper.train_count, upper.val_count, upper.num_classes) == (24000, 4000, 4)
    assert upper.name == "classes-0.2.4.6"
    assert upper.label_map == {0: 0, 2: 1, 4: 2, 6: 3}
    train, val = subset_indices(fashion, upper.id)
    assert set(labels(fashion, "fashion", "train")[train].tolist()) == {0, 2, 4, 6}
    assert set(labels(fashion, "fashion", "val")[val].tolist()) == {0, 2, 4, 6}
    others = declare(fashion, "fashion", kind="classes", labels=[0, 2, 4, 6], complement=True)
    assert others.num_classes == 6 and others.name == "classes-0.2.4.6-other"
    # The seed plays no part when the classes are named: same members, same row.
    assert declare(fashion, "fashion", kind="classes", labels=[0, 2, 4, 6], seed=9).id == upper.id


def test_per_class_val_n_caps_validation_without_moving_the_training_side(fashion) -> None:
    plain = declare(fashion, "fashion", kind="per_class", n=100, seed=3)
    capped = declare(fashion, "fashion", kind="per_class", n=100, val_n=20, seed=3)
    assert (capped.train_count, capped.val_count, capped.num_classes) == (1000, 200, 10)
    assert capped.name == "per_class-100-val20-s3" and capped.id != plain.id
    plain_train, _ = subset_indices(fashion, plain.id)
    train, val = subset_indices(fashion, capped.id)
    assert np.array_equal(train, plain_train)
    assert Counter(labels(fashion, "fashion", "val")[val].tolist()) == {c: 20 for c in range(10)}
    # Children draw from the capped parent and inherit its validation side.
    child = declare(fashion, "fashion", kind="random", fraction=0.1,
                    parent={"kind": "per_class", "n": 100, "val_n": 20, "seed": 3})
    child_train, child_val = subset_indices(fashion, child.id)
    assert child.train_count == 100 and set(child_train) <= set(train)
    assert np.array_equal(child_val, val)


def test_composition_random_tenth_of_half_the_classes(fashion) -> None:
    child = declare(fashion, "fashion", kind="random", fraction=0.1, seed=0,
                    parent={"kind": "classes", "k": 5, "seed": 0})
    parent = declare(fashion, "fashion", kind="classes", k=5, seed=0)
    assert child.parent_id == parent.id
    assert (child.train_count, child.val_count, child.num_classes) == (3000, 5000, 5)
    assert child.name == "classes-5-s0/random-0.1-s0"
    assert child.label_map == parent.label_map
    child_train, child_val = subset_indices(fashion, child.id)
    parent_train, parent_val = subset_indices(fashion, parent.id)
    assert set(child_train) <= set(parent_train)
    assert np.array_equal(child_val, parent_val)
    # The stored declaration (the first one made with these members) declares the same row.
    assert declare_subset(fashion, "fashion", stored_decl(fashion, child.id)).id == child.id


def test_training_members_come_from_the_training_split_only(fashion) -> None:
    for info in list_subsets(fashion, "fashion"):
        train, val = subset_indices(fashion, info.id)
        assert len(train) == info.train_count and len(val) == info.val_count
        assert train.max() < 60000 and val.max() < 10000
        assert np.all(np.diff(train) > 0)


@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "random", "fraction": 1.5}, r"must lie in \(0, 1\]"),
    ({"kind": "random", "fraction": 0}, r"must lie in \(0, 1\]"),
    ({"kind": "classes", "k": 11}, "cannot keep 11 classes"),
    ({"kind": "classes", "k": 10, "complement": True}, "cannot keep 10 classes"),
    ({"kind": "per_class", "n": 0}, "per-class cap n must be an integer"),
    ({"kind": "per_class", "n": 5, "val_n": 0}, "validation cap val_n must be an integer"),
    ({"kind": "classes", "labels": [0, 11]}, r"labels \[11\] are not among"),
    ({"kind": "classes", "labels": [1, 1]}, "must be distinct"),
    ({"kind": "classes", "labels": []}, "at least one class"),
    ({"kind": "classes", "labels": [0], "k": 1}, "exactly one of k and fraction and labels"),
    ({"kind": "classes", "labels": list(range(10)), "complement": True},
     "complement of all 10 classes"),
    ({"kind": "random", "fraction": 0.1, "k": 3}, "takes no parameter k"),
    ({"kind": "nonsense"}, "unknown subset kind"),
    ({"kind": "random", "fraction": 0.5, "parent": {"kind": "classes", "k": 12}},
     "cannot keep 12"),
])
def test_bad_declarations_write_nothing(fashion, spec, message) -> None:
    before = subset_rows(fashion)
    with pytest.raises(DataError, match=message):
        declare(fashion, "fashion", **spec)
    assert subset_rows(fashion) == before


# -- the same behaviour on both backends, on the small embedded digits -----------------------


def test_every_kind_on_digits_both_backends(db, tmp_path) -> None:
    register_dataset(db, "digits", "sklearn:digits")
    y = labels(db, "digits", "train")
    sizes = Counter(y.tolist())
    full = declare(db, "digits", kind="full")
    assert (full.train_count, full.val_count) == (1438, 359)
    assert declare(db, "digits", kind="random", fraction=1.0).fingerprint == full.fingerprint
    assert declare(db, "digits", kind="random", fraction=0.25, seed=1).train_count == 360
    two = declare(db, "digits", kind="classes", k=2, seed=3)
    assert two.num_classes == 2 and two.train_count == sum(sizes[c] for c in two.label_map)
    capped = declare(db, "digits", kind="per_class", n=5)
    assert capped.train_count == 50
    assert declare(db, "digits", kind="per_class", n=5).id == capped.id
    child = declare(db, "digits", kind="per_class", n=3,
                    parent={"kind": "classes", "k": 2, "seed": 3})
    assert (child.train_count, child.num_classes, child.val_count) == (6, 2, two.val_count)
    assert get_subset(db, child.fingerprint[:12]).id == child.id


def test_balanced_caps_the_largest_class_at_the_second(db, tmp_path) -> None:
    y_train = np.repeat([0, 1, 2], [50, 20, 10])
    x = np.zeros((80, 2, 2), np.uint8)
    x[:, 0, 0] = np.arange(80)  # distinct content
    np.savez(tmp_path / "imb.npz", x_train=x, y_train=y_train, x_val=x[:9],
             y_val=np.repeat([0, 1, 2], 3))
    register_dataset(db, "imbalanced", f"npz:{tmp_path / 'imb.npz'}")
    info = declare(db, "imbalanced", kind="balanced", seed=0)
    assert (info.train_count, info.val_count, info.name) == (50, 9, "balanced-s0")
    assert train_class_counts(db, "imbalanced", info) == {0: 20, 1: 20, 2: 10}
    assert declare(db, "imbalanced", kind="balanced", seed=1).id != info.id
