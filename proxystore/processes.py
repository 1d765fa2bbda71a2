"""Whether a process on this host still runs: one check for workers' leases and decode folders."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host.

    A process we may not signal exists; a zombie has exited (it writes nothing more). Off POSIX
    the answer is always True: `os.kill(pid, 0)` would terminate the process on Windows.
    """
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc: it exists
