"""`ExecutionOptions`: the execution flags checked once, and the frozen `WorkerConfig` made from
them (no database, no training)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from proxystore.errors import ProxystoreError
from proxystore.runner.execution import ExecutionOptions, parse_execution
from proxystore.runner.pool import worker_configs
from proxystore.runner.worker import WorkerConfig
from proxystore.train.options import TrainOptions


def test_flags_become_one_frozen_options_and_every_workers_config():
    execution = parse_execution(train={"compile": "default", "cuda_graphs": False},
                                device="cpu", workers=2, per_gpu=1, lease=30,
                                max_attempts=5, max_env_errors=4, max_cells=3)
    assert execution.pooled and execution.gpus == ()
    assert execution.train == TrainOptions(compile="default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        execution.workers = 3  # type: ignore[misc]
    config = execution.worker_config("sqlite:///x.db", "h:1", "s")
    assert (config.device, config.study, config.lease_seconds, config.max_attempts,
            config.max_env_errors, config.max_cells) == ("cpu", "s", 30, 5, 4, 3)
    assert config.train_options is execution.train
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.worker = "other"  # type: ignore[misc]


def test_flags_not_given_keep_the_workers_defaults():
    execution = parse_execution(train={"compile": "off", "cuda_graphs": False})
    defaults = WorkerConfig(db_url="sqlite:///x.db", worker="w")
    config = execution.worker_config("sqlite:///x.db", "w")
    assert config == defaults
    assert config.train_options.compile is False and not execution.pooled


def test_a_trainer_option_reaches_the_worker_without_naming_it_in_between():
    """Adding a TrainOptions field needs no change in execution.py, fill.py or worker.py."""
    execution = parse_execution(train={"log_every": 5, "graph_warmup": 7})
    config = execution.worker_config("sqlite:///x.db", "w")
    assert (config.train_options.log_every, config.train_options.graph_warmup) == (5, 7)
    with pytest.raises(ProxystoreError, match="^--log-every/--graph-warmup: eval_batch_size "
                                              "and graph_warmup must be at least 1$"):
        parse_execution(train={"log_every": 5, "graph_warmup": 0})


@pytest.mark.parametrize(("flags", "message"), [
    (dict(train={"compile": "fastest", "cuda_graphs": False}),
     "--compile/--cuda-graphs: compile: unknown mode 'fastest'"),
    (dict(train={"compile": "default", "cuda_graphs": True}),
     "--compile/--cuda-graphs: cuda_graphs and compile are exclusive"),
    (dict(train={"cuda_graphs": True}, device="cpu"),
     "--cuda-graphs needs a CUDA device, not --device cpu"),
    (dict(workers=0), "--workers must be a positive integer, got 0"),
    (dict(lease=1), "--lease must be a number of seconds from 5 to 86400, got 1"),
    (dict(max_attempts=0), "--max-attempts must be an integer from 1 to 100, got 0"),
    (dict(max_env_errors=0), "--max-env-errors must be an integer from 1 to 1000, got 0"),
    (dict(max_cells=-1), "--max-cells must be an integer >= 0, got -1"),
])
def test_each_bad_flag_is_one_line_naming_it(flags, message):
    with pytest.raises(ProxystoreError) as error:
        parse_execution(**flags)
    assert str(error.value).startswith(message), str(error.value)


def test_a_workers_config_pickles_as_it_is_for_pools_and_slurm():
    base = parse_execution(train={"compile": "max-autotune"}, device="cpu", workers=2,
                           lease=60).worker_config("sqlite:///x.db", "h:1", "s")
    configs = worker_configs(base, workers=2)
    assert [c.worker for c in configs] == ["h:1:0", "h:1:1"] and base.worker == "h:1"
    for config in configs:
        again = pickle.loads(pickle.dumps(config))
        assert again == config and isinstance(again.train_options, TrainOptions)
        assert again.train_options.compile_mode == "max-autotune"


def test_defaults_are_the_options_of_a_plain_fill():
    assert ExecutionOptions() == parse_execution()
