"""Generated results for the papers' statistics (issue 15): diverged runs, missing cells, ties.

Two Table 2 style targets with proxies in three strategies (one strategy labelled explicitly,
one an epoch proxy), an ImageNet-X reference and family, several seeds on the targets. Errors are
multiples of 1/64 (exact on every backend, many ties). Diverged runs come in through the CSV's
status column; an out-of-memory failure and a pending cell are set after the import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

N_CANDIDATES = 20
TASKS: dict[str, dict[str, object]] = {
    "ref": {"role": "reference", "num_classes": 1000, "epochs": 20, "train_count": 5000},
    "fam_10": {"role": "family", "num_classes": 10, "epochs": 20, "train_count": 500},
    "fam_100": {"role": "family", "num_classes": 100, "epochs": 20, "train_count": 2000},
    "nette": {"role": "target", "num_classes": 10, "epochs": 20, "train_count": 1000},
    "woof": {"role": "target", "num_classes": 10, "epochs": 20, "train_count": 1000,
             "eval_metric": "top5"},
    "far": {"role": "target", "num_classes": 120, "epochs": 20, "train_count": 3000},
    "nette/easy": {"role": "proxy", "proxy_of": "nette", "num_classes": 10, "epochs": 20,
                   "train_count": 500},
    "woof/easy": {"role": "proxy", "proxy_of": "woof", "num_classes": 10, "epochs": 20,
                  "train_count": 500},
    "nette/half": {"role": "proxy", "proxy_of": "nette", "num_classes": 5, "epochs": 20,
                   "train_count": 250, "strategy": "Half Classes-0.5"},
    "woof/half": {"role": "proxy", "proxy_of": "woof", "num_classes": 5, "epochs": 20,
                  "train_count": 250, "strategy": "Half Classes-0.5"},
    "nette/ep5": {"role": "proxy", "proxy_of": "nette", "num_classes": 10, "epochs": 5,
                  "train_count": 1000},
}
SEEDS = {"nette": 2, "woof": 2, "ref": 2}
DIVERGED = {("c03", "nette", 0), ("c03", "nette/easy", 0), ("c07", "woof/half", 0),
            ("c11", "woof", 1), ("c05", "ref", 0), ("c05", "ref", 1)}
OOM = ("c09", "nette/half", 0)
PENDING = ("c13", "fam_10", 0)
ABSENT = {("c15", "far"), ("c16", "woof/easy"), ("c17", "fam_100")}


def chance(task: str) -> float:
    """The error a diverged run counts as: 1 - 1/k (top-1) or 1 - min(5, k)/k (top-5)."""
    k = float(TASKS[task]["num_classes"])  # type: ignore[arg-type]
    return 1 - min(5.0, k) / k if TASKS[task].get("eval_metric") == "top5" else 1 - 1 / k


def make_results(seed: int = 3) -> pd.DataFrame:
    """Return the results CSV as a frame (status column, diverged rows without error)."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=N_CANDIDATES)
    rows = []
    for task, attrs in TASKS.items():
        noise = 0.2 if "/" in task else 0.6
        for c in range(N_CANDIDATES):
            label = f"c{c:02d}"
            if (label, task) in ABSENT:
                continue
            for s in range(SEEDS.get(task, 1)):
                raw = 0.45 - 0.1 * (quality[c] + noise * rng.normal())
                error = float(np.clip(np.round(raw * 32) / 32, 0.0, 1.0))
                status = "diverged" if (label, task, s) in DIVERGED else "done"
                rows.append({"candidate": label, "task": task, "seed": s,
                             "error": None if status == "diverged" else error,
                             "status": status, "gpu_seconds": float(attrs["train_count"]) / 100
                             * float(attrs["epochs"]) * (1 + c % 3)})
    return pd.DataFrame(rows)


def write(directory: Path, frame: pd.DataFrame, analysis: dict[str, object] | None = None,
          name: str = "paper") -> tuple[Path, Path]:
    """Write the CSV and a spec-like roles file (with `analysis:` when given)."""
    csv = directory / f"{name}.csv"
    frame.to_csv(csv, index=False)
    spec = {"name": name, "tasks": TASKS}
    if analysis is not None:
        spec["analysis"] = analysis
    roles = directory / f"{name}.spec.yaml"
    roles.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return csv, roles


def expected_cells(frame: pd.DataFrame, diverged: str = "chance") -> pd.DataFrame:
    """The cells the views must see: done ones, diverged ones at chance (unless dropped)."""
    cells = frame.copy()
    drop = [(r.candidate, r.task, r.seed) in (OOM, PENDING) for r in cells.itertuples()]
    cells = cells[~np.array(drop)]
    if diverged == "drop":
        return cells[cells.status == "done"].reset_index(drop=True)
    cells = cells.copy()
    cells.loc[cells.status == "diverged", "error"] = [chance(t) for t in
                                                      cells.task[cells.status == "diverged"]]
    return cells.reset_index(drop=True)


def fill(db, directory: Path, study: str = "paper",  # type: ignore[no-untyped-def]
         analysis: dict[str, object] | None = None) -> pd.DataFrame:
    """Import the results into `study`, then fail one run (oom) and reset one to pending."""
    from sqlalchemy import select

    from proxystore.analysis.importer import cell_key, import_results
    from proxystore.db.models import SqlRun

    frame = make_results()
    csv, spec = write(directory, frame, analysis, name=study)
    import_results(db, csv, study, spec=spec)
    with db.session() as session:
        oom = session.scalar(select(SqlRun).where(SqlRun.cell_key == cell_key(study, *OOM)))
        oom.status, oom.failure = "failed", "oom"
        pending = session.scalar(select(SqlRun).where(
            SqlRun.cell_key == cell_key(study, *PENDING)))
        pending.status = "pending"
    return frame
