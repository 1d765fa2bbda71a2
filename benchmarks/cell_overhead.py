"""What `fill` adds to each cell around the trainer, on a CIFAR-10-sized dataset.

The 32 px target (issue 8) is a whole 30-epoch cell in under a minute on an H100, so what a
worker does around `train()` must be small beside that: claim, load the architecture, recipe,
subset indices and decoded images, put the subset on the device, build the network, write 30
epoch rows and the result, hand the run to MLflow's logging thread. This benchmark runs `fill`
on a synthetic CIFAR-sized `.npz` dataset (50,000 + 10,000 images, 3 x 32 x 32 uint8) with
`train()` replaced by a stand-in that returns 30 epochs of metrics at once, so everything timed
is overhead, and splits the per-cell time into its parts, without MLflow, with a SQLite store
and with MLflow down (a closed port). The first cell also decodes the dataset into the cache;
it is reported apart, as are MLflow's logging thread (beside the cells) and its work before
and after the cells.

  PYTHONPATH=. python benchmarks/cell_overhead.py [--cells 12]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from proxystore.db import open_database

# The parts in the order a cell goes through them; two happen inside "load inputs (all)".
# The worker only hands a finished run to MLflow's thread; the logging itself is apart.
ORDER = ("claim", "load inputs (all)", "decoded images (mmap)", "subset indices (SQL)",
         "subset to device", "build network", "write result + epochs", "MLflow hand-off")
INSIDE_LOAD = ("decoded images (mmap)", "subset indices (SQL)")
BACKGROUND = ("MLflow log (background thread)",)
ALONE = "MLflow log alone (sync into a fresh store, per run)"
ONCE = ("MLflow prepare (once, before the first cell)",
        "MLflow finish (once: wait for the thread, sync the study)")
MODES = {"off": "without MLflow", "up": "MLflow (SQLite store)",
         "down": "MLflow down (closed port)"}


def make_npz(path: Path, train: int, val: int, seed: int = 0) -> None:
    """A CIFAR-10-shaped dataset of random uint8 images (content doesn't change the timings)."""
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.integers(0, 256, (train, 32, 32, 3), dtype=np.uint8),
             y_train=rng.integers(0, 10, train), x_val=rng.integers(0, 256, (val, 32, 32, 3),
                                                                    dtype=np.uint8),
             y_val=rng.integers(0, 10, val))


def spec_text(npz: Path, genomes: int, epochs: int) -> str:
    """Two tasks (the whole set and a random half) over `genomes` sampled in-band genomes."""
    return yaml.safe_dump({
        "name": "overhead",
        "datasets": {"cifar-like": {"source": f"npz:{npz}"}},
        "defaults": {"image_size": 32, "epochs": epochs, "batch_size": 128, "lr": 0.05},
        "tasks": {"full": {"dataset": "cifar-like", "role": "target"},
                  "half": {"dataset": "cifar-like", "role": "proxy", "proxy_of": "full",
                           "subset": {"kind": "random", "fraction": 0.5, "seed": 0}}},
        "candidates": {"architectures": {"sampled": {"count": genomes, "seed": 0}}},
        "seeds": [0],
    }, sort_keys=False)


class Timers:
    """Accumulated seconds per named part, and a way to wrap functions into them."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = collections.defaultdict(list)

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name].append(time.perf_counter() - started)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.part(name):
                return fn(*args, **kwargs)
        return timed


def stand_in_train(epochs_seconds: float = 0.0) -> Callable[..., Any]:
    """A `train()` that trains nothing and reports every epoch of the recipe at once."""
    from proxystore.train.loop import EpochMetrics, _result

    def train(model, data, recipe, seed, device, *, on_epoch=None, should_stop=None,
              options=None):  # noqa: ANN001, ARG001 - the trainer's signature
        history = []
        for epoch in range(1, recipe.epochs + 1):
            metrics = EpochMetrics(epoch=epoch, train_loss=1.0 / epoch, train_error=0.5,
                                   val_loss=1.0 / epoch, top1_error=0.5, top5_error=0.1,
                                   lr=0.01, seconds=epochs_seconds)
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(metrics)
        return _result(history, recipe, 0.0, 0.0, "stand-in")

    return train


def closed_port_uri() -> str:
    """An http:// tracking URI on a local port nobody listens on (MLflow down)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def run(db_url: str, folder: Path, cells: int, epochs: int, mlflow: str) -> dict[str, Any]:
    """Fill the study once with the stand-in trainer and every part timed; returns the figures.

    `mlflow` is "off" (no logging), "up" (a SQLite store) or "down" (a closed port)."""
    import proxystore.data.cache as cache
    import proxystore.data.subsets as subsets
    import proxystore.runner.claims as claims
    import proxystore.runner.worker as worker
    import proxystore.tracking as tracking
    import proxystore.tracking.runs as tracking_runs
    import proxystore.train.data as train_data
    import proxystore.train.loop as loop
    from proxystore.runner.execution import ExecutionOptions
    from proxystore.runner.fill import fill
    from proxystore.space.genome import Genome
    from proxystore.study.spec import load_spec

    timers = Timers()
    patches = [
        (loop, "train", stand_in_train()),
        (worker, "load_inputs", timers.wrap("load inputs (all)", worker.load_inputs)),
        (cache, "decoded", timers.wrap("decoded images (mmap)", cache.decoded)),
        (subsets, "subset_indices", timers.wrap("subset indices (SQL)", subsets.subset_indices)),
        (claims, "claim_next", timers.wrap("claim", claims.claim_next)),
        (claims, "complete", timers.wrap("write result + epochs", claims.complete)),
        (tracking, "log_later", timers.wrap("MLflow hand-off", tracking.log_later)),
        (tracking_runs, "log_run", timers.wrap(BACKGROUND[0], tracking_runs.log_run)),
        (tracking, "prepare", timers.wrap(ONCE[0], tracking.prepare)),
        (tracking, "finish", timers.wrap(ONCE[1], tracking.finish)),
        (Genome, "build", timers.wrap("build network", Genome.build)),
    ]
    from_arrays = train_data.TrainData.from_arrays.__func__  # type: ignore[attr-defined]
    patches.append((train_data.TrainData, "from_arrays",
                    classmethod(timers.wrap("subset to device", from_arrays))))
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    for obj, name, value in patches:
        setattr(obj, name, value)
    npz = folder / "cifar-like.npz"
    spec_path = folder / "overhead.yaml"
    spec_path.write_text(spec_text(npz, cells // 2, epochs))
    try:
        db = open_database(db_url, create=True)
        uri = {"off": None, "up": f"sqlite:///{folder / 'mlflow.db'}",
               "down": closed_port_uri()}[mlflow]
        per_cell: list[float] = []
        started = time.perf_counter()
        original_run_claim = worker.run_claim

        def timed_run_claim(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return original_run_claim(*args, **kwargs)
            finally:
                per_cell.append(time.perf_counter() - t)

        worker.run_claim = timed_run_claim
        try:
            result = fill(load_spec(str(spec_path)), db,
                          ExecutionOptions(device="cpu", mlflow_uri=uri), quiet=True)
        finally:
            worker.run_claim = original_run_claim
        total = time.perf_counter() - started
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)
    assert len(result.summary.done) == cells, result.summary
    later = {k: float(np.mean(v[1:])) for k, v in timers.seconds.items()
             if len(v) > 1 and k not in ONCE}
    if mlflow == "up":  # the thread's work with nothing beside it: every run again, afresh
        alone = f"sqlite:///{folder / 'alone' / 'mlflow.db'}"
        tracking.ensure_store(alone)
        t = time.perf_counter()
        assert tracking.sync(db, alone).created == cells
        later[ALONE] = (time.perf_counter() - t) / cells
    return {"cells": cells, "mlflow": mlflow, "fill_s": total, "first_cell_s": per_cell[0],
            "later_cell_s": float(np.mean(per_cell[1:])), "later_parts_s": later,
            "first_parts_s": {k: v[0] for k, v in timers.seconds.items()}}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run without MLflow, with it, and with it down, and print the per-cell table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=12, help="cells (even: 2 tasks)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--val", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_npz(folder / "cifar-like.npz", args.train, args.val)
        for mlflow in MODES:
            sub = folder / f"mlflow-{mlflow}"
            sub.mkdir()
            (sub / "cifar-like.npz").symlink_to(folder / "cifar-like.npz")
            rows.append(run(f"sqlite:///{sub / 'ps.db'}", sub, args.cells, args.epochs, mlflow))
            print(json.dumps(rows[-1]), flush=True)
    print("| part (mean of cells 2..n, ms) | " + " | ".join(
        MODES[r["mlflow"]] for r in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for part in ORDER:
        name = f"&nbsp;&nbsp;of which {part}" if part in INSIDE_LOAD else part
        print(f"| {name} | " + " | ".join(f"{r['later_parts_s'].get(part, 0) * 1000:.1f}"
                                          for r in rows) + " |")
    print("| **whole cell, claim to result** | " + " | ".join(
        f"**{r['later_cell_s'] * 1000:.1f}**" for r in rows) + " |")
    print("| first cell (decodes the dataset) | " + " | ".join(
        f"{r['first_cell_s'] * 1000:.0f}" for r in rows) + " |")
    for part in (*BACKGROUND, ALONE):
        print(f"| {part} | " + " | ".join(
            f"{r['later_parts_s'].get(part, 0) * 1000:.1f}" for r in rows) + " |")
    for part in ONCE:
        print(f"| {part} | " + " | ".join(
            f"{r['first_parts_s'].get(part, 0) * 1000:.0f}" for r in rows) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
