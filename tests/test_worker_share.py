"""Workers that share a device split its memory for resident images."""

from __future__ import annotations

from sqlalchemy import select

from proxystore.db.models import SqlRun
from proxystore.runner.pool import worker_configs
from proxystore.runner.worker import WorkerConfig, run_worker
from proxystore.study.register import register_study
from proxystore.study.spec import parse_spec
from proxystore.train.data import TrainData
from tests.studies import GENOME_A, tiny_spec


def test_pool_tells_each_worker_how_many_share_its_device() -> None:
    base = WorkerConfig(db_url="sqlite:///x.db", worker="h:1")
    gpus = worker_configs(base, gpus="0,1", per_gpu=4)
    assert [c.device for c in gpus] == ["cuda:0"] * 4 + ["cuda:1"] * 4
    assert {c.share for c in gpus} == {4}
    cpus = worker_configs(base, workers=3)
    assert len(cpus) == 3 and {c.share for c in cpus} == {3}
    assert worker_configs(base)[0].share == 1


def test_a_subset_that_fits_one_worker_is_streamed_when_sixteen_share_the_device(
        sqlite_db, monkeypatch) -> None:
    """digits at 8 px is 115 kB of images; with a 1 MB budget one worker keeps it resident,
    sixteen sharing the device get 62.5 kB each and stream it, and both train it."""
    spec = parse_spec(tiny_spec("share", "full: {dataset: digits, role: target}\n",
                                archs={"a": GENOME_A}, seeds="[0, 1]"))
    register_study(sqlite_db, spec)
    monkeypatch.setattr("proxystore.train.data.resident_budget", lambda device: 1_000_000)
    seen: list[tuple[int, bool]] = []
    original = TrainData.from_arrays.__func__  # type: ignore[attr-defined]

    def spy(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        data = original(cls, *args, **kwargs)
        seen.append((kwargs["max_resident_bytes"], data.streamed))
        return data

    monkeypatch.setattr(TrainData, "from_arrays", classmethod(spy))
    for share in (1, 16):
        config = WorkerConfig(db_url=sqlite_db.url, worker=f"w{share}", device="cpu",
                              study="share", max_cells=1, share=share)
        summary = run_worker(sqlite_db, config)
        assert len(summary.done) == 1 and not summary.failed
    assert seen == [(1_000_000, False), (62_500, True)]
    with sqlite_db.session() as session:
        runs = session.scalars(select(SqlRun)).all()
        assert {r.status for r in runs} == {"done"}
        assert all(0 <= r.final_top1_error < 0.9 for r in runs)
