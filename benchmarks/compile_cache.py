"""What torch.compile costs per cell, and what the on-disk cache of compiled graphs saves.

Trains one short cell of case b's genome (the 360-400 MF sample of train_throughput.py) in
three fresh processes that share a new, empty inductor cache directory, the way `fill` workers
share `<cache>/torch-compile`: eager (the reference), compiled with a cold cache, compiled again
with the cache the second process filled. The first epoch holds the compile time; the steady
epoch shows whether compiled training is faster once compiled.

  python benchmarks/compile_cache.py --device cuda --mode default
  python benchmarks/compile_cache.py --device cpu --train 512 --image 16   # this machine
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def one_cell(args: argparse.Namespace) -> dict:
    """Train the cell in this process; returns its epoch times."""
    import numpy as np
    import torch

    from benchmarks.train_throughput import case_b_genome
    from proxystore.train.data import TrainData
    from proxystore.train.loop import TrainOptions, build_seeded, train
    from proxystore.train.recipe import Recipe

    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.train, 3, args.image, args.image), dtype=np.uint8)
    y = rng.integers(0, 10, args.train)
    data = TrainData.from_arrays(x, y, x[:args.batch], y[:args.batch], np.arange(args.train),
                                 np.arange(args.batch), [0.5] * 3, [0.25] * 3, None, args.device)
    genome = case_b_genome(0)
    model = build_seeded(lambda: genome.build(num_classes=10), 0)
    recipe = Recipe(epochs=args.epochs, image_size=args.image, batch_size=args.batch, lr=0.05,
                    crop_padding=4, flip_prob=0.5)
    mode = None if args.child == "eager" else args.mode
    started = time.perf_counter()
    result = train(model, data, recipe, 0, args.device,
                   options=TrainOptions(compile=mode or False, eval_batch_size=args.batch))
    return {"wall_s": time.perf_counter() - started, "first_epoch_s": result.epochs[0].seconds,
            "steady_epoch_s": min(m.seconds for m in result.epochs[1:])}


def main(argv: list[str] | None = None) -> dict:
    """Run eager, cold-cache and warm-cache cells in fresh processes and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--mode", default="default", help="torch.compile mode")
    parser.add_argument("--train", type=int, default=5000, help="training images per epoch")
    parser.add_argument("--image", type=int, default=32)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", choices=["eager", "compiled"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_cell(args)), flush=True)
        return {}
    rows = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]))
        base = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:])]
        for name, child in (("eager", "eager"), ("compiled, cold cache", "compiled"),
                            ("compiled, warm cache", "compiled")):
            proc = subprocess.run([*base, "--child", child], env=env, capture_output=True,
                                  text=True, check=True)
            rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(name, json.dumps(rows[name]), flush=True)
    print(f"| {args.device}, mode {args.mode}, {args.train} images at {args.image} px, batch "
          f"{args.batch} | cell wall s | first epoch s | steady epoch s |\n|---|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['wall_s']:.1f} | {row['first_epoch_s']:.1f} | "
              f"{row['steady_epoch_s']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
