"""`proxystore db check` looks for every table and view, not only the revision."""

from __future__ import annotations

import pytest

from proxystore.db import open_database
from proxystore.db.objects import expected
from tests.inprocess import run_main


def test_db_check_passes_at_head(db_url):
    result = run_main("db", "check", "--db", db_url)
    assert result.returncode == 0
    assert result.stdout.startswith("schema at head (") and "every table and view" in result.stdout


@pytest.mark.parametrize(("statement", "named"), [
    ("DROP VIEW proxy_quality", "view proxy_quality"),
    ("DROP TABLE example_losses", "table example_losses"),
])
def test_db_check_names_a_dropped_table_or_view(db_url, statement, named):
    database = open_database(db_url)
    with database.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    database.dispose()
    result = run_main("db", "check", "--db", db_url)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"schema at head ({expected_head()}) but missing {named}: the database was changed "
        "outside proxystore")


def test_expected_objects_are_the_models_and_the_views_at_head():
    tables, views = expected()
    assert {"runs", "studies", "alembic_version", "example_losses"} <= tables
    assert {"cell_errors", "apr_correlations", "proxy_quality", "analysis_settings"} <= views
    assert not tables & views


def expected_head() -> str:
    """This proxystore's newest revision."""
    from proxystore.db import migrate

    return migrate.head_revision()
