"""What a study still needs, before any training: counts by state, reuse, and a compute estimate.

Nothing of the study is written (no study row, no run); with `explain`, per task, what is reused
and why a task reuses nothing (proxystore/study/explain.py).

The estimate models a cell's device time as k_device x FLOPs x training examples x epochs
(FLOPs scaled by the square of image size over the reference resolution), with k fitted per
device by least squares through the origin over finished runs; it needs at least 3 of them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from proxystore.db.session import Database
from proxystore.db.store import estimates
from proxystore.db.store.datasets import subset_train_counts
from proxystore.db.store.registration import run_states
from proxystore.db.store.studies import studies_of_runs
from proxystore.study import register as reg
from proxystore.study.explain import TaskReuse, explain_lines, task_reuse
from proxystore.study.spec import StudySpec
from proxystore.study.stored import resolve_stored

MIN_RUNS_FOR_ESTIMATE = 3


@dataclass
class Plan:
    """Counts of a study's cells by state and the compute still needed."""

    study: str
    total: int
    by_status: Counter[str] = field(default_factory=Counter)
    new: int = 0
    waiting_for_scorer: int = 0
    done_by_study: Counter[str] = field(default_factory=Counter)
    estimate_seconds: dict[str, float] = field(default_factory=dict)
    tasks: list[TaskReuse] = field(default_factory=list)  # per task, with --explain

    def lines(self) -> list[str]:
        """The plan as lines for the terminal."""
        out = [f"study {self.study}: {self.total} cells"]
        out.append(f"  done:    {self.by_status['done']}" + (
            "  (from studies: " + ", ".join(f"{s} {n}" for s, n in
                                             self.done_by_study.most_common()) + ")"
            if self.done_by_study else ""))
        out.append(f"  pending: {self.by_status['pending'] + self.new} "
                   f"({self.new} new to the database)")
        if self.by_status["running"]:
            out.append(f"  running: {self.by_status['running']}")
        out.append(f"  failed:  {self.by_status['failed']}")
        if self.waiting_for_scorer:
            out.append(f"  waiting for a scorer (easy/hard subsets): {self.waiting_for_scorer}")
        if self.estimate_seconds:
            for device, seconds in sorted(self.estimate_seconds.items()):
                out.append(f"  estimated compute still needed on {device}: "
                           f"{seconds / 3600:.2f} device-hours")
        else:
            out.append(f"  estimate: needs {MIN_RUNS_FOR_ESTIMATE} finished runs on a device")
        if self.tasks:
            out.extend(explain_lines(self.tasks))
        return out


def _expand(db: Database, spec: StudySpec) -> tuple[StudySpec, list[Any], dict[str, str]]:
    """The spec (stored architectures resolved), its cells whose subsets are known, and the
    tasks still waiting for a scorer (label -> why).

    Datasets, subsets and architectures are registered (they are content-addressed facts), so
    the cell keys can be computed and looked up; no study and no run is written.
    """
    spec = resolve_stored(db, spec)
    reg.register_datasets(db, spec)
    archs = reg._architectures(db, spec)
    ready = {t.label: reg._declare(db, t) for t in spec.tasks.values() if t.scorer is None}
    waiting: dict[str, str] = {}
    scored = []
    for task in (t for t in spec.tasks.values() if t.scorer is not None):
        with db.session() as session:
            run_id = reg.scorer_run(session, spec, archs, ready, task)
        if run_id is None:
            scorer = task.scorer or {}
            waiting[task.label] = (f"waits for its scorer ({scorer.get('candidate')} on "
                                   f"{scorer.get('task')}, seed "
                                   f"{scorer.get('seed', spec.seeds[0])}) to be trained")
        else:  # its scorer already has losses: the easy/hard subset can be known now
            scored.append(reg._declare(db, task, scorer_run_id=run_id))
    return spec, reg.expand_cells(spec, archs, list(ready.values()) + scored), waiting


def done_runs(db: Database, spec: StudySpec) -> int:
    """How many distinct runs of `spec`'s cells are done already (writes no study or run).

    Args:
        db: the open database.
        spec: a validated study spec.
    """
    _, cells, _ = _expand(db, spec)
    with db.session() as session:
        existing = run_states(session, sorted({c[3] for c in cells}))
    return sum(status == "done" for _, status in existing.values())


def plan_study(db: Database, spec: StudySpec, explain: bool = False) -> Plan:
    """Count what `spec` needs without registering the study or inserting runs.

    Args:
        db: the open database.
        spec: a validated study spec.
        explain: also say, per task, what is reused from which studies and, for a task that
            reuses nothing, which part of the cell key differs from the nearest study.
    """
    spec, cells, waiting = _expand(db, spec)
    plan = Plan(study=spec.name, total=spec.cell_count())
    plan.waiting_for_scorer = len(waiting) * len(spec.candidates) * len(spec.seeds)
    keys = [c[3] for c in cells]
    with db.session() as session:
        existing = run_states(session, keys)
        for key in keys:
            if key in existing:
                plan.by_status[existing[key][1]] += 1
            else:
                plan.new += 1
        done_ids = [i for i, s in existing.values() if s == "done"]
        for names in studies_of_runs(session, done_ids).values():
            for name in names:
                plan.done_by_study[name] += 1
        plan.estimate_seconds = _estimate(session, spec, cells, existing)
        if explain:
            plan.tasks = task_reuse(session, spec, cells, existing, waiting)
    return plan


def _work(flops: int | None, ref_size: int | None, image_size: int, examples: int,
          epochs: int) -> float | None:
    if not flops:
        return None
    scale = (image_size / ref_size) ** 2 if ref_size else 1.0
    return float(flops) * scale * examples * epochs


def _estimate(session: Any, spec: StudySpec, cells: list[Any],
              existing: dict[str, tuple[int, str]]) -> dict[str, float]:
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for run in estimates.finished_work(session):
        x = _work(run.flops, run.complexity_image_size, run.image_size, run.train_count,
                  run.epochs)
        if x:
            acc = sums[run.device]
            acc[0] += run.device_seconds * x
            acc[1] += x * x
            acc[2] += 1
    rates = {d: a[0] / a[1] for d, a in sums.items() if a[2] >= MIN_RUNS_FOR_ESTIMATE and a[1]}
    if not rates:
        return {}
    arch_ids = {c[4]["architecture_id"] for c in cells}
    subset_ids = {c[4]["subset_id"] for c in cells}
    flops, refs = estimates.architecture_complexity(session, arch_ids)
    counts = subset_train_counts(session, subset_ids)
    remaining = 0.0
    for candidate, task, _seed, key, run in cells:
        if key in existing and existing[key][1] == "done":
            continue
        recipe = spec.recipe(task, candidate)
        x = _work(flops.get(run["architecture_id"]), refs.get(run["architecture_id"]),
                  recipe.image_size, counts[run["subset_id"]], recipe.epochs)
        remaining += x or 0.0
    return {device: rate * remaining for device, rate in rates.items()}
