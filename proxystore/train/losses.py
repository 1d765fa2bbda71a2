"""Per-example losses of a trained model, to rank examples for easy/hard subsets."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from proxystore.errors import DataError
from proxystore.train.data import remap_labels, resident_budget
from proxystore.train.evaluate import eval_batches
from proxystore.train.stream import StreamedImages


def per_example_losses(model: torch.nn.Module, images_uint8: np.ndarray | torch.Tensor,
                       labels: np.ndarray | torch.Tensor, mean: np.ndarray | torch.Tensor,
                       std: np.ndarray | torch.Tensor, device: str | torch.device,
                       batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Cross-entropy and correctness of each example, in eval mode, without augmentation.

    Returns (loss float32 (N,), correct bool (N,)) in the order of `images_uint8`; results stay
    on the device until one copy at the end.

    Args:
        model: the trained network (moved to `device`, put in eval mode).
        images_uint8: uint8 (N, C, H, W) (or (N, H, W)) images; a numpy array larger than
            `resident_budget(device)` (e.g. a memory-mapped cache) is streamed, not copied.
        labels: labels in the model's class numbering (already remapped).
        mean: per-channel mean in [0, 1] units.
        std: per-channel standard deviation in [0, 1] units.
        device: where to run.
        batch_size: examples per forward pass.
    """
    device = torch.device(device)
    if images_uint8.dtype not in (np.uint8, torch.uint8):
        raise ValueError(f"images must be uint8, got {images_uint8.dtype}")
    if images_uint8.ndim == 3:
        images_uint8 = images_uint8[:, None]
    x: torch.Tensor | StreamedImages
    if torch.is_tensor(images_uint8):
        x = images_uint8.to(device)
    elif images_uint8.nbytes > resident_budget(device):  # as in training: stream what won't fit
        x = StreamedImages(images_uint8, np.arange(len(images_uint8)))
    else:
        x = torch.from_numpy(np.ascontiguousarray(images_uint8)).to(device)
    y = torch.as_tensor(labels, dtype=torch.int64).to(device)
    mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1).to(device)
    std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1).to(device)
    model = model.to(device).eval()
    losses, correct = [], []
    with torch.inference_mode():
        for batch, target in eval_batches(x, y, mean_t, std_t, batch_size, channels_last=False):
            logits = model(batch).float()
            losses.append(F.cross_entropy(logits, target, reduction="none"))
            correct.append(logits.argmax(dim=1) == target)
    return (torch.cat(losses).cpu().numpy().astype(np.float32),
            torch.cat(correct).cpu().numpy())


def score_examples(model: torch.nn.Module, images_uint8: np.ndarray, labels: np.ndarray,
                   label_map: Mapping[int, int] | None, mean: np.ndarray | torch.Tensor,
                   std: np.ndarray | torch.Tensor, device: str | torch.device,
                   batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Score a subset's training examples for easy/hard subsets: the one scoring path.

    The runner calls it for runs marked as scorers and writes the result with the run
    (`runner.claims`); `loss_quantile` subsets read it back from `example_losses`.

    Args:
        model: the trained network, with outputs over the subset's classes.
        images_uint8: the examples' uint8 images, in the order of the scores returned.
        labels: their labels in the dataset's numbering.
        label_map: dataset label -> subset class (a class subset), or None to keep labels.
        mean: per-channel mean in [0, 1] units.
        std: per-channel standard deviation in [0, 1] units.
        device: where to run.
        batch_size: examples per forward pass.

    Raises:
        DataError: a label is outside `label_map`, or a loss is not finite (nothing to rank by).
    """
    labels = np.asarray(labels, np.int64)
    if label_map:
        labels = remap_labels(labels, label_map)
        if (labels < 0).any():
            raise DataError("some training examples have labels outside the subset's label map")
    losses, correct = per_example_losses(model, images_uint8, labels, mean, std, device,
                                         batch_size)
    if not np.isfinite(losses).all():
        raise DataError("the model gives non-finite per-example losses; scores not stored")
    return losses, correct
