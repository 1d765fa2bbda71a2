"""One liveness check serves the lease reaper and the decode cache's cleaner."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from proxystore.data import cache
from proxystore.processes import pid_alive
from proxystore.runner import claims


def test_a_running_process_is_alive_and_an_exited_one_is_not():
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while pid_alive(child.pid) and time.monotonic() < deadline:  # a zombie until reaped: dead
        time.sleep(0.05)
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid)


def test_the_reaper_and_the_cache_use_the_same_check():
    assert claims.pid_alive is pid_alive is cache.pid_alive
