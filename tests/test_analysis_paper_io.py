"""Issue 15 at the edges: the 0004 upgrade with data, import-results' status column, the
`analysis:` and `strategy` spec keys, and a proxy_datasets-shaped result set through the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy import select

from proxystore.analysis import views
from proxystore.db import migrate, open_database
from proxystore.db.models import SqlRun, SqlStudy, SqlStudyCandidate, SqlStudyCell, SqlStudyTask
from proxystore.errors import SpecError
from proxystore.study.register import register_study
from proxystore.study.spec import parse_spec
from tests.cells import dummy_inputs
from tests.helpers import REPO, run_cli
from tests.studies import FULL_AND_HALF, tiny_spec

SPEC_0003 = """\
name: old
defaults: {epochs: 20, eval_metric: top5}
analysis: {diverged: drop, good: {top: 3}}
tasks:
  full: {dataset: d, role: target}
  full/half: {dataset: d, role: proxy, proxy_of: full}
  full/ep5: {dataset: d, role: proxy, proxy_of: full, epochs: 5, strategy: All Classes-1.0-ep5}
"""
# study_tasks and studies as revision 0003 has them (the ORM models are at head).
OLD_TASKS = sa.table("study_tasks", *[sa.column(c) for c in (
    "study_id", "label", "subset_id", "role", "proxy_of", "num_classes", "epochs",
    "eval_metric")], sa.column("regime", sa.JSON))
OLD_STUDIES = sa.table("studies", sa.column("name"), sa.column("spec_text"),
                       sa.column("spec_fingerprint"))


def _fill_0003(database) -> None:  # type: ignore[no-untyped-def]
    """A study with tasks, candidates and finished runs, written at revision 0003."""
    with database.session() as session:
        ids = dummy_inputs(session)
        session.execute(sa.insert(OLD_STUDIES).values(name="old", spec_text=SPEC_0003,
                                                      spec_fingerprint="0" * 64))
        study_id = session.execute(sa.text("SELECT id FROM studies")).scalar_one()
        tasks = [("full", "target", None, None), ("full/half", "proxy", "full", None),
                 ("full/ep5", "proxy", "full", 5)]
        session.execute(sa.insert(OLD_TASKS), [
            dict(study_id=study_id, label=label, subset_id=ids["subset_id"], role=role,
                 proxy_of=proxy_of, num_classes=10, epochs=epochs, eval_metric="top1",
                 regime={}) for label, role, proxy_of, epochs in tasks])
        for c in range(4):
            session.add(SqlStudyCandidate(study_id=study_id, label=f"c{c}",
                                          architecture_id=ids["architecture_id"], hparams={}))
            for t, (label, *_rest) in enumerate(tasks):
                run = SqlRun(cell_key=f"{c}{t}".ljust(64, "0"), seed=0, trainer_version="t",
                             status="done", final_top1_error=0.5, final_top5_error=0.1 * c,
                             **ids)
                session.add(run)
                session.flush()
                session.add(SqlStudyCell(study_id=study_id, candidate=f"c{c}", task=label,
                                         seed=0, run_id=run.id))


def test_a_0003_database_upgrades_with_its_data_and_tasks_as_trained(empty_db_url):
    database = open_database(empty_db_url, check=False, create=True)
    migrate.upgrade(database, "0003_analysis_view_fixes")
    _fill_0003(database)
    migrate.upgrade(database)
    assert migrate.state(database).at_head
    with database.session() as session:
        tasks = {t.label: t for t in session.scalars(select(SqlStudyTask))}
        study = session.scalar(select(SqlStudy))
        assert session.scalar(select(sa.func.count()).select_from(SqlRun)) == 12
        assert session.scalar(select(sa.func.count()).select_from(SqlStudyCell)) == 12
        assert {k: (t.epochs, t.eval_metric, t.strategy) for k, t in tasks.items()} == {
            "full": (20, "top5", "full"), "full/half": (20, "top5", "half"),
            "full/ep5": (5, "top5", "All Classes-1.0-ep5")}
        assert (study.analysis_diverged, study.good_rule, study.good_value) == ("drop", "top", 3)
    cells = views.cell_errors(database, "old")
    assert len(cells) == 12 and np.allclose(sorted(cells.error.unique()), [0, 0.1, 0.2, 0.3])
    assert set(views.proxy_strategies(database, "old").strategy) == {"half",
                                                                      "All Classes-1.0-ep5"}
    migrate.downgrade(database, "0003_analysis_view_fixes")  # and back, nothing lost
    assert len(views.cell_errors(database, "old")) == 12
    with database.session() as session:
        assert session.execute(sa.text("SELECT COUNT(*) FROM study_tasks")).scalar_one() == 3
    database.dispose()


def test_spec_strategy_defaults_analysis_settings_and_task_regime_are_recorded(db):
    spec = yaml.safe_load(tiny_spec("reg", FULL_AND_HALF))
    spec["defaults"]["eval_metric"] = "top5"
    spec["tasks"]["full/quarter"] = {"dataset": "digits", "role": "proxy", "proxy_of": "full",
                                     "subset": {"kind": "random", "fraction": 0.25, "seed": 0},
                                     "strategy": "All Classes-0.25", "epochs": 1}
    spec["analysis"] = {"good": {"min_accuracy": 0.4}}
    register_study(db, parse_spec(yaml.safe_dump(spec)))
    tasks = views.study_tasks(db, "reg").set_index("label")
    assert tasks.loc["full/quarter", "strategy"] == "All Classes-0.25"
    assert tasks.loc["half", "strategy"] == "half"  # no "full/" prefix to strip
    assert tasks.eval_metric.tolist() == ["top5"] * 3
    assert tasks.epochs.to_dict() == {"full": 2, "full/quarter": 1, "half": 2}
    settings = views.analysis_settings(db, "reg")
    assert (settings.good_rule, settings.good_min_accuracy, settings.diverged) == (
        "min_accuracy", 0.4, "chance")


@pytest.mark.parametrize(("analysis", "message"), [
    ({"diverged": "ignore"}, "analysis.diverged: must be one of chance, drop"),
    ({"good": {"top": 0}}, "analysis.good.top: must be an integer from 1 to"),
    ({"good": {"top": 2, "min_accuracy": 0.5}}, "analysis.good"),
    ({"skip": 1}, "analysis.skip: unknown field"),
])
def test_a_bad_analysis_setting_names_its_field(analysis, message):
    spec = yaml.safe_load(tiny_spec("bad", FULL_AND_HALF))
    spec["analysis"] = analysis
    with pytest.raises(SpecError, match=message):
        parse_spec(yaml.safe_dump(spec))


def test_a_strategy_on_a_task_that_is_no_proxy_is_refused():
    spec = yaml.safe_load(tiny_spec("bad", FULL_AND_HALF))
    spec["tasks"]["full"]["strategy"] = "Baseline"
    with pytest.raises(SpecError, match="tasks.full.strategy: only a task with role proxy"):
        parse_spec(yaml.safe_dump(spec))


def _status_csv(tmp_path, status: str, error: str) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "status.csv"
    path.write_text(f"candidate,task,seed,error,status,task_num_classes\n"
                    f"a,t,0,0.25,done,10\nb,t,0,{error},{status},10\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("status", "error", "message"), [
    ("exploded", "0.5", "line 3, column 'status': 'exploded' is not one of done, diverged"),
    ("diverged", "0.5", "line 3, column 'error': a diverged run has no error"),
    ("done", "", "line 3, column 'error': value is missing"),
])
def test_a_bad_status_row_is_one_line_exit_2(sqlite_db, tmp_path, status, error, message):
    result = run_cli("import-results", _status_csv(tmp_path, status, error), "--study", "st",
                     "--db", sqlite_db.url)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_diverged_row_imports_as_a_diverged_run_and_back(db, tmp_path):
    from proxystore.analysis.importer import import_results

    import_results(db, _status_csv(tmp_path, "diverged", ""), "st")
    with db.session() as session:
        runs = {r.status: r for r in session.scalars(select(SqlRun))}
        assert runs["failed"].failure == "diverged" and runs["failed"].final_top1_error is None
    assert views.cell_errors(db, "st").set_index("candidate").error.to_dict() == {
        "a": 0.25, "b": pytest.approx(0.9)}
    import_results(db, _status_csv(tmp_path, "done", "0.375"), "st")  # a corrected file
    assert views.cell_errors(db, "st").set_index("candidate").error.to_dict() == {
        "a": 0.25, "b": 0.375}
    assert not views.cell_errors(db, "st").diverged.any()


def _proxy_datasets_results() -> pd.DataFrame:
    """Two targets x 14 configurations x every task of jobs/proxy_datasets.yaml."""
    spec = yaml.safe_load((REPO / "jobs" / "proxy_datasets.yaml").read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    quality = rng.normal(size=14)
    rows = []
    for label, task in spec["tasks"].items():
        classes = 5 if "alf" in task.get("strategy", "") else 10
        for c in range(14):
            error = 0.4 - 0.05 * (quality[c] + 0.5 * rng.normal())
            rows.append({"candidate": f"config{c:02d}", "task": label, "seed": 0,
                         "error": round(float(np.clip(error, 0, 1)), 4), "status": "done",
                         "task_num_classes": classes})
    frame = pd.DataFrame(rows)
    frame.loc[(frame.task == "imagewoof/hard-0.9-1.0") & (frame.candidate == "config03"),
              ["error", "status"]] = [None, "diverged"]
    return frame[~((frame.task == "imagenette/half-classes-0.5")
                   & (frame.candidate == "config05"))]  # a missing cell


def test_a_proxy_datasets_result_set_prints_table_2_rows(tmp_path):
    path = tmp_path / "pd.csv"
    _proxy_datasets_results().to_csv(path, index=False)
    url = f"sqlite:///{tmp_path / 'pd.db'}"
    imported = run_cli("import-results", str(path), "--study", "pd", "--spec",
                       str(REPO / "jobs" / "proxy_datasets.yaml"), "--db", url)
    assert imported.returncode == 0, imported.stderr
    result = run_cli("analyze", "pd", "--boot", "20", "--format", "csv", "--table",
                     "proxy_strategies", "--db", url)  # csv: exactly one table, pandas-loadable
    assert result.returncode == 0, result.stderr
    block = result.stdout.strip().splitlines()
    rows = {line.split(",")[0]: line for line in block[1:]}
    assert len(rows) == 22 and {"Half Classes-0.5", "All Classes-1.0-ep5", "hard-0.9-1.0",
                                "Other Half Classes-1.0"} <= set(rows)
    header = block[0].split(",")
    half = dict(zip(header, rows["Half Classes-0.5"].split(","), strict=True))
    assert (half["n_targets"], half["n"], half["n_missing"]) == ("2", "27", "1")
    hard = dict(zip(header, rows["hard-0.9-1.0"].split(","), strict=True))
    assert hard["n"] == "28"  # the diverged run counts (at chance)
    assert "cost_adjusted_r2" in header and "r2_low" in header
    assert "warning: proxy_strategies: 1 of 22 rows lack results" in result.stderr


def test_the_view_benchmark_times_every_view_and_a_0003_baseline(tmp_path):
    from proxystore.analysis.importer import import_results
    from tests.helpers import load_benchmark

    bench = load_benchmark("analysis_speed")
    frame, roles = bench.results(n_candidates=30)
    assert frame.status.eq("diverged").any() and len(roles) == 15
    path = tmp_path / "seed2.csv"
    frame.to_csv(path, index=False)
    database = open_database(f"sqlite:///{tmp_path / 'bench.db'}", create=True)
    import_results(database, path, "seed2", roles=roles)
    _, per_view = bench.time_views(database, views.VIEWS)
    assert set(per_view) == set(views.VIEWS)
    baseline = bench.baseline_copy(tmp_path / "bench.db")
    assert migrate.state(baseline).current == "0003_analysis_view_fixes"
    old = [name for name in views.VIEWS if name not in bench.NEW_VIEWS]
    assert len(views.view(baseline, "apr_correlations", "seed2")) == 15 * 14  # data came along
    assert set(bench.time_views(baseline, old)[1]) == set(old)
    baseline.dispose()
    database.dispose()
