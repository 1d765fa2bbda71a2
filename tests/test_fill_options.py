"""`fill --compile/--cuda-graphs`: checked up front, compiled cells land, compiles are reused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sqlalchemy import select

from proxystore.db import open_database
from proxystore.db.models import SqlRun
from tests.helpers import run_cli
from tests.inprocess import run_main
from tests.studies import FULL_AND_HALF, GENOME_A, tiny_spec, write


def _graphs(cache: Path) -> set[str]:
    """The compiled FX graphs inductor keeps on disk (one folder per graph key)."""
    return {p.parent.name for p in cache.glob("torch-compile/fxgraph/**/*") if p.is_file()}


def test_cuda_graphs_on_a_cpu_device_is_one_line_and_exit_2(tmp_path):
    spec = write(tmp_path, "s", tiny_spec("s", FULL_AND_HALF))
    db = tmp_path / "x.db"
    proc = run_main("fill", str(spec), "--db", str(db), "--device", "cpu", "--cuda-graphs")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("proxystore: error: --cuda-graphs needs a CUDA device, "
                                   "not --device cpu")
    assert not db.exists()  # refused before anything was opened or written


def test_unknown_compile_mode_is_one_line_and_exit_2(tmp_path):
    spec = write(tmp_path, "s", tiny_spec("s", FULL_AND_HALF))
    proc = run_main("fill", str(spec), "--db", str(tmp_path / "x.db"), "--device", "cpu",
                    "--compile", "fastest")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "compile: unknown mode 'fastest'" in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "tpu"], "--device tpu: unknown device (use cpu, cuda, cuda:N or auto)"),
    (["--gpus", "abc"], "--gpus must be device indices such as 0,1,2,3, got 'abc'"),
    (["--gpus", "999"], "--gpus 999: this machine has "),
    (["--workers", "0"], "--workers must be a positive integer, got 0"),
    (["--gpus", "0", "--per-gpu", "0"], "--per-gpu must be a positive integer, got 0"),
])
@pytest.mark.parametrize("command", ["fill", "worker"])
def test_devices_and_worker_counts_are_checked_before_any_write(tmp_path, command, args,
                                                                message):
    """Else every cell a worker claims is marked failed on a device this machine lacks."""
    spec = write(tmp_path, "s", tiny_spec("s", FULL_AND_HALF))
    db = tmp_path / "x.db"
    proc = run_main(*([command, str(spec)] if command == "fill" else [command]),
                    "--db", str(db), *args)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith(f"proxystore: error: {message}"), proc.stderr
    assert not db.exists()


@pytest.mark.parametrize(("value", "shown"), [("-1", "an integer >= 0, got -1"),
                                                  ("abc", "an integer, got 'abc'")])
def test_bad_max_cells_is_one_line_and_registers_nothing(tmp_path, value, shown):
    spec = write(tmp_path, "s", tiny_spec("s", FULL_AND_HALF))
    db = tmp_path / "x.db"
    proc = run_main("fill", str(spec), "--db", str(db), "--device", "cpu", "--max-cells", value)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        f"proxystore: error: --max-cells must be {shown}")
    assert not db.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_fails_no_cell(tmp_path):
    spec = write(tmp_path, "s", tiny_spec("s", FULL_AND_HALF))
    db = tmp_path / "x.db"
    assert run_main("fill", str(spec), "--db", str(db), "--max-cells", "0").returncode == 0
    proc = run_main("fill", str(spec), "--db", str(db), "--device", "cuda")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("proxystore: error: --device cuda: this machine has no CUDA "
                                   "device (torch.cuda.is_available() is false)")
    with open_database(str(db)).session() as session:
        assert {r.status for r in session.scalars(select(SqlRun))} == {"pending"}


@pytest.mark.slow
def test_compiled_cells_land_and_a_second_process_reuses_the_compilations(tmp_path):
    """Two fills of the same genome in separate processes and databases, one cache: the second
    writes no new compiled graph, so every graph it ran came from the first one's cache."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    spec = write(tmp_path, "s", tiny_spec("s", FULL_AND_HALF, archs={"a": GENOME_A}))
    cache = tmp_path / "cache"
    # What inductor leaves in the environment of a parent that ran it (pytest's own process,
    # here, once earlier tests trained): the children must not take it for a choice.
    env = {"PROXYSTORE_CACHE": str(cache), "TORCHINDUCTOR_CACHE_DIR": default_cache_dir()}
    seen = []
    for i in range(2):
        db_path = tmp_path / f"r{i}.db"
        proc = run_cli("fill", str(spec), "--db", str(db_path), "--device", "cpu", "--quiet",
                       "--compile", "default", env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        with open_database(str(db_path)).session() as session:
            runs = session.scalars(select(SqlRun)).all()
            assert len(runs) == 2 and {r.status for r in runs} == {"done"}
            assert all(0 <= r.final_top1_error < 0.9 for r in runs)
        seen.append(_graphs(cache))
    assert seen[0], "the first fill compiled nothing into the cache"
    assert seen[1] == seen[0]


def test_compile_cache_follows_each_workers_cache_unless_the_user_chose_one(tmp_path,
                                                                          monkeypatch):
    import proxystore.runner.execution as execution
    import proxystore.runner.worker as worker

    config = worker.WorkerConfig(db_url=f"sqlite:///{tmp_path / 'x.db'}", worker="w",
                                 cache_dir=str(tmp_path / "a"))
    # inductor writes its default into the environment the first time it compiles anything
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_default")
    monkeypatch.setattr(execution, "_USER_INDUCTOR_DIR", None)
    assert worker.compile_cache_dir(config) == str(tmp_path / "a" / "torch-compile")
    monkeypatch.setattr(execution, "_USER_INDUCTOR_DIR", "/scratch/inductor")  # set before start
    assert worker.compile_cache_dir(config) == "/scratch/inductor"
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setattr(execution, "_USER_INDUCTOR_DIR", default_cache_dir())  # inherited default
    assert worker.compile_cache_dir(config) == str(tmp_path / "a" / "torch-compile")
