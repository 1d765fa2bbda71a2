"""The commands that join or watch the work from any machine: `worker`, `launch slurm`, `status`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from proxystore.db import open_database
from proxystore.db.session import Database
from proxystore.errors import WorkerEnvironmentError
from proxystore.runner.environment import check_environment
from proxystore.runner.execution import ExecutionOptions
from proxystore.runner.fill import _sigterm_as_interrupt
from proxystore.runner.pool import run_pool, worker_configs
from proxystore.runner.worker import run_worker, worker_id
from proxystore.study.register import register_study
from proxystore.study.spec import load_spec


def worker_command(db_url: str | None, execution: ExecutionOptions, *, study: str | None,
                   mlflow: str | None) -> int:
    """The `worker` command's body: join the work on this machine; returns the exit code.

    Args:
        db_url: the database.
        execution: the checked execution flags (`execution.parse_execution`).
        study: only this study's cells.
        mlflow: the --mlflow flag (`tracking.tracking_uri` resolves it).
    """
    from proxystore.db.store.studies import require_study
    from proxystore.runner.commands import stopped
    from proxystore.tracking import prepare, tracking_uri

    db = open_database(db_url)
    require_study(db, study)
    execution = replace(execution, mlflow_uri=tracking_uri(db.url, mlflow))
    base = execution.worker_config(db.url, worker_id("w").rsplit(":", 1)[0], study)
    prepare(db, study, base.mlflow_uri)  # the store made once, before workers log
    _sigterm_as_interrupt()
    if execution.pooled:
        check_environment(db, base, device=False)  # once for the machine; each its device
        return run_pool(worker_configs(base, workers=execution.workers, gpus=execution.gpus,
                                       per_gpu=execution.per_gpu))
    base = replace(base, worker=worker_id("0"))
    try:
        summary = run_worker(db, base)
    except WorkerEnvironmentError as error:
        return stopped(error)
    print(f"worker {base.worker}: {len(summary.done)} done, {len(summary.failed)} failed, "
          f"{len(summary.lost)} lost leases")
    return 0


def launch_command(spec_path: str, db_url: str | None, execution: ExecutionOptions, *,
                   nodes: int, gpus_per_node: int, per_gpu: int, partition: str | None,
                   time: int, folder: str, mlflow: str | None, cluster: str | None) -> list[Any]:
    """The `launch slurm` command's body: register the study, submit one job per node.

    Args:
        spec_path: the study spec.
        db_url: the database every node reaches.
        execution: the checked execution flags (`execution.parse_execution`).
        nodes, gpus_per_node, per_gpu, partition, time, folder, cluster: see `slurm.launch`.
        mlflow: the --mlflow flag (`tracking.tracking_uri` resolves it).
    """
    from proxystore.errors import ProxystoreError
    from proxystore.runner.slurm import launch
    from proxystore.tracking import tracking_uri

    spec = load_spec(spec_path)
    db = open_database(db_url, create=True)
    if db.dialect == "sqlite" and cluster != "local":
        raise ProxystoreError("workers on many machines need a shared PostgreSQL database: "
                              "pass --db postgresql://USER@HOST/DB")
    registration = register_study(db, spec)
    execution = replace(execution, mlflow_uri=tracking_uri(db.url, mlflow))
    base = execution.worker_config(db.url, "slurm", spec.name)
    jobs = launch(base, nodes=nodes, gpus_per_node=gpus_per_node, per_gpu=per_gpu,
                  partition=partition, time_minutes=time, folder=folder, cluster=cluster)
    print(f"study {spec.name}: {registration.cells} cells; submitted {len(jobs)} jobs "
          f"({', '.join(str(j.job_id) for j in jobs)}); logs in {folder}")
    return jobs


def print_status(db: Database, study: str | None) -> None:
    """Print `proxystore status`: counts, running cells, failures, throughput and ETA."""
    from proxystore.formatting import render
    from proxystore.runner.ops import status_report

    report = status_report(db, study)
    print(render(report.counts))
    if not report.running.empty:
        print("\nrunning:")
        print(render(report.running))
    if not report.failures.empty:
        print("\nrecent failures:")
        frame = report.failures.copy()
        frame["error"] = frame["error"].fillna("").str.slice(0, 80)
        print(render(frame))
    if not report.returned.empty:
        print("\nput back by a worker's environment (pending, no attempt used):")
        frame = report.returned.copy()
        frame["error"] = frame["error"].fillna("").str.slice(0, 120)
        print(render(frame))
    eta = report.eta_hours
    print(f"\nthroughput: {report.done_last_hour} cells in the last hour; "
          + (f"ETA for {report.pending} pending: {eta:.1f} h" if eta is not None
             else f"{report.pending} pending, no ETA yet"))
