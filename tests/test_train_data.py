"""TrainData.from_arrays (subsets, label maps, residency) and the streaming loader."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from proxystore.errors import DataError
from proxystore.train.data import TrainData
from proxystore.train.loop import build_seeded, train
from proxystore.train.stream import StreamedImages, batches, gather_threads
from tests.test_train_fixtures import Digits, load_digits_splits, recipe, tiny_cnn


@pytest.fixture
def digits() -> Digits:
    """The digits splits (loaded once per process)."""
    return load_digits_splits()


def test_subset_keeps_index_order_and_labels(digits) -> None:
    idx = np.array([5, 0, 99, 7])
    data = digits.data(train_indices=idx)
    assert data.train_x.dtype == torch.uint8 and data.train_x.shape == (4, 1, 8, 8)
    assert torch.equal(data.train_x, torch.from_numpy(digits.train_images[idx]))
    assert data.train_y.tolist() == digits.train_labels[idx].tolist()
    assert data.num_classes == 10 and not data.streamed


def test_num_classes_comes_from_whole_splits_not_the_subset(digits) -> None:
    only_low = np.flatnonzero(digits.train_labels < 3)
    assert digits.data(train_indices=only_low).num_classes == 10


def test_label_map_drops_validation_outside_it_and_rejects_training_outside_it(digits) -> None:
    label_map = {9: 0, 4: 1, 2: 2}
    val_keep = np.isin(digits.val_labels, [9, 4, 2])
    train_idx = np.flatnonzero(np.isin(digits.train_labels, [9, 4, 2]))
    data = digits.data(label_map=label_map, train_indices=train_idx)
    assert data.num_classes == 3
    expected = [label_map[int(v)] for v in digits.val_labels[val_keep]]
    assert data.val_y.tolist() == expected
    assert torch.equal(data.val_x, torch.from_numpy(digits.val_images[val_keep]))
    with pytest.raises(DataError, match="not in the label map"):
        digits.data(label_map=label_map)
    with pytest.raises(DataError, match="0..k-1"):
        digits.data(label_map={9: 0, 4: 2}, train_indices=train_idx)


def test_grayscale_without_channel_axis_and_bad_dtype(digits) -> None:
    data = TrainData.from_arrays(digits.train_images[:, 0], digits.train_labels,
                                 digits.val_images[:, 0], digits.val_labels, [0, 1], [0, 1],
                                 digits.mean, digits.std, None, "cpu")
    assert data.train_x.shape == (2, 1, 8, 8)
    with pytest.raises(DataError, match="uint8"):
        TrainData.from_arrays(digits.train_images.astype(np.float32), digits.train_labels,
                              digits.val_images, digits.val_labels, [0], [0], digits.mean,
                              digits.std, None, "cpu")


def test_size_rule_streams_when_the_budget_is_too_small(digits) -> None:
    bytes_needed = (1400 + 397) * 64
    assert not digits.data(max_resident_bytes=bytes_needed).streamed
    assert digits.data(max_resident_bytes=bytes_needed - 1).streamed


def _memmapped(tmp_path, array: np.ndarray) -> np.memmap:
    path = tmp_path / "cache.u8"
    array.tofile(path)
    return np.memmap(path, dtype=np.uint8, mode="r", shape=array.shape)


def test_streamed_batches_equal_resident_batches(digits, tmp_path) -> None:
    images = _memmapped(tmp_path, digits.train_images)
    idx = np.random.default_rng(1).permutation(1400)[:300]
    resident = torch.from_numpy(digits.train_images[idx])
    labels = torch.from_numpy(digits.train_labels[idx])
    order = np.random.default_rng(2).permutation(300)
    got = list(batches(StreamedImages(images, idx), labels, order, 64, 300 // 64))
    want = list(batches(resident, labels, order, 64, 300 // 64))
    assert len(got) == len(want) == 4
    for (gx, gy), (wx, wy) in zip(got, want, strict=True):
        assert torch.equal(gx, wx) and torch.equal(gy, wy)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_gather_split_across_threads_gives_the_same_batches(digits, tmp_path, threads) -> None:
    images = _memmapped(tmp_path, digits.train_images)
    idx = np.random.default_rng(3).permutation(1400)[:500]
    labels = torch.from_numpy(digits.train_labels[idx])
    order = np.random.default_rng(4).permutation(500)
    # batch 64 splits into chunks; the last batch (52) too; 7 threads x 2 > 13 rows does not.
    want = list(batches(torch.from_numpy(digits.train_images[idx]), labels, order, 64, 8))
    got = list(batches(StreamedImages(images, idx), labels, order, 64, 8, threads=threads))
    assert [len(b) for b, _ in got] == [64] * 7 + [52]
    for (gx, gy), (wx, wy) in zip(got, want, strict=True):
        assert torch.equal(gx, wx) and torch.equal(gy, wy)


def test_gather_threads_default_and_bounds(digits) -> None:
    assert gather_threads(torch.device("cpu")) == 1  # the CPU's cores are training
    assert 1 <= gather_threads(torch.device("cuda")) <= 4
    streamed = StreamedImages(digits.train_images, np.arange(10))
    with pytest.raises(ValueError, match="threads must be at least 1"):
        next(batches(streamed, torch.zeros(10, dtype=torch.long), np.arange(10), 5, 2, threads=0))


def test_streamed_iteration_stopped_early_does_not_hang(digits, tmp_path) -> None:
    images = _memmapped(tmp_path, digits.train_images)
    stream = batches(StreamedImages(images, np.arange(1400)), torch.zeros(1400, dtype=torch.long),
                     np.arange(1400), 8, 175, depth=1)
    next(stream)
    stream.close()  # runs the generator's cleanup: the background thread must finish


def test_streamed_gather_errors_reach_the_loop() -> None:
    broken = StreamedImages(np.zeros((4, 1, 2, 2), dtype=np.uint8), np.array([0, 1, 2, 9]))
    with pytest.raises(IndexError, match=r"indices must lie in \[0, 4\), got \[0, 9\]"):
        list(batches(broken, torch.zeros(4, dtype=torch.long), np.arange(4), 2, 2))
    # a position past the subset fails in the background thread and is raised in the loop
    fine = StreamedImages(np.zeros((4, 1, 2, 2), dtype=np.uint8), np.arange(4))
    with pytest.raises(IndexError):
        list(batches(fine, torch.zeros(8, dtype=torch.long), np.arange(8), 4, 2, threads=2))


def test_training_streamed_equals_training_resident(digits, tmp_path) -> None:
    train_images = _memmapped(tmp_path, digits.train_images)
    common = (digits.train_labels, digits.val_images, digits.val_labels, np.arange(1400),
              np.arange(397), digits.mean, digits.std, None, "cpu")
    streamed = TrainData.from_arrays(train_images, *common, resident=False)
    resident = TrainData.from_arrays(train_images, *common, resident=True)
    assert streamed.streamed and not resident.streamed
    results = [train(build_seeded(tiny_cnn, 0), data, recipe(epochs=2), 0, "cpu")
               for data in (streamed, resident)]
    a, b = ([dataclasses.replace(m, seconds=0.0) for m in r.epochs] for r in results)
    assert a == b
