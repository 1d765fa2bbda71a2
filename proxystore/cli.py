"""The command line, through fire: each command is a few lines calling the library.

Errors that proxystore raises for the user (ProxystoreError) print as one line and exit 2;
`--debug` anywhere on the line shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Any

from proxystore.analysis.commands import AnalysisCommands
from proxystore.errors import ProxystoreError
from proxystore.runner.commands import RunnerCommands


class Proxystore(RunnerCommands, AnalysisCommands):
    """proxystore: a declarative experiment database for architecture and proxy-dataset studies.

    Every command takes --db URL (a SQLite path or postgresql://...); without it, $PROXYSTORE_DB,
    else ./proxystore.db. Add --debug to see a traceback on errors.
    """

    @property
    def db(self) -> Any:
        """Create, upgrade and inspect the database schema."""
        from proxystore.db.commands import DbCommands

        return DbCommands()

    @property
    def arch(self) -> Any:
        """AnyNetX genomes and timm models: sample, complexity, list, show."""
        from proxystore.space.commands import ArchCommands

        return ArchCommands()

    @property
    def data(self) -> Any:
        """Datasets and proxy subsets: add, list, show, subset, cache."""
        from proxystore.data.commands import DataCommands

        return DataCommands()

    @property
    def spec(self) -> Any:
        """Study specs: validate them and count their cells."""
        from proxystore.runner.commands import SpecCommands

        return SpecCommands()

    @property
    def launch(self) -> Any:
        """Start workers on a cluster (Slurm through submitit)."""
        from proxystore.runner.commands import LaunchCommands

        return LaunchCommands()

    @property
    def mlflow(self) -> Any:
        """MLflow: log what is missing."""
        from proxystore.runner.commands import MlflowCommands

        return MlflowCommands()

    def sql(self, query: str, format: str = "table", db: str | None = None) -> None:  # noqa: A002
        """Run one SQL statement read-only (views and tables) and print its rows.

        Args:
            query: the SQL statement, e.g. "SELECT * FROM apr_correlations".
            format: table, csv or json.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.db.query import read_only_query
        from proxystore.formatting import render

        print(render(read_only_query(db, str(query)), format))


def main(argv: list[str] | None = None) -> None:
    """Entry point of `proxystore` and `python -m proxystore`."""
    import fire

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        fire.Fire(Proxystore, command=args, name="proxystore")
    except ProxystoreError as error:
        if debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"proxystore: error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("proxystore: interrupted", file=sys.stderr)
        sys.exit(130)
