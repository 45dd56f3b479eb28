"""papers: a partial index of hidden papers (feed lists exclude them without a scan)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_papers_hidden",
        "papers",
        ["id"],
        sqlite_where=sa.text("hidden_at IS NOT NULL"),
        postgresql_where=sa.text("hidden_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_papers_hidden", table_name="papers")
