"""Pending cells without a study spec: the claim protocol does not care what they train."""

from __future__ import annotations

from sqlalchemy import insert

from proxystore import TRAINER_VERSION
from proxystore.db.models import (
    SqlArchitecture,
    SqlDataset,
    SqlRecipe,
    SqlRun,
    SqlStudy,
    SqlStudyCell,
    SqlSubset,
)


def dummy_inputs(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Insert one dummy dataset, subset, architecture and recipe; return a run's foreign keys."""
    dataset = SqlDataset(name="dummy", source="npz:/dev/null", options={}, num_classes=2,
                         channels=1, train_count=1, val_count=1, fingerprint="d" * 64)
    session.add(dataset)
    session.flush()
    subset = SqlSubset(dataset_id=dataset.id, kind="full", params={}, name="full",
                       num_classes=2, train_count=1, val_count=1, fingerprint="s" * 64)
    arch = SqlArchitecture(space="anynetx", genome={}, fingerprint="a" * 64)
    recipe = SqlRecipe(fingerprint="r" * 64, spec={}, epochs=1, batch_size=1,
                       optimizer="sgd", lr=0.1, weight_decay=0.0, schedule="cosine",
                       image_size=8, eval_metric="top1")
    session.add_all([subset, arch, recipe])
    session.flush()
    return dict(architecture_id=arch.id, subset_id=subset.id, recipe_id=recipe.id)


def seed_cells(db, n: int, study: str = "kill") -> None:  # type: ignore[no-untyped-def]
    """Insert `n` pending runs on one dummy architecture/subset/recipe, linked to `study`."""
    with db.session() as session:
        inputs = dummy_inputs(session)
        study_row = SqlStudy(name=study, spec_text="", spec_fingerprint="")
        session.add(study_row)
        session.flush()
        rows = [dict(cell_key=f"{i:064d}", **inputs, seed=i, trainer_version=TRAINER_VERSION,
                     status="pending", priority=0, needs_scores=False, imported=False,
                     attempts=0, mlflow_logged=False) for i in range(n)]
        for start in range(0, n, 1000):
            session.execute(insert(SqlRun), rows[start:start + 1000])
        session.flush()
        ids = [r for r in session.execute(SqlRun.__table__.select().with_only_columns(
            SqlRun.id)).scalars()]
        session.execute(insert(SqlStudyCell), [
            dict(study_id=study_row.id, candidate=f"c{i}", task="t", seed=0, run_id=run_id)
            for i, run_id in enumerate(ids)])
