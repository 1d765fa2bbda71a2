"""Run status, task role and failure are one enum each; the database and the schema agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import CheckConstraint, text

from proxystore.db.enums import SPEC_ROLES, Failure, RunStatus, TaskRole, check_in
from proxystore.db.models import FAILURE_KINDS, RUN_STATUSES, TASK_ROLES, SqlRun, SqlStudyTask
from proxystore.study import spec

ROOT = Path(__file__).parents[1]


def _model_check(table: object, name: str) -> str:
    sql_table = table.__table__  # type: ignore[attr-defined]
    checks = [c for c in sql_table.constraints if isinstance(c, CheckConstraint)
              and str(c.name) in (name, f"ck_{sql_table.name}_{name}")]
    assert len(checks) == 1
    return str(checks[0].sqltext)


def test_model_checks_are_built_from_the_enums_with_the_migrated_text():
    # The migration's text, verbatim: a change here needs a migration, not just a new member.
    assert _model_check(SqlRun, "status") == check_in("status", RunStatus) == (
        "status IN ('pending', 'running', 'done', 'failed', 'cancelled')")
    assert _model_check(SqlStudyTask, "role") == check_in("role", TaskRole) == (
        "role IN ('reference', 'family', 'target', 'proxy', 'scorer', 'other')")


def _database_check(db, table: str, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The values a CHECK constraint of the migrated database allows, in its order."""
    with db.session() as session:
        if db.dialect == "sqlite":
            sql = session.execute(text("SELECT sql FROM sqlite_master WHERE name = :t"),
                                  {"t": table}).scalar_one()
            found = re.search(rf"CONSTRAINT {name} CHECK \((.*?)\)", sql)
            assert found is not None, sql
            definition = found.group(1)
        else:
            definition = session.execute(text(
                "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_namespace n "
                "ON n.oid = c.connamespace WHERE c.conname = :n AND n.nspname = current_schema()"),
                {"n": name}).scalar_one()
    return re.findall(r"'(\w+)'", definition)


def test_migrated_database_allows_exactly_the_enum_values(db):
    assert _database_check(db, "runs", "ck_runs_status") == list(RunStatus)
    assert _database_check(db, "study_tasks", "ck_study_tasks_role") == list(TaskRole)


def test_schema_and_spec_roles_are_the_task_roles_a_spec_may_name():
    schema = json.loads((ROOT / "schemas" / "study.schema.json").read_text(encoding="utf-8"))
    roles = schema["$defs"]["task"]["properties"]["role"]["enum"]
    assert roles == list(SPEC_ROLES) == list(spec.ROLES)
    # `scorer` stays allowed by the database (and import-results) but no spec can name it
    assert TaskRole.SCORER in TASK_ROLES and TaskRole.SCORER not in roles


def test_plain_tuples_are_the_enum_values_as_str():
    assert RUN_STATUSES == ("pending", "running", "done", "failed", "cancelled")
    assert FAILURE_KINDS == ("stale", "error", "diverged", "oom", "interrupted", "environment")
    assert TASK_ROLES == tuple(TaskRole)
    assert all(type(value) is str for value in RUN_STATUSES + FAILURE_KINDS + TASK_ROLES)


_VALUES = "|".join(list(RunStatus) + list(Failure))
_BARE = re.compile(rf"\b(status|failure)\s*(==|!=|=)\s*[\"']({_VALUES})[\"']")


def test_runner_db_and_tracking_write_no_bare_status_or_failure_literal():
    offenders = []
    for folder in ("runner", "db", "tracking"):
        for path in sorted((ROOT / "proxystore" / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _BARE.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "use RunStatus / Failure from proxystore.db.enums:\n" + "\n".join(
        offenders)
