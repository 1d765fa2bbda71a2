"""Registering datasets: counts, idempotence, content recognition, sources, nothing half-written."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from proxystore.data.registry import (
    class_counts,
    get_dataset,
    labels,
    list_datasets,
    register_dataset,
)
from proxystore.data.sources import load_source, stratified_split
from proxystore.db.models import SqlDataset, SqlExample
from proxystore.errors import DataError, NotFoundError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def row_counts(db) -> tuple[int, int]:
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(SqlDataset)),
                session.scalar(select(func.count()).select_from(SqlExample)))


def test_digits_registers_stratified_split_with_stated_fraction(db) -> None:
    info = register_dataset(db, "digits", "sklearn:digits")
    assert (info.train_count, info.val_count, info.num_classes, info.channels) == (1438, 359, 10, 1)
    assert info.options == {"val_fraction": 0.2, "seed": 0}
    assert info.class_names == tuple(str(i) for i in range(10))
    counts = class_counts(db, "digits")
    assert sum(counts["train"].values()) == 1438 and sum(counts["val"].values()) == 359
    # Stratified: every class sends round(20 %) of its examples to validation.
    for label in range(10):
        total = counts["train"][label] + counts["val"][label]
        assert counts["val"][label] == int(np.floor(0.2 * total + 0.5))
    assert row_counts(db) == (1, 1797)


def test_same_name_and_content_returns_the_existing_row(db) -> None:
    first = register_dataset(db, "digits", "sklearn:digits")
    again = register_dataset(db, "digits", "sklearn:digits", val_fraction=0.2, seed=0)
    assert again == first
    assert row_counts(db) == (1, 1797)
    assert [d.name for d in list_datasets(db)] == ["digits"]


def test_same_content_under_another_name_is_refused_naming_the_first(db, tmp_path) -> None:
    register_dataset(db, "digits", "sklearn:digits")
    _, _, data = load_source("sklearn:digits")
    path = tmp_path / "digits.npz"
    np.savez(path, x_train=data.images.train, y_train=data.train_labels,
             x_val=data.images.val, y_val=data.val_labels)
    with pytest.raises(DataError, match="already registered as dataset 'digits'"):
        register_dataset(db, "digits-copy", f"npz:{path}")
    assert row_counts(db) == (1, 1797)


def test_same_name_other_content_is_refused(db) -> None:
    register_dataset(db, "digits", "sklearn:digits")
    with pytest.raises(DataError, match="other content"):
        register_dataset(db, "digits", "sklearn:digits", seed=1)
    assert row_counts(db) == (1, 1797)


def test_fashion_mnist_from_idx_files(db) -> None:
    info = register_dataset(db, "fashion", f"idx:{FASHION}")
    assert (info.train_count, info.val_count, info.num_classes) == (60000, 10000, 10)
    assert (info.channels, info.image_height, info.image_width) == (1, 28, 28)
    counts = class_counts(db, info)
    assert counts["train"] == {c: 6000 for c in range(10)}
    assert counts["val"] == {c: 1000 for c in range(10)}
    raw = gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz").read()
    assert np.array_equal(labels(db, "fashion", "val"), np.frombuffer(raw, np.uint8, offset=8))


def test_torchvision_fashion_mnist_reads_root_without_download(sqlite_db, tmp_path) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for file in FASHION.glob("*.gz"):  # torchvision reads the unpacked files
        (raw / file.stem).write_bytes(gzip.open(file).read())
    info = register_dataset(sqlite_db, "fmnist-tv", "torchvision:FashionMNIST", root=tmp_path)
    assert (info.train_count, info.val_count, info.num_classes) == (60000, 10000, 10)
    assert info.class_names[0] == "T-shirt/top"
    # Same pixels and labels as the IDX files: recognised as the same content.
    with pytest.raises(DataError, match="already registered as dataset 'fmnist-tv'"):
        register_dataset(sqlite_db, "fmnist-idx", f"idx:{FASHION}")


def test_npz_without_validation_gets_seeded_split(sqlite_db, tmp_path) -> None:
    x = np.random.default_rng(0).integers(0, 256, (100, 4, 4, 3), dtype=np.uint8)
    y = np.repeat(np.arange(4), 25)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, class_names=np.array(list("abcd")))
    info = register_dataset(sqlite_db, "d", f"npz:{tmp_path / 'd.npz'}", val_fraction=0.2,
                            seed=3)
    assert (info.train_count, info.val_count, info.channels) == (80, 20, 3)
    assert info.class_names == ("a", "b", "c", "d")
    train, val = stratified_split(y, 0.2, 3)
    assert np.array_equal(labels(sqlite_db, "d", "val"), y[val])
    assert np.array_equal(labels(sqlite_db, "d", "train"), y[train])


def test_folder_tree_registers_classes_from_directories(sqlite_db, tmp_path) -> None:
    from PIL import Image

    for split, per_class in (("train", 3), ("val", 1)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (20, 10), (i, 0, 0)).save(tmp_path / split / cls / f"{i}.png")
    info = register_dataset(sqlite_db, "pets", f"folder:{tmp_path}")
    assert (info.train_count, info.val_count, info.num_classes) == (6, 2, 2)
    assert info.class_names == ("cat", "dog") and info.channels == 3
    assert labels(sqlite_db, "pets", "train").tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(("source", "options", "message"), [
    ("nosuch:thing", {}, "unknown dataset source"),
    ("sklearn:iris", {}, "only sklearn:digits"),
    ("torchvision:NoSuchSet", {"root": "/tmp"}, "unknown torchvision dataset class"),
    ("torchvision:CIFAR10", {"root": "/nonexistent/cifar"}, "no directory"),
    ("idx:/nonexistent/dir", {}, "no directory"),
    ("npz:/nonexistent/file.npz", {}, "no file"),
    ("sklearn:digits", {"val_fraction": 1.5}, "val_fraction must lie in"),
    ("sklearn:digits", {"root": "/tmp"}, "takes no option root"),
])
def test_bad_sources_raise_one_line_and_register_nothing(db, source, options, message) -> None:
    with pytest.raises(DataError, match=message) as raised:
        register_dataset(db, "bad", source, **options)
    assert "\n" not in str(raised.value)
    assert row_counts(db) == (0, 0)


def _text_renamed(path: Path) -> None:
    path.write_text("x_train,y_train\n0,1\n")


def _npy_renamed(path: Path) -> None:
    np.save(path.with_suffix(".npy"), np.zeros((4, 8, 8), np.uint8))
    path.with_suffix(".npy").rename(path)


def _zip_of_text(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", b"not an array")
        archive.writestr("y_train.npy", b"nor this")


@pytest.mark.parametrize(("write", "message"), [
    (_text_renamed, "not a valid .npz file (it is not a zip archive; write one with numpy.savez)"),
    (lambda path: path.write_bytes(b""), "not a valid .npz file (it is not a zip archive"),
    (_npy_renamed, "not a valid .npz file (it is not a zip archive"),
    (_zip_of_text, "not a valid .npz file: member(s) x_train, y_train not stored as numpy .npy "
                   "arrays"),
])
def test_a_file_that_is_not_an_npz_is_one_line_naming_it(db, tmp_path, write, message) -> None:
    """A text file renamed .npz was reported as "pickled data"; a renamed .npy, a TypeError."""
    path = tmp_path / "data.npz"
    write(path)
    with pytest.raises(DataError) as raised:
        register_dataset(db, "bad", f"npz:{path}")
    assert str(raised.value).startswith(f"{path}: {message}")
    assert "\n" not in str(raised.value)
    assert row_counts(db) == (0, 0)


def test_cli_data_add_of_a_renamed_text_file_exits_2(tmp_path) -> None:
    from tests.helpers import run_cli

    path = tmp_path / "data.npz"
    _text_renamed(path)
    result = run_cli("data", "add", "bad", f"npz:{path}", "--db", str(tmp_path / "t.db"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [  # the failed command leaves no new database
        f"proxystore: error: {path}: not a valid .npz file (it is not a zip archive; write one "
        "with numpy.savez)"]
    assert not (tmp_path / "t.db").exists()


def test_corrupt_idx_archive_is_reported(sqlite_db, tmp_path) -> None:
    for file in FASHION.iterdir():
        shutil.copy(file, tmp_path / file.name)
    data = (tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="t10k-images"):
        register_dataset(sqlite_db, "broken", f"idx:{tmp_path}")
    assert row_counts(sqlite_db) == (0, 0)


def test_unknown_dataset_names_the_registered_ones(sqlite_db) -> None:
    register_dataset(sqlite_db, "digits", "sklearn:digits")
    with pytest.raises(NotFoundError, match="registered: digits"):
        get_dataset(sqlite_db, "digitz")
