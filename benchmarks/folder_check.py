"""Time the header check of folder datasets, its process pool, re-registration and decoding.

Writes an ImageFolder tree of photo-like JPEGs (ImageNet's typical 500 x 375, quality 90) and
one of 8 x 8 PNGs, then measures:
- the header check per file in one process (`images.inspect_file`), and over the process pool;
- `register_dataset` the first time (check included) and again (the recorded options: no check);
- decoding over the pool with workers that import torch at start (as before) and without.

    PYTHONPATH=. python benchmarks/folder_check.py [--jpegs 2000] [--pngs 20000]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from proxystore.data import folder, images, resize
from proxystore.data.pool import ordered_map
from proxystore.data.registry import register_dataset
from proxystore.db import open_database


def photo_jpeg(rng: np.random.Generator, width: int = 500, height: int = 375) -> bytes:
    """A smooth gradient with noise: compresses like a photograph (about 60-100 kB)."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_tree(root: Path, count: int, payloads: list[bytes], suffix: str) -> list[str]:
    """count files in 10 classes of root/train (and one per class in val), cycling payloads."""
    files = []
    for i in range(count):
        path = root / "train" / f"c{i % 10}" / f"{i:06d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payloads[i % len(payloads)])
        files.append(str(path))
    for c in range(10):
        (root / "val" / f"c{c}").mkdir(parents=True, exist_ok=True)
        (root / "val" / f"c{c}" / f"v{suffix}").write_bytes(payloads[0])
    return files


def seconds(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _torch_at_start() -> None:
    import torch

    torch.set_num_threads(1)  # the worker initializer before this change


def main(jpegs: int, pngs: int) -> None:
    """Run every measurement and print one line each."""
    print(f"{platform.node()}: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        jpeg_payloads = [photo_jpeg(rng) for _ in range(20)]
        jpeg_files = write_tree(base / "jpegs", jpegs, jpeg_payloads, ".jpg")
        print(f"JPEG tree: {jpegs} files, {np.mean([len(p) for p in jpeg_payloads]) / 1e3:.0f} kB "
              "each on average")
        one = seconds(lambda: [images.inspect_file(f) for f in jpeg_files]) / jpegs
        print(f"  header check, one process: {one * 1e3:.3f} ms per JPEG")
        pooled = seconds(lambda: list(ordered_map(images.inspect_file, jpeg_files, min_items=1)))
        print(f"  header check over the pool: {pooled:.2f} s for {jpegs} "
              f"({one * jpegs:.2f} s in one process)")
        png = io.BytesIO()
        Image.new("RGB", (8, 8), (40, 40, 40)).save(png, format="PNG")
        png_files = write_tree(base / "pngs", pngs, [png.getvalue()], ".png")
        one = seconds(lambda: [images.inspect_file(f) for f in png_files]) / pngs
        pooled = seconds(lambda: list(ordered_map(images.inspect_file, png_files, min_items=1)))
        print(f"PNG tree: {pngs} 8 x 8 files; header check {one * 1e3:.3f} ms per file in one "
              f"process ({one * pngs:.2f} s), {pooled:.2f} s over the pool "
              f"(threshold {folder.CHECK_POOL_MIN_FILES})")
        db = open_database(f"sqlite:///{base / 'b.db'}")
        first = seconds(lambda: register_dataset(db, "pngs", f"folder:{base / 'pngs'}"))
        again = seconds(lambda: register_dataset(db, "pngs", f"folder:{base / 'pngs'}"))
        print(f"  register_dataset: first {first:.2f} s (check included), again {again:.2f} s "
              "(recorded options, no check)")
        sample = png_files[:2000]
        for label, init in (("workers import torch at start", _torch_at_start),
                            ("workers import torch only to resize", resize._init_worker)):
            took = seconds(lambda init=init: list(ordered_map(
                lambda_free_decode, sample, initializer=init)))
            print(f"  decode {len(sample)} files over the pool, {label}: {took:.2f} s")


def lambda_free_decode(path: str) -> np.ndarray:
    """Decode one file at its own size (8 px: no resize), as the cache's pool does."""
    return resize.decode_file(path, "RGB", 8)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jpegs", type=int, default=2000)
    parser.add_argument("--pngs", type=int, default=20000)
    args = parser.parse_args()
    main(args.jpegs, args.pngs)
