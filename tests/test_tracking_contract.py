"""What MLflow shows of a study: each of its cells once, reused ones linked to their training.

Two real studies on digits that share cells (candidate a on the full dataset), trained for real
(2 epochs) and logged to a real MLflow SQLite store, checked through `MlflowClient` against the
database: labels, times, numbers, params, the experiment's note and kind, the spec artifact.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from proxystore.db.models import (
    SqlArchitecture,
    SqlRun,
    SqlRunEpoch,
    SqlStudy,
    SqlStudyCell,
    SqlStudyTask,
    SqlSubset,
)
from proxystore.runner.execution import ExecutionOptions
from proxystore.runner.fill import fill
from proxystore.study.spec import parse_spec
from proxystore.tracking import sync
from proxystore.tracking.describe import millis
from tests.studies import FULL_AND_HALF, GENOME_A, GENOME_C, tiny_spec

ONE_DESCRIPTION = "Digits: does half the data rank a and b as all of it does?"
SECOND_TASKS = """\
all: {dataset: digits, subset: {kind: full}, role: reference}
quarter: {dataset: digits, subset: {kind: random, fraction: 0.25, seed: 0}, role: proxy,
          proxy_of: all}
"""


def _logged(uri: str) -> ExecutionOptions:
    """On the CPU, logging to the MLflow store `uri`."""
    return ExecutionOptions(device="cpu", mlflow_uri=uri)


def _spec(name: str, tasks: str, description: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
    data = yaml.safe_load(tiny_spec(name, tasks, **kwargs))
    if description:
        data["description"] = description
    return parse_spec(yaml.safe_dump(data, sort_keys=False))


def _fill_two_studies(db, uri: str) -> None:  # type: ignore[no-untyped-def]
    fill(_spec("one", FULL_AND_HALF, ONE_DESCRIPTION), db, _logged(uri), quiet=True)
    fill(_spec("two", SECOND_TASKS, archs={"a": GENOME_A, "c": GENOME_C}), db, _logged(uri),
         quiet=True)


def _study_runs(uri: str, study: str) -> dict[str, object]:
    """The active MLflow runs of the study's experiment, by their `proxystore.cell` tag."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        runs = mlflow.search_runs(experiment_names=[study], output_format="list",
                                  max_results=1000)
    finally:
        mlflow.set_tracking_uri(None)
    by_cell = {r.data.tags["proxystore.cell"]: r for r in runs}
    assert len(by_cell) == len(runs), "two MLflow runs for one cell"
    return by_cell


def _db_cells(db, study: str) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        rows = session.execute(
            select(SqlStudyCell.candidate, SqlStudyCell.task, SqlStudyCell.seed,
                   SqlStudyCell.run_id, SqlStudyTask.role, SqlStudyTask.proxy_of)
            .join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id)
            .join(SqlStudyTask, (SqlStudyTask.study_id == SqlStudy.id)
                  & (SqlStudyTask.label == SqlStudyCell.task))
            .where(SqlStudy.name == study)).all()
    return {f"{c}/{t}/s{s}": (c, t, run_id, role, proxy_of)
            for c, t, s, run_id, role, proxy_of in rows}


@pytest.mark.slow
def test_each_study_shows_each_of_its_cells_once_with_reused_ones_linked(db, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _fill_two_studies(db, uri)
    client = MlflowClient(tracking_uri=uri)
    one, two = _study_runs(uri, "one"), _study_runs(uri, "two")
    cells_one, cells_two = _db_cells(db, "one"), _db_cells(db, "two")
    assert sorted(one) == sorted(cells_one) and len(one) == 4
    assert sorted(two) == sorted(cells_two) and len(two) == 4

    with db.session() as session:
        runs = {r.id: r for r in session.scalars(select(SqlRun))}
        assert len(runs) == 7  # study two's a/all reuses study one's a/full
        for label, by_cell, cells in (("one", one, cells_one), ("two", two, cells_two)):
            for key, (candidate, task, run_id, role, proxy_of) in cells.items():
                mlrun = by_cell[key]
                tags, metrics, params = mlrun.data.tags, mlrun.data.metrics, mlrun.data.params
                run = runs[run_id]
                assert (tags["study"], tags["candidate"], tags["task"]) == (label, candidate,
                                                                          task)
                assert (tags["role"], tags.get("proxy_of")) == (role, proxy_of)
                assert tags["proxystore.run_id"] == str(run_id)
                # Real times: the cell's started and finished, not when MLflow heard of it.
                assert mlrun.info.start_time == millis(run.started_at)
                assert mlrun.info.end_time == millis(run.finished_at)
                assert mlrun.info.status == "FINISHED"
                # Numbers as numbers, from the database.
                arch = session.get(SqlArchitecture, run.architecture_id)
                subset = session.get(SqlSubset, run.subset_id)
                assert metrics["arch.flops"] == arch.flops and arch.flops > 0
                assert metrics["arch.params"] == arch.params
                assert metrics["arch.acts"] == arch.acts
                assert metrics["arch.cumulative_depth"] == arch.cumulative_depth
                assert metrics["arch.cumulative_width"] == arch.cumulative_width
                assert metrics["num_classes"] == subset.num_classes
                assert metrics["subset.train_count"] == subset.train_count
                assert metrics["final_top1_error"] == pytest.approx(run.final_top1_error)
                # One param per stage field, never a stringified list.
                assert params["dataset"] == "digits" and params["subset.kind"] == subset.kind
                stages = arch.genome["depths"]
                for i, depth in enumerate(stages, start=1):
                    assert params[f"arch.depth.{i}"] == str(depth)
                    assert params[f"arch.width.{i}"] == str(arch.genome["widths"][i - 1])
                assert not [v for v in params.values() if v.startswith("[")]
                # Each epoch's metrics carry the time that epoch ended.
                history = client.get_metric_history(mlrun.info.run_id, "top1_error")
                epochs = session.scalars(select(SqlRunEpoch).where(
                    SqlRunEpoch.run_id == run_id).order_by(SqlRunEpoch.epoch)).all()
                assert [m.step for m in history] == [1, 2]
                assert [m.value for m in history] == pytest.approx(
                    [e.top1_error for e in epochs])
                assert history[-1].timestamp == millis(run.finished_at)
                gap = history[1].timestamp - history[0].timestamp
                assert abs(gap - 1000 * epochs[1].seconds) <= 2
                assert history[0].timestamp >= millis(run.started_at)

        # The reused cell names the run that trained it; the training run names none.
        trained = one["a/full/s0"]
        assert "proxystore.trained_in" not in trained.data.tags
        assert runs[int(trained.data.tags["proxystore.run_id"])].mlflow_run_id == \
            trained.info.run_id
        reused = two["a/all/s0"]
        assert reused.data.tags["proxystore.trained_in"] == trained.info.run_id
        assert reused.data.tags["proxystore.trained_in_experiment"] == \
            trained.info.experiment_id
        assert trained.info.run_id in reused.data.tags["mlflow.note.content"]
        assert sorted(k for k, r in two.items() if "proxystore.trained_in" in r.data.tags) \
            == ["a/all/s0"]
        assert not [k for k, r in one.items() if "proxystore.trained_in" in r.data.tags]

    # The study's experiment: its description, the model-training view, the spec as artifact.
    experiment = client.get_experiment_by_name("one")
    assert experiment.tags["mlflow.note.content"] == ONE_DESCRIPTION
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    artifacts = tmp_path / "mlartifacts"
    assert experiment.artifact_location.startswith(artifacts.as_uri())
    for mlrun in one.values():
        assert [a.path for a in client.list_artifacts(mlrun.info.run_id)] == ["spec.yaml"]
        local = Path(mlrun.info.artifact_uri.removeprefix("file://")) / "spec.yaml"
        assert local.is_file() and str(artifacts) in str(local)
        assert yaml.safe_load(local.read_text())["description"] == ONE_DESCRIPTION


def _shape(uri: str, study: str) -> dict[str, object]:
    """A study's runs as comparable values: ids (which differ between stores) left out."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    ids = {"proxystore.trained_in", "proxystore.trained_in_experiment", "mlflow.note.content"}
    shape = {}
    for key, run in _study_runs(uri, study).items():
        histories = {name: [(m.step, m.value, m.timestamp)
                            for m in client.get_metric_history(run.info.run_id, name)]
                     for name in run.data.metrics}
        tags = {k: v for k, v in run.data.tags.items() if k not in ids}
        shape[key] = (run.info.run_name, run.info.start_time, run.info.end_time,
                      run.data.params, tags, histories,
                      "proxystore.trained_in" in run.data.tags,
                      [a.path for a in client.list_artifacts(run.info.run_id)])
    return shape


@pytest.mark.slow
def test_sync_logs_what_is_missing_in_the_same_shape_as_live_logging(sqlite_db, tmp_path):
    from mlflow.tracking import MlflowClient

    live = f"sqlite:///{tmp_path / 'live' / 'mlflow.db'}"
    _fill_two_studies(sqlite_db, live)
    later = f"sqlite:///{tmp_path / 'later' / 'mlflow.db'}"
    counts = sync(sqlite_db, later)  # a fresh store misses everything
    assert counts.created == 8
    for study in ("one", "two"):
        assert _shape(later, study) == _shape(live, study)

    # A cell deleted in MLflow is missing: sync logs it again, and only it.
    victim = _study_runs(later, "two")["c/quarter/s0"]
    MlflowClient(tracking_uri=later).delete_run(victim.info.run_id)
    again = sync(sqlite_db, later)
    assert (again.created, again.removed) == (1, 0)
    assert _shape(later, "two") == _shape(live, "two")
    assert sync(sqlite_db, later).created == 0


@pytest.mark.slow
def test_a_changed_spec_leaves_its_experiment_with_exactly_its_new_cells(sqlite_db, tmp_path):
    """Dropping a task from a spec left its cells' runs in the study's experiment, and changing
    a task's role left the old role on its runs. The training run of a dropped cell that
    another study reuses goes too: that study's run of it becomes the training run."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    fill(_spec("one", FULL_AND_HALF), sqlite_db, _logged(uri), quiet=True)
    halves = "half2: {dataset: digits, subset: {kind: random, fraction: 0.5, seed: 0}, " \
             "role: target}\n"
    fill(_spec("two", halves, archs={"a": GENOME_A}), sqlite_db, _logged(uri), quiet=True)
    reused = _study_runs(uri, "two")["a/half2/s0"]
    assert reused.data.tags["proxystore.trained_in"] == _study_runs(uri, "one")["a/half/s0"] \
        .info.run_id
    only_full = "full: {dataset: digits, subset: {kind: full}, role: reference}\n"
    fill(_spec("one", only_full), sqlite_db, _logged(uri), quiet=True)

    one = _study_runs(uri, "one")
    assert sorted(one) == ["a/full/s0", "b/full/s0"]
    assert {r.data.tags["role"] for r in one.values()} == {"reference"}
    sync(sqlite_db, uri)
    (promoted,) = _study_runs(uri, "two").values()
    assert promoted.info.run_id == reused.info.run_id
    assert "proxystore.trained_in" not in promoted.data.tags
    with sqlite_db.session() as session:
        run = session.get(SqlRun, int(promoted.data.tags["proxystore.run_id"]))
        assert (run.mlflow_run_id, run.mlflow_logged) == (promoted.info.run_id, True)
    assert sync(sqlite_db, uri).created == 0
