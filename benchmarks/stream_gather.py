"""The streaming loader's gather on the host: batches of cached uint8 images into a reused buffer.

When a subset does not fit on the GPU, every training image passes through one host-side
operation: `np.take` of the batch's rows from the memory-mapped cache into a pinned buffer
(`proxystore.train.stream`). At 224 px that is 150 KB an image, so 10,000 images/s (issue 8's
target for RegNetX-400MF on an H100) is 1.5 GB/s of random reads. This script times that gather
alone, with no GPU, in one run and on the same file:

  buffered   np.take(..., out=buffer) with numpy's default mode="raise", which gathers into a
             temporary and copies it into `out` (the loader before it checked rows up front)
  T threads  the loader's gather (`_Gather`): rows checked once, mode="clip" writes straight into
             the buffer, each batch split across T threads

The cache file is written first, so it is read from the page cache (a warm cache, as any epoch
after the first on a machine with the RAM to hold it); from a cold disk, the rates are the disk's.

  python benchmarks/stream_gather.py                       # 20,000 images at 224 px, batch 256
  python benchmarks/stream_gather.py --images 512 --size 32 --repeats 1   # seconds, for CI
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from proxystore.train.stream import _Gather  # noqa: E402


def rates(images: np.ndarray, batch: int, thread_counts: list[int], repeats: int,
          seed: int = 0) -> dict[str, float]:
    """Best images/s over `repeats` passes of a random order, for each way of gathering."""
    order = np.random.default_rng(seed).permutation(len(images))
    steps = len(images) // batch
    out = np.empty((batch, *images.shape[1:]), dtype=images.dtype)

    def buffered(rows: np.ndarray, buffer: np.ndarray) -> None:
        np.take(images, rows, axis=0, out=buffer)

    ways = {"buffered (mode=raise), 1 thread": buffered}
    gathers = {t: _Gather(images, t) for t in thread_counts}
    ways.update({f"{t} thread{'s' if t > 1 else ''}": g for t, g in gathers.items()})
    best = dict.fromkeys(ways, 0.0)
    try:
        for _ in range(repeats):  # interleaved, so a noisy neighbour hits every way alike
            for name, gather in ways.items():
                started = time.perf_counter()
                for step in range(steps):
                    gather(order[step * batch:(step + 1) * batch], out)
                best[name] = max(best[name], steps * batch / (time.perf_counter() - started))
    finally:
        for g in gathers.values():
            g.close()
    return best


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Write a synthetic cache, time each gather, print a table; return images/s by way."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="gather threads to try (default 1, 2, 4 up to this machine's CPUs)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = args.threads or [t for t in (1, 2, 4) if t <= (cpus or 1)]
    shape = (args.images, 3, args.size, args.size)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cache.u8"
        rng = np.random.default_rng(0)
        with path.open("wb") as f:  # in chunks: the array need not fit in memory twice
            for start in range(0, args.images, 1024):
                n = min(1024, args.images - start)
                f.write(rng.integers(0, 256, (n, *shape[1:]), dtype=np.uint8).tobytes())
        images = np.memmap(path, dtype=np.uint8, mode="r", shape=shape)
        result = rates(images, args.batch, threads, args.repeats)
    mb = np.prod(shape[1:]) / 1e6
    print(f"{args.images} images of {args.size} px ({mb:.3f} MB each), batch {args.batch}, "
          f"{cpus} CPUs, numpy {np.__version__}")
    base = result["buffered (mode=raise), 1 thread"]
    print("| gather | images/s | GB/s | vs buffered |\n|---|---:|---:|---:|")
    for name, rate in result.items():
        print(f"| {name} | {rate:,.0f} | {rate * mb / 1e3:.2f} | {rate / base:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
