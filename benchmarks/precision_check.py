"""Precision check (issue 8): does bf16 or fp16 reach fp32's validation error within seed noise?

Trains one architecture with one recipe on a real dataset, S seeds per precision, on one device,
and compares the final top-1 validation error of each precision with fp32's: the difference of
mean errors with a Welch-t 95 % interval, and the verdict "within seed noise" when the interval
contains 0 or the difference is at most twice the pooled standard error. A seed gives the same
initial weights, batch order and augmentation under every precision; runs are interleaved by
seed so that load on a shared machine falls on every precision alike.

Needs only torch, torchvision, numpy, scipy and scikit-learn (no database, no MLflow).

  python benchmarks/precision_check.py --device cpu --threads 1              # digits, fp32 bf16
  python benchmarks/precision_check.py --device cuda --dataset fashion-mnist --train-n 20000
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.train_throughput import case_b_genome, environment, warm_up  # noqa: E402
from proxystore.data.resize import resize_batch  # noqa: E402
from proxystore.data.sources import ArrayImages, load_source  # noqa: E402
from proxystore.space import Genome, named_genome  # noqa: E402
from proxystore.train import precision as prec  # noqa: E402
from proxystore.train.data import TrainData  # noqa: E402
from proxystore.train.loop import DivergedError, TrainOptions, build_seeded, train  # noqa: E402
from proxystore.train.recipe import Recipe  # noqa: E402

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
# Recipe fields per dataset (epochs and image size come from the command line).
# Digits follows jobs/demo.yaml (no flips: digits are not mirror-symmetric, 1 px crop padding).
RECIPES = {
    "digits": {"batch_size": 64, "lr": 0.1, "weight_decay": 5e-4, "flip_prob": 0.0,
               "crop_padding": 1},
    "fashion-mnist": {"batch_size": 128, "lr": 0.1, "weight_decay": 5e-4, "flip_prob": 0.5},
}


@dataclass(frozen=True)
class Arrays:
    """Both splits of a dataset as uint8 (N, C, S, S), their labels, and the training stats."""

    train: np.ndarray
    train_labels: np.ndarray
    val: np.ndarray
    val_labels: np.ndarray
    mean: list[float]
    std: list[float]


def load_arrays(dataset: str, fashion_dir: str, image_size: int | None, train_n: int | None,
                val_n: int | None) -> Arrays:
    """Load a dataset through proxystore's sources, resize it, and subsample it.

    Args:
        dataset: "digits" (scikit-learn's, split 80/20 stratified as `proxystore data add`
            does) or "fashion-mnist" (the IDX files' own train/test split).
        fashion_dir: the folder holding Fashion-MNIST's IDX files.
        image_size: side in pixels (the resize policy of the decoded cache); None keeps the
            native size.
        train_n: keep this many training examples (a fixed random choice), None all.
        val_n: the same for the validation split.
    """
    source = "sklearn:digits" if dataset == "digits" else f"idx:{fashion_dir}"
    _, _, data = load_source(source)
    assert isinstance(data.images, ArrayImages)  # both sources hold arrays, not files
    size = image_size or int(data.images.train.shape[1])
    train = resize_batch(data.images.train, size)
    val = resize_batch(data.images.val, size)
    # Mean and std of the whole training split, as the decoded cache's stats.json has them.
    mean = (train.mean(axis=(0, 2, 3), dtype=np.float64) / 255.0).tolist()
    std = (train.std(axis=(0, 2, 3), dtype=np.float64) / 255.0).tolist()
    keep_train = _subsample(len(train), train_n)
    keep_val = _subsample(len(val), val_n)
    return Arrays(train[keep_train], data.train_labels[keep_train], val[keep_val],
                  data.val_labels[keep_val], mean, std)


def _subsample(n: int, count: int | None) -> np.ndarray:
    """Sorted positions of `count` of n examples, the same on every run (all when None)."""
    if count is None or count >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:count])


def choose_genome(arch: str, genome_seed: int, stem: str) -> Genome:
    """The architecture: "sampled" (seed 2's prior, 360-400 MF at 224 px) or a RegNetX name.

    Args:
        arch: "sampled" or a name such as RegNetX-400MF.
        genome_seed: the sampler's seed for "sampled".
        stem: "standard" (3x3 stride 2) or "small" (3x3 stride 1, for small images).
    """
    genome = case_b_genome(genome_seed) if arch == "sampled" else named_genome(arch)
    return genome.replace(stem_type=stem)


def run_one(genome: Genome, data: TrainData, recipe: Recipe, seed: int, device: torch.device,
            options: TrainOptions) -> dict:
    """Train one seed at one precision; the final top-1 error, or None when it diverged."""
    model = build_seeded(lambda: genome.build(data.num_classes, data.image_shape[0]), seed)
    try:
        result = train(model, data, recipe, seed, device, options=options)
    except DivergedError as error:
        return {"precision": recipe.precision, "seed": seed, "top1_error": None,
                "diverged": str(error), "wall_s": None}
    return {"precision": recipe.precision, "seed": seed, "top1_error": result.final_top1_error,
            "diverged": None, "wall_s": result.wall_seconds}


def compare(reference: list[float], other: list[float]) -> dict:
    """Difference of mean errors (other - reference), its Welch 95 % interval, and the verdict.

    Args:
        reference: fp32's final errors, one per seed.
        other: the other precision's final errors.
    """
    n1, n2 = len(reference), len(other)
    diff = float(np.mean(other) - np.mean(reference))
    if n1 < 2 or n2 < 2:
        return {"diff": diff, "low": None, "high": None, "pooled_se": None,
                "verdict": "too few runs"}
    v1, v2 = float(np.var(reference, ddof=1)), float(np.var(other, ddof=1))
    a, b = v1 / n1, v2 / n2
    pooled_se = math.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2) * (1 / n1 + 1 / n2))
    if a + b == 0:  # every run of both gave the same error: the interval is the point
        low = high = diff
    else:
        df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
        half = float(stats.t.ppf(0.975, df)) * math.sqrt(a + b)
        low, high = diff - half, diff + half
    within = low <= 0 <= high or abs(diff) <= 2 * pooled_se
    return {"diff": diff, "low": low, "high": high, "pooled_se": pooled_se,
            "verdict": "within seed noise" if within else "outside seed noise"}


def summarize(runs: list[dict], precisions: list[str]) -> list[dict]:
    """One row per precision: finished runs, mean and std of the error, s/run, and against fp32."""
    errors = {p: [r["top1_error"] for r in runs if r["precision"] == p and not r["diverged"]]
              for p in precisions}
    rows = []
    for p in precisions:
        mine = [r for r in runs if r["precision"] == p]
        done = errors[p]
        row = {"precision": p, "runs": len(mine), "finished": len(done),
               "mean": float(np.mean(done)) if done else None,
               "std": float(np.std(done, ddof=1)) if len(done) > 1 else None,
               "wall_s": float(np.mean([r["wall_s"] for r in mine if r["wall_s"] is not None]))
               if done else None}
        if p != "fp32" and done and errors["fp32"]:
            row["vs_fp32"] = compare(errors["fp32"], done)
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """A markdown table of the summary; errors and differences in percent (points)."""
    def pct(x: float | None) -> str:
        return "" if x is None else f"{100 * x:.2f}"

    lines = ["| precision | runs (finished) | top-1 error % mean | std | s/run "
             "| diff to fp32 (pp) | 95 % interval (Welch) | 2 x pooled SE | verdict |",
             "|---|---:|---:|---:|---:|---:|---|---:|---|"]
    for row in rows:
        cmp = row.get("vs_fp32")
        cells = [row["precision"], f"{row['runs']} ({row['finished']})", pct(row["mean"]),
                 pct(row["std"]), "" if row["wall_s"] is None else f"{row['wall_s']:.1f}"]
        if cmp is None:
            cells += ["", "", "", "reference" if row["precision"] == "fp32" else ""]
        else:
            interval = "" if cmp["low"] is None else \
                f"[{100 * cmp['low']:+.2f}, {100 * cmp['high']:+.2f}]"
            twice = "" if cmp["pooled_se"] is None else pct(2 * cmp["pooled_se"])
            cells += [f"{100 * cmp['diff']:+.2f}", interval, twice, cmp["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; precisions default by device (fp16 only on CUDA)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16", "fp16"],
                        help="default fp32 bf16 fp16 on CUDA, fp32 bf16 on the CPU")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..S-1 per precision")
    parser.add_argument("--dataset", choices=sorted(RECIPES), default="digits")
    parser.add_argument("--fashion-dir", default=FASHION_DIR)
    parser.add_argument("--train-n", type=int, default=None, help="subsample the training split")
    parser.add_argument("--val-n", type=int, default=None, help="subsample the validation split")
    parser.add_argument("--image-size", type=int, default=None, help="default: native size")
    parser.add_argument("--arch", default="sampled", help="'sampled' or e.g. RegNetX-400MF")
    parser.add_argument("--genome-seed", type=int, default=0, help="sampler seed for 'sampled'")
    parser.add_argument("--stem", choices=["standard", "small"], default="standard")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the dataset's")
    parser.add_argument("--lr", type=float, default=None, help="default: the dataset's")
    parser.add_argument("--layout", choices=["nhwc", "nchw"], default="nhwc",
                        help="nhwc (channels_last): bf16 on the CPU is far slower in nchw")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", type=Path, default=None, help="write settings, runs, summary")
    args = parser.parse_args(argv)
    args.precisions = args.precisions or (["fp32", "bf16", "fp16"] if args.device.startswith(
        "cuda") else ["fp32", "bf16"])
    if "fp32" not in args.precisions:
        parser.error("--precisions must include fp32, the reference")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Train every seed at every precision, print the table, return settings, runs, summary."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    env = environment(device)
    env["auto precision"] = str(prec.resolve("auto", device) or "fp32").replace("torch.", "")
    print(" ".join(f"{k}={v}" for k, v in env.items()), flush=True)
    warm_up()
    arrays = load_arrays(args.dataset, args.fashion_dir, args.image_size, args.train_n,
                         args.val_n)
    size = arrays.train.shape[-1]
    data = TrainData.from_arrays(arrays.train, arrays.train_labels, arrays.val, arrays.val_labels,
                                 np.arange(len(arrays.train)), np.arange(len(arrays.val)),
                                 arrays.mean, arrays.std, None, device)
    genome = choose_genome(args.arch, args.genome_seed, args.stem)
    fields = dict(RECIPES[args.dataset])
    fields.update({k: v for k, v in (("batch_size", args.batch_size), ("lr", args.lr))
                   if v is not None})
    recipe = Recipe(epochs=args.epochs, image_size=size, **fields)
    options = TrainOptions(channels_last=args.layout == "nhwc")
    cx = genome.complexity(size, data.num_classes, data.image_shape[0])
    settings = {"dataset": args.dataset, "train": len(arrays.train), "val": len(arrays.val),
                "image_size": size, "genome": genome.canonical(), "flops": cx.flops,
                "params": cx.params, "recipe": recipe.canonical(), "layout": args.layout,
                "seeds": args.seeds, "precisions": args.precisions}
    compact = json.dumps(genome.canonical(), separators=(",", ":"))
    print(f"{args.dataset}: {len(arrays.train)} train / {len(arrays.val)} val at {size} px; "
          f"{genome.name} {compact}: {cx.flops / 1e6:.2f} MF, {cx.params:,} params; "
          f"{args.epochs} epochs, {args.layout}", flush=True)
    runs = []
    for seed in range(args.seeds):
        for p in args.precisions:
            run = run_one(genome, data, recipe.replace(precision=p), seed, device, options)
            runs.append(run)
            print(json.dumps(run), flush=True)
    summary = summarize(runs, args.precisions)
    print(table(summary), flush=True)
    results = {"environment": env, "settings": settings, "runs": runs, "summary": summary}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
