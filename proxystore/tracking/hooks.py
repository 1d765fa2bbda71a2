"""What `fill`, a pool's parent and `report` call: none of them ever fails because of MLflow.

`prepare` makes the store and the study's experiment ready before workers start (so they never
race to create either), `finish` waits briefly for the background logger and then logs what is
still missing for the study (cells reused from other studies, runs a worker could not log), and
`log_report` puts a study's report in MLflow. Each says in one line when MLflow is away.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from proxystore.db.session import Database
from proxystore.db.store.tracking import not_logged_count
from proxystore.tracking import background, describe
from proxystore.tracking.backfill import sync
from proxystore.tracking.runs import REPORT_TAG, Writer
from proxystore.tracking.store import ensure_store, quick_http, why

log = logging.getLogger("proxystore.tracking")
REPORTS = "proxystore-reports"  # one experiment holding every study's reports, one run each


def prepare(db: Database, study: str | None, uri: str | None) -> bool:
    """Create or repair the store and the study's experiment; False (and one line) on failure.

    Args:
        db: the open database.
        study: the study whose experiment to create (None: only the store).
        uri: the MLflow tracking URI (None: MLflow is not used).
    """
    if not uri:
        return True
    try:
        note = ensure_store(uri)
        if note:
            log.warning("%s", note)
        if study is not None:
            with quick_http():
                logger = Writer(db, uri)
                with db.session() as session:
                    logger.studies = describe.studies(session, [study])
                logger.experiment(study)
        background.note_problem(uri, None)
        return True
    except Exception as error:  # noqa: BLE001 - training goes on; sync logs later
        log.warning("MLflow at %s %s; training goes on, and `proxystore mlflow sync` logs the "
                    "results when it is up", uri, why(error))
        background.note_problem(uri, why(error))
        return False


def not_logged(db: Database, study: str) -> int:
    """How many of the study's finished runs are not yet in MLflow."""
    return not_logged_count(db, study)


def finish(db: Database, study: str, uri: str | None) -> bool:
    """After a fill: let the background logger finish, then log what the study still misses.

    Returns False (after one line naming `proxystore mlflow sync`) when MLflow was away.

    Args:
        db: the open database.
        study: the study just filled.
        uri: the MLflow tracking URI (None: MLflow is not used).
    """
    if not uri:
        return True
    background.drain()
    problem = background.problem(uri)
    if problem is None:  # MLflow answered last time: log what the study still misses
        try:
            sync(db, uri, study)
            return True
        except Exception as error:  # noqa: BLE001 - the results are safe in the database
            problem = why(error)
    log.warning("MLflow at %s %s: %d finished runs of study %s are not in MLflow yet; run "
                "`proxystore mlflow sync` when it is up", uri, problem, not_logged(db, study),
                study)
    return False


def log_report(db: Database | str | None, study: str, path: str | Path,
               mlflow_uri: str | None = None) -> str | None:
    """Log a study's report as a run of the `proxystore-reports` experiment and link it from
    the study's experiment; return the MLflow run id, or None (one line) when MLflow is away.

    Args:
        db: an open Database, or a URL / SQLite path.
        study: the study's name.
        path: the report file (OUT/index.html).
        mlflow_uri: the tracking URI (default $MLFLOW_TRACKING_URI, else mlflow.db beside
            the database).
    """
    from proxystore.analysis.views import as_database
    from proxystore.tracking.store import tracking_uri

    database = as_database(db)
    uri = tracking_uri(database.url, mlflow_uri)
    report = Path(path)
    try:
        with quick_http():
            logger = Writer(database, uri)
            with database.session() as session:
                logger.studies = describe.studies(session, [study])
            reports = logger.experiment(REPORTS)
            run = logger.client.create_run(reports, run_name=f"report: {study}",
                                           tags={"study": study, "proxystore.kind": "report"})
            run_id = run.info.run_id
            logger.client.log_artifact(run_id, str(report))
            logger.client.set_terminated(run_id, status="FINISHED")
            experiment = logger.experiment(study)
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
            logger.client.set_experiment_tag(experiment, REPORT_TAG,
                                             f"{reports}/{run_id}/{stamp}")
            logger.experiments.pop(study)
            logger.experiment(study)  # its note now links the report
        return str(run_id)
    except Exception as error:  # noqa: BLE001 - the report is written; MLflow is extra
        log.warning("the report is at %s; MLflow at %s %s, so it is not logged there",
                    report, uri, why(error))
        return None
