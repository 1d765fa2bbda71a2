"""A cell's data on the device: uint8 images of a subset, remapped labels, mean and std.

Images stay uint8 until a batch is drawn (a quarter of float32's memory); normalisation and
augmentation happen per batch on the device (see `augment`). A split too large for the device
is left in its memory-mapped cache and streamed (see `stream` and `resident_budget`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from proxystore.errors import DataError
from proxystore.train.stream import StreamedImages

# Fraction of the device's memory that resident images may take; the rest is for the model.
RESIDENT_FRACTION = 0.5


@dataclass(frozen=True, eq=False)  # eq on tensors is ambiguous; identity is what's meant
class TrainData:
    """The tensors one cell trains and evaluates on.

    `train_x`/`val_x` are uint8 (N, C, H, W) tensors on the device, or `StreamedImages` when the
    data doesn't fit (then batches are gathered from the memory-mapped cache); labels are int64
    on the device, remapped to 0..num_classes-1; `mean`/`std` are float32 per channel in [0, 1]
    units, on the device.
    """

    train_x: torch.Tensor | StreamedImages
    train_y: torch.Tensor
    val_x: torch.Tensor | StreamedImages
    val_y: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    num_classes: int

    @property
    def device(self) -> torch.device:
        """The device the labels (and resident images) live on."""
        return self.train_y.device

    @property
    def streamed(self) -> bool:
        """Whether the training images are streamed from the cache instead of resident."""
        return isinstance(self.train_x, StreamedImages)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    @classmethod
    def from_arrays(cls, train_images: np.ndarray, train_labels: np.ndarray,
                    val_images: np.ndarray, val_labels: np.ndarray,
                    train_indices: np.ndarray, val_indices: np.ndarray,
                    mean: np.ndarray | list[float], std: np.ndarray | list[float],
                    label_map: dict[int, int] | None, device: str | torch.device, *,
                    resident: bool | None = None,
                    max_resident_bytes: int | None = None) -> TrainData:
        """Select a subset of two whole splits and put it on the device.

        Args:
            train_images: uint8 (N, C, H, W) (or (N, H, W), one channel) of the whole training
                split, at the task's image size; an np.memmap is fine.
            train_labels: integer labels of the whole training split.
            val_images: uint8 images of the whole validation split.
            val_labels: integer labels of the whole validation split.
            train_indices: positions of the subset's training examples (their order is kept).
            val_indices: positions of the validation examples to evaluate on.
            mean: per-channel mean in [0, 1] units (the dataset's own).
            std: per-channel standard deviation in [0, 1] units.
            label_map: original label -> 0..k-1 for class subsets; validation examples whose
                label is not in it are dropped. None keeps labels as they are.
            device: where the tensors live ("cpu", "cuda", "cuda:1", ...).
            resident: True copies the subset to the device, False streams it from the arrays,
                None decides by size: resident when the subset's uint8 images (both splits)
                take at most `max_resident_bytes`.
            max_resident_bytes: the budget for resident images; default `resident_budget`.
        """
        device = torch.device(device)
        train_images, val_images = _as_nchw(train_images), _as_nchw(val_images)
        if train_images.shape[1:] != val_images.shape[1:]:
            raise DataError(f"training images are {train_images.shape[1:]} but validation "
                            f"images are {val_images.shape[1:]}")
        train_indices, train_lab, val_indices, val_lab, num_classes = _select_labels(
            train_labels, val_labels, train_indices, val_indices, label_map)
        mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32).reshape(-1), device=device)
        std_t = torch.as_tensor(np.asarray(std, dtype=np.float32).reshape(-1), device=device)
        channels = train_images.shape[1]
        if mean_t.numel() != channels or std_t.numel() != channels:
            raise DataError(f"mean/std have {mean_t.numel()}/{std_t.numel()} values for "
                            f"{channels} channels")
        if resident is None:
            per_image = int(np.prod(train_images.shape[1:]))
            needed = (len(train_indices) + len(val_indices)) * per_image
            budget = resident_budget(device) if max_resident_bytes is None else max_resident_bytes
            resident = needed <= budget
        train_x: torch.Tensor | StreamedImages
        val_x: torch.Tensor | StreamedImages
        if resident:
            # One fancy index each: the subset is copied once, then lives on the device.
            train_x = torch.from_numpy(np.ascontiguousarray(train_images[train_indices]))
            val_x = torch.from_numpy(np.ascontiguousarray(val_images[val_indices]))
            train_x, val_x = train_x.to(device), val_x.to(device)
        else:
            train_x = StreamedImages(train_images, train_indices)
            val_x = StreamedImages(val_images, val_indices)
        return cls(train_x=train_x, train_y=torch.from_numpy(train_lab).to(device),
                   val_x=val_x, val_y=torch.from_numpy(val_lab).to(device),
                   mean=mean_t, std=std_t, num_classes=num_classes)


def _select_labels(train_labels: np.ndarray, val_labels: np.ndarray, train_indices: np.ndarray,
                   val_indices: np.ndarray, label_map: dict[int, int] | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The subset's labels, remapped by `label_map` (validation examples outside it dropped).

    Returns:
        (train_indices, train_labels, val_indices, val_labels, num_classes) as int64 arrays.

    Raises:
        DataError: a training label outside `label_map`, or an empty split.
    """
    train_indices = np.asarray(train_indices, dtype=np.int64)
    val_indices = np.asarray(val_indices, dtype=np.int64)
    train_lab = np.asarray(train_labels)[train_indices].astype(np.int64)
    val_lab = np.asarray(val_labels)[val_indices].astype(np.int64)
    if label_map is not None:
        num_classes = _check_label_map(label_map)
        train_lab = remap_labels(train_lab, label_map)
        if (train_lab < 0).any():
            bad = int(np.asarray(train_labels)[train_indices][train_lab < 0][0])
            raise DataError(f"training label {bad} is not in the label map")
        val_lab = remap_labels(val_lab, label_map)
        keep = val_lab >= 0
        val_indices, val_lab = val_indices[keep], val_lab[keep]
    else:
        num_classes = int(max(np.max(train_labels), np.max(val_labels))) + 1
    if len(train_indices) == 0 or len(val_indices) == 0:
        raise DataError(f"empty subset: {len(train_indices)} training and "
                        f"{len(val_indices)} validation examples")
    return train_indices, train_lab, val_indices, val_lab, num_classes


def resident_budget(device: str | torch.device) -> int:
    """Bytes of uint8 images allowed to live on `device`: half its memory (CUDA) or of RAM (CPU).

    Args:
        device: the training device.
    """
    device = torch.device(device)
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
    else:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(total * RESIDENT_FRACTION)


def _as_nchw(images: np.ndarray) -> np.ndarray:
    """Check dtype and rank; give (N, H, W) grayscale images a channel axis (a view)."""
    if images.dtype != np.uint8:
        raise DataError(f"images must be uint8, got {images.dtype}")
    if images.ndim == 3:
        return images[:, None]
    if images.ndim != 4:
        raise DataError(f"images must be (N, C, H, W) or (N, H, W), got shape {images.shape}")
    return images


def _check_label_map(label_map: dict[int, int]) -> int:
    """Return k after checking that the map's values are exactly 0..k-1."""
    values = sorted(label_map.values())
    if values != list(range(len(values))) or not values:
        raise DataError(f"label_map values must be 0..k-1 without gaps, got {values}")
    return len(values)


def remap_labels(labels: np.ndarray, label_map: Mapping[int, int]) -> np.ndarray:
    """Map dataset labels to a class subset's 0..k-1 (`label_map`); labels not in it become -1.

    The one label-remap helper: training (`TrainData.from_arrays`) and scoring
    (`train.losses.score_examples`) both use it.
    """
    lookup = np.full(max(int(labels.max(initial=0)), max(label_map)) + 1, -1, dtype=np.int64)
    for original, new in label_map.items():
        lookup[int(original)] = int(new)
    return lookup[labels]
