"""Time the analysis views and `analyze` on a result set the size of seed 2's study.

500 candidates x 15 tasks (1 reference, 5 ImageNet-X family members, 8 targets, 1 proxy of a
target), one seed, cumulative depth and width per candidate, imported with import-results into a
fresh SQLite file. Prints the timings; targets: every view together <= 2 s, analyze with 1,000
bootstrap resamples <= 30 s.

    PYTHONPATH=. python benchmarks/analysis_speed.py [--db sqlite:///path] [--boot 1000]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from proxystore.analysis import analyze, import_results, views
from proxystore.db import open_database

FAMILY = {"imagenet-100": 100, "imagenet-10": 10, "imagenet-5": 5, "imagenet-2": 2,
          "imagenet-1000-10": 1000}
TARGETS = {"concrete": 2, "mlc2008": 9, "ham10000": 7, "powerline": 2, "insects": 10,
           "natural": 6, "cifar10": 10, "cifar100": 100}


def results(n_candidates: int = 500, seed: int = 0) -> tuple[pd.DataFrame, dict[str, object]]:
    """Return the results table and roles of a seed-2-sized study."""
    rng = np.random.default_rng(seed)
    tasks: dict[str, dict[str, object]] = {"imagenet": {"role": "reference", "num_classes": 1000}}
    tasks |= {k: {"role": "family", "num_classes": v} for k, v in FAMILY.items()}
    tasks |= {k: {"role": "target", "num_classes": v} for k, v in TARGETS.items()}
    tasks["cifar10-half"] = {"role": "proxy", "proxy_of": "cifar10", "num_classes": 5}
    depth = rng.integers(4, 28, n_candidates)
    width = rng.integers(200, 3000, n_candidates)
    quality = rng.normal(size=n_candidates)
    frames = []
    for label in tasks:
        errors = np.clip(0.3 + 0.05 * (rng.uniform(-1, 1) * quality
                                       + rng.normal(size=n_candidates)), 0, 1)
        frames.append(pd.DataFrame({
            "candidate": [f"arch{c:03d}" for c in range(n_candidates)], "task": label, "seed": 0,
            "error": np.round(errors, 4), "gpu_seconds": rng.uniform(100, 1000, n_candidates),
            "cumulative_depth": depth, "cumulative_width": width}))
    return pd.concat(frames, ignore_index=True), tasks


def main() -> None:
    """Import, then time the views and analyze; print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None)
    parser.add_argument("--boot", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="proxystore-bench-"))
    url = args.db or f"sqlite:///{workdir / 'bench.db'}"
    frame, roles = results()
    path = workdir / "seed2.csv"
    frame.to_csv(path, index=False)
    db = open_database(url, create=True)
    start = time.perf_counter()
    summary = import_results(db, path, "seed2", roles=roles)
    print(f"import-results: {summary.line()} in {time.perf_counter() - start:.2f} s")
    laps = []
    for _ in range(3):
        start = time.perf_counter()
        sizes = {name: len(views.view(db, name, "seed2")) for name in views.VIEWS}
        laps.append(time.perf_counter() - start)
    print(f"all {len(views.VIEWS)} views: best {min(laps):.2f} s, worst {max(laps):.2f} s "
          f"of 3 ({sizes})")
    start = time.perf_counter()
    per_view = {}
    for name in views.VIEWS:
        t0 = time.perf_counter()
        views.view(db, name, "seed2")
        per_view[name] = round(time.perf_counter() - t0, 3)
    print(f"per view (s): {per_view}")
    start = time.perf_counter()
    analyze(db, "seed2", n_boot=args.boot, seed=0)
    print(f"analyze --boot {args.boot}: {time.perf_counter() - start:.2f} s")
    print(f"{db.dialect}, Python {platform.python_version()}, numpy {np.__version__}, "
          f"pandas {pd.__version__}, {platform.machine()}")
    db.dispose()


if __name__ == "__main__":
    main()
