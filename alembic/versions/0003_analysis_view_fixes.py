"""analysis views: the papers' definitions where 0002 differed (best epoch, ImageNet-X family)

Revision ID: 0003_analysis_view_fixes
Revises: 0002_analysis_views
Create Date: 2026-11-23 10:00:00

Replaces the views listed in VIEWS with schemas/views/0003_<name>.sql (frozen with this revision,
like 0002's); downgrade restores their 0002 SQL. Each replaced view is a leaf (no view reads it),
so it is dropped and created again without touching the others.
"""

from __future__ import annotations

from alembic import op
from proxystore.resources import schema_text

revision = "0003_analysis_view_fixes"
down_revision = "0002_analysis_views"
branch_labels = None
depends_on = None

# The replaced views, each with a schemas/views/0003_<name>.sql.
VIEWS = (
    "proxy_quality",
    "epoch_correlations",
    "imagenet_x_matches",
)


def _replace(prefix: str) -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
        op.execute(schema_text(f"views/{prefix}_{name}.sql"))


def upgrade() -> None:
    _replace("0003")


def downgrade() -> None:
    _replace("0002")
