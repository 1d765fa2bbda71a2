"""MLflow logging of runs, always from what the database recorded.

The database is the record; MLflow is a view of it for people who like its UI. A run is logged
after its result is committed; if MLflow is unreachable the run stays `mlflow_logged = false`
and `proxystore mlflow sync` logs it later from the same rows, so both paths are one function.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select

from proxystore.db import engine as engines
from proxystore.db.models import (
    SqlArchitecture,
    SqlDataset,
    SqlRecipe,
    SqlRun,
    SqlRunEpoch,
    SqlStudy,
    SqlStudyCell,
    SqlSubset,
)
from proxystore.db.session import Database

log = logging.getLogger("proxystore.tracking")
EXPERIMENT = "proxystore"


def tracking_uri(db_url: str, override: str | None = None) -> str:
    """The MLflow tracking URI: `override`, else $MLFLOW_TRACKING_URI, else beside the database.

    Beside a SQLite database `DIR/x.db` it is `sqlite:///DIR/mlflow.db`; beside PostgreSQL it is
    `sqlite:///./mlflow.db` in the working directory (use a tracking server for many nodes).
    """
    if override:
        return override
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    parsed = engines.parse_url(db_url)
    path = engines.sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
    folder = path.expanduser().resolve().parent if path is not None else Path.cwd()
    return f"sqlite:///{folder / 'mlflow.db'}"


def _client(uri: str) -> Any:
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _flatten(prefix: str, obj: Any, out: dict[str, str]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out)
    else:
        out[prefix] = str(obj)[:6000]


def _describe(session: Any, run_id: int) -> dict[str, Any]:
    run = session.get(SqlRun, run_id)
    arch = session.get(SqlArchitecture, run.architecture_id)
    subset = session.get(SqlSubset, run.subset_id)
    dataset = session.get(SqlDataset, subset.dataset_id)
    recipe = session.get(SqlRecipe, run.recipe_id)
    links = session.execute(
        select(SqlStudy.name, SqlStudyCell.candidate, SqlStudyCell.task)
        .join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id)
        .where(SqlStudyCell.run_id == run_id).order_by(SqlStudy.name)).all()
    epochs = session.scalars(select(SqlRunEpoch).where(SqlRunEpoch.run_id == run_id)
                             .order_by(SqlRunEpoch.epoch)).all()
    params: dict[str, str] = {}
    _flatten("arch", arch.genome, params)
    _flatten("recipe", recipe.spec, params)
    params.update({
        "seed": str(run.seed), "cell_key": run.cell_key, "trainer_version": run.trainer_version,
        "arch.fingerprint": arch.fingerprint, "subset.fingerprint": subset.fingerprint,
        "recipe.fingerprint": recipe.fingerprint, "subset.name": subset.name,
        "subset.kind": subset.kind, "subset.train_count": str(subset.train_count),
        "dataset": dataset.name, "arch.space": arch.space,
    })
    if arch.flops is not None:
        params["arch.flops"] = str(arch.flops)
    studies = sorted({s for s, _, _ in links})
    tags = {
        "proxystore.run_id": str(run.id), "dataset": dataset.name,
        "studies": ",".join(studies),
        "tasks": ",".join(sorted({t for _, _, t in links})),
        "candidates": ",".join(sorted({c for _, c, _ in links})),
        "status": run.status,
    }
    label = links[0] if links else (None, arch.name or arch.fingerprint[:8], subset.name)
    name = f"{label[1]} @ {label[2]} s{run.seed}"
    metrics = []
    for e in epochs:
        for key in ("train_loss", "train_error", "val_loss", "top1_error", "top5_error", "lr",
                    "seconds"):
            value = getattr(e, key)
            if value is not None:
                metrics.append((key, float(value), e.epoch))
    summary = {k: getattr(run, k) for k in ("final_top1_error", "final_top5_error",
                                             "best_top1_error", "best_top5_error",
                                             "wall_seconds", "device_seconds")}
    return dict(run=run, params=params, tags=tags, name=name, metrics=metrics,
                summary={k: float(v) for k, v in summary.items() if v is not None},
                experiment=studies[0] if studies else EXPERIMENT)


def log_run(db: Database, run_id: int, uri: str) -> str:
    """Log (or, when already logged, re-tag) one finished run in MLflow; return its MLflow id."""
    import time

    from mlflow.entities import Metric, Param, RunTag

    with db.session() as session:
        info = _describe(session, run_id)
        existing = info["run"].mlflow_run_id
    client = _client(uri)
    if existing:
        client.log_batch(existing, tags=[RunTag(k, v) for k, v in info["tags"].items()])
        mlflow_id = existing
    else:
        experiment = client.get_experiment_by_name(info["experiment"])
        experiment_id = (experiment.experiment_id if experiment is not None
                         else client.create_experiment(info["experiment"]))
        created = client.create_run(experiment_id, run_name=info["name"], tags=info["tags"])
        mlflow_id = created.info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v, step in info["metrics"]]
        metrics += [Metric(k, v, now, 0) for k, v in info["summary"].items()]
        params = [Param(k, v) for k, v in info["params"].items()]
        for start in range(0, max(len(metrics), len(params)), 100):
            client.log_batch(mlflow_id, metrics=metrics[start:start + 100],
                             params=params[start:start + 100])
        client.set_terminated(mlflow_id, status="FINISHED")
    with db.session() as session:
        run = session.get(SqlRun, run_id)
        assert run is not None
        run.mlflow_run_id, run.mlflow_logged = mlflow_id, True
    return mlflow_id


def try_log_run(db: Database, run_id: int, uri: str) -> bool:
    """log_run that never raises: on failure the run stays marked as not yet logged."""
    try:
        log_run(db, run_id, uri)
        return True
    except Exception as error:  # noqa: BLE001 - MLflow may fail in many ways; the DB keeps the result
        log.warning("MLflow logging of run %s failed (%s); `proxystore mlflow sync` retries",
                    run_id, " ".join(str(error).split())[:200])
        return False


def sync(db: Database, uri: str, study: str | None = None) -> int:
    """Log every finished run not yet in MLflow; return how many were logged."""
    with db.session() as session:
        query = select(SqlRun.id).where(SqlRun.status == "done", SqlRun.mlflow_logged.is_(False))
        if study is not None:
            query = query.where(SqlRun.id.in_(
                select(SqlStudyCell.run_id).join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id)
                .where(SqlStudy.name == study)))
        ids = list(session.scalars(query.order_by(SqlRun.id)))
    for run_id in ids:
        log_run(db, run_id, uri)  # let the first error surface: sync is asked for explicitly
    return len(ids)


def retag_shared(db: Database, study: str, uri: str) -> int:
    """Refresh the tags (studies, tasks, candidates) of logged runs this study now shares."""
    from sqlalchemy import func

    shared = (select(SqlStudyCell.run_id).group_by(SqlStudyCell.run_id)
              .having(func.count(func.distinct(SqlStudyCell.study_id)) > 1))
    with db.session() as session:
        ids = list(session.scalars(
            select(SqlRun.id).join(SqlStudyCell, SqlStudyCell.run_id == SqlRun.id)
            .join(SqlStudy, SqlStudy.id == SqlStudyCell.study_id)
            .where(SqlStudy.name == study, SqlRun.mlflow_logged.is_(True),
                   SqlRun.id.in_(shared)).distinct()))
    done = 0
    for run_id in ids:
        done += try_log_run(db, run_id, uri)
    return done
