"""What `plan` needs for its compute estimate: device time of finished runs, and the complexity of
architectures (FLOPs and the image size they were computed at).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from proxystore.db.enums import RunStatus
from proxystore.db.models import SqlArchitecture, SqlRecipe, SqlRun, SqlSubset


@dataclass(frozen=True)
class FinishedWork:
    """One done run's device time and what it trained: FLOPs, image size, examples, epochs."""

    device: str
    device_seconds: float
    flops: int | None
    complexity_image_size: int | None  # the image size `flops` was computed at
    image_size: int
    train_count: int
    epochs: int


def finished_work(session: Session) -> list[FinishedWork]:
    """Every done run that recorded its device time, with what it trained."""
    rows = session.execute(
        select(SqlRun.device, SqlRun.device_seconds, SqlArchitecture.flops,
               SqlArchitecture.complexity_image_size, SqlRecipe.image_size,
               SqlSubset.train_count, SqlRecipe.epochs)
        .join(SqlArchitecture, SqlArchitecture.id == SqlRun.architecture_id)
        .join(SqlRecipe, SqlRecipe.id == SqlRun.recipe_id)
        .join(SqlSubset, SqlSubset.id == SqlRun.subset_id)
        .where(SqlRun.status == RunStatus.DONE, SqlRun.device_seconds.is_not(None))).all()
    # device_seconds is not NULL (the WHERE); a done run records its device.
    return [FinishedWork(*row) for row in rows]  # type: ignore[arg-type]


def architecture_complexity(session: Session, arch_ids: set[int]
                            ) -> tuple[dict[int, int | None], dict[int, int | None]]:
    """For the architectures given: (id -> FLOPs, id -> the image size the FLOPs are at)."""
    flops = dict(session.execute(select(SqlArchitecture.id, SqlArchitecture.flops)
                                 .where(SqlArchitecture.id.in_(arch_ids))).all())
    refs = dict(session.execute(select(SqlArchitecture.id, SqlArchitecture.complexity_image_size)
                                .where(SqlArchitecture.id.in_(arch_ids))).all())
    return flops, refs
