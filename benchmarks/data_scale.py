"""Time dataset registration and subsets at ImageNet scale on SQLite and PostgreSQL.

A synthetic labels-only dataset shaped like ImageNet-1k (1,281,167 training and 50,000
validation labels over 1,000 classes, 732 to 1,300 per class) is registered, then 128 k-member
subsets are declared and looked up. No images: the decoded cache plays no part here.

    PYTHONPATH=. python benchmarks/data_scale.py [--pg postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import numpy as np
import sqlalchemy
from sqlalchemy import create_engine, text

from proxystore.data.registry import labels, register_source_data
from proxystore.data.sources import SourceData, labels_content
from proxystore.data.subsets import SubsetDecl, declare_subset, subset_indices
from proxystore.db import migrate, open_database
from proxystore.db.engine import parse_url


def synthetic(train: int, val: int, classes: int, seed: int = 0) -> SourceData:
    """Labels shaped like ImageNet: per-class sizes between 57 % and 100 % of the largest."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(732, 1300, classes)
    sizes = np.floor(weights / weights.sum() * train).astype(np.int64)
    sizes[: train - sizes.sum()] += 1
    y_train = rng.permutation(np.repeat(np.arange(classes), sizes))
    y_val = np.repeat(np.arange(classes), val // classes)
    return SourceData(train_labels=y_train, val_labels=y_val, num_classes=classes, channels=3,
                      image_height=None, image_width=None, class_names=None,
                      content=labels_content(y_train, y_val), images=None)


def timed(label: str, fn, results: dict):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - start
    print(f"  {label:<44} {results[label]:7.2f} s", flush=True)
    return value


def run(url: str, data: SourceData) -> dict[str, float]:
    """Register `data` at `url` and declare and read back three 128 k-member subsets."""
    db = open_database(url, check=False, create=True)
    migrate.upgrade(db)
    results: dict[str, float] = {}
    timed("register 1.33 M examples", lambda: register_source_data(
        db, "imagenet-synthetic", "npz:/synthetic", {}, data), results)
    timed("re-register (idempotent, no writes)", lambda: register_source_data(
        db, "imagenet-synthetic", "npz:/synthetic", {}, data), results)
    timed("read train labels (one query)", lambda: labels(db, "imagenet-synthetic", "train"),
          results)
    decls = {
        "subset random 128,000 (10 %)": SubsetDecl("random", {"count": 128_000}, seed=0),
        "subset per_class 128 (128,000)": SubsetDecl("per_class", {"n": 128}, seed=0),
        "subset 100 classes (~128 k)": SubsetDecl("classes", {"k": 100}, seed=0),
    }
    for label, decl in decls.items():
        info = timed(label, lambda decl=decl: declare_subset(db, "imagenet-synthetic", decl),
                     results)
        print(f"    -> {info.name}: {info.train_count} train / {info.val_count} val")
    timed("re-declare random (found by fingerprint)", lambda: declare_subset(
        db, "imagenet-synthetic", decls["subset random 128,000 (10 %)"]), results)
    timed("subset_indices of the random subset", lambda: subset_indices(db, 1), results)
    db.dispose()
    return results


def main() -> None:
    """Run the benchmark on a temporary SQLite file and, if given, a PostgreSQL schema."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (a temporary schema is used)")
    parser.add_argument("--train", type=int, default=1_281_167)
    parser.add_argument("--val", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=1000)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"sqlalchemy {sqlalchemy.__version__}, {platform.machine()}")
    data = synthetic(args.train, args.val, args.classes)
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite")
        run(f"sqlite:///{Path(tmp) / 'bench.db'}", data)
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(parse_url(args.pg))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            print("PostgreSQL")
            sep = "&" if "?" in args.pg else "?"
            run(f"{args.pg}{sep}options={quote(f'-csearch_path={schema}')}", data)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
