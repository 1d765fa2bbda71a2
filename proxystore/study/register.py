"""Registering a study: facts first (datasets, subsets, architectures, recipes), then its cells.

Facts are content-addressed and idempotent, so registering them twice or from two processes is
harmless. The study's own rows — new runs, tasks, candidates and the links to every cell — are
written in one transaction: a second study that needs a cell finds it and links to it.
Tasks on loss-quantile (easy/hard) subsets are deferred until their scorer run has scores.

Many processes may register the same study at once (every node of a cluster starting `fill`):
on SQLite every write transaction takes the write lock at BEGIN (BEGIN IMMEDIATE), so none
fails upgrading a read lock; rows are inserted with ON CONFLICT DO NOTHING, so the unique
constraints decide; and a registration that still collides with a racing one (a unique
violation or deadlock on PostgreSQL) starts again, finding the rows the other one wrote.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from proxystore import TRAINER_VERSION
from proxystore.db.enums import RunStatus
from proxystore.db.session import Database
from proxystore.db.store import registration as store
from proxystore.db.store import studies
from proxystore.errors import ProxystoreError, SpecError
from proxystore.study.cells import cell_key, save_recipes
from proxystore.study.spec import StudySpec, TaskSpec, expand_env

SCORER_PRIORITY = 10
# A registration colliding with a racing one starts again this many times in all.
REGISTER_ATTEMPTS = 6
T = TypeVar("T")


@dataclass
class Registration:
    """What registering a study did: its id, cell counts, tasks still waiting for a scorer."""

    study_id: int
    name: str
    cells: int = 0
    new_runs: int = 0
    deferred_tasks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Task:
    label: str
    subset_id: int
    subset_fp: str
    num_classes: int
    train_count: int


def register_datasets(db: Database, spec: StudySpec) -> dict[str, Any]:
    """Register every dataset of the spec (idempotent); return name -> DatasetInfo."""
    from proxystore.data.registry import register_dataset

    infos = {}
    for name, dataset in spec.datasets.items():
        options = {k: expand_env(v, strict=True) if isinstance(v, str) else v
                   for k, v in dataset.options.items()}
        try:
            source = expand_env(dataset.source, strict=True)
        except SpecError as error:
            raise SpecError(f"datasets.{name}.source: {error}") from None
        infos[name] = register_dataset(db, name, source, **options)
    return infos


def _declare(db: Database, task: TaskSpec, scorer_run_id: int | None = None) -> _Task:
    from proxystore.data.subsets import SubsetDecl, declare_subset

    try:
        decl = SubsetDecl.from_dict(_with_scorer(task.subset, scorer_run_id))
        info = declare_subset(db, task.dataset, decl)
    except ProxystoreError as error:  # the same error, naming the spec's field
        raise type(error)(f"tasks.{task.label}.subset: {error}") from None
    return _Task(task.label, info.id, info.fingerprint, info.num_classes, info.train_count)


def _with_scorer(subset: dict[str, Any], run_id: int | None) -> dict[str, Any]:
    """Replace the spec's scorer reference (candidate, task) by the scorer run's id."""
    out = {k: v for k, v in subset.items() if k != "parent"}
    from proxystore.data.kinds import KINDS

    kind = KINDS.get(str(out.get("kind")))
    if kind is not None and kind.scored:
        out.pop("scorer", None)
        out["scorer_run"] = run_id
    if "parent" in subset:
        out["parent"] = _with_scorer(subset["parent"], run_id)
    return out


def _architectures(db: Database, spec: StudySpec) -> dict[str, tuple[int, str]]:
    """Save the candidates' architectures; return candidate label -> (architecture id, fp)."""
    from proxystore.space.store import save_architectures
    from proxystore.study.stored import resolve_stored

    spec = resolve_stored(db, spec)  # listed by fingerprint or from_study: the stored genome
    image_size, num_classes, in_channels = _reference_resolution(db, spec)
    unique: dict[str, Any] = {}
    for candidate in spec.candidates.values():
        unique.setdefault(candidate.architecture.fingerprint, candidate.architecture)
    archs = list(unique.values())
    ids = save_architectures(db, archs, image_size=image_size, num_classes=num_classes,
                             in_channels=in_channels)
    by_fp = {arch.fingerprint: arch_id for arch, arch_id in zip(archs, ids, strict=True)}
    return {label: (by_fp[c.architecture.fingerprint], c.architecture.fingerprint)
            for label, c in spec.candidates.items()}


def _reference_resolution(db: Database, spec: StudySpec) -> tuple[int, int, int]:
    """Resolution, classes and channels at which the study's complexity figures are computed."""
    from proxystore.data.registry import get_dataset

    if spec.sampled:
        return (int(spec.sampled.get("image_size", 224)),
                int(spec.sampled.get("num_classes", 1000)),
                int(spec.sampled.get("in_channels", 3)))
    ordered = sorted(spec.tasks.values(), key=lambda t: t.role != "reference")
    task = ordered[0]
    dataset = get_dataset(db, task.dataset)
    recipe = spec.recipe(task.label, next(iter(spec.candidates)))
    return recipe.image_size, dataset.num_classes, dataset.channels


def _collided(error: BaseException) -> bool:
    """Whether a registration lost a race it wins by starting again: a unique violation
    (another process inserted the same fact first) or a deadlock, serialization failure or
    lock that another writer caused."""
    from proxystore.db.store.retry import transient

    if isinstance(error, sa_exc.IntegrityError):
        message = str(error.orig or error).lower()
        return "unique" in message or "duplicate" in message
    return transient(error)


def converging(fn: Callable[[], T], attempts: int = REGISTER_ATTEMPTS) -> T:
    """Run an idempotent registration step, starting again while it collides with a racing one.

    Args:
        fn: the step; everything it writes is content-addressed or insert-if-absent.
        attempts: how many times to try in all.
    """
    delay = 0.05
    for attempt in range(attempts):
        try:
            return fn()
        except (sa_exc.IntegrityError, sa_exc.OperationalError, ProxystoreError) as error:
            if attempt == attempts - 1 or not _collided(error):
                raise
            time.sleep(delay * (1 + random.random()))
            delay *= 2
    raise AssertionError("unreachable")


def register_study(db: Database, spec: StudySpec) -> Registration:
    """Register `spec`: store its facts, insert only its new cells, link the study to all of them.

    Safe to run from many processes at once: they converge on the same rows.

    Args:
        db: the open database.
        spec: a validated study spec.
    """
    return converging(lambda: _register(db, spec))


def _register(db: Database, spec: StudySpec) -> Registration:
    """One attempt of `register_study`."""
    from proxystore.study.stored import resolve_stored

    spec = resolve_stored(db, spec)  # an unknown stored architecture fails before any write
    register_datasets(db, spec)
    archs = _architectures(db, spec)
    ready: dict[str, _Task] = {}
    deferred: list[TaskSpec] = []
    for task in spec.tasks.values():
        if task.scorer is None:
            ready[task.label] = _declare(db, task)
        else:
            deferred.append(task)
    with db.session(immediate=True) as session:
        study_id = _upsert_study(session, spec)
        _write_candidates(session, study_id, spec, archs)
        registration = Registration(study_id=study_id, name=spec.name)
        for task in spec.tasks.values():
            _write_task(session, study_id, spec, task, ready.get(task.label))
        registration.new_runs += _write_cells(session, study_id, spec, archs,
                                              list(ready.values()))
        for task in deferred:
            registration.new_runs += _mark_scorer(session, study_id, spec, archs, ready, task)
    registration.deferred_tasks = [t.label for t in deferred]
    registration.new_runs += _materialize(db, spec, registration)
    registration.cells = studies.cell_count(db, spec.name)
    return registration


def _upsert_study(session: Session, spec: StudySpec) -> int:
    settings = spec.analysis
    return store.upsert_study(session, spec.name, spec.text, spec.fingerprint, dict(
        analysis_diverged=settings.diverged, good_rule=settings.good_rule,
        good_value=settings.good_value))


def _write_candidates(session: Session, study_id: int, spec: StudySpec,
                      archs: dict[str, tuple[int, str]]) -> None:
    rows = [dict(study_id=study_id, label=label, architecture_id=archs[label][0],
                 hparams=candidate.hparams) for label, candidate in spec.candidates.items()]
    store.write_candidates(session, rows)


def _write_task(session: Session, study_id: int, spec: StudySpec, task: TaskSpec,
                ready: _Task | None) -> None:
    # epochs, image size and metric as the task's cells train with them (defaults filled in);
    # a candidate may override them, so the first candidate's recipe stands for the task.
    recipe = spec.recipe(task.label, next(iter(spec.candidates)))
    row = dict(study_id=study_id, label=task.label, role=task.role, proxy_of=task.proxy_of,
               subset_id=ready.subset_id if ready else None,
               num_classes=ready.num_classes if ready else None,
               train_count=ready.train_count if ready else None,
               epochs=recipe.epochs, image_size=recipe.image_size,
               eval_metric=recipe.eval_metric, regime=dict(task.regime),
               strategy=task.strategy_label)
    store.write_task(session, row)


def expand_cells(spec: StudySpec, archs: dict[str, tuple[int, str]], tasks: list[_Task],
                 recipe_ids: dict[str, int] | None = None
                 ) -> list[tuple[str, str, int, str, dict[str, Any]]]:
    """The cells of these tasks: (candidate, task, seed, cell key, run row), in spec order."""
    cells: list[tuple[str, str, int, str, dict[str, Any]]] = []
    for task in tasks:
        for candidate in spec.candidates:
            recipe = spec.recipe(task.label, candidate)
            arch_id, arch_fp = archs[candidate]
            for seed in spec.seeds:
                key = cell_key(arch_fp, task.subset_fp, recipe.fingerprint, seed)
                run = dict(cell_key=key, architecture_id=arch_id, subset_id=task.subset_id,
                           recipe_id=(recipe_ids or {}).get(recipe.fingerprint), seed=seed,
                           trainer_version=TRAINER_VERSION, status=RunStatus.PENDING, priority=0,
                           needs_scores=False, imported=False, attempts=0,
                           mlflow_logged=False)
                cells.append((candidate, task.label, seed, key, run))
    return cells


def _write_cells(session: Session, study_id: int, spec: StudySpec,
                 archs: dict[str, tuple[int, str]], tasks: list[_Task]) -> int:
    """Insert the runs these tasks need (if new) and link them; return how many were new."""
    recipes = [spec.recipe(t.label, c) for t in tasks for c in spec.candidates]
    recipe_ids = save_recipes(session, recipes)
    return store.insert_and_link(session, study_id, expand_cells(spec, archs, tasks, recipe_ids))


def _scorer_cell(spec: StudySpec, archs: dict[str, tuple[int, str]], ready: dict[str, _Task],
                 task: TaskSpec) -> tuple[str, str, int, Any]:
    scorer = task.scorer
    assert scorer is not None
    source = ready.get(scorer["task"])
    if source is None:
        raise SpecError(f"tasks.{task.label}.subset.scorer.task: {scorer['task']} has no subset")
    seed = int(scorer.get("seed", spec.seeds[0]))
    recipe = spec.recipe(scorer["task"], scorer["candidate"])
    return scorer["candidate"], scorer["task"], seed, recipe


def _mark_scorer(session: Session, study_id: int, spec: StudySpec,
                 archs: dict[str, tuple[int, str]], ready: dict[str, _Task],
                 task: TaskSpec) -> int:
    """Make sure the scorer cell of a deferred task will be trained first and scored."""
    candidate, source_label, seed, recipe = _scorer_cell(spec, archs, ready, task)
    source = ready[source_label]
    arch_id, arch_fp = archs[candidate]
    recipe_id = save_recipes(session, [recipe])[recipe.fingerprint]
    row = dict(architecture_id=arch_id, subset_id=source.subset_id, recipe_id=recipe_id,
               seed=seed, trainer_version=TRAINER_VERSION, status=RunStatus.PENDING,
               priority=SCORER_PRIORITY, needs_scores=True, imported=False, attempts=0,
               mlflow_logged=False)
    return store.mark_scorer(
        session, cell_key(arch_fp, source.subset_fp, recipe.fingerprint, seed),
        cell_key(arch_fp, source.subset_fp, recipe.fingerprint, seed, variant="scorer"),
        row, SCORER_PRIORITY)


def scorer_run(session: Session, spec: StudySpec, archs: dict[str, tuple[int, str]],
               ready: dict[str, _Task], task: TaskSpec) -> int | None:
    """The id of a done scorer run with scores for `task`, or None while it is not ready."""
    candidate, source_label, seed, recipe = _scorer_cell(spec, archs, ready, task)
    source = ready[source_label]
    arch_fp = archs[candidate][1]
    return store.scored_run(session, [
        cell_key(arch_fp, source.subset_fp, recipe.fingerprint, seed, variant=variant)
        for variant in (None, "scorer")])


def materialize_deferred(db: Database, spec: StudySpec,
                         registration: Registration | None = None) -> int:
    """Declare the easy/hard subsets whose scorer is done and insert their cells; return new runs.

    Safe to call from any number of workers at any time: it only adds what is missing.
    """
    return converging(lambda: _materialize(db, spec, registration))


def _materialize(db: Database, spec: StudySpec, registration: Registration | None) -> int:
    """One attempt of `materialize_deferred`."""
    deferred = [t for t in spec.tasks.values() if t.scorer is not None]
    if not deferred:
        return 0
    archs = _architectures(db, spec)
    ready = {t.label: _declare(db, t) for t in spec.tasks.values() if t.scorer is None}
    new = 0
    for task in deferred:
        with db.session() as session:
            study_id = studies.study_id(session, spec.name)
            assert study_id is not None
            run_id = scorer_run(session, spec, archs, ready, task)
        if run_id is None:
            continue
        declared = _declare(db, task, scorer_run_id=run_id)
        with db.session(immediate=True) as session:
            _write_task(session, study_id, spec, task, declared)
            new += _write_cells(session, study_id, spec, archs, [declared])
        if registration is not None and task.label in registration.deferred_tasks:
            registration.deferred_tasks.remove(task.label)
    return new
