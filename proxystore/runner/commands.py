"""Top-level commands that run studies: fill, plan, ui (mixed into the root CLI)."""

from __future__ import annotations

import sys
from typing import Any


class RunnerCommands:
    """Mixed into the root CLI: `proxystore fill`, `plan`, `ui`."""

    def fill(self, spec: str | None = None, max_cells: int | None = None, dry_run: bool = False,
             device: str = "auto", db: str | None = None, mlflow: str | None = None,
             quiet: bool = False) -> None:
        """Register a study and train every cell no earlier study has trained (default jobs/demo.yaml).

        Args:
            spec: the study spec (YAML); default jobs/demo.yaml.
            max_cells: stop after training this many cells.
            dry_run: print the plan (cells done, pending, failed, estimate) and train nothing.
            device: cpu, cuda, cuda:N, or auto (a GPU when there is one).
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
            mlflow: MLflow tracking URI (default $MLFLOW_TRACKING_URI, else mlflow.db beside
                the database).
            quiet: no progress bar.
        """
        from proxystore.runner.fill import fill_command

        code = fill_command(spec, db, device=device, max_cells=max_cells, dry_run=dry_run,
                            mlflow=mlflow, quiet=quiet)
        if code:
            sys.exit(code)

    def plan(self, spec: str | None = None, db: str | None = None) -> None:
        """Print what a study needs before any training: cells done (and by which studies), pending, failed, an estimate.

        Args:
            spec: the study spec (YAML); default jobs/demo.yaml.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.db import open_database
        from proxystore.runner.fill import default_spec
        from proxystore.study.plan import plan_study
        from proxystore.study.spec import load_spec

        study = load_spec(spec or default_spec())
        for line in plan_study(open_database(db), study).lines():
            print(line)

    def ui(self, port: int = 5000, db: str | None = None, mlflow: str | None = None) -> None:
        """Start the MLflow UI on the tracking store proxystore logs to.

        Args:
            port: the port to serve on (127.0.0.1).
            db: database URL or SQLite path, to find the default store beside it.
            mlflow: MLflow tracking URI (default $MLFLOW_TRACKING_URI, else mlflow.db beside
                the database).
        """
        import subprocess

        from proxystore.db import engine as engines
        from proxystore.tracking import tracking_uri

        uri = tracking_uri(engines.resolve_url(db), mlflow)
        print(f"MLflow UI on http://127.0.0.1:{port} for {uri}")
        subprocess.run([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                        "--host", "127.0.0.1", "--port", str(port)], check=False)


class SpecCommands:
    """Study specs: validate them and count their cells."""

    def check(self, *specs: str) -> None:
        """Validate study specs (no data or database needed) and print their cell counts.

        Args:
            specs: one or more YAML files.
        """
        from proxystore.study.spec import load_spec

        for path in specs or ("jobs/demo.yaml",):
            spec = load_spec(path)
            print(f"{path}: ok — study {spec.name}: {len(spec.candidates)} candidates x "
                  f"{len(spec.tasks)} tasks x {len(spec.seeds)} seeds = {spec.cell_count()} cells")


class MlflowCommands:
    """MLflow: log what is missing."""

    def sync(self, study: str | None = None, db: str | None = None,
             mlflow: str | None = None) -> None:
        """Log every finished run that is not yet in MLflow (e.g. after MLflow was unreachable).

        Args:
            study: only this study's runs.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
            mlflow: MLflow tracking URI (default $MLFLOW_TRACKING_URI, else mlflow.db beside
                the database).
        """
        from proxystore.db import open_database
        from proxystore.tracking import sync, tracking_uri

        database = open_database(db)
        logged, _ = sync(database, tracking_uri(database.url, mlflow), study)
        print(f"logged {logged} runs to MLflow")
