"""jobs, ingest checkpoints and arXiv metadata columns

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 02:14:38.853547
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from dailypapers.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING = sa.text("state IN ('queued', 'running')")
NEW_PAPER_COLUMNS: dict[str, sa.types.TypeEngine[Any]] = {
    "title_raw": sa.Text(),
    "abstract_raw": sa.Text(),
    "license": sa.String(length=200),
    "listing_date": sa.Date(),
    "metadata_hash": sa.String(length=32),
}


def upgrade() -> None:
    op.create_table(
        "ingest_checkpoints",
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_ingest_checkpoints")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_due", "jobs", ["state", "run_after"], unique=False)
    op.create_index(
        "uq_jobs_pending_dedupe_key",
        "jobs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    # Plain ALTER TABLE, not batch mode: recreating papers on SQLite would drop its FTS triggers.
    for name, column_type in NEW_PAPER_COLUMNS.items():
        op.add_column("papers", sa.Column(name, column_type, nullable=True))
    op.create_index(op.f("ix_papers_listing_date"), "papers", ["listing_date"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_papers_listing_date"), table_name="papers")
    for name in reversed(NEW_PAPER_COLUMNS):
        op.drop_column("papers", name)
    op.drop_index("uq_jobs_pending_dedupe_key", table_name="jobs")
    op.drop_index("ix_jobs_due", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("ingest_checkpoints")
