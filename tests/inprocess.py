"""Run the command line inside the test process: the CLI's real parsing, without a subprocess."""

from __future__ import annotations

import contextlib
import io
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


def run_main(*args: str) -> Result:
    """Run `proxystore ARGS` through `proxystore.cli.main`; return its code and output."""
    from proxystore.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())
