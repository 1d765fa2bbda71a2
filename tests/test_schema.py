"""The schema: models and migrations agree, migrations go both ways, constraints hold."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from proxystore import TRAINER_VERSION
from proxystore.db import migrate, open_database
from proxystore.db.models import (
    Base,
    SqlArchitecture,
    SqlDataset,
    SqlRun,
)
from tests.cells import dummy_inputs

EXPECTED_TABLES = {
    "datasets", "examples", "subsets", "subset_members", "architectures", "architecture_stages",
    "recipes", "runs", "run_epochs", "example_losses", "studies", "study_tasks",
    "study_candidates", "study_cells",
}


def test_models_and_migrations_agree(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_first_revision_creates_every_table(db):
    tables = set(inspect(db.engine).get_table_names())
    assert EXPECTED_TABLES <= tables
    assert migrate.state(db).at_head


def test_upgrade_downgrade_upgrade(db):
    migrate.downgrade(db, "base")
    assert not (EXPECTED_TABLES & set(inspect(db.engine).get_table_names()))
    assert migrate.state(db).current is None
    migrate.upgrade(db)
    assert EXPECTED_TABLES <= set(inspect(db.engine).get_table_names())
    assert migrate.state(db).at_head


def test_claim_and_join_indexes_exist(db):
    indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("runs")}
    assert {"ix_runs_status_priority_id", "ix_runs_status_lease_expires_at",
            "ix_runs_architecture_id", "ix_runs_subset_id", "ix_runs_recipe_id"} <= indexes


def _one_cell(session):
    return dict(dummy_inputs(session), seed=0, trainer_version=TRAINER_VERSION)


def test_cell_key_is_unique(db):
    with db.session() as session:
        ids = _one_cell(session)
        session.add(SqlRun(cell_key="e" * 64, **ids))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(SqlRun(cell_key="e" * 64, **ids))
    with db.session() as session:
        assert session.scalar(select(SqlRun).where(SqlRun.cell_key == "e" * 64)).status == "pending"


def test_foreign_keys_are_enforced(db):
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(SqlRun(cell_key="f" * 64, architecture_id=999, subset_id=999, recipe_id=999,
                           seed=0, trainer_version=TRAINER_VERSION))


def test_status_must_be_known(db):
    with db.session() as session:
        ids = _one_cell(session)
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(SqlRun(cell_key="9" * 64, status="finished", **ids))


def test_fingerprints_are_unique(db):
    with db.session() as session:
        session.add(SqlArchitecture(space="anynetx", genome={}, fingerprint="1" * 64))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(SqlArchitecture(space="anynetx", genome={"x": 1}, fingerprint="1" * 64))


def test_upgrade_keeps_existing_rows(db_url):
    """An upgrade of a database with data in it (here: a no-op at head) keeps every row."""
    database = open_database(db_url)
    with database.session() as session:
        _one_cell(session)
    migrate.upgrade(database)
    with database.session() as session:
        assert session.scalar(select(SqlDataset.name)) == "dummy"
    database.dispose()
