"""saves: the library's order (saved_at, then paper id) in one index

The library page sorts a user's saves by ``saved_at`` then paper id. With only
``(user_id, saved_at)`` indexed, papers saved in the same instant (an import saves thousands
at once) were sorted in a temporary B-tree on every page view; with the paper id in the index
the page is a walk of the index that stops after one page.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_saves_user_saved", table_name="saves")
    op.create_index("ix_saves_user_saved", "saves", ["user_id", "saved_at", "paper_id"])


def downgrade() -> None:
    op.drop_index("ix_saves_user_saved", table_name="saves")
    op.create_index("ix_saves_user_saved", "saves", ["user_id", "saved_at"])
