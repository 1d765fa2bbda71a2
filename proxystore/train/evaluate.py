"""Validation in large batches: sums accumulate on the device, read once per epoch."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from proxystore.train.augment import normalize
from proxystore.train.precision import autocast
from proxystore.train.stream import StreamedImages, batches


def top_k(num_classes: int) -> int:
    """k of the "top-5" metric: 5, or every class when there are fewer (error is then 0)."""
    return min(5, num_classes)


def eval_batches(x: torch.Tensor | StreamedImages, y: torch.Tensor, mean: torch.Tensor,
                 std: torch.Tensor, batch_size: int, channels_last: bool
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised, unaugmented (images, labels) batches covering the whole split in order.

    Args:
        x: uint8 images (resident or streamed).
        y: labels on the device.
        mean: per-channel mean.
        std: per-channel standard deviation.
        batch_size: examples per batch.
        channels_last: whether to hand the model channels_last tensors.
    """
    n = len(x)
    steps = -(-n // batch_size)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for images, labels in batches(x, y, np.arange(n), batch_size, steps):
        yield normalize(images, mean, std).contiguous(memory_format=memory_format), labels


def evaluate(model: torch.nn.Module, x: torch.Tensor | StreamedImages, y: torch.Tensor,
             mean: torch.Tensor, std: torch.Tensor, num_classes: int, *, batch_size: int,
             channels_last: bool, precision: torch.dtype | None = None) -> torch.Tensor:
    """Sums over the split, on the device: [loss (plain cross-entropy), top-1 wrong, top-k wrong].

    Args:
        model: the network (put in eval mode here).
        x: uint8 validation images.
        y: validation labels.
        mean: per-channel mean.
        std: per-channel standard deviation.
        num_classes: classes of the task (k = top_k(num_classes)).
        batch_size: evaluation batch size.
        channels_last: whether the model runs channels_last.
        precision: autocast dtype for the forward pass (None: fp32).
    """
    model.eval()
    k = top_k(num_classes)
    sums = torch.zeros(3, dtype=torch.float64, device=y.device)
    with torch.inference_mode():
        for images, labels in eval_batches(x, y, mean, std, batch_size, channels_last):
            with autocast(images.device, precision):
                logits = model(images)
            logits = logits.float()
            hits = logits.topk(k, dim=1).indices == labels.unsqueeze(1)
            sums += torch.stack([
                F.cross_entropy(logits, labels, reduction="sum"),
                (~hits[:, 0]).sum(),
                (~hits.any(dim=1)).sum(),
            ]).double()
    return sums
