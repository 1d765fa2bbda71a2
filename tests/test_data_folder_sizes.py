"""Folder datasets of every size decode: 512 to 40,959 images could not be decoded at all.

The cache built its progress bar disabled below 40,960 images and then enabled it for folders of
512 or more files, which tqdm cannot do ("'tqdm' object has no attribute 'last_print_n'");
Imagenette and Imagewoof are in that range.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from proxystore.data.cache import decoded
from proxystore.data.registry import register_dataset
from tests.folders import png_bytes, write_tree

LARGE = 41_000  # above 10 x the array chunk (40,960): the bar is enabled from the start


def tree(root: Path, train_images: int) -> Path:
    """train_images 8 x 8 PNGs in classes a (grey 40) and b (grey 200), and 2 validation ones."""
    dark, light = png_bytes((40, 40, 40)), png_bytes((200, 200, 200))
    half = train_images // 2
    files = {f"train/a/{i:05d}.png": dark for i in range(half)}
    files.update({f"train/b/{i:05d}.png": light for i in range(train_images - half)})
    files.update({"val/a/0.png": dark, "val/b/0.png": light})
    return write_tree(root, files)


@pytest.fixture(scope="session")
def large_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """41,000 training images, written once per test session."""
    return tree(tmp_path_factory.mktemp("large") / "tree", LARGE)


def check_decode(db, root: Path, train_images: int, cache: Path) -> None:  # type: ignore[no-untyped-def]
    info = register_dataset(db, "sized", f"folder:{root}")
    assert info.train_count == train_images
    data = decoded(db, "sized", 8, cache_dir=cache)
    assert data.train.shape == (train_images, 3, 8, 8)
    half = train_images // 2
    assert data.train_labels[:half].max() == 0 and data.train_labels[half:].min() == 1
    # Every image in its place: the class's grey, in order.
    assert (data.train[:half] == 40).all() and (data.train[half:] == 200).all()
    assert data.val[:, 0, 0, 0].tolist() == [40, 200]


@pytest.mark.parametrize("train_images", [511, 512, 4_000])
def test_folders_around_the_pool_threshold_decode(sqlite_db, tmp_path, train_images) -> None:
    check_decode(sqlite_db, tree(tmp_path / "tree", train_images), train_images,
                 tmp_path / "cache")


@pytest.mark.slow
def test_a_folder_of_41000_images_decodes(sqlite_db, tmp_path, large_tree) -> None:
    check_decode(sqlite_db, large_tree, LARGE, tmp_path / "cache")
