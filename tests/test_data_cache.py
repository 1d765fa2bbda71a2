"""The decoded uint8 cache: faithful pixels, stats, resize policy, atomic writes, location."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from proxystore.data import cache as cache_module
from proxystore.data import resize
from proxystore.data.cache import cache_dir, decoded
from proxystore.data.registry import register_dataset
from proxystore.db import open_database
from proxystore.errors import DataError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def raw_idx_images(name: str) -> np.ndarray:
    raw = gzip.open(FASHION / name).read()
    return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)


def test_fashion_mnist_at_32px_matches_source_and_stats(sqlite_db, tmp_path) -> None:
    register_dataset(sqlite_db, "fashion", f"idx:{FASHION}")
    data = decoded(sqlite_db, "fashion", 32, cache_dir=tmp_path)
    assert data.train.shape == (60000, 1, 32, 32) and data.val.shape == (10000, 1, 32, 32)
    assert data.train.dtype == np.uint8 and isinstance(data.train, np.memmap)
    # Spot checks against an independent bilinear resize (PIL) of the raw IDX images.
    rng = np.random.default_rng(0)
    for split, name in (("train", "train-images-idx3-ubyte.gz"),
                        ("val", "t10k-images-idx3-ubyte.gz")):
        source = raw_idx_images(name)
        for i in rng.choice(len(source), 20, replace=False):
            expected = np.asarray(Image.fromarray(source[i]).resize((32, 32), Image.BILINEAR))
            diff = np.abs(getattr(data, split)[i, 0].astype(int) - expected.astype(int))
            assert diff.max() <= 1, (split, i)
    pixels = np.asarray(data.train, np.float64) / 255.0
    assert data.mean == pytest.approx((pixels.mean(),), abs=1e-9)
    assert data.std == pytest.approx((pixels.std(),), abs=1e-9)
    raw_labels = gzip.open(FASHION / "train-labels-idx1-ubyte.gz").read()
    assert np.array_equal(data.train_labels, np.frombuffer(raw_labels, np.uint8, offset=8))
    # A second call maps the same files instead of decoding again.
    assert decoded(sqlite_db, "fashion", 32, cache_dir=tmp_path).path == data.path


def test_native_size_is_kept_byte_for_byte(sqlite_db, tmp_path) -> None:
    register_dataset(sqlite_db, "fashion", f"idx:{FASHION}")
    data = decoded(sqlite_db, "fashion", 28, cache_dir=tmp_path)
    assert np.array_equal(data.val[:, 0], raw_idx_images("t10k-images-idx3-ubyte.gz"))


def test_large_images_shorter_side_then_centre_crop() -> None:
    image = np.zeros((1, 20, 40, 3), np.uint8)
    image[:, :, 4:36] = 200  # a bright centre band; the dark edges fall outside the crop
    out = resize.resize_batch(image, 10)
    assert out.shape == (1, 3, 10, 10)
    assert (out == 200).all()
    assert resize.resize_batch(image, 5)[0, 0, 0].tolist() == [200] * 5


def test_crashed_decode_leaves_nothing_complete_looking(sqlite_db, tmp_path, monkeypatch) -> None:
    register_dataset(sqlite_db, "digits", "sklearn:digits")
    real = resize.resize_batch
    calls = []

    def crash_on_second_chunk(images, size):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash mid-write")
        return real(images, size)

    monkeypatch.setattr(resize, "resize_batch", crash_on_second_chunk)
    where = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="simulated"):
        decoded(sqlite_db, "digits", 16, cache_dir=where)
    assert not list(where.glob("**/COMPLETE"))
    assert not list(where.iterdir())  # no final folder, and the temporary one is removed
    monkeypatch.setattr(resize, "resize_batch", real)
    data = decoded(sqlite_db, "digits", 16, cache_dir=where)
    assert (data.path / "COMPLETE").is_file() and data.train.shape == (1438, 1, 16, 16)


def fake_temp(final: Path, name: str | None = None, pid: int = 0) -> Path:
    """A half-written temporary decode folder: named for `pid` of this host, or `name`."""
    folder = final.parent / name if name else cache_module.temp_folder(final, pid)
    folder.mkdir(parents=True)
    (folder / "train.npy").write_bytes(b"\x93NUMPY partial")
    return folder


def test_abandoned_temp_folders_are_removed_live_ones_kept(sqlite_db, tmp_path) -> None:
    register_dataset(sqlite_db, "digits", "sklearn:digits")
    root = tmp_path / "cache"
    final = root / "0123456789abcdef-8px-v1"  # a decode of another dataset, killed or running
    finished = subprocess.Popen([sys.executable, "-c", ""])
    finished.wait()  # reaped: its pid names no process now
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = fake_temp(final, pid=finished.pid)
        mine = fake_temp(final, pid=os.getpid())
        alive = fake_temp(final, pid=running.pid)
        # From another host the pid says nothing: kept while fresh, removed after a day idle.
        elsewhere = fake_temp(final, f".{final.name}.tmp-otherhost-{finished.pid}-0badcafe")
        old = fake_temp(final, f".{final.name}.tmp-otherhost-{running.pid}-0ddba11a")
        day_ago = time.time() - cache_module.STALE_SECONDS - 60
        for path in (old, old / "train.npy"):
            os.utime(path, (day_ago, day_ago))
        data = decoded(sqlite_db, "digits", 8, cache_dir=root)
        assert not dead.exists() and not old.exists()
        assert mine.is_dir() and alive.is_dir() and elsewhere.is_dir()
        assert (data.path / "COMPLETE").is_file()
    finally:
        running.kill()
        running.wait()


def test_folder_images_decode_in_order(sqlite_db, tmp_path) -> None:
    root = tmp_path / "tree"
    for split in ("train", "val"):
        for value, cls in ((10, "a"), (240, "b")):
            (root / split / cls).mkdir(parents=True)
            Image.new("RGB", (30, 12), (value, value, value)).save(root / split / cls / "0.png")
    register_dataset(sqlite_db, "tree", f"folder:{root}")
    data = decoded(sqlite_db, "tree", 8, cache_dir=tmp_path / "cache")
    assert data.train.shape == (2, 3, 8, 8)
    assert (data.train[0] == 10).all() and (data.train[1] == 240).all()
    assert data.train_labels.tolist() == [0, 1]


def test_cache_dir_env_then_beside_sqlite_then_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(cache_module.ENV_VAR, str(tmp_path / "env"))
    assert cache_dir("sqlite:////x/y.db") == tmp_path / "env"
    monkeypatch.delenv(cache_module.ENV_VAR)
    assert cache_dir(f"sqlite:///{tmp_path / 'p.db'}") == tmp_path / "proxystore-cache"
    assert cache_dir("postgresql://u@h/db") == Path("~/.cache/proxystore").expanduser()


def test_default_cache_is_beside_the_database(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(cache_module.ENV_VAR, raising=False)
    db = open_database(f"sqlite:///{tmp_path / 'p.db'}", create=True)
    register_dataset(db, "digits", "sklearn:digits")
    data = decoded(db, "digits", 8)
    assert data.path.parent == tmp_path / "proxystore-cache"
    db.dispose()


@pytest.mark.parametrize("size", [0, 10**9, 8.0, True])
def test_an_image_size_outside_1_to_4096_writes_no_cache(sqlite_db, tmp_path, size) -> None:
    """10**9 px was accepted: the first image would have been 3 EB, after the folder was made."""
    register_dataset(sqlite_db, "digits", "sklearn:digits")
    with pytest.raises(DataError, match=f"image size must be an integer from 1 to 4096 pixels, "
                                        f"got {size!r}"):
        decoded(sqlite_db, "digits", size, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
