"""SQLAlchemy 2.0 tables of DESIGN.md's data model.

ORM classes are prefixed ``Sql`` so they are never confused with networks or with the plain
dataclasses the rest of proxystore passes around; they stay inside the store modules.
Typed columns hold what analysis filters or joins on; a JSON column holds the canonical object.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from proxystore.db.enums import Failure, RunStatus, TaskRole, check_in

# Deterministic constraint names, so that Alembic migrations can name what they alter and the
# same names exist on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

FINGERPRINT = String(64)
SPLITS = ("train", "val")
# Plain-string views of the enums (proxystore/db/enums.py), for code that lists or validates them.
RUN_STATUSES = tuple(status.value for status in RunStatus)
FAILURE_KINDS = tuple(failure.value for failure in Failure)
TASK_ROLES = tuple(role.value for role in TaskRole)


class Base(DeclarativeBase):
    """Declarative base with the naming convention and JSON for dict columns."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _now() -> Any:
    return func.current_timestamp()


class SqlDataset(Base):
    """A named source of labelled images with a train and a validation split."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(500))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    num_classes: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    image_height: Mapped[int | None] = mapped_column(Integer)
    image_width: Mapped[int | None] = mapped_column(Integer)
    train_count: Mapped[int] = mapped_column(Integer)
    val_count: Mapped[int] = mapped_column(Integer)
    class_names: Mapped[list[Any] | None] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(FINGERPRINT, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())


class SqlExample(Base):
    """One image of a dataset split: (dataset, split, index) and its label."""

    __tablename__ = "examples"
    __table_args__ = (
        CheckConstraint("split IN ('train', 'val')", name="split"),
        Index("ix_examples_dataset_id_split_label", "dataset_id", "split", "label"),
    )

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    split: Mapped[str] = mapped_column(String(5), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[int] = mapped_column(Integer)


class SqlSubset(Base):
    """An example-id set of one dataset (train and validation side), identified by its members."""

    __tablename__ = "subsets"
    __table_args__ = (Index("ix_subsets_dataset_id_kind", "dataset_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("subsets.id"))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seed: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    num_classes: Mapped[int] = mapped_column(Integer)
    train_count: Mapped[int] = mapped_column(Integer)
    val_count: Mapped[int] = mapped_column(Integer)
    # Original label -> training label, when the subset keeps only some classes.
    label_map: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    scorer_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", use_alter=True))
    fingerprint: Mapped[str] = mapped_column(FINGERPRINT, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())


class SqlSubsetMember(Base):
    """Membership of one example in one subset."""

    __tablename__ = "subset_members"
    __table_args__ = (CheckConstraint("split IN ('train', 'val')", name="split"),)

    subset_id: Mapped[int] = mapped_column(
        ForeignKey("subsets.id", ondelete="CASCADE"), primary_key=True
    )
    split: Mapped[str] = mapped_column(String(5), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)


class SqlArchitecture(Base):
    """A genome of a design space (AnyNetX or a timm model) and its complexity."""

    __tablename__ = "architectures"
    __table_args__ = (
        Index("ix_architectures_space_flops", "space", "flops"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200))
    genome: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(FINGERPRINT, unique=True)
    num_stages: Mapped[int | None] = mapped_column(Integer)
    stem_width: Mapped[int | None] = mapped_column(Integer)
    stem_type: Mapped[str | None] = mapped_column(String(20))
    cumulative_depth: Mapped[int | None] = mapped_column(Integer)
    cumulative_width: Mapped[int | None] = mapped_column(Integer)
    # Complexity at the reference resolution and class count it was measured at.
    flops: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[int | None] = mapped_column(BigInteger)
    acts: Mapped[int | None] = mapped_column(BigInteger)
    complexity_image_size: Mapped[int | None] = mapped_column(Integer)
    complexity_num_classes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())


class SqlArchitectureStage(Base):
    """One stage of an AnyNetX genome, so SQL can filter on any stage's parameters."""

    __tablename__ = "architecture_stages"

    architecture_id: Mapped[int] = mapped_column(
        ForeignKey("architectures.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[int] = mapped_column(Integer, primary_key=True)
    depth: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    bottleneck_ratio: Mapped[float] = mapped_column(Float)
    group_width: Mapped[int] = mapped_column(Integer)
    stride: Mapped[int] = mapped_column(Integer)


class SqlRecipe(Base):
    """Everything about training that changes the result."""

    __tablename__ = "recipes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(FINGERPRINT, unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    epochs: Mapped[int] = mapped_column(Integer)
    batch_size: Mapped[int] = mapped_column(Integer)
    optimizer: Mapped[str] = mapped_column(String(40))
    lr: Mapped[float] = mapped_column(Float)
    weight_decay: Mapped[float] = mapped_column(Float)
    schedule: Mapped[str] = mapped_column(String(40))
    image_size: Mapped[int] = mapped_column(Integer)
    eval_metric: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())


class SqlRun(Base):
    """One cell: (architecture, subset, effective recipe, seed, trainer version), and its result."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(check_in("status", RunStatus), name="status"),
        # The claim query: next pending cell by priority; expired leases among running ones.
        Index("ix_runs_status_priority_id", "status", "priority", "id"),
        Index("ix_runs_status_lease_expires_at", "status", "lease_expires_at"),
        Index("ix_runs_architecture_id", "architecture_id"),
        Index("ix_runs_subset_id", "subset_id"),
        Index("ix_runs_recipe_id", "recipe_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cell_key: Mapped[str] = mapped_column(FINGERPRINT, unique=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id"))
    subset_id: Mapped[int] = mapped_column(ForeignKey("subsets.id"))
    recipe_id: Mapped[int] = mapped_column(ForeignKey("recipes.id"))
    seed: Mapped[int] = mapped_column(Integer)
    trainer_version: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default=RunStatus.PENDING.value)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Set when a study needs this run's per-example losses (easy/hard subsets are built on them).
    needs_scores: Mapped[bool] = mapped_column(Boolean, default=False)
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    device_seconds: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(200))
    epochs_done: Mapped[int | None] = mapped_column(Integer)
    final_loss: Mapped[float | None] = mapped_column(Float)
    final_top1_error: Mapped[float | None] = mapped_column(Float)
    final_top5_error: Mapped[float | None] = mapped_column(Float)
    best_top1_error: Mapped[float | None] = mapped_column(Float)
    best_top5_error: Mapped[float | None] = mapped_column(Float)
    best_epoch: Mapped[int | None] = mapped_column(Integer)
    failure: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    mlflow_logged: Mapped[bool] = mapped_column(Boolean, default=False)


class SqlRunEpoch(Base):
    """Metrics of one epoch of one run; written with the run's result in one transaction."""

    __tablename__ = "run_epochs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    train_loss: Mapped[float | None] = mapped_column(Float)
    train_error: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    top1_error: Mapped[float | None] = mapped_column(Float)
    top5_error: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float | None] = mapped_column(Float)


class SqlExampleLoss(Base):
    """Per-example loss of a scorer run, the basis of easy/hard (loss-quantile) subsets."""

    __tablename__ = "example_losses"
    __table_args__ = (CheckConstraint("split IN ('train', 'val')", name="split"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    split: Mapped[str] = mapped_column(String(5), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    loss: Mapped[float] = mapped_column(Float)
    correct: Mapped[bool] = mapped_column(Boolean)


class SqlStudy(Base):
    """A declarative study spec as registered."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    spec_text: Mapped[str] = mapped_column(Text)
    spec_fingerprint: Mapped[str] = mapped_column(FINGERPRINT)
    # The spec's `analysis:` settings (NULL: the default; the analysis_settings view fills it in).
    analysis_diverged: Mapped[str | None] = mapped_column(String(10))
    good_rule: Mapped[str | None] = mapped_column(String(20))
    good_value: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())


class SqlStudyTask(Base):
    """A task of a study: a subset plus a training regime, with its role in the analysis."""

    __tablename__ = "study_tasks"
    __table_args__ = (
        CheckConstraint(check_in("role", TaskRole), name="role"),
    )

    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    subset_id: Mapped[int | None] = mapped_column(ForeignKey("subsets.id"))
    role: Mapped[str] = mapped_column(String(20), default=TaskRole.OTHER.value)
    # For a proxy: the label of the target task it stands in for.
    proxy_of: Mapped[str | None] = mapped_column(String(200))
    num_classes: Mapped[int | None] = mapped_column(Integer)
    train_count: Mapped[int | None] = mapped_column(Integer)
    epochs: Mapped[int | None] = mapped_column(Integer)
    image_size: Mapped[int | None] = mapped_column(Integer)
    eval_metric: Mapped[str] = mapped_column(String(20), default="top1")
    regime: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The proxy-creation strategy a proxy belongs to (seed 1, Table 2 rows pool its targets).
    strategy: Mapped[str | None] = mapped_column(String(200))


class SqlStudyCandidate(Base):
    """A candidate of a study: an architecture plus hyperparameter overrides."""

    __tablename__ = "study_candidates"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(200), primary_key=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id"))
    hparams: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SqlStudyCell(Base):
    """Links a study's (candidate, task, seed) to the run that fills it, possibly shared."""

    __tablename__ = "study_cells"
    __table_args__ = (
        Index("ix_study_cells_run_id", "run_id"),
        UniqueConstraint("study_id", "candidate", "task", "seed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    candidate: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
