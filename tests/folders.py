"""Image files for folder-dataset tests: good ones, and each kind of broken one."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(value: int | tuple[int, ...], mode: str = "RGB", size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size), value).save(buffer, format="PNG")
    return buffer.getvalue()


def noisy_jpeg_bytes(side: int = 64) -> bytes:
    """A JPEG whose compressed data is long enough to cut in the middle of its scan."""
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + tag + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def bomb_png(side: int = 20000) -> bytes:
    """A valid grey PNG of side x side zeros: a few hundred kilobytes, 400 MB once decoded."""
    compressor = zlib.compressobj(6)
    row = bytes(side + 1)  # filter byte + pixels
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def broken_files(bomb: bytes) -> dict[str, bytes]:
    """Relative path -> bytes of each kind of bad file, and the problem each is reported with."""
    jpeg = noisy_jpeg_bytes()
    corrupt = bytearray(jpeg)
    corrupt[2:40] = bytes(38)  # the segment headers after the start marker are zeros
    return {
        "train/a/corrupt.jpg": bytes(corrupt),
        "train/a/truncated.jpg": jpeg[: len(jpeg) * 2 // 3],
        "train/b/empty.png": b"",
        "val/a/text.png": b"these are not the pixels you are looking for\n",
        "val/b/bomb.png": bomb,
    }


PROBLEMS = {
    "train/a/corrupt.jpg": "not an image PIL can read",
    "train/a/truncated.jpg": "truncated JPEG (no end-of-image marker)",
    "train/b/empty.png": "empty file (0 bytes)",
    "val/a/text.png": "not an image PIL can read",
    "val/b/bomb.png": "20000 x 20000 pixels, over the limit of 67,108,864 (a decompression bomb?)",
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write relative path -> bytes under root; return root."""
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def good_tree(root: Path, per_class: int = 3, val_per_class: int = 1) -> Path:
    """Classes a (grey 40) and b (grey 200), RGB PNGs, 8 x 8."""
    files = {}
    for cls, value in (("a", 40), ("b", 200)):
        data = png_bytes((value, value, value))
        files.update({f"train/{cls}/{i:05d}.png": data for i in range(per_class)})
        files.update({f"val/{cls}/{i:05d}.png": data for i in range(val_per_class)})
    return write_tree(root, files)
