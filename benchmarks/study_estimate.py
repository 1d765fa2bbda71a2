"""Device-days for a whole study from measured training rates: seed 2 on one GPU, say.

Reads the study spec (default jobs/imagenet_as_basis.yaml, seed 2's 500 genomes x 15 tasks) for
each task's epochs and image size, takes each task's training and validation sizes from the
paper's Table 1 (the data need not be present), and prices every cell with a time per image
interpolated between two measured rates:

  - `--rate-large`: training images/s at `--large-px` (case a of train_throughput.py: 224 px);
  - `--rate-small`: training images/s at `--small-px` (case b: 32 px; from its JSON, the
    epoch's evaluation is taken out of the rate);
  - between and beyond them, seconds per image are linear in the pixel count (the convolutions'
    work is; at small sizes launches dominate, which the small-image rate already holds).

Evaluation each epoch is priced at `--eval-cost` of a training image per validation image (a
forward pass without backward: about a third). `--per-device K` multiplies the rate of tasks at
or below `--small-px`'s size by the measured gain of K cells per device (case c).

  python benchmarks/study_estimate.py --from-json a.json b.json c.json     # the GPU session
  python benchmarks/study_estimate.py --rate-large 10000 --rate-small 40000 --per-device-gain 2
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxystore.study.spec import load_spec  # noqa: E402

# Training and validation images per task of jobs/imagenet_as_basis.yaml, from Table 1 of
# Tuggener et al. (sizes of whole datasets; an 80/20 split where the dataset has no validation
# split, as the spec declares) and ImageNet's 1,281,167 / 50,000 with 50 validation images a
# class. ImageNet-X keeps X classes' images; ImageNet-1000-10 keeps 10 training images a class.
TASK_SIZES: dict[str, tuple[int, int]] = {
    "imagenet": (1_281_167, 50_000),
    "imagenet-100": (128_117, 5_000),
    "imagenet-10": (12_812, 500),
    "imagenet-5": (6_406, 250),
    "imagenet-2": (2_562, 100),
    "imagenet-1000-10": (10_000, 50_000),
    "concrete": (32_000, 8_000),
    "mlc2008": (34_400, 8_600),
    "ham10000": (8_012, 2_003),
    "powerline": (6_400, 1_600),
    "insects": (50_400, 12_600),
    "natural": (20_000, 5_000),
    "cifar10": (50_000, 10_000),
    "cifar100": (50_000, 10_000),
}


@dataclass(frozen=True)
class Rates:
    """Measured training rates at two sizes, and what several cells per device gain."""

    large: float
    large_px: int
    small: float
    small_px: int
    eval_cost: float = 1 / 3
    per_device_gain: float = 1.0

    def seconds_per_image(self, px: int) -> float:
        """Training seconds per image at `px`, linear in pixels through the two measurements."""
        a, b = 1 / self.small, 1 / self.large
        t = (px * px - self.small_px ** 2) / (self.large_px ** 2 - self.small_px ** 2)
        return max(a + t * (b - a), min(a, b) * 0.1)

    def gain(self, px: int) -> float:
        """The per-device gain applies to the small-image work it was measured on."""
        return self.per_device_gain if px <= self.small_px else 1.0


def estimate(spec_path: str, rates: Rates) -> list[dict[str, Any]]:
    """One row per task: cells, images per cell, epochs, px, and device-hours for all its cells."""
    spec = load_spec(spec_path)
    candidates = next(iter(spec.candidates))
    cells_per_task = len(spec.candidates) * len(spec.seeds)
    rows = []
    for name in spec.tasks:
        if name not in TASK_SIZES:
            raise SystemExit(f"{spec_path}: no size known for task {name!r} "
                             f"(known: {', '.join(TASK_SIZES)})")
        recipe = spec.recipe(name, candidates)
        train, val = TASK_SIZES[name]
        per_image = rates.seconds_per_image(recipe.image_size)
        cell = recipe.epochs * (train + rates.eval_cost * val) * per_image
        cell /= rates.gain(recipe.image_size)
        rows.append({"task": name, "cells": cells_per_task, "train": train, "val": val,
                     "epochs": recipe.epochs, "px": recipe.image_size, "cell_s": cell,
                     "hours": cells_per_task * cell / 3600})
    return rows


def rates_from_json(paths: list[Path], eval_cost: float = 1 / 3) -> dict[str, float]:
    """Rates from train_throughput.py --json files: case a's and case b's images/s, case c's
    best cells/hour against K=1.

    Case b's images/s divides the training images by the whole epoch, its evaluation of
    b_val images included; it is turned into a training-only rate at `eval_cost` per
    validation image, as `estimate` prices evaluation separately.
    """
    found: dict[str, float] = {}
    for path in paths:
        saved = json.loads(path.read_text())
        sizes = saved.get("sizes", {})
        for case, rows in saved["results"].items():
            if case.startswith("a ") and "ours" in rows:
                found["rate_large"] = rows["ours"]["images_per_s"]
            if case.startswith("b ") and "ours" in rows:
                share = sizes["b_val"] / sizes["b_train"] if sizes else 0.0
                found["rate_small"] = rows["ours"]["images_per_s"] * (1 + eval_cost * share)
            if case.startswith("c ") and "K=1" in rows:
                best = max(r["cells_per_hour"] for r in rows.values())
                found["per_device_gain"] = best / rows["K=1"]["cells_per_hour"]
    return found


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print the per-task table and the total in device-days."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="jobs/imagenet_as_basis.yaml")
    parser.add_argument("--from-json", type=Path, nargs="*", default=[],
                        help="train_throughput.py --json files (cases a, b, c)")
    parser.add_argument("--rate-large", type=float, default=None)
    parser.add_argument("--large-px", type=int, default=224)
    parser.add_argument("--rate-small", type=float, default=None)
    parser.add_argument("--small-px", type=int, default=32)
    parser.add_argument("--eval-cost", type=float, default=1 / 3)
    parser.add_argument("--per-device-gain", type=float, default=None)
    parser.add_argument("--device", default="the measured device", help="name for the output")
    args = parser.parse_args(argv)
    found = rates_from_json(args.from_json, args.eval_cost)
    large = args.rate_large or found.get("rate_large")
    small = args.rate_small or found.get("rate_small")
    if not large or not small:
        parser.error("need --rate-large and --rate-small (or --from-json with cases a and b)")
    rates = Rates(large=large, large_px=args.large_px, small=small, small_px=args.small_px,
                  eval_cost=args.eval_cost,
                  per_device_gain=args.per_device_gain or found.get("per_device_gain", 1.0))
    rows = estimate(args.spec, rates)
    total_hours = sum(r["hours"] for r in rows)
    print(f"rates: {rates.large:,.0f} images/s at {rates.large_px} px, {rates.small:,.0f} at "
          f"{rates.small_px} px; eval {rates.eval_cost:.2f} of a training image; "
          f"{rates.per_device_gain:.2f}x from several cells per device at {rates.small_px} px")
    print("| task | cells | train images | val images | epochs | px | one cell, s | "
          "all cells, device-hours |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['task']} | {r['cells']} | {r['train']:,} | {r['val']:,} | {r['epochs']} | "
              f"{r['px']} | {r['cell_s']:,.1f} | {r['hours']:,.1f} |")
    print(f"| **total** | {sum(r['cells'] for r in rows):,} | | | | | | "
          f"**{total_hours:,.0f} ({total_hours / 24:,.1f} days)** |")
    print(f"{args.spec} on one {args.device}: {total_hours / 24:,.1f} device-days "
          f"(the paper: 85 V100-days)")
    return {"rows": rows, "device_days": total_hours / 24, "rates": rates}


if __name__ == "__main__":
    main()
