"""analysis views: cell and candidate errors, APR, ImageNet-X matching, depth/width, proxy quality

Revision ID: 0002_analysis_views
Revises: 0001_initial
Create Date: 2026-11-22 03:00:00

The SQL lives in schemas/views/0002_*.sql; these files are frozen with this revision (a later
change to a view is a new migration with its own files), so upgrading an old database always
applies exactly the SQL listed here.
"""

from __future__ import annotations

from alembic import op
from proxystore.resources import schema_text

revision = "0002_analysis_views"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# In dependency order: each view reads only tables and the views before it.
VIEWS = (
    "analysis_settings",
    "cell_errors",
    "candidate_errors",
    "apr_correlations",
    "imagenet_x_matches",
    "depth_width_correlations",
    "proxy_quality",
    "epoch_correlations",
)


def upgrade() -> None:
    for name in VIEWS:
        op.execute(schema_text(f"views/0002_{name}.sql"))


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
