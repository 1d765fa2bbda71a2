"""`report` puts the study's report in MLflow, linked from the study's experiment."""

from __future__ import annotations

import logging

from proxystore.runner.execution import ExecutionOptions
from proxystore.runner.fill import fill
from proxystore.study.spec import parse_spec
from proxystore.tracking import log_report
from tests.helpers import run_cli
from tests.mlflow_server import free_port
from tests.studies import FULL_AND_HALF, tiny_spec


def _logged(uri: str) -> ExecutionOptions:
    """On the CPU, logging to the MLflow store `uri`."""
    return ExecutionOptions(device="cpu", mlflow_uri=uri)


def test_report_is_logged_to_mlflow_and_linked_from_the_study(tmp_path):
    from mlflow.tracking import MlflowClient

    from proxystore.db import open_database

    db_path = tmp_path / "proxystore.db"
    db = open_database(str(db_path), create=True)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # the default beside the database
    fill(parse_spec(tiny_spec("rep", FULL_AND_HALF)), db, _logged(uri), quiet=True)
    db.dispose()
    made = run_cli("report", "rep", "--out", str(tmp_path / "out"), "--boot", "10", "--db",
                   str(db_path), cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    html = (tmp_path / "out" / "index.html").read_text()

    client = MlflowClient(tracking_uri=uri)
    reports = client.get_experiment_by_name("proxystore-reports")
    (run,) = client.search_runs([reports.experiment_id])
    assert (run.data.tags["study"], run.info.run_name) == ("rep", "report: rep")
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["index.html"]
    local = client.download_artifacts(run.info.run_id, "index.html", str(tmp_path / "back"))
    assert open(local).read() == html
    note = client.get_experiment_by_name("rep").tags["mlflow.note.content"]
    assert f"#/experiments/{reports.experiment_id}/runs/{run.info.run_id}/artifacts" in note
    # The study's cells are still exactly its runs: the report is not one of them.
    study = client.get_experiment_by_name("rep")
    assert len(client.search_runs([study.experiment_id])) == 4


def test_a_report_mlflow_cannot_take_is_one_line_and_no_failure(sqlite_db, tmp_path, caplog):
    page = tmp_path / "index.html"
    page.write_text("<html></html>")
    down = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING, logger="proxystore.tracking"):
        assert log_report(sqlite_db, "nothing", page, down) is None
    (line,) = [r.getMessage() for r in caplog.records if r.name == "proxystore.tracking"]
    assert line == (f"the report is at {page}; MLflow at {down} is unreachable (connection "
                    "refused), so it is not logged there")
