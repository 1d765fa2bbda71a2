"""`plan --explain`: per task, how many cells already exist and which studies made them, and, when
a task reuses nothing although another study trained these architectures on the same subset, which
part of the cell key differs (recipe fields first, then seeds, then the trainer version).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from proxystore import TRAINER_VERSION
from proxystore.db.store import studies as store
from proxystore.train.recipe import Recipe

Cell = tuple[str, str, int, str, dict[str, Any]]  # candidate, task, seed, key, run row


@dataclass(frozen=True)
class TaskReuse:
    """One task's cells: how many exist (and are done), from which other studies, or why none."""

    task: str
    cells: int
    reused: int = 0
    done: int = 0
    studies: tuple[tuple[str, int], ...] = ()
    note: str = ""
    registered: bool = False  # the study is in the database already: these cells are its own

    def line(self, width: int) -> str:
        """The task as one line of `plan --explain`."""
        head = f"  {self.task:<{width}}  "
        if self.note and not self.reused:
            return head + f"{self.cells} cells: {self.note}"
        text = f"{self.reused} of {self.cells} cells exist already ({self.done} done)"
        if self.studies:
            text += (", also in " if self.registered else ", from ") + ", ".join(
                f"{name} {n}" for name, n in self.studies)
        elif self.reused:
            text += ", this study's own" if self.registered else ", linked to no study"
        return head + text


def task_reuse(session: Any, spec: Any, cells: list[Cell], existing: dict[str, tuple[int, str]],
               waiting: dict[str, str]) -> list[TaskReuse]:
    """Per task of `spec` (in spec order), what already exists of its cells.

    Args:
        session: an open session.
        spec: the (resolved) StudySpec.
        cells: the cells whose subsets are known, as `register.expand_cells` gives them.
        existing: cell key -> (run id, status) of the runs already in the database.
        waiting: task label -> why its cells are not known yet (a scorer to train first).
    """
    run_ids = sorted({existing[c[3]][0] for c in cells if c[3] in existing})
    studies_of = store.studies_of_runs(session, run_ids, other_than=spec.name)
    by_task: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        by_task[cell[1]].append(cell)
    per_task = len(spec.candidates) * len(spec.seeds)
    registered = store.study_id(session, spec.name) is not None
    out = []
    for label in spec.tasks:
        if label in waiting:
            out.append(TaskReuse(task=label, cells=per_task, note=waiting[label]))
            continue
        mine = by_task[label]
        found = [existing[c[3]] for c in mine if c[3] in existing]
        counts: Counter[str] = Counter()
        for run_id in {run_id for run_id, _ in found}:
            counts.update(studies_of[run_id])
        note = "" if found else why_nothing(session, spec, label, mine)
        out.append(TaskReuse(task=label, cells=len(mine), reused=len(found),
                             done=sum(status == "done" for _, status in found),
                             studies=tuple(counts.most_common()), note=note,
                             registered=registered))
    return out


def why_nothing(session: Any, spec: Any, task: str, cells: list[Cell]) -> str:
    """Why none of a task's cells exist: what differs from the study nearest to reusing them."""
    if not cells:
        return "no cells"
    subset_id = cells[0][4]["subset_id"]
    rows = store.runs_on_subset(session, subset_id, other_than=spec.name)
    if not rows:
        return "nothing reused: no other study has runs on this subset"
    arch_of = {c[0]: c[4]["architecture_id"] for c in cells}
    same = [r for r in rows if r.architecture_id in set(arch_of.values())]
    if not same:
        names = ", ".join(sorted({r.name for r in rows}))
        return f"nothing reused: the runs on this subset ({names}) are of other architectures"
    runs_by_study: dict[str, set[int]] = defaultdict(set)
    for r in same:
        runs_by_study[r.name].add(r.id)
    study = min(runs_by_study, key=lambda name: (-len(runs_by_study[name]), name))
    theirs = [r for r in same if r.name == study]
    differs = _differences(spec, task, arch_of, theirs, study)
    return (f"nothing reused: {study} has {len(runs_by_study[study])} runs on this subset with "
            f"these architectures, but {'; '.join(differs)}")


def _differences(spec: Any, task: str, arch_of: dict[str, int], theirs: list[Any],
                 study: str) -> list[str]:
    """The parts of the cell key that differ: recipe fields, else seeds, else trainer version."""
    arch_ids = {r.architecture_id for r in theirs}
    candidate = next(c for c, arch_id in arch_of.items() if arch_id in arch_ids)
    ours = spec.recipe(task, candidate)
    # Compared as recipes, not as stored JSON: a field added later is left out of the JSON at its
    # default and a renamed one keeps its old key (docs/training.md, identity rules).
    recipes = {json.dumps(r.spec, sort_keys=True): Recipe.from_stored(r.spec) for r in theirs
               if r.architecture_id == arch_of[candidate] and r.spec is not None}

    def differing(other: Recipe) -> list[str]:
        return [f for f in Recipe.field_names() if getattr(ours, f) != getattr(other, f)]

    if recipes:  # the nearest of their recipes (e.g. the 2-epoch task's for a 2-epoch task)
        _, other = min(recipes.items(), key=lambda item: (len(differing(item[1])), item[0]))
        fields = differing(other)
        if fields:
            return [f"{f}: {_show(getattr(ours, f))} here, {_show(getattr(other, f))} in {study}"
                    for f in fields]
    seeds = sorted({int(r.seed) for r in theirs})
    if not set(spec.seeds) & set(seeds):
        return [f"seeds: {list(spec.seeds)} here, {seeds} in {study}"]
    versions = sorted({str(r.trainer_version) for r in theirs})
    if str(TRAINER_VERSION) not in versions:
        return [f"trainer version: {TRAINER_VERSION} here, {', '.join(versions)} in {study} "
                "(results of another trainer version are not reused)"]
    return [f"no cell key matches (recipe, seeds and trainer version agree with {study})"]


def _show(value: Any) -> str:
    """A recipe value as a spec would write it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def explain_lines(tasks: list[TaskReuse]) -> list[str]:
    """The per-task section of `plan --explain`."""
    width = max((len(t.task) for t in tasks), default=0)
    return ["per task: cells reused (they exist already) and the studies they come from"] + [
        t.line(width) for t in tasks]
