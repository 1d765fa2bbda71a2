"""Run the command line inside the test process: the CLI's real parsing, without a subprocess."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """What a command did: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        """The non-empty lines it printed on stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_main(*args: str, cwd: str | os.PathLike[str] | None = None) -> Result:
    """Run `proxystore ARGS` through `proxystore.cli.main`; return its code and output.

    Args:
        args: the command line after `proxystore`.
        cwd: the working directory to run it in (as `run_cli`'s), else this process's.

    Example:
        >>> run_main("fill", "spec.yaml", "--dry-run", cwd=tmp_path).returncode  # doctest: +SKIP
        0
    """
    from proxystore.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    where = contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext()
    with where, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())
