"""jobs: a priority, so mail a person waits for is not queued behind a backlog

A fresh demo queues tens of thousands of embedding jobs; a verification mail queued after them
waited for the whole backlog, and writes now need a confirmed address. Lower runs first.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# The kinds jobs.INTERACTIVE_KINDS names today; a migration keeps its own copy.
_INTERACTIVE_KINDS = ("send_account_mail", "send_subscription_confirmation", "send_digest_sample")


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("priority", sa.SmallInteger(), server_default="1", nullable=False)
    )
    op.execute(
        sa.text("UPDATE jobs SET priority = 0 WHERE kind IN :kinds").bindparams(
            sa.bindparam("kinds", _INTERACTIVE_KINDS, expanding=True)
        )
    )
    op.drop_index("ix_jobs_due", table_name="jobs")
    op.create_index("ix_jobs_due", "jobs", ["state", "priority", "run_after"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_due", table_name="jobs")
    op.create_index("ix_jobs_due", "jobs", ["state", "run_after"], unique=False)
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("priority")
