"""analysis: proxy strategies, per-study settings, diverged runs as results, tasks as trained

Revision ID: 0004_strategies_and_settings
Revises: 0003_analysis_view_fixes
Create Date: 2026-12-03 19:00:00

Adds study_tasks.strategy and the studies' analysis settings (diverged runs, good rule), fills
them from each study's stored spec, and corrects study_tasks.epochs / eval_metric of tasks that
took them from the spec's `defaults` (they were stored only from the task's own keys). Every
analysis view is dropped and created again from the SQL listed in VIEWS (frozen with this
revision): cell_errors now reads the settings, so the views on top of it are rebuilt in order.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import yaml
from alembic import op
from proxystore.resources import schema_text

revision = "0004_strategies_and_settings"
down_revision = "0003_analysis_view_fixes"
branch_labels = None
depends_on = None

# (view, prefix of its SQL file) in dependency order, at this revision and at the one before.
VIEWS = (
    ("analysis_settings", "0004"), ("study_sizes", "0004"), ("cell_errors", "0004"),
    ("candidate_errors", "0002"), ("apr_correlations", "0004"), ("imagenet_x_matches", "0004"),
    ("imagenet_x_summary", "0004"), ("depth_width_correlations", "0004"),
    ("proxy_quality", "0004"), ("proxy_strategies", "0004"), ("epoch_correlations", "0004"),
)
BEFORE = (
    ("analysis_settings", "0002"), ("cell_errors", "0002"), ("candidate_errors", "0002"),
    ("apr_correlations", "0002"), ("imagenet_x_matches", "0003"),
    ("depth_width_correlations", "0002"), ("proxy_quality", "0003"),
    ("epoch_correlations", "0003"),
)
GOOD_RULES = ("min_accuracy", "relative_to_best", "top")


def _create(views: tuple[tuple[str, str], ...]) -> None:
    for name, prefix in views:
        op.execute(schema_text(f"views/{prefix}_{name}.sql"))


def _drop(views: tuple[tuple[str, str], ...]) -> None:
    for name, _ in reversed(views):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def _mapping(node: Any, key: str) -> dict[str, Any]:
    """node[key] when it is a mapping, else an empty one (a stored spec may be anything)."""
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, dict) else {}


def _settings(spec: dict[str, Any]) -> dict[str, Any]:
    """Return the studies columns of a spec's `analysis:` mapping (NULL where not given)."""
    analysis = _mapping(spec, "analysis")
    good = _mapping(analysis, "good")
    rule = next((k for k in GOOD_RULES if k in good), None)
    return {"diverged": analysis.get("diverged"), "rule": rule,
            "value": float(good[rule]) if rule else None}


def _task_values(spec: dict[str, Any], label: str, proxy_of: str | None) -> dict[str, Any]:
    """Return a task's strategy, epochs and eval metric as its cells train with them."""
    defaults = _mapping(spec, "defaults")
    task = _mapping(_mapping(spec, "tasks"), label)
    strategy = task.get("strategy")
    if strategy is None:
        strategy = label[len(proxy_of) + 1:] if proxy_of and label.startswith(f"{proxy_of}/") \
            else label
    return {"strategy": strategy, "epochs": task.get("epochs", defaults.get("epochs")),
            "metric": task.get("eval_metric", defaults.get("eval_metric"))}


def _backfill() -> None:
    conn = op.get_bind()
    studies = conn.execute(sa.text("SELECT id, spec_text FROM studies")).fetchall()
    for study_id, text in studies:
        try:
            spec = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            spec = {}
        spec = spec if isinstance(spec, dict) else {}
        conn.execute(sa.text("UPDATE studies SET analysis_diverged = :diverged, "
                             "good_rule = :rule, good_value = :value WHERE id = :id"),
                     {**_settings(spec), "id": study_id})
        tasks = conn.execute(sa.text("SELECT label, proxy_of FROM study_tasks "
                                     "WHERE study_id = :id"), {"id": study_id}).fetchall()
        for label, proxy_of in tasks:
            values = _task_values(spec, label, proxy_of)
            conn.execute(sa.text(
                "UPDATE study_tasks SET strategy = :strategy, "
                "epochs = COALESCE(epochs, :epochs), "
                "eval_metric = COALESCE(:metric, eval_metric) "
                "WHERE study_id = :id AND label = :label"),
                {**values, "id": study_id, "label": label})


# Plain ALTER TABLE ADD/DROP COLUMN on both databases (SQLite >= 3.35 drops columns natively). A
# batch "move and copy" would drop and recreate `studies`, and on SQLite with foreign keys on,
# dropping it deletes every study's tasks, candidates and cells through ON DELETE CASCADE.
COLUMNS = (
    ("studies", sa.Column("analysis_diverged", sa.String(10), nullable=True)),
    ("studies", sa.Column("good_rule", sa.String(20), nullable=True)),
    ("studies", sa.Column("good_value", sa.Float(), nullable=True)),
    ("study_tasks", sa.Column("strategy", sa.String(200), nullable=True)),
)


def upgrade() -> None:
    _drop(VIEWS)
    for table, column in COLUMNS:
        op.add_column(table, column)
    _backfill()
    _create(VIEWS)


def downgrade() -> None:
    _drop(VIEWS)
    for table, column in reversed(COLUMNS):
        op.drop_column(table, column.name)
    _create(BEFORE)
