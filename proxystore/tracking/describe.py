"""What MLflow shows of a finished run, read from the database (never from a live worker).

A run (one training) may fill cells of several studies, and twice in one study when two cells
have identical keys; each (study, cell) becomes one MLflow run in the study's experiment. The
run's facts (params, metrics, times) are the same in all of them; the cell's labels (task,
role, candidate) are the study's own.

Numbers a researcher filters or sorts on (FLOPs, parameters, activations, cumulative depth and
width, class count, subset size) are metrics, since MLflow params are strings and compare as
strings (`params.flops > '9'` puts 10,000 below 9); the rest are params, one per field, with
a stage's fields numbered from 1 (`arch.depth.1`), never a stringified list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

from proxystore.db.store import tracking as store
from proxystore.db.store.tracking import Cell

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["NO_STUDY", "Cell", "Record", "Study", "cells", "millis", "record", "studies"]

EPOCH_METRICS = ("train_loss", "train_error", "val_loss", "top1_error", "top5_error", "lr",
                 "seconds")
SUMMARY_METRICS = ("final_loss", "final_top1_error", "final_top5_error", "best_top1_error",
                   "best_top5_error", "best_epoch", "epochs_done", "wall_seconds",
                   "device_seconds")
# Genome lists, one param per stage: depths [1, 2] -> arch.depth.1 = 1, arch.depth.2 = 2.
_STAGE_FIELDS = {"depths": "depth", "widths": "width", "bottleneck_ratios": "bottleneck_ratio",
                 "group_widths": "group_width", "strides": "stride"}
NO_STUDY = "proxystore"  # the experiment of a run no study links (e.g. after a spec change)


@dataclass(frozen=True)
class Study:
    """What the experiment of a study shows: its description and spec."""

    name: str
    description: str
    spec_text: str


@dataclass(frozen=True)
class Record:
    """A finished run as MLflow shows it, with every cell that links it."""

    run_id: int
    mlflow_run_id: str | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: tuple[tuple[str, float, int, int], ...]  # key, value, timestamp (ms), step
    start_ms: int
    end_ms: int
    cells: tuple[Cell, ...]


def millis(moment: datetime | None) -> int | None:
    """Milliseconds since the epoch of a naive-UTC database time."""
    if moment is None:
        return None
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def _flatten(prefix: str, obj: Any, out: dict[str, str]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out)
    elif isinstance(obj, (list, tuple)):
        head, _, last = prefix.rpartition(".")
        name = f"{head}.{_STAGE_FIELDS[last]}" if last in _STAGE_FIELDS else prefix
        for i, value in enumerate(obj, start=1):
            _flatten(f"{name}.{i}", value, out)
    elif obj is not None:
        out[prefix] = str(obj)[:6000]


def epoch_end_times(start_ms: int, end_ms: int, seconds: list[float | None]) -> list[int]:
    """When each epoch ended: counted back from the run's end by the later epochs' durations,
    and never before the run's start plus the epochs so far (the database keeps durations)."""
    known = [s or 0.0 for s in seconds]
    ends = []
    for i in range(len(known)):
        back = end_ms - int(1000 * sum(known[i + 1:]))
        ends.append(min(end_ms, max(back, start_ms + int(1000 * sum(known[:i + 1])))))
    return ends


def studies(session: Session, names: list[str] | None = None) -> dict[str, Study]:
    """The studies named (all when None), by name."""
    found = {}
    for name, spec_text in store.study_specs(session, names):
        try:
            spec = yaml.safe_load(spec_text) or {}
        except yaml.YAMLError:
            spec = {}
        description = spec.get("description") if isinstance(spec, dict) else None
        found[name] = Study(name, str(description or ""), spec_text)
    return found


def cells(session: Session, run_id: int) -> tuple[Cell, ...]:
    """Every cell (of every study) the run fills, the first asker first."""
    return store.run_cells(session, run_id)


def record(session: Session, run_id: int) -> Record:
    """What MLflow shows of one finished run."""
    facts = store.run_facts(session, run_id)
    run, arch, subset, recipe = facts.run, facts.architecture, facts.subset, facts.recipe
    params: dict[str, str] = {}
    _flatten("arch", arch["genome"], params)
    _flatten("recipe", recipe["spec"], params)
    _flatten("subset", subset["params"], params)
    dataset = facts.dataset["name"]
    params.update({
        "seed": str(run["seed"]), "cell_key": run["cell_key"],
        "trainer_version": run["trainer_version"], "arch.space": arch["space"],
        "arch.fingerprint": arch["fingerprint"], "subset.fingerprint": subset["fingerprint"],
        "recipe.fingerprint": recipe["fingerprint"], "subset.name": subset["name"],
        "subset.kind": subset["kind"], "dataset": dataset})
    if arch["name"]:
        params["arch.name"] = arch["name"]
    end = millis(run["finished_at"]) or millis(run["created_at"]) or 0
    start = min(millis(run["started_at"]) or end, end)
    numbers = {"arch.flops": arch["flops"], "arch.params": arch["params"],
               "arch.acts": arch["acts"], "arch.cumulative_depth": arch["cumulative_depth"],
               "arch.cumulative_width": arch["cumulative_width"],
               "num_classes": subset["num_classes"], "subset.train_count": subset["train_count"],
               "subset.val_count": subset["val_count"], "recipe.epochs": recipe["epochs"],
               "recipe.image_size": recipe["image_size"]}
    metrics = [(k, float(v), start, 0) for k, v in numbers.items() if v is not None]
    ends = epoch_end_times(start, end, [e["seconds"] for e in facts.epochs])
    for epoch, at in zip(facts.epochs, ends, strict=True):
        metrics += [(k, float(epoch[k]), at, epoch["epoch"]) for k in EPOCH_METRICS
                    if epoch[k] is not None]
    last = facts.epochs[-1]["epoch"] if facts.epochs else 0
    metrics += [(k, float(run[k]), end, last) for k in SUMMARY_METRICS if run[k] is not None]
    tags = {"proxystore.run_id": str(run["id"]), "dataset": dataset,
            "device": run["device"] or "", "imported": str(bool(run["imported"])).lower()}
    return Record(run_id=run["id"], mlflow_run_id=run["mlflow_run_id"], params=params, tags=tags,
                  metrics=tuple(metrics), start_ms=start, end_ms=end,
                  cells=cells(session, run_id))
