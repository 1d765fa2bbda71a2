"""Per-example scores and the loss-quantile (easy/hard) subsets built on them.

Scores go the runner's one path: `train.losses.score_examples` computes them and
`runner.claims.write_kept` writes them with the run's result, as a worker does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sqlalchemy import func, select

from proxystore.data.cache import decoded
from proxystore.data.registry import register_dataset
from proxystore.data.subsets import SubsetDecl, declare_subset, subset_indices
from proxystore.db.models import SqlArchitecture, SqlExampleLoss, SqlRecipe, SqlRun, SqlSubset
from proxystore.errors import DataError
from proxystore.runner import claims
from proxystore.train.losses import score_examples


def make_run(db, subset_id: int, tag: str) -> int:  # type: ignore[no-untyped-def]
    """Insert the minimal architecture, recipe and run rows a scorer run needs."""
    with db.session() as session:
        arch = SqlArchitecture(space="test", genome={"tag": tag}, fingerprint=tag * 64)
        recipe = SqlRecipe(fingerprint=tag * 64, spec={}, epochs=1, batch_size=8,
                           optimizer="sgd", lr=0.1, weight_decay=0.0, schedule="cosine",
                           image_size=8, eval_metric="top1")
        session.add_all([arch, recipe])
        session.flush()
        run = SqlRun(cell_key=tag * 64, architecture_id=arch.id, subset_id=subset_id,
                     recipe_id=recipe.id, seed=0, trainer_version="test", status="pending")
        session.add(run)
        session.flush()
        return run.id


def store_scores(db, run_id: int, model, data, indices, label_map,  # type: ignore[no-untyped-def]
                 batch_size: int = 512) -> int:
    """Score `indices` with `model` and write them as the run's result, the runner's way."""
    losses, correct = score_examples(model, data.train[indices], data.train_labels[indices],
                                     label_map, data.mean, data.std, "cpu", batch_size)
    with db.session() as session:  # a finished run goes back to pending, as `retry` does
        session.get(SqlRun, run_id).status = "pending"
        cell_key = session.get(SqlRun, run_id).cell_key
    claim = claims.Claim(run_id, cell_key, 1, "test-worker", 0, 0, 0, 0, needs_scores=True)
    outcome = claims.Outcome(epochs=[], values={}, losses=losses, correct=correct,
                             indices=np.asarray(indices))
    assert claims.write_kept(db, claim, outcome) == "written"
    return len(losses)


@pytest.fixture
def scored(db, tmp_path):  # type: ignore[no-untyped-def]
    """Digits, a scorer run on its full subset, and that run's per-example losses."""
    register_dataset(db, "digits", "sklearn:digits")
    full = declare_subset(db, "digits", SubsetDecl("full"))
    run_id = make_run(db, full.id, "a")
    data = decoded(db, "digits", 8, cache_dir=tmp_path)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    train, _ = subset_indices(db, full.id)
    count = store_scores(db, run_id, model, data, train, full.label_map, batch_size=300)
    assert count == 1438
    return db, run_id


def stored_losses(db, run_id: int) -> dict[int, float]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        rows = session.execute(select(SqlExampleLoss.index, SqlExampleLoss.loss)
                               .where(SqlExampleLoss.run_id == run_id)).all()
    return {int(i): float(loss) for i, loss in rows}


def quantile(db, run_id: int, **params):  # type: ignore[no-untyped-def]
    return declare_subset(db, "digits", SubsetDecl("loss_quantile",
                                                   {"scorer_run": run_id, **params}))


def test_hardest_and_easiest_tenths_have_exact_sizes_and_ranks(scored) -> None:
    db, run_id = scored
    losses = stored_losses(db, run_id)
    assert len(losses) == 1438
    hard = quantile(db, run_id, a=0.0, b=0.1)
    easy = quantile(db, run_id, a=0.9, b=1.0)
    assert (hard.train_count, easy.train_count) == (144, 144)  # 1438 × 0.1 = 143.8
    assert hard.val_count == 359 and hard.scorer_run_id == run_id
    assert hard.name == f"hard-0.0-0.1-by-run{run_id}"
    hard_train, _ = subset_indices(db, hard.id)
    easy_train, _ = subset_indices(db, easy.id)
    rest = set(losses) - set(hard_train.tolist())
    assert min(losses[i] for i in hard_train) >= max(losses[i] for i in rest)
    assert max(losses[i] for i in easy_train) <= min(
        losses[i] for i in set(losses) - set(easy_train.tolist()))


def test_dropping_the_hardest_before_taking_quantiles(scored) -> None:
    db, run_id = scored
    info = quantile(db, run_id, a=0.0, b=0.5, drop_hardest=0.05)
    assert info.train_count == 683  # drop round(71.9) = 72, keep round(0.5 × 1366) = 683
    assert info.name == f"hard-0.0-0.5-drop0.05-by-run{run_id}"
    losses = stored_losses(db, run_id)
    hardest = sorted(losses, key=lambda i: (-losses[i], i))[:72]
    train, _ = subset_indices(db, info.id)
    assert set(hardest).isdisjoint(train.tolist())


def test_rescoring_replaces_earlier_scores(scored, tmp_path) -> None:
    db, run_id = scored
    data = decoded(db, "digits", 8, cache_dir=tmp_path)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    store_scores(db, run_id, model, data, np.arange(100), None)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SqlExampleLoss)) == 100
    with pytest.raises(DataError, match="lacks scores for 1338 of 1438"):
        quantile(db, run_id, a=0.0, b=0.1)


def test_quantile_without_scores_is_refused_and_writes_nothing(db) -> None:
    register_dataset(db, "digits", "sklearn:digits")
    full = declare_subset(db, "digits", SubsetDecl("full"))
    run_id = make_run(db, full.id, "b")
    with pytest.raises(DataError, match=f"scorer run {run_id} has no per-example scores"):
        quantile(db, run_id, a=0.0, b=0.1)
    with pytest.raises(DataError, match="scorer run 999 does not exist"):
        quantile(db, 999, a=0.0, b=0.1)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SqlSubset)) == 1


def test_quantiles_of_a_class_subset_score_with_its_label_map(scored, tmp_path) -> None:
    db, run_id = scored
    half = declare_subset(db, "digits", SubsetDecl("classes", {"k": 5}, seed=0))
    child = declare_subset(db, "digits", SubsetDecl(
        "loss_quantile", {"scorer_run": run_id, "a": 0.0, "b": 0.5},
        parent=SubsetDecl("classes", {"k": 5}, seed=0)))
    assert child.train_count == 361  # half of 721, rounded half up
    assert child.label_map == half.label_map and child.val_count == half.val_count


def test_scores_of_a_class_subset_use_its_label_map(db, tmp_path) -> None:
    register_dataset(db, "digits", "sklearn:digits")
    half = declare_subset(db, "digits", SubsetDecl("classes", {"k": 5}, seed=0))
    data = decoded(db, "digits", 8, cache_dir=tmp_path)
    train, _ = subset_indices(db, half.id)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 5))
    losses, correct = score_examples(model, data.train[train], data.train_labels[train],
                                     half.label_map, data.mean, data.std, "cpu")
    # by hand: class c of the subset is label_map[c]; the loss is its cross-entropy
    x = (torch.from_numpy(data.train[train]).float() / 255
         - torch.tensor(data.mean).view(1, -1, 1, 1)) / torch.tensor(data.std).view(1, -1, 1, 1)
    target = torch.tensor([half.label_map[int(y)] for y in data.train_labels[train]])
    logits = model(x)
    expected = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    np.testing.assert_allclose(losses, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert (correct == (logits.argmax(1) == target).numpy()).all()
    outside = np.setdiff1d(np.arange(len(data.train_labels)), train)[:3]
    with pytest.raises(DataError, match="labels outside the subset's label map"):
        score_examples(model, data.train[outside], data.train_labels[outside], half.label_map,
                       data.mean, data.std, "cpu")


def test_non_finite_scores_are_refused() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    torch.nn.init.constant_(model[1].weight, float("nan"))
    with pytest.raises(DataError, match="non-finite per-example losses"):
        score_examples(model, np.zeros((3, 1, 2, 2), np.uint8), np.array([0, 1, 0]), None,
                       np.array([0.5]), np.array([0.5]), "cpu")
