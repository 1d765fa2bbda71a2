"""Normalisation and augmentation of a uint8 batch on its device, vectorised over the batch.

Pad-crop pads with zeros *after* normalisation, so padded pixels equal the dataset's mean (as
pycls's CIFAR loader does); crop and flip are one gather, with per-image offsets and flips drawn
from a generator on the device.
"""

from __future__ import annotations

import torch


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 (x / 255 - mean) / std, per channel.

    Args:
        images: uint8 batch.
        mean: per-channel mean in [0, 1] units.
        std: per-channel standard deviation in [0, 1] units.
    """
    scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
    shift = (-mean / std).view(1, -1, 1, 1)
    return torch.addcmul(shift, images.float(), scale)


def crop_flip(images: torch.Tensor, padding: int, flip_prob: float,
              generator: torch.Generator | None) -> torch.Tensor:
    """Randomly pad-crop by up to `padding` pixels and mirror with probability `flip_prob`.

    Returns a (B, C, H, W) tensor in channels_last memory layout (the gather's natural output).

    Args:
        images: float (B, C, H, W) batch, already normalised.
        padding: zero padding on each side; the crop offset is uniform in [0, 2 * padding].
        flip_prob: probability of a horizontal flip, drawn per image.
        generator: RNG on the batch's device (None: torch's default).
    """
    b, _, h, w = images.shape
    if padding == 0 and flip_prob == 0:
        return images
    device = images.device
    rows = torch.arange(h, device=device).expand(b, h)
    cols = torch.arange(w, device=device).expand(b, w)
    if padding > 0:
        images = torch.nn.functional.pad(images, (padding, padding, padding, padding))
        offsets = torch.randint(0, 2 * padding + 1, (2, b, 1), device=device,
                                generator=generator)
        rows = rows + offsets[0]
        cols = cols + offsets[1]
    if flip_prob > 0:
        flip = torch.rand(b, 1, device=device, generator=generator) < flip_prob
        # Mirroring the crop window is the same as mirroring the cropped image.
        cols = torch.where(flip, cols.flip(1), cols)
    batch = torch.arange(b, device=device).view(b, 1, 1)
    # Advanced indices around a slice: the result is (B, H, W, C); permute back to NCHW view.
    out = images[batch, :, rows.unsqueeze(2), cols.unsqueeze(1)]
    return out.permute(0, 3, 1, 2)
