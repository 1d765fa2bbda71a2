"""Shared data and models for the trainer's tests: sklearn's digits and a tiny CNN.

No tests here; the test_train_* modules import these helpers (each wraps `load_digits_splits`,
cached, in its own fixture).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from proxystore.train.data import TrainData
from proxystore.train.recipe import Recipe


@dataclass(frozen=True)
class Digits:
    """The digits dataset as whole uint8 splits, the way the cache hands them over."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    def data(self, *, label_map: dict[int, int] | None = None, train_indices=None,
             val_indices=None, **kwargs) -> TrainData:
        """TrainData on the CPU for a subset (default: everything)."""
        if train_indices is None:
            train_indices = np.arange(len(self.train_labels))
        if val_indices is None:
            val_indices = np.arange(len(self.val_labels))
        return TrainData.from_arrays(self.train_images, self.train_labels, self.val_images,
                                     self.val_labels, train_indices, val_indices, self.mean,
                                     self.std, label_map, "cpu", **kwargs)


@functools.cache
def load_digits_splits() -> Digits:
    """1,797 8x8 digits scaled to 0..255, split 1,400 / 397 by a fixed permutation."""
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)  # the machine is shared; one thread keeps runs comparable
    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    train, val = order[:1400], order[1400:]
    scaled = images[train].astype(np.float64) / 255.0
    return Digits(images[train], labels[train], images[val], labels[val],
                  np.array([scaled.mean()], dtype=np.float32),
                  np.array([scaled.std()], dtype=np.float32))


def tiny_cnn(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """A two-conv network with batch norm: trains on digits in a second or two."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
    )


def recipe(**changes) -> Recipe:
    """A short digits recipe: 8 px, batch 64, SGD at lr 0.1 with cosine."""
    fields = {"epochs": 5, "image_size": 8, "batch_size": 64, "lr": 0.1, **changes}
    return Recipe(**fields)
