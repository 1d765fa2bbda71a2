"""Normalisation, pad-crop and flip on a hand-made batch: every output is a legal crop."""

from __future__ import annotations

import torch

from proxystore.train.augment import crop_flip, normalize


def _image_batch(b: int, h: int = 4, w: int = 5) -> torch.Tensor:
    """b copies of a 2-channel image whose every pixel value is distinct and non-zero."""
    image = torch.arange(1, 2 * h * w + 1, dtype=torch.float32).view(1, 2, h, w)
    return image.repeat(b, 1, 1, 1)


def test_normalize_matches_the_formula() -> None:
    images = torch.tensor([[[[0, 255], [51, 102]]], [[[255, 0], [0, 0]]]], dtype=torch.uint8)
    mean, std = torch.tensor([0.2]), torch.tensor([0.5])
    expected = (images.float() / 255 - 0.2) / 0.5
    assert torch.allclose(normalize(images, mean, std), expected, atol=1e-6)


def test_flip_probability_one_mirrors_every_image() -> None:
    batch = _image_batch(3)
    out = crop_flip(batch, padding=0, flip_prob=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, batch.flip(-1))


def test_nothing_to_do_returns_the_batch_unchanged() -> None:
    batch = _image_batch(2)
    assert torch.equal(crop_flip(batch, 0, 0.0, None), batch)


def test_every_output_is_a_padded_crop_possibly_mirrored() -> None:
    b, pad = 400, 2
    batch = _image_batch(b)
    out = crop_flip(batch, padding=pad, flip_prob=0.5,
                    generator=torch.Generator().manual_seed(1))
    assert out.shape == batch.shape
    padded = torch.nn.functional.pad(batch[0], (pad, pad, pad, pad))
    h, w = batch.shape[2:]
    candidates = {}
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            candidates[(dy, dx, False)] = crop
            candidates[(dy, dx, True)] = crop.flip(-1)
    found = []
    for image in out:
        matches = [key for key, crop in candidates.items() if torch.equal(image, crop)]
        assert matches, "an output is not a crop of the padded image"
        found.append(matches[0])
    assert {key[:2] for key in found} == {k[:2] for k in candidates}  # every offset occurs
    flipped = sum(key[2] for key in found) / b
    assert 0.4 < flipped < 0.6
    # Padded pixels are zero, i.e. the dataset mean after normalisation.
    assert (out == 0).any() and not (batch == 0).any()


def test_same_generator_seed_gives_the_same_augmentation() -> None:
    batch = _image_batch(16)
    a = crop_flip(batch, 1, 0.5, torch.Generator().manual_seed(5))
    b = crop_flip(batch, 1, 0.5, torch.Generator().manual_seed(5))
    c = crop_flip(batch, 1, 0.5, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
