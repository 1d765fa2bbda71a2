"""Helpers for tests that run the real command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m proxystore ARGS` with this checkout importable; return the process."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.pop("PROXYSTORE_DB", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "proxystore", *args], cwd=cwd, env=full_env, text=True,
        capture_output=True, timeout=timeout, input=input,
    )
