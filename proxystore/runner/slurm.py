"""Workers on many machines through Slurm (submitit): one array task per node.

Each node runs `proxystore worker` semantics: a pool of workers, one per GPU (or K per GPU),
claiming from the shared PostgreSQL database. A preempted or timed-out job's cells come back
through lease expiry; nothing else needs cleaning up.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from proxystore.runner.pool import run_pool, worker_configs
from proxystore.runner.worker import WorkerConfig, worker_id


def node_main(config: WorkerConfig, gpus_per_node: int, per_gpu: int) -> int:
    """What one Slurm task runs: a pool of workers over this node's GPUs (or one CPU worker).

    `config` comes pickled by submitit, as `launch` gave it.
    """
    import os

    import torch

    task = os.environ.get("SLURM_ARRAY_TASK_ID", "0")
    base = replace(config, worker=worker_id(task).rsplit(":", 1)[0])
    gpus = list(range(min(gpus_per_node, torch.cuda.device_count()))) if gpus_per_node else []
    configs = worker_configs(base, workers=1, gpus=gpus, per_gpu=per_gpu)
    return run_pool(configs)


def launch(base: WorkerConfig, *, nodes: int, gpus_per_node: int, per_gpu: int = 1,
           partition: str | None = None, time_minutes: int = 60 * 24, folder: str | Path,
           cluster: str | None = None, extra: dict[str, Any] | None = None) -> list[Any]:
    """Submit `nodes` worker jobs (a job array) and return submitit's job handles.

    Args:
        base: the worker settings every node starts from (db URL, study, MLflow URI, lease).
        nodes: how many nodes (array tasks) to start.
        gpus_per_node: GPUs to request and use on each node.
        per_gpu: workers per GPU.
        partition: the Slurm partition.
        time_minutes: the job's time limit.
        folder: where submitit keeps logs and pickles (must be on a shared filesystem).
        cluster: None for Slurm (auto), "local" to run on this machine (tests), "debug".
        extra: more submitit parameters (e.g. {"slurm_account": "..."}).
    """
    import submitit

    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    parameters: dict[str, Any] = dict(nodes=1, tasks_per_node=1, timeout_min=int(time_minutes),
                                      name=f"proxystore-{base.study or 'worker'}",
                                      slurm_array_parallelism=nodes)
    if gpus_per_node:
        parameters["gpus_per_node"] = gpus_per_node
    if partition:
        parameters["slurm_partition"] = partition
    parameters.update(extra or {})
    executor.update_parameters(**parameters)
    return list(executor.map_array(node_main, [base] * nodes, [gpus_per_node] * nodes,
                                   [per_gpu] * nodes))
