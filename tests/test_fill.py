"""`fill`: trains exactly the missing cells, reuses across studies, survives bad runs and Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from proxystore.db import open_database
from proxystore.db.models import SqlRun, SqlRunEpoch, SqlStudy, SqlStudyCell
from proxystore.runner.execution import ExecutionOptions
from proxystore.runner.fill import fill
from proxystore.study.spec import load_spec, parse_spec
from tests.helpers import REPO, run_cli
from tests.inprocess import run_main
from tests.studies import EASY_HARD, FULL_AND_HALF, GENOME_A, GENOME_C, tiny_spec, write

CPU = ExecutionOptions(device="cpu")


def _logged(uri: str) -> ExecutionOptions:
    """On the CPU, logging to the MLflow store `uri`."""
    return ExecutionOptions(device="cpu", mlflow_uri=uri)


def _runs(db):
    with db.session() as session:
        return {r.id: (r.status, r.attempts, r.failure)
                for r in session.scalars(select(SqlRun)).all()}


def test_fill_trains_every_cell_once_with_its_epochs(sqlite_db):
    spec = parse_spec(tiny_spec("s1", FULL_AND_HALF))
    result = fill(spec, sqlite_db, CPU, quiet=True)
    assert len(result.summary.done) == 4 and not result.summary.failed
    with sqlite_db.session() as session:
        runs = session.scalars(select(SqlRun)).all()
        assert len(runs) == 4 and {r.status for r in runs} == {"done"}
        assert all(r.attempts == 1 and r.worker for r in runs)
        for run in runs:
            epochs = session.scalars(select(SqlRunEpoch).where(SqlRunEpoch.run_id == run.id)
                                     ).all()
            assert [e.epoch for e in epochs] == [1, 2]
            assert run.final_top1_error == epochs[-1].top1_error
            assert 0 <= run.final_top1_error < 0.9  # learned something on 10 classes
            assert run.device == "cpu" and run.wall_seconds > 0


def test_second_fill_trains_nothing(sqlite_db):
    spec = parse_spec(tiny_spec("s1", FULL_AND_HALF))
    fill(spec, sqlite_db, CPU, quiet=True)
    before = _runs(sqlite_db)
    again = fill(spec, sqlite_db, CPU, quiet=True)
    assert again.summary.done == [] and again.registration.new_runs == 0
    assert _runs(sqlite_db) == before


def test_second_study_trains_only_its_new_cells(db):
    first = parse_spec(tiny_spec("first", FULL_AND_HALF))
    fill(first, db, CPU, quiet=True)
    shared_tasks = FULL_AND_HALF + (
        "quarter: {dataset: digits, subset: {kind: random, fraction: 0.25, seed: 0}, "
        "role: proxy, proxy_of: full}\n")
    second = parse_spec(tiny_spec("second", shared_tasks, archs={
        "a": GENOME_A, "c": GENOME_C}))
    result = fill(second, db, CPU, quiet=True)
    # second: {a, c} x {full, half, quarter} = 6 cells; a@full and a@half were trained by first.
    assert result.registration.cells == 6
    assert len(result.summary.done) == 4
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SqlRun)) == 8
        attempts = session.scalars(select(SqlRun.attempts)).all()
        assert attempts == [1] * 8  # nothing trained twice
        shared = session.execute(
            select(SqlStudyCell.run_id).join(SqlStudy).where(SqlStudy.name == "first",
                                                             SqlStudyCell.candidate == "a")
        ).scalars().all()
        linked_by_second = session.execute(
            select(SqlStudyCell.run_id).join(SqlStudy).where(SqlStudy.name == "second",
                                                             SqlStudyCell.candidate == "a",
                                                             SqlStudyCell.task != "quarter")
        ).scalars().all()
        assert sorted(shared) == sorted(linked_by_second)


def test_a_second_study_shows_the_run_it_reuses_linked_to_its_training(sqlite_db, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    tasks = "full: {dataset: digits, role: target}\n"
    for name in ("one", "two"):
        fill(parse_spec(tiny_spec(name, tasks, archs={"a": GENOME_A})), sqlite_db, _logged(uri),
             quiet=True)
    client = MlflowClient(tracking_uri=uri)
    (one,) = client.search_runs([client.get_experiment_by_name("one").experiment_id])
    (two,) = client.search_runs([client.get_experiment_by_name("two").experiment_id])
    assert one.data.tags["proxystore.run_id"] == two.data.tags["proxystore.run_id"]
    assert two.data.tags["proxystore.trained_in"] == one.info.run_id
    assert (one.data.tags["study"], two.data.tags["study"]) == ("one", "two")


def test_diverging_run_is_failed_with_its_epoch_and_fill_goes_on(sqlite_db, tmp_path):
    tasks = """\
full: {dataset: digits, subset: {kind: full}, role: target}
"""
    spec = parse_spec(tiny_spec("nan", tasks, hyperparameters="sane: {}\nabsurd: {lr: 1.0e+6}\n"))
    result = fill(spec, sqlite_db, CPU, quiet=True)
    assert len(result.summary.done) == 2 and len(result.summary.failed) == 2
    with sqlite_db.session() as session:
        failed = session.scalars(select(SqlRun).where(SqlRun.status == "failed")).all()
        assert {r.failure for r in failed} == {"diverged"}
        assert all("NaN/inf in epoch" in r.error for r in failed)
        ids = [r.id for r in failed]
        assert session.scalar(select(func.count()).select_from(SqlRunEpoch)
                              .where(SqlRunEpoch.run_id.in_(ids))) == 0


def test_cpu_run_is_reproducible_from_its_seed(tmp_path):
    spec = parse_spec(tiny_spec("repro", "full: {dataset: digits, role: target}\n",
                                archs={"a": GENOME_A}))
    errors = []
    for i in range(2):
        db = open_database(str(tmp_path / f"r{i}.db"), create=True)
        fill(spec, db, CPU, quiet=True)
        with db.session() as session:
            errors.append([(e.train_loss, e.top1_error, e.val_loss) for e in session.scalars(
                select(SqlRunEpoch).order_by(SqlRunEpoch.epoch))])
    assert errors[0] == errors[1]


def _spawn_fill(spec_path, db_path, *extra, ignore_sigint: bool = False):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PROXYSTORE_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "proxystore", "fill", str(spec_path), "--db", str(db_path),
         "--device", "cpu", "--quiet", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint
        else None)


@pytest.mark.exclusive
def test_ctrl_c_puts_the_cell_back_and_leaves_no_partial_epochs(tmp_path):
    spec_path = write(tmp_path, "long", tiny_spec("long", FULL_AND_HALF, epochs=30))
    db_path = tmp_path / "p.db"
    proc = _spawn_fill(spec_path, db_path, "--mlflow", f"sqlite:///{tmp_path / 'ml.db'}")
    db = None
    deadline = time.time() + 120
    running = []
    while time.time() < deadline and not running:
        time.sleep(0.5)
        if db is None and db_path.exists():
            try:
                db = open_database(str(db_path))
            except Exception:  # noqa: BLE001 - the file may still be migrating
                db = None
                continue
        if db is not None:
            running = [i for i, (s, _, _) in _runs(db).items() if s == "running"]
    assert running, proc.communicate(timeout=5)
    time.sleep(2)  # well inside the first of 30 epochs' worth of training
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGINT), err  # exit 130 or death by SIGINT
    runs = _runs(db)
    assert runs[running[0]] == ("pending", 0, "interrupted")
    assert all(s in ("pending", "done") for s, _, _ in runs.values())
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SqlRunEpoch)
                              .where(SqlRunEpoch.run_id == running[0])) == 0


@pytest.mark.slow
def test_mlflow_unavailable_then_sync(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient


    spec_path = write(tmp_path, "ml", tiny_spec("ml", "full: {dataset: digits, role: target}\n"))
    db_path = tmp_path / "p.db"
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    result = run_cli("fill", str(spec_path), "--db", str(db_path), "--device", "cpu", "--quiet",
                     "--mlflow", "http://127.0.0.1:9", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mlflow sync" in result.stderr
    db = open_database(str(db_path))
    with db.session() as session:
        runs = session.scalars(select(SqlRun)).all()
        assert len(runs) == 2 and all(r.status == "done" and not r.mlflow_logged for r in runs)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    synced = run_cli("mlflow", "sync", "--db", str(db_path), "--mlflow", uri, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert "logged 2 runs" in synced.stdout
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("ml")
    logged = client.search_runs([experiment.experiment_id])
    assert len(logged) == 2
    for run in logged:
        history = client.get_metric_history(run.info.run_id, "top1_error")
        assert [m.step for m in history] == [1, 2]
        assert run.data.params["dataset"] == "digits" and run.data.tags["study"] == "ml"
    with db.session() as session:
        assert all(r.mlflow_logged for r in session.scalars(select(SqlRun)).all())


def test_dry_run_and_plan_write_no_cells(tmp_path):
    spec_path = write(tmp_path, "p", tiny_spec("p", FULL_AND_HALF))
    db_path = tmp_path / "p.db"
    result = run_main("fill", str(spec_path), "--db", str(db_path), "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "study p: 4 cells" in result.stdout and "pending: 4 (4 new" in result.stdout
    plan = run_main("plan", str(spec_path), "--db", str(db_path), cwd=tmp_path)
    assert "pending: 4" in plan.stdout
    db = open_database(str(db_path))
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SqlRun)) == 0
        assert session.scalar(select(func.count()).select_from(SqlStudy)) == 0


@pytest.mark.slow
def test_readme_main_command_runs_the_demo_and_a_second_run_trains_nothing(tmp_path):
    """The README's first command on a fresh directory: the demo to completion, then nothing."""

    first = run_cli("fill", cwd=tmp_path, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    db = open_database(str(tmp_path / "proxystore.db"))
    spec = load_spec(REPO / "jobs" / "demo.yaml")
    with db.session() as session:
        cells = session.scalar(select(func.count()).select_from(SqlStudyCell))
        assert cells == spec.cell_count()
        runs = session.scalars(select(SqlRun)).all()
        assert {r.status for r in runs} == {"done"}
        assert all(r.mlflow_logged for r in runs)
    assert "APR, Spearman rho of errors" in first.stdout
    assert "Proxy quality" in first.stdout
    second = run_cli("fill", cwd=tmp_path, timeout=300)
    assert second.returncode == 0
    assert "nothing to train" in second.stdout

    # The analysis runs on the demo: analyze, the HTML report, and both notebooks (so they can't
    # rot: CI executes them on the database the README's command produced).
    url = f"sqlite:///{tmp_path / 'proxystore.db'}"
    analyzed = run_cli("analyze", "demo", "--boot", "200", "--db", url, cwd=tmp_path)
    assert analyzed.returncode == 0, analyzed.stderr
    assert "proxy_quality" in analyzed.stdout or "proxy quality" in analyzed.stdout.lower()
    report = run_cli("report", "demo", "--out", str(tmp_path / "report"), "--boot", "100",
                     "--db", url, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report" / "index.html").read_text()
    # Every figure of both papers has what it needs in the demo (targets, family, proxies).
    assert html.count("data:image/png;base64,") >= 6, html[:200]
    assert "Skipped" not in html

    import nbformat
    from nbclient import NotebookClient

    os.environ["PROXYSTORE_DB"], os.environ["PROXYSTORE_STUDY"] = url, "demo"
    try:
        for name in ("apr.ipynb", "proxy_quality.ipynb"):
            notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
            NotebookClient(notebook, timeout=300, kernel_name="python3",
                           resources={"metadata": {"path": str(tmp_path)}}).execute()
            outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
            assert not [o for o in outputs if o.output_type == "error"], name
            assert [o for o in outputs if "image/png" in o.get("data", {})], name
    finally:
        os.environ.pop("PROXYSTORE_DB"), os.environ.pop("PROXYSTORE_STUDY")


def test_plan_estimates_compute_from_finished_runs(sqlite_db, tmp_path):
    from proxystore.study.plan import plan_study

    fill(parse_spec(tiny_spec("fit", FULL_AND_HALF)), sqlite_db, CPU, quiet=True)
    more = FULL_AND_HALF + ("quarter: {dataset: digits, subset: {kind: random, fraction: 0.25},"
                            " role: proxy, proxy_of: full}\n")
    plan = plan_study(sqlite_db, parse_spec(tiny_spec("more", more)))
    assert plan.by_status["done"] == 4 and plan.new == 2
    assert plan.done_by_study == {"fit": 4}
    (device, seconds), = plan.estimate_seconds.items()
    assert device == "cpu" and seconds > 0
    text = "\n".join(plan.lines())
    assert "device-hours" in text and "from studies: fit 4" in text


@pytest.mark.exclusive
@pytest.mark.parametrize("started_ignoring", [False, True], ids=["terminal", "script-job"])
def test_ctrl_c_stops_a_pool_and_every_cell_goes_back(tmp_path, started_ignoring):
    # script-job: started with SIGINT ignored, as `fill ... &` in a script is; SIGINT still
    # stops it (it used to be ignored by the fill and its workers alike).
    # Cells far longer than the test (2,000 epochs, minutes each): with 40 epochs a cell could
    # finish between the poll that saw it running and the Ctrl-C, and the test then failed on
    # a correct result (seen under load). Ctrl-C stops a cell mid-epoch, so length costs nothing.
    spec_path = write(tmp_path, "pool", tiny_spec("pool", FULL_AND_HALF, epochs=2000))
    db_path = tmp_path / "p.db"
    proc = _spawn_fill(spec_path, db_path, "--workers", "2", "--mlflow",
                       f"sqlite:///{tmp_path / 'ml.db'}", ignore_sigint=started_ignoring)
    db, deadline, running = None, time.time() + 180, []
    while time.time() < deadline and len(running) < 2:
        time.sleep(0.5)
        if db is None and db_path.exists():
            try:
                db = open_database(str(db_path))
            except Exception:  # noqa: BLE001 - still being created
                continue
        if db is not None:
            running = [i for i, (s, _, _) in _runs(db).items() if s == "running"]
    assert len(running) == 2, proc.communicate(timeout=5)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=45)  # under the 60 s grace: workers must stop on SIGINT
    runs = _runs(db)
    assert all(s in ("pending", "done") for s, _, _ in runs.values()), runs
    assert all(runs[i][0] == "pending" and runs[i][1] == 0 for i in running), (running, runs)


def test_easy_and_hard_subsets_wait_for_their_scorer(db):
    from proxystore.db.models import SqlExampleLoss, SqlSubset
    from proxystore.study.plan import plan_study

    tasks = EASY_HARD
    spec = parse_spec(tiny_spec("easyhard", tasks))
    result = fill(spec, db, CPU, quiet=True)
    assert len(result.summary.done) == 6 and not result.summary.failed
    with db.session() as session:
        runs = session.scalars(select(SqlRun).order_by(SqlRun.started_at)).all()
        scorer = runs[0]  # claimed first: it has the priority
        assert scorer.needs_scores and scorer.status == "done"
        train_count = session.scalar(select(SqlSubset.train_count)
                                     .where(SqlSubset.id == scorer.subset_id))
        assert session.scalar(select(func.count()).select_from(SqlExampleLoss)
                              .where(SqlExampleLoss.run_id == scorer.id)) == train_count
        quantiles = session.scalars(select(SqlSubset).where(SqlSubset.kind == "loss_quantile")
                                    ).all()
        assert len(quantiles) == 2
        assert {q.scorer_run_id for q in quantiles} == {scorer.id}
        assert sorted(q.train_count for q in quantiles) == [train_count // 2,
                                                           train_count - train_count // 2]
        easy = next(q for q in quantiles if q.params["a"] == 0.5)
        losses = dict(session.execute(select(SqlExampleLoss.index, SqlExampleLoss.loss)
                                      .where(SqlExampleLoss.run_id == scorer.id)).all())
    from proxystore.data.subsets import subset_indices

    easy_train, _ = subset_indices(db, easy.id)
    rest = sorted(set(losses) - set(easy_train.tolist()))
    assert max(losses[i] for i in easy_train) <= min(losses[i] for i in rest)  # easiest half
    plan = plan_study(db, spec)
    assert plan.by_status["done"] == 6 and plan.waiting_for_scorer == 0 and plan.new == 0


def test_a_subset_the_dataset_cannot_give_names_its_task_and_registers_no_study(tmp_path):
    """The error names the spec's field; the study, its tasks and cells are not written (the
    dataset, a complete content-addressed fact, may stay for the corrected spec to reuse)."""
    tasks = FULL_AND_HALF + "few: {dataset: digits, subset: {kind: classes, k: 11, seed: 0}}\n"
    spec = write(tmp_path, "s", tiny_spec("too-many", tasks))
    db = tmp_path / "r.db"
    proc = run_main("fill", str(spec), "--db", str(db), "--device", "cpu", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"created new database {db}",  # fill may create the database; the study stays out
        "proxystore: error: tasks.few.subset: cannot keep 11 classes: the training examples "
        "have 10 classes"]
    database = open_database(f"sqlite:///{db}")
    try:
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(SqlStudy)) == 0
            assert session.scalar(select(func.count()).select_from(SqlRun)) == 0
    finally:
        database.dispose()


def test_a_scorer_trained_by_another_study_without_losses_is_trained_again_for_this_one(db):
    """Study `plain` trained (a, full) without per-example losses; study `easyhard` then named
    that cell as its easy/hard scorer. The scorer's second training (a run of its own, linked
    to no study cell) was never claimed by `easyhard`'s fill, so its easy and hard tasks never
    got cells, and fill still exited 0."""
    from proxystore.db.models import SqlExampleLoss

    fill(parse_spec(tiny_spec("plain", "full: {dataset: digits, role: target}",
                              archs={"a": GENOME_A})), db, CPU, quiet=True)
    tasks = EASY_HARD
    result = fill(parse_spec(tiny_spec("easyhard", tasks, archs={"a": GENOME_A})), db,
                  CPU, quiet=True)
    assert not result.summary.failed
    assert len(result.summary.done) == 3  # the scorer's second training, then easy and hard
    with db.session() as session:
        study = session.scalar(select(SqlStudy.id).where(SqlStudy.name == "easyhard"))
        statuses = session.execute(
            select(SqlStudyCell.task, SqlRun.status)
            .join(SqlRun, SqlRun.id == SqlStudyCell.run_id)
            .where(SqlStudyCell.study_id == study)).all()
        assert sorted(statuses) == [("easy", "done"), ("full", "done"), ("hard", "done")]
        scored = session.scalars(select(SqlRun).where(SqlRun.needs_scores)).all()
        assert len(scored) == 1 and scored[0].status == "done"
        assert session.scalar(select(func.count()).select_from(SqlExampleLoss)
                              .where(SqlExampleLoss.run_id == scored[0].id)) > 0


def test_fill_says_which_tasks_still_wait_for_their_scorer(tmp_path):
    """`fill --max-cells 0` registers an easy/hard study but trains nothing: the tasks that wait
    for their scorer are named, instead of a count of done runs that looks complete."""
    tasks = EASY_HARD
    spec = write(tmp_path, "wait", tiny_spec("wait", tasks, archs={"a": GENOME_A}))
    out = run_main("fill", str(spec), "--max-cells", "0", "--quiet", "--device", "cpu", "--db",
                  str(tmp_path / "w.db"), "--mlflow", f"sqlite:///{tmp_path / 'm.db'}")
    assert out.returncode == 0, out.stderr
    assert ("2 tasks (easy, hard) still wait for their scorer run: they get cells once it is "
            "done with per-example losses") in out.stdout
