"""Generated study results for the analysis tests: ties, missing cells, one seed and several."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

# label -> role attributes. Class counts make the matching rule visible: tgt_tie (30 classes) is
# 20 away from both fam_10 and fam_50 and must pick fam_10 (fewer classes); tgt_near (90) picks
# fam_100; tgt_none has no class count and no match.
TASKS: dict[str, dict[str, object]] = {
    "ref": {"role": "reference", "num_classes": 1000, "epochs": 10, "train_count": 1000},
    "fam_10": {"role": "family", "num_classes": 10, "epochs": 10, "train_count": 100},
    "fam_50": {"role": "family", "num_classes": 50, "epochs": 10, "train_count": 500},
    "fam_100": {"role": "family", "num_classes": 100, "epochs": 10, "train_count": 800},
    "tgt_tie": {"role": "target", "num_classes": 30, "eval_metric": "top5", "epochs": 10,
                "train_count": 300},
    "tgt_near": {"role": "target", "num_classes": 90, "epochs": 10, "train_count": 900},
    "tgt_none": {"role": "target"},
    "px_timed": {"role": "proxy", "proxy_of": "tgt_near", "epochs": 2, "train_count": 900},
    "px_untimed": {"role": "proxy", "proxy_of": "tgt_near", "epochs": 5, "train_count": 300},
    "px_tie": {"role": "proxy", "proxy_of": "tgt_tie", "epochs": 3, "train_count": 100},
}
SEEDS = {"ref": 3, "tgt_near": 2}  # every other task has a single seed
MATCHES = {"tgt_tie": "fam_10", "tgt_near": "fam_100", "tgt_none": None}
# Tasks some of whose runs record a best-epoch error below the final one (seed 1 scores a run by
# its best epoch); the other runs, like every imported one, have none.
BEST_TASKS = ("tgt_near", "tgt_tie", "px_timed", "px_untimed", "px_tie")


def make_results(n_candidates: int = 40, seed: int = 0) -> pd.DataFrame:
    """Return a results table (the import-results CSV columns) with ties and missing cells."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n_candidates)
    depth = rng.integers(4, 12, size=n_candidates)
    width = rng.integers(2, 8, size=n_candidates) * 16
    rows = []
    for task, attrs in TASKS.items():
        weight = rng.uniform(-1, 1)
        for c in range(n_candidates):
            if rng.random() < 0.1:  # a missing cell
                continue
            for s in range(SEEDS.get(task, 1)):
                if s > 0 and rng.random() < 0.2:  # a missing seed
                    continue
                # Multiples of 1/64 are exact in binary, so means over seeds are exact on every
                # backend, and the coarse grid makes ties common.
                raw = 0.5 + 0.12 * (weight * quality[c] + 0.3 * rng.normal() + 0.02 * depth[c])
                error = float(np.clip(np.round(raw * 64) / 64, 0, 1))
                timed = task != "px_untimed" or c % 3 != 0
                rows.append({
                    "candidate": f"c{c:03d}", "task": task, "seed": s, "error": error,
                    "top1_error": error if attrs.get("eval_metric") != "top5" else
                    min(1.0, error + 0.125),
                    "gpu_seconds": float(attrs.get("epochs", 1)) * (1 + c % 5) if timed else None,
                    "cumulative_depth": int(depth[c]), "cumulative_width": int(width[c]),
                    "task_num_classes": attrs.get("num_classes"),
                })
    return pd.DataFrame(rows)


def roles() -> dict[str, dict[str, object]]:
    """Return the roles sidecar content (everything TASKS declares)."""
    return {label: dict(attrs) for label, attrs in TASKS.items()}


def write_csv(frame: pd.DataFrame, directory: Path, name: str = "results") -> Path:
    """Write the results CSV and its YAML roles sidecar; return the CSV path."""
    path = directory / f"{name}.csv"
    frame.to_csv(path, index=False)
    path.with_suffix(".yaml").write_text(yaml.safe_dump({"tasks": roles()}), encoding="utf-8")
    return path


def fill(db, directory: Path, study: str = "s", n_candidates: int = 40):  # type: ignore[no-untyped-def]
    """Import generated results into `study`, fail one run, log epochs; return (cells, epochs).

    `cells` holds the finished cells only (what the views must see), with `best`: the best-epoch
    error of the eval metric where a run records one (some cells of BEST_TASKS, as a trained run
    would), else the final error (imported runs have none). `epochs` holds the per-epoch errors
    written to run_epochs for tgt_near (top-1) and tgt_tie (top-5), with the cell's final error
    (`y`) and its best error (`best`).
    """
    from sqlalchemy import select

    from proxystore.analysis.importer import cell_key, import_results
    from proxystore.db.models import SqlRun, SqlRunEpoch

    frame = make_results(n_candidates)
    import_results(db, write_csv(frame, directory), study)
    failed = frame.index[(frame.candidate == "c001") & (frame.task == "ref") & (frame.seed == 0)]
    rng = np.random.default_rng(1)
    epoch_rows = []
    with db.session() as session:
        runs = {run.cell_key: run for run in session.scalars(select(SqlRun))}

        def run_of(row) -> SqlRun:  # type: ignore[no-untyped-def]
            return runs[cell_key(study, row.candidate, row.task, int(row.seed))]

        for index in failed:
            run_of(frame.loc[index]).status = "failed"
        frame["best"] = frame.error
        for index, row in frame[frame.task.isin(BEST_TASKS)].iterrows():
            if rng.random() < 0.3:  # no best recorded: the views fall back to the final error
                continue
            best = max(0.0, row.error - int(rng.integers(1, 12)) / 64)
            frame.loc[index, "best"] = best
            metric = "top5" if TASKS[row.task].get("eval_metric") == "top5" else "top1"
            setattr(run_of(row), f"best_{metric}_error", best)
        for row in frame[frame.task.isin(["tgt_near", "tgt_tie"])].itertuples():
            run_id = run_of(row).id
            for epoch in (1, 2, 3):
                noisy = float(np.clip(row.error + rng.integers(-8, 9) / 64 / epoch, 0, 1))
                top1, top5 = (noisy, None) if row.task == "tgt_near" else (None, noisy)
                session.add(SqlRunEpoch(run_id=run_id, epoch=epoch, top1_error=top1,
                                        top5_error=top5))
                epoch_rows.append({"candidate": row.candidate, "task": row.task,
                                   "seed": int(row.seed), "epoch": epoch, "x": noisy,
                                   "y": row.error, "best": row.best})
    cells = frame.drop(index=failed).reset_index(drop=True)
    return cells, pd.DataFrame(epoch_rows)
