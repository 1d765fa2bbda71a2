"""The command line, through fire: each command is a few lines calling the library.

The whole line is checked against the command's signature first (cli_args), so a misspelt flag
or a wrong value is one line before any work; fire then runs the command with exactly those
values. Errors that proxystore raises for the user (ProxystoreError) print as one line and exit
2; `--debug` anywhere on the line shows the traceback instead. `--help` is cli_help's.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from proxystore.analysis.commands import AnalysisCommands
from proxystore.cli_args import read
from proxystore.cli_commands import Call, Help
from proxystore.cli_help import help_text
from proxystore.errors import ProxystoreError
from proxystore.formatting import FormatName
from proxystore.runner.commands import RunnerCommands


class Proxystore(RunnerCommands, AnalysisCommands):
    """proxystore: a declarative experiment database for architecture and proxy-dataset studies.

    Commands that use the database take --db URL (a SQLite path or postgresql://...); without
    it, $PROXYSTORE_DB, else ./proxystore.db. Add --debug to see a traceback on errors.
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

    def sql(self, query: str, format: FormatName = "table",  # noqa: A002
            db: str | None = None) -> None:
        """Run one SQL statement read-only (views and tables) and print its rows.

        Example:
            proxystore sql "SELECT * FROM apr_correlations WHERE study = 'demo'" --format csv

        Args:
            query: the SQL statement, e.g. "SELECT * FROM apr_correlations".
            format: table, csv or json.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.db.query import read_only_query
        from proxystore.formatting import render

        print(render(read_only_query(db, str(query)), format))


def fire_command(call: Call) -> list[str]:
    """The checked call as a command line fire reads back exactly (every value a Python literal)."""
    args = [*call.command.path, *(repr(value) for value in call.varargs)]
    return args + [f"--{name}={value!r}" for name, value in call.values.items()]


def _new_databases(undo: bool) -> None:
    """Name the SQLite files this command created, or remove the empty ones after a failure."""
    db = sys.modules.get("proxystore.db")  # never imported: nothing was created
    if db is not None:
        (db.undo_new_databases if undo else db.announce_new_databases)()


def main(argv: list[str] | None = None) -> None:
    """Entry point of `proxystore` and `python -m proxystore`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "proxystore.db" in sys.modules:  # files created before this command are not its own
        sys.modules["proxystore.db"].forget_new_databases()
    cut = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:cut]
    args = [a for i, a in enumerate(args) if i >= cut or a != "--debug"]
    try:
        call = read(Proxystore, args)  # the whole line is checked before anything runs
        if isinstance(call, Help):
            print(help_text(Proxystore, call.path))
            return
        import fire

        try:
            fire.Fire(Proxystore, command=fire_command(call), name="proxystore")
        except SystemExit:  # a command's own exit code: what it created stays
            _new_databases(undo=False)
            raise
        _new_databases(undo=False)
    except ProxystoreError as error:
        _new_databases(undo=True)
        if debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"proxystore: error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        _new_databases(undo=True)
        print("proxystore: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `proxystore ... | head` closed the pipe: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
