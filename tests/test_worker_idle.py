"""An idle worker re-registers nothing: easy/hard tasks get their cells when a scorer finished.

Which tasks wait for a scorer is read from the database (a study task stored without a
subset), not from the spec's text; an idle worker declares them only when a scorer run finished
since its last look, and otherwise just waits (while a scorer trains) or stops.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proxystore.db.store import runs, studies
from proxystore.runner.claims import Outcome
from proxystore.runner.worker import WorkerConfig, _WhenIdle, run_worker
from proxystore.study.register import register_study
from proxystore.study.spec import parse_spec
from tests import fake_trainer
from tests.studies import EASY_HARD, FULL_AND_HALF, GENOME_A, tiny_spec


def scoring_trainer(db: Any, claim: Any, config: Any, lost: Any = None,
                    on_epoch: Any = None) -> Outcome:
    """The fake trainer, with per-example losses for a scorer claim (losses rise with index)."""
    from proxystore.data.subsets import subset_indices

    outcome = fake_trainer.train(db, claim, config, lost, on_epoch)
    if not claim.needs_scores:
        return outcome
    train, _ = subset_indices(db, claim.subset_id)
    indices = np.asarray(train)
    return Outcome(epochs=outcome.epochs, values=outcome.values,
                   losses=indices.astype(np.float64) / 100.0, correct=indices % 2 == 0,
                   indices=indices)


def _config(db: Any, study: str, tmp_path: Any) -> WorkerConfig:
    return WorkerConfig(db_url=db.url, worker="idle-test:1:0", device="cpu", study=study,
                        trainer="tests.test_worker_idle:scoring_trainer",
                        cache_dir=str(tmp_path / "cache"), idle_wait_seconds=0.01)


def _count_materializing(monkeypatch: Any) -> list[str]:
    """Count the calls of materialize_deferred (by study name) and let them through."""
    import proxystore.study.register as register

    calls: list[str] = []
    original = register.materialize_deferred

    def counting(db: Any, spec: Any, registration: Any = None) -> int:
        calls.append(spec.name)
        return original(db, spec, registration)

    monkeypatch.setattr(register, "materialize_deferred", counting)
    return calls


def test_a_worker_declares_easy_and_hard_tasks_once_their_scorer_is_done(db, tmp_path,
                                                                         monkeypatch):
    spec = parse_spec(tiny_spec("idle", EASY_HARD))
    register_study(db, spec)
    assert studies.waiting_for_scorer(db, "idle") == ["easy", "hard"]
    assert list(studies.studies_waiting_for_scorer(db)) == ["idle"]
    calls = _count_materializing(monkeypatch)
    config = _config(db, "idle", tmp_path)
    summary = run_worker(db, config)
    # The scorer and the other full cell, then the two candidates of easy and hard.
    assert len(summary.done) == 6 and not summary.failed
    assert studies.waiting_for_scorer(db, "idle") == []
    assert studies.run_counts(db, "idle") == {"done": 6}
    assert calls == ["idle"]  # the first idle tick, after the scorer: once, not every tick
    assert runs.scorer_progress(db) == runs.ScorerProgress(done=1, running=0)
    idle = _WhenIdle(db, config)
    assert idle() is False and idle() is False and calls == ["idle"]  # nothing waits now


def test_an_idle_worker_looks_again_only_when_a_scorer_finished(sqlite_db, tmp_path,
                                                                monkeypatch):
    db = sqlite_db
    register_study(db, parse_spec(tiny_spec("wait", EASY_HARD, archs={"a": GENOME_A})))
    calls = _count_materializing(monkeypatch)
    idle = _WhenIdle(db, _config(db, "wait", tmp_path))
    assert idle() is False and calls == ["wait"]  # the first look; the scorer is not done
    assert idle() is False and calls == ["wait"]  # no scorer finished since: nothing declared
    scorer = runs.claim(db, "elsewhere:1:0", study="wait")
    assert scorer is not None and scorer.needs_scores
    assert idle() is True and calls == ["wait"]  # a scorer trains elsewhere: wait, look again
    assert runs.complete(db, scorer, scoring_trainer(db, scorer, _config(db, "wait", tmp_path)))
    assert idle() is True and calls == ["wait", "wait"]  # it finished: easy and hard declared
    assert studies.waiting_for_scorer(db, "wait") == []


def test_a_spec_that_only_mentions_loss_quantile_waits_for_nothing(sqlite_db, tmp_path,
                                                                   monkeypatch):
    """The spec's text is no longer searched: a name containing the words changes nothing."""
    db = sqlite_db
    register_study(db, parse_spec(tiny_spec("loss_quantile-free", FULL_AND_HALF)))
    calls = _count_materializing(monkeypatch)
    assert studies.studies_waiting_for_scorer(db) == {}
    assert _WhenIdle(db, _config(db, None, tmp_path))() is False
    assert calls == []
