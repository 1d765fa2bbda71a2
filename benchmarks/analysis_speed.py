"""Time the analysis views and `analyze` on a result set the size of seed 2's study.

500 candidates x 15 tasks (1 reference, 5 ImageNet-X family members, 6 targets, 3 proxies in two
Table 2 strategies), one seed, cumulative depth and width per candidate, 1 % of the runs diverged,
imported with import-results into a fresh SQLite file. Prints the timings; targets: every view
together <= 2 s, analyze with 1,000 bootstrap resamples <= 30 s. Baseline in the same run: a copy
of the database downgraded to revision 0003 (the views before issue 15), same data and timer.

    PYTHONPATH=. python benchmarks/analysis_speed.py [--db sqlite:///path] [--boot 1000]
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy

from proxystore.analysis import analyze, import_results, views
from proxystore.db import Database, migrate, open_database

FAMILY = {"imagenet-100": 100, "imagenet-10": 10, "imagenet-5": 5, "imagenet-2": 2,
          "imagenet-1000-10": 1000}
TARGETS = {"concrete": 2, "mlc2008": 9, "ham10000": 7, "insects": 10, "cifar10": 10,
           "cifar100": 100}
PROXIES = {"cifar10-half": ("cifar10", "Half Classes-0.5", 5),
           "cifar100-half": ("cifar100", "Half Classes-0.5", 50),
           "cifar10-ep5": ("cifar10", "All Classes-1.0-ep5", 10)}


def results(n_candidates: int = 500, seed: int = 0) -> tuple[pd.DataFrame, dict[str, object]]:
    """Return the results table and roles of a seed-2-sized study."""
    rng = np.random.default_rng(seed)
    tasks: dict[str, dict[str, object]] = {"imagenet": {"role": "reference", "num_classes": 1000}}
    tasks |= {k: {"role": "family", "num_classes": v} for k, v in FAMILY.items()}
    tasks |= {k: {"role": "target", "num_classes": v} for k, v in TARGETS.items()}
    tasks |= {k: {"role": "proxy", "proxy_of": t, "strategy": s, "num_classes": n}
              for k, (t, s, n) in PROXIES.items()}
    depth = rng.integers(4, 28, n_candidates)
    width = rng.integers(200, 3000, n_candidates)
    quality = rng.normal(size=n_candidates)
    frames = []
    for label in tasks:
        errors = np.clip(0.3 + 0.05 * (rng.uniform(-1, 1) * quality
                                       + rng.normal(size=n_candidates)), 0, 1)
        diverged = rng.random(n_candidates) < 0.01
        frames.append(pd.DataFrame({
            "candidate": [f"arch{c:03d}" for c in range(n_candidates)], "task": label, "seed": 0,
            "error": np.where(diverged, np.nan, np.round(errors, 4)),
            "status": np.where(diverged, "diverged", "done"),
            "task_num_classes": tasks[label]["num_classes"],
            "gpu_seconds": rng.uniform(100, 1000, n_candidates),
            "cumulative_depth": depth, "cumulative_width": width}))
    return pd.concat(frames, ignore_index=True), tasks


NEW_VIEWS = ("imagenet_x_summary", "proxy_strategies")  # added by revision 0004


def time_views(db: Database, names: Iterable[str]) -> tuple[float, dict[str, float]]:
    """Return the best of 3 passes over the views (rows fetched) and one pass per view."""
    laps = []
    for _ in range(3):
        start = time.perf_counter()
        for name in names:
            views.view(db, name, "seed2")
        laps.append(time.perf_counter() - start)
    per_view = {}
    for name in names:
        start = time.perf_counter()
        views.view(db, name, "seed2")
        per_view[name] = round(time.perf_counter() - start, 3)
    return min(laps), per_view


def baseline_copy(path: Path) -> Database:
    """Copy the SQLite database and downgrade the copy to revision 0003 (the views before 0004)."""
    copy = path.with_name("baseline.db")
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # the WAL's pages too, which a file copy would miss
    baseline = open_database(f"sqlite:///{copy}", check=False)
    migrate.downgrade(baseline, "0003_analysis_view_fixes")
    return baseline


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
    best, per_view = time_views(db, views.VIEWS)
    print(f"all {len(views.VIEWS)} views: best {best:.2f} s of 3; per view (s): {per_view}")
    if not url.startswith("sqlite"):
        print("baseline (revision 0003) is measured on SQLite only")
    else:
        baseline = baseline_copy(Path(url.removeprefix("sqlite:///")))
        old = [name for name in views.VIEWS if name not in NEW_VIEWS]
        best_old, _ = time_views(baseline, old)
        print(f"baseline, the {len(old)} views at revision 0003 on the same data: "
              f"best {best_old:.2f} s of 3")
        baseline.dispose()
    start = time.perf_counter()
    analyze(db, "seed2", n_boot=args.boot, seed=0)
    print(f"analyze --boot {args.boot}: {time.perf_counter() - start:.2f} s")
    print(f"{db.dialect} {sqlite3.sqlite_version}, Python {platform.python_version()}, "
          f"SQLAlchemy {sqlalchemy.__version__}, numpy {np.__version__}, "
          f"pandas {pd.__version__}, {platform.machine()}")
    db.dispose()


if __name__ == "__main__":
    main()
