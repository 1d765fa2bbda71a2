"""The runner's commands: their flags (the Fire classes, mixed into the root CLI) and the body of
`fill`.

A command checks its execution flags once (`execution.parse_execution`), before anything is
opened or written, and passes the one `ExecutionOptions` down to the library (`fill`,
`fill_with_pool`, `nodes.worker_command`, `nodes.launch_command`). Imports are lazy, so that
`proxystore --help` stays fast.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proxystore.db.session import Database
    from proxystore.errors import WorkerEnvironmentError
    from proxystore.runner.execution import ExecutionOptions
    from proxystore.runner.fill import FillResult


class RunnerCommands:
    """Mixed into the root CLI: `proxystore fill`, `plan`, `ui`."""

    def fill(self, spec: str | None = None, max_cells: int | None = None, dry_run: bool = False,
             device: str = "auto", db: str | None = None, mlflow: str | None = None,
             quiet: bool = False, workers: int = 1, gpus: Any = None, per_gpu: int = 1,
             compile: str = "off", cuda_graphs: bool = False, max_env_errors: int = 3) -> None:
        """Register a study and train every cell no study has trained yet (default jobs/demo.yaml).

        Example:
            proxystore fill jobs/demo.yaml --max-cells 10 --device cpu

        Args:
            spec: the study spec (YAML); default jobs/demo.yaml.
            max_cells: stop after training this many cells.
            dry_run: print the plan (cells done, pending, failed, estimate) and train nothing.
            device: cpu, cuda, cuda:N, or auto (a GPU when there is one).
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
            mlflow: MLflow tracking URI (default $MLFLOW_TRACKING_URI, else mlflow.db beside
                the database).
            quiet: no progress bar.
            workers: worker processes on this machine (each claims cells on its own).
            gpus: GPU indices to use, e.g. 0,1,2,3 (one worker per GPU, or per_gpu each).
            per_gpu: workers per GPU (several small cells share a GPU).
            compile: torch.compile mode for training (off, default, reduce-overhead,
                max-autotune); compiled graphs are cached per genome beside the datasets.
            cuda_graphs: capture each training step in a CUDA graph (CUDA only; for small
                images, where kernel launches dominate).
            max_env_errors: a worker stops (exit 3) after this many errors of its machine in a
                row (cache or disk, data root, device); each puts its cell back to pending
                without using an attempt.
        """
        from proxystore.runner.execution import parse_execution

        execution = parse_execution(train=dict(compile=compile, cuda_graphs=cuda_graphs),
                                    device=device, workers=workers, gpus=gpus, per_gpu=per_gpu,
                                    max_env_errors=max_env_errors, max_cells=max_cells)
        code = fill_command(spec, db, execution, dry_run=dry_run, mlflow=mlflow, quiet=quiet)
        if code:
            sys.exit(code)

    def plan(self, spec: str | None = None, db: str | None = None, explain: bool = False) -> None:
        """Print what a study still needs: cells done (by which studies), pending, failed, estimate.

        Registers no study and no run (`fill SPEC --max-cells 0` registers one); it stores only
        the datasets, subsets and architectures it needs to compute the cells' keys.

        Example:
            proxystore plan jobs/imagenet_as_basis.yaml --explain

        Args:
            spec: the study spec (YAML); default jobs/demo.yaml.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
            explain: per task, the cells reused and the studies they come from; for a task
                that reuses nothing, the recipe fields (or seeds) that differ from the study
                nearest to it.
        """
        from proxystore.db import open_database
        from proxystore.runner.fill import default_spec
        from proxystore.study.plan import plan_study
        from proxystore.study.spec import load_spec

        study = load_spec(spec or default_spec())
        for line in plan_study(open_database(db), study, explain=bool(explain)).lines():
            print(line)

    def worker(self, study: str | None = None, workers: int = 1, gpus: Any = None,
               per_gpu: int = 1, device: str = "auto", db: str | None = None,
               mlflow: str | None = None, lease: float = 120.0, max_attempts: int = 3,
               compile: str = "off", cuda_graphs: bool = False, max_env_errors: int = 3) -> None:
        """Join the work: claim and train pending cells (of one study or all) until none is left.

        Example:
            proxystore worker --study demo --gpus 0,1 --db postgresql://USER@HOST/DB

        Args:
            study: only this study's cells.
            workers: worker processes on this machine.
            gpus: GPU indices to use, e.g. 0,1 (one worker per GPU, or per_gpu each).
            per_gpu: workers per GPU.
            device: cpu, cuda, cuda:N or auto, when no gpus are given.
            db: database URL (PostgreSQL for many machines).
            mlflow: MLflow tracking URI every node can reach (a tracking server).
            lease: seconds a claim holds without a heartbeat (5 to 86400).
            max_attempts: a cell whose lease expired this many times is failed (1 to 100).
            compile: torch.compile mode for training (off, default, reduce-overhead, ...).
            cuda_graphs: capture each training step in a CUDA graph (CUDA only).
            max_env_errors: stop (exit 3) after this many errors of this machine in a row
                (cache or disk, data root, device); each puts its cell back to pending without
                using an attempt.
        """
        from proxystore.runner.execution import parse_execution
        from proxystore.runner.nodes import worker_command

        execution = parse_execution(train=dict(compile=compile, cuda_graphs=cuda_graphs),
                                    device=device, workers=workers, gpus=gpus, per_gpu=per_gpu,
                                    lease=lease, max_attempts=max_attempts,
                                    max_env_errors=max_env_errors)
        sys.exit(worker_command(db, execution, study=study, mlflow=mlflow))

    def retry(self, study: str | None = None, failed: bool = False, stale: bool = False,
              db: str | None = None) -> None:
        """Put failed cells back to pending (all of them, or only --failed or only --stale).

        Example:
            proxystore retry --study demo --failed

        Args:
            study: only this study's cells.
            failed: cells whose training failed (diverged, error, out of memory).
            stale: cells whose worker vanished (its lease expired).
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.db import open_database
        from proxystore.runner.ops import retry

        print(f"{retry(open_database(db), study, failed, stale)} cells back to pending")

    def cancel(self, study: str, db: str | None = None) -> None:
        """Withdraw a study's pending cells (cells other studies also need stay pending).

        Example:
            proxystore cancel --study demo

        Args:
            study: the study whose pending cells to cancel.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.db import open_database
        from proxystore.runner.ops import cancel

        cancelled, kept = cancel(open_database(db), study)
        print(f"cancelled {cancelled} pending cells of {study}"
              + (f"; {kept} shared with other studies stay pending" if kept else ""))

    def status(self, study: str | None = None, db: str | None = None) -> None:
        """Show cells by status, running cells and leases, recent failures, throughput and ETA.

        Example:
            proxystore status --study demo

        Args:
            study: only this study's cells.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.db import open_database
        from proxystore.runner.nodes import print_status

        print_status(open_database(db, pool=False), study)

    def ui(self, host: str = "127.0.0.1", port: int = 5000, db: str | None = None,
           mlflow: str | None = None) -> None:
        """Start the MLflow UI on the tracking store proxystore logs to (Ctrl-C stops it whole).

        Example:
            proxystore ui --port 5001

        Args:
            host: the interface to listen on (0.0.0.0 for every interface).
            port: the port to serve on.
            db: database URL or SQLite path, to find the default store beside it.
            mlflow: MLflow tracking URI (default $MLFLOW_TRACKING_URI, else mlflow.db beside
                the database).
        """
        from proxystore.db import engine as engines
        from proxystore.tracking import tracking_uri
        from proxystore.tracking.server import serve
        from proxystore.tracking.store import scheme

        uri = tracking_uri(engines.resolve_url(db), mlflow)
        if scheme(uri) in ("http", "https"):
            print(f"{uri} is a tracking server, which serves its own UI: open it in a browser")
            return
        code = serve(uri, str(host), port)
        if code:
            sys.exit(code)


class SpecCommands:
    """Study specs: validate them and count their cells."""

    def check(self, *specs: str) -> None:
        """Validate study specs (no data or database needed) and print their cell counts.

        Example:
            proxystore spec check jobs/demo.yaml jobs/proxy_datasets.yaml

        Args:
            specs: one or more YAML files.
        """
        from proxystore.study.spec import load_spec
        from proxystore.study.stored import unresolved

        for path in specs or ("jobs/demo.yaml",):
            spec = load_spec(path)
            print(f"{path}: ok — study {spec.name}: {len(spec.candidates)} candidates x "
                  f"{len(spec.tasks)} tasks x {len(spec.seeds)} seeds = {spec.cell_count()} cells")
            stored = unresolved(spec)
            if stored:
                print(f"  not resolved yet (no database here): {', '.join(stored)}; `plan` and "
                      "`fill` look them up in the database")


class MlflowCommands:
    """MLflow: log what is missing."""

    def sync(self, study: str | None = None, db: str | None = None,
             mlflow: str | None = None) -> None:
        """Log what MLflow misses of finished runs (one run per study cell); repair a broken store.

        Example:
            proxystore mlflow sync --study demo

        Args:
            study: only this study's runs.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
            mlflow: MLflow tracking URI (default $MLFLOW_TRACKING_URI, else mlflow.db beside
                the database).
        """
        from proxystore.db import open_database
        from proxystore.tracking import ensure_store, sync, tracking_uri

        database = open_database(db)
        uri = tracking_uri(database.url, mlflow)
        repaired = ensure_store(uri)
        if repaired:
            print(repaired)
        counts = sync(database, uri, study)
        extra = [f"{n} {what}" for n, what in ((counts.retagged, "retagged"),
                                               (counts.removed, "removed")) if n]
        print(f"logged {counts.created} runs to MLflow" + (f" ({', '.join(extra)})"
                                                           if extra else ""))


class LaunchCommands:
    """Start workers on a cluster."""

    def slurm(self, spec: str, nodes: int = 1, gpus_per_node: int = 1, per_gpu: int = 1,
              partition: str | None = None, time: int = 1440, folder: str = "slurm-logs",
              db: str | None = None, mlflow: str | None = None, lease: float = 300.0,
              cluster: str | None = None, compile: str = "off",
              cuda_graphs: bool = False) -> None:
        """Register a study and submit Slurm jobs (a job array, one task per node) that fill it.

        Example:
            proxystore launch slurm jobs/demo.yaml --db postgresql://HOST/DB --nodes 8

        Args:
            spec: the study spec (YAML).
            nodes: how many nodes to start.
            gpus_per_node: GPUs per node (one worker each, or per_gpu each).
            per_gpu: workers per GPU.
            partition: the Slurm partition.
            time: the job time limit in minutes.
            folder: where submitit writes logs (on a filesystem all nodes share).
            db: the PostgreSQL URL every node reaches.
            mlflow: an MLflow tracking URI every node reaches (a tracking server).
            lease: seconds a claim holds without a heartbeat, 5 to 86400 (preempted jobs'
                cells come back after it).
            cluster: "local" runs the jobs on this machine instead of Slurm (for testing).
            compile: torch.compile mode for training (off, default, reduce-overhead, ...).
            cuda_graphs: capture each training step in a CUDA graph.
        """
        from proxystore.runner.execution import parse_execution
        from proxystore.runner.nodes import launch_command

        # The nodes' devices are not this machine's: nothing here checks them.
        execution = parse_execution(train=dict(compile=compile, cuda_graphs=cuda_graphs),
                                    lease=lease)
        launch_command(spec, db, execution, nodes=nodes, gpus_per_node=gpus_per_node,
                       per_gpu=per_gpu, partition=partition, time=time, folder=folder,
                       mlflow=mlflow, cluster=cluster)


def fill_command(spec_path: str | None, db_url: str | None, execution: ExecutionOptions, *,
                 dry_run: bool = False, mlflow: str | None = None, quiet: bool = False) -> int:
    """The `fill` command's body; returns the process exit code (1 when cells failed, 3 when a
    worker stopped on errors of this machine).

    Example:
        >>> code = fill_command("jobs/demo.yaml", "demo.db", ExecutionOptions(device="cpu"))

    Args:
        spec_path: the study spec (None: `fill.default_spec()`).
        db_url: the database (None: $PROXYSTORE_DB, else ./proxystore.db).
        execution: the checked execution flags (`execution.parse_execution`); their
            `mlflow_uri` is set here from `mlflow`, once the database is open.
        dry_run: print the plan and train nothing.
        mlflow: the --mlflow flag (`tracking.tracking_uri` resolves it).
        quiet: no progress bar.
    """
    from proxystore.db import open_database
    from proxystore.errors import WorkerEnvironmentError
    from proxystore.runner.fill import default_spec, fill, fill_with_pool
    from proxystore.study.plan import done_runs, plan_study
    from proxystore.study.spec import load_spec
    from proxystore.tracking import tracking_uri

    spec = load_spec(spec_path or default_spec())
    db = open_database(db_url, create=True)
    if dry_run:
        for line in plan_study(db, spec).lines():
            print(line)
        return 0
    execution = replace(execution, mlflow_uri=tracking_uri(db.url, mlflow))
    reused = done_runs(db, spec)  # the study's runs done before this fill, by anyone
    if execution.pooled:
        result = fill_with_pool(spec, db, execution, quiet=quiet)
        if result.pool_code == 2:  # the worker printed its line; as `fill` alone, nothing more
            return 2
    else:
        try:
            result = fill(spec, db, execution, quiet=quiet)
        except WorkerEnvironmentError as error:
            return stopped(error)
    _print_fill(db, spec.name, result, reused)
    return result.pool_code or (1 if result.summary.failed else 0)


def _print_fill(db: Database, study: str, result: FillResult, reused: int) -> None:
    """What `fill` prints at the end: failures, the study's summary, the trained/reused line
    and the tasks still waiting for their scorer."""
    from proxystore.db.store import studies
    from proxystore.formatting import render
    from proxystore.runner.environment import ENVIRONMENT_EXIT

    trained = len(result.summary.done) + len(result.summary.failed)
    runs = sum(result.counts.values())
    cells = studies.cell_count(db, study)
    shared = f" ({cells} cells; cells with identical keys share a run)" if cells != runs else ""
    if result.summary.failed:
        print(f"{len(result.summary.failed)} cells failed:")
        for run_id, reason in result.summary.failed:
            print(f"  run {run_id}: {reason}")
    print(summary_text(db, study, render))
    nothing = trained == 0 and not any(result.counts.get(s) for s in ("pending", "running"))
    failed = len(result.summary.failed)
    halted = result.pool_code == ENVIRONMENT_EXIT and result.counts.get("pending")
    print(f"trained {trained}" + (f" ({failed} failed)" if failed else "") + f", reused {reused}"
          + (" - nothing to train" if nothing else "") + f": {result.counts.get('done', 0)} of "
          f"{runs} runs of study {study} done{shared}"
          + (f", {result.counts['failed']} failed" if result.counts.get("failed") else "")
          + (f", {result.counts['pending']} pending" if halted else ""))
    waiting = studies.waiting_for_scorer(db, study)
    if waiting:
        print(f"{len(waiting)} tasks ({', '.join(waiting)}) still wait for their scorer run: they "
              "get cells once it is done with per-example losses (see `proxystore status`; run "
              "fill again)")


def stopped(error: WorkerEnvironmentError) -> int:
    """A worker that stopped part-way on errors of this machine: its line, and exit code 3
    (one that refused to start is the CLI's one line and exit 2, as any bad input)."""
    if error.exit_code == 2:
        raise error
    print(f"proxystore: error: {' '.join(str(error).split())}", file=sys.stderr)
    return error.exit_code


def summary_text(db: Database, study: str, render: Any) -> str:
    """What the study found: the analysis summaries when available, else the run table."""
    from proxystore.db.store.studies import run_table

    try:
        from proxystore.analysis import summary_text as analysis_summary
    except ImportError:
        analysis_summary = None
    if analysis_summary is not None:
        return str(analysis_summary(db, study))
    frame = run_table(db, study)
    return render(frame.drop(columns=["error"]))
