"""How cells are executed, never what they compute: the device and workers, torch.compile and
CUDA graphs, leases and attempts, and where compiled graphs are cached.

`parse_execution` checks a command line's execution flags once, before anything is opened or
written, and returns one frozen `ExecutionOptions`; `fill`, `worker` and `launch slurm` pass it
down, and `ExecutionOptions.worker_config` makes each worker's `WorkerConfig` from it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from proxystore.runner.claims import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_ATTEMPTS
from proxystore.runner.environment import DEFAULT_MAX_ENV_ERRORS
from proxystore.train.options import TrainOptions

if TYPE_CHECKING:
    from proxystore.runner.worker import WorkerConfig

# Read once, before anything compiles: inductor writes its default into the environment on
# first use, after which the variable no longer says what the user chose.
_USER_INDUCTOR_DIR = os.environ.get("TORCHINDUCTOR_CACHE_DIR")


@dataclass(frozen=True)
class ExecutionOptions:
    """How a command's cells are executed, never what they compute (so never part of a key).

    Attributes:
        device: cpu, cuda, cuda:N or auto: the workers' device when no `gpus` are given.
        workers: worker processes on this machine (without `gpus`).
        gpus: CUDA device indices: one worker on each (or `per_gpu` each).
        per_gpu: workers per GPU.
        train: the trainer's options (torch.compile, CUDA graphs, ...).
        lease_seconds: how long a claim holds without a heartbeat.
        max_attempts: a cell whose lease expired this many times is failed.
        max_env_errors: a worker stops after this many errors of its machine in a row.
        max_cells: stop after training this many cells (None: when none is left).
        mlflow_uri: the MLflow tracking URI runs are logged to (None: not logged). Commands
            resolve it (`tracking.tracking_uri`) once the database is open.

    Example:
        >>> ExecutionOptions(device="cpu", workers=2).pooled
        True
    """

    device: str = "auto"
    workers: int = 1
    gpus: tuple[int, ...] = ()
    per_gpu: int = 1
    train: TrainOptions = field(default_factory=TrainOptions)
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_env_errors: int = DEFAULT_MAX_ENV_ERRORS
    max_cells: int | None = None
    mlflow_uri: str | None = None

    @property
    def pooled(self) -> bool:
        """Whether the cells are trained by a pool of worker processes (else in this one)."""
        return self.workers > 1 or bool(self.gpus)

    def worker_config(self, db_url: str, worker: str, study: str | None = None
                      ) -> WorkerConfig:
        """The settings of a worker that executes cells this way.

        Args:
            db_url: the database's URL.
            worker: the worker's id (a pool's workers get theirs from `pool.worker_configs`).
            study: only this study's cells (None: any study's).
        """
        from proxystore.runner.worker import WorkerConfig

        return WorkerConfig(db_url=db_url, worker=worker, device=self.device, study=study,
                            lease_seconds=self.lease_seconds, max_attempts=self.max_attempts,
                            mlflow_uri=self.mlflow_uri, max_cells=self.max_cells,
                            train_options=self.train, max_env_errors=self.max_env_errors)


def parse_execution(*, train: Mapping[str, Any] | None = None, device: str = "auto",
                    workers: Any = 1, gpus: Any = None, per_gpu: Any = 1, lease: Any = None,
                    max_attempts: Any = None, max_env_errors: Any = None,
                    max_cells: Any = None) -> ExecutionOptions:
    """Check a command line's execution flags, before anything is opened or written.

    A flag the command does not have is left None (or at its default) and not checked.

    Example:
        >>> parse_execution(train={"compile": "off"}, device="cpu", workers=2).workers
        2

    Args:
        train: the trainer's flags by TrainOptions field, e.g. {"compile": "default"}
            (None values are left at TrainOptions' defaults).
        device: the workers' device.
        workers: worker processes on this machine.
        gpus: GPU indices (`0,1,2`, a tuple or an int).
        per_gpu: workers per GPU.
        lease: --lease, in seconds.
        max_attempts: --max-attempts.
        max_env_errors: --max-env-errors.
        max_cells: --max-cells.

    Raises:
        ProxystoreError: one line naming the flag that is wrong.
    """
    from proxystore.errors import ProxystoreError
    from proxystore.limits import integer_in
    from proxystore.runner.pool import check_limits, check_workers

    options = train_options(train or {}, device)
    indices = check_workers(device, gpus, workers, per_gpu)
    check_limits(lease=lease, max_attempts=max_attempts, max_env_errors=max_env_errors)
    if max_cells is not None and not integer_in(max_cells, 0):
        raise ProxystoreError(f"--max-cells must be an integer >= 0, got {max_cells!r}")
    given = dict(lease_seconds=lease, max_attempts=max_attempts,
                 max_env_errors=max_env_errors, max_cells=max_cells)
    return ExecutionOptions(device=str(device), workers=int(workers), gpus=tuple(indices),
                            per_gpu=int(per_gpu), train=options,
                            **{k: v for k, v in given.items() if v is not None})


def train_options(flags: Mapping[str, Any], device: str = "auto") -> TrainOptions:
    """Check the command line's trainer flags and return them as TrainOptions.

    Args:
        flags: values by TrainOptions field, e.g. {"compile": "default", "cuda_graphs": True};
            None leaves a field at its default.
        device: the workers' device (CUDA graphs need CUDA; "auto" is checked when a cell runs).

    Raises:
        ProxystoreError: an unknown mode, both options at once, or CUDA graphs on a CPU device.
    """
    from proxystore.errors import ProxystoreError

    try:
        options = TrainOptions(**{k: v for k, v in flags.items() if v is not None})
    except ValueError as error:
        shown = "/".join(f"--{name.replace('_', '-')}" for name in flags)
        raise ProxystoreError(f"{shown}: {error}") from None
    if options.cuda_graphs and device != "auto" and not str(device).startswith("cuda"):
        raise ProxystoreError(f"--cuda-graphs needs a CUDA device, not --device {device}")
    return replace(options, compile=options.compile_mode or False)


def compile_cache_dir(config: Any) -> str:
    """Where torch.compile keeps compiled graphs for this worker: beside the datasets' cache.

    Inductor's on-disk caches (FX graphs, AOT autograd) are keyed by the traced graph, so every
    cell of the same genome at the same input shape, precision and layout reuses the first
    cell's compilation, in this process, in its siblings, and (on a shared filesystem) on
    other machines. A $TORCHINDUCTOR_CACHE_DIR set before proxystore started wins.
    """
    from proxystore.data.cache import cache_dir

    root = config.cache_dir or str(cache_dir(config.db_url))
    return _chosen_inductor_dir() or os.path.join(root, "torch-compile")


def _chosen_inductor_dir() -> str | None:
    """$TORCHINDUCTOR_CACHE_DIR as the user chose it, or None.

    Inductor writes its own default (/tmp/torchinductor_USER) into the environment the first
    time it runs, and child processes inherit it from a parent that compiled (or merely
    imported torch's optimizers): that value is not a choice, so it doesn't count.
    """
    if not _USER_INDUCTOR_DIR:
        return None
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # a torch without inductor: nothing to compare with
        return _USER_INDUCTOR_DIR
    if os.path.abspath(_USER_INDUCTOR_DIR) == os.path.abspath(default_cache_dir()):
        return None
    return _USER_INDUCTOR_DIR
