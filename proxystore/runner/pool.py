"""Several workers on one machine: one process per worker, one CUDA device each (or K per device).

The parent only starts workers, shows one progress bar from the database, and on Ctrl-C (or
SIGTERM) passes the signal on, so every worker puts its cell back to pending before it exits.
When a worker dies (killed, out of host memory, a crash), the parent puts the cell it held back
to pending at once, for the workers still running, and says so in one line. A worker that stops
on an error (its machine's environment, a result kept while the database is away) tells the
parent why, and the parent prints it as one line naming the worker. Nothing else coordinates
the workers: each one claims from the database on its own, under the id host:pid:n of its own
process, so that a cell is only ever reaped when that process is gone.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from proxystore.runner.environment import ENVIRONMENT_EXIT
from proxystore.runner.worker import WorkerConfig


def parse_gpus(gpus: Any) -> list[int]:
    """Turn `0,1,2` (string, tuple or int) into a list of device indices."""
    if gpus is None or gpus == "":
        return []
    if isinstance(gpus, int):
        return [gpus]
    if isinstance(gpus, (list, tuple)):
        return [int(g) for g in gpus]
    return [int(g) for g in str(gpus).split(",") if g.strip()]


def check_workers(device: str = "auto", gpus: Any = None, workers: Any = 1,
                  per_gpu: Any = 1) -> list[int]:
    """Refuse, before anything is opened or written, worker counts below 1 and devices this
    machine lacks (else every claimed cell would fail on them); return the GPU indices.

    Raises:
        ProxystoreError: naming the option that is wrong.
    """
    from proxystore import limits
    from proxystore.errors import ProxystoreError

    for flag, value in (("--workers", workers), ("--per-gpu", per_gpu)):
        if not limits.integer_in(value, 1):
            raise ProxystoreError(f"{flag} must be a positive integer, got {value!r}")
    try:
        indices = parse_gpus(gpus)
    except (TypeError, ValueError):
        raise ProxystoreError(f"--gpus must be device indices such as 0,1,2,3, got {gpus!r}"
                              ) from None
    wanted = [(f"--gpus {i}", f"cuda:{i}") for i in indices] or [(f"--device {device}",
                                                                  str(device))]
    for flag, name in wanted:
        if name in ("auto", "cpu"):
            continue
        kind, _, index = name.partition(":")
        if kind != "cuda" or (index and not index.isdigit()):
            raise ProxystoreError(f"{flag}: unknown device (use cpu, cuda, cuda:N or auto)")
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ProxystoreError(f"{flag}: this machine has no CUDA device "
                                  "(torch.cuda.is_available() is false)")
        if index and int(index) >= count:
            raise ProxystoreError(f"{flag}: this machine has {count} CUDA device(s), "
                                  f"cuda:0 to cuda:{count - 1}")
    return indices


def check_limits(lease: Any = None, max_attempts: Any = None, max_env_errors: Any = None
                 ) -> None:
    """Refuse, before anything is opened or written, a lease, attempt count or environment
    error count out of bounds (see `limits`); None is not checked.

    Raises:
        ProxystoreError: naming the option that is wrong.
    """
    from proxystore import limits
    from proxystore.errors import ProxystoreError

    if lease is not None and not limits.number_in(lease, limits.MIN_LEASE_SECONDS,
                                                  limits.MAX_LEASE_SECONDS):
        shown = f"{lease:g}" if isinstance(lease, float) else repr(lease)
        raise ProxystoreError(f"--lease must be {limits.LEASE_RULE}, got {shown}")
    if max_attempts is not None and not limits.integer_in(max_attempts, 1, limits.MAX_ATTEMPTS):
        raise ProxystoreError(f"--max-attempts must be {limits.ATTEMPTS_RULE}, "
                              f"got {max_attempts!r}")
    if max_env_errors is not None and not limits.integer_in(max_env_errors, 1,
                                                            limits.MAX_ENV_ERRORS):
        raise ProxystoreError(f"--max-env-errors must be {limits.ENV_ERRORS_RULE}, "
                              f"got {max_env_errors!r}")


def worker_configs(base: WorkerConfig, workers: int = 1, gpus: Any = None,
                   per_gpu: int = 1) -> list[WorkerConfig]:
    """One config per worker process: `workers` on `base.device`, or `per_gpu` on each GPU."""
    devices = parse_gpus(gpus)
    if devices:
        slots = [f"cuda:{d}" for d in devices for _ in range(max(1, per_gpu))]
    else:
        slots = [base.device] * max(1, workers)
    threads = 1 if not devices and base.device in ("cpu", "auto") else None
    # Workers on one device split its memory for resident images (see WorkerConfig.share).
    share = max(1, per_gpu) if devices else max(1, workers)
    return [replace(base, device=device, worker=f"{base.worker}:{i}", threads=threads,
                    share=share) for i, device in enumerate(slots)]


def process_worker_id(worker: str, pid: int) -> str:
    """The id a pool worker claims under: this host, its own process id, its number in the
    pool (the last part of `worker`, e.g. host:parentpid:3 -> host:pid:3)."""
    return f"{socket.gethostname()}:{pid}:{worker.rsplit(':', 1)[-1]}"


def _child(config: WorkerConfig, tell: Connection) -> None:
    """Entry point of a worker process (spawned: no state shared with the parent, the config
    comes pickled); why it stopped on an error goes to the parent through `tell`."""
    from proxystore.db import open_database
    from proxystore.errors import ProxystoreError, WorkerEnvironmentError
    from proxystore.runner.worker import run_worker

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # The parent forwards Ctrl-C as SIGINT; a child of a fill started with SIGINT ignored (a
    # `&` job of a script) inherits the ignore and would train on for the parent's 60 s grace.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cfg = replace(config, worker=process_worker_id(config.worker, os.getpid()))
    try:
        db = open_database(cfg.db_url, pool=False)
        run_worker(db, cfg)
    except KeyboardInterrupt:
        sys.exit(130)
    except ProxystoreError as error:  # the parent prints it as one line
        tell.send(" ".join(str(error).split()))
        tell.close()
        # The others go on: in a pool, a refused environment is this worker's stop, not the
        # command's refusal (the parent checked the machine before starting anyone).
        sys.exit(ENVIRONMENT_EXIT if isinstance(error, WorkerEnvironmentError) else 2)


# Exit codes after which a worker's cells are in order: done, stopped on an error it told the
# parent (its result kept in the spool, its cell released), stopped on its environment (its
# cells put back), interrupted (its cell put back), running.
CLEAN_EXITS = (0, 2, ENVIRONMENT_EXIT, 130, None)


def _how(exitcode: int) -> str:
    """'was killed by SIGKILL' or 'exited with code 1'."""
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def _reap(config: WorkerConfig, exitcode: int) -> None:
    """A worker died without putting its cell back: do it for it, and say so in one line."""
    from proxystore.db import open_database
    from proxystore.runner import claims

    how = _how(exitcode)
    try:
        db = open_database(config.db_url, pool=False)
        try:
            n = claims.reap_worker(db, config.worker, f"worker {config.worker} {how}",
                                   config.max_attempts)
        finally:
            db.engine.dispose()
        cells = f"{n} cell it held went back to pending" if n == 1 else \
            f"the {n} cells it held went back to pending" if n else "it held no cell"
    except Exception as error:  # noqa: BLE001 - the database is away: the lease expires as usual
        cells = f"its cell goes back when its lease expires ({' '.join(str(error).split())})"
    print(f"proxystore: error: worker {config.worker} {how}; {cells}", file=sys.stderr,
          flush=True)


def _said(listen: Connection) -> str | None:
    """What a worker told the parent before it exited, if anything."""
    try:
        if listen.poll():
            return str(listen.recv())
    except (EOFError, OSError, ValueError):  # it died before or while telling
        pass
    return None


def run_pool(configs: list[WorkerConfig], progress: Any | None = None,
             poll_seconds: float = 1.0,
             on_start: Callable[[list[WorkerConfig]], None] | None = None) -> int:
    """Run one process per config until all exit; return the pool's exit code.

    The code is the CLI's: 0 when every worker exited 0; 2 when one stopped on a proxystore
    error, as one worker alone would (e.g. a finished result kept in the spool because the
    database stayed away); 3 when one stopped on an error of this machine (its cells went
    back to pending; see `environment`); else 1 (a worker crashed or was killed). Each worker
    that stopped on an error gets one line naming it and saying why.

    Args:
        configs: one per worker (see `worker_configs`).
        progress: object with `refresh()` called while waiting (e.g. a progress bar).
        poll_seconds: how often to refresh progress.
        on_start: called once all have started, with their configs as started: `worker` is
            the id each process claims under (`process_worker_id`).
    """
    processes, listens, configs = _start(configs)
    if on_start is not None:
        on_start(configs)
    handled: set[str] = set()
    try:
        while any(p.is_alive() for p in processes):
            if progress is not None:
                progress.refresh()
            for p in processes:
                p.join(timeout=poll_seconds / max(1, len(processes)))
            _report_exits(processes, configs, listens, handled)
        _report_exits(processes, configs, listens, handled)  # the last ones to end
    except KeyboardInterrupt:
        _interrupt(processes)
        raise
    finally:
        if progress is not None:
            progress.refresh()
    return _pool_code([p.exitcode for p in processes])


def _start(configs: list[WorkerConfig]
           ) -> tuple[list[Any], list[Any], list[WorkerConfig]]:
    """Start one spawned process per config; return them, the ends their last words reach, and
    the configs with `worker` the id each process claims under (`process_worker_id`).
    """
    context = mp.get_context("spawn")
    pipes = [context.Pipe(duplex=False) for _ in configs]
    processes = [context.Process(target=_child, args=(c, tell), name=c.worker,
                                 daemon=False) for c, (_, tell) in zip(configs, pipes, strict=True)]
    started = []
    for process, config, (_, tell) in zip(processes, configs, pipes, strict=True):
        process.start()
        tell.close()  # the child's end: the parent only listens
        assert process.pid is not None
        started.append(replace(config, worker=process_worker_id(config.worker, process.pid)))
    return processes, [listen for listen, _ in pipes], started


def _report_exits(processes: list[Any], configs: list[WorkerConfig], listens: list[Any],
                  handled: set[str]) -> None:
    """Say once, for each worker that has exited, why it stopped (if it stopped on an error)."""
    for p, config, listen in zip(processes, configs, listens, strict=True):
        if p.exitcode is None or config.worker in handled:
            continue
        handled.add(config.worker)
        if p.exitcode not in CLEAN_EXITS:
            _reap(config, p.exitcode)
        elif (said := _said(listen)) is not None:
            print(f"proxystore: error: worker {config.worker}: {said}", file=sys.stderr,
                  flush=True)


def _interrupt(processes: list[Any]) -> None:
    """Pass Ctrl-C on to every worker, give them a minute to put their cells back, then stop."""
    for p in processes:
        if p.is_alive() and p.pid:
            os.kill(p.pid, signal.SIGINT)
    deadline = time.time() + 60
    for p in processes:
        p.join(timeout=max(0.1, deadline - time.time()))
        if p.is_alive():
            p.terminate()


def _pool_code(codes: list[int | None]) -> int:
    """The pool's exit code from its workers' (see `run_pool`)."""
    for code in (2, ENVIRONMENT_EXIT):
        if code in codes:
            return code
    return 1 if any(code != 0 for code in codes) else 0

