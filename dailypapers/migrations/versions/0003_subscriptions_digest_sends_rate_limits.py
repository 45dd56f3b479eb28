"""subscriptions digest sends and rate limits

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 06:39:15.179347
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dailypapers.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_rate_limit_counters")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("cadence", sa.String(length=10), nullable=False),
        sa.Column("topic_query", sa.String(length=300), nullable=False),
        sa.Column("paper_count", sa.Integer(), nullable=False),
        sa.Column("unsubscribe_token", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("deactivated_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("hard_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscriptions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("email_key", "cadence", "topic_query", name="uq_subscriptions_email"),
        sa.UniqueConstraint("unsubscribe_token", name=op.f("uq_subscriptions_unsubscribe_token")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriptions_cadence_confirmed", ["cadence", "confirmed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subscriptions_email_key"), ["email_key"], unique=False)

    op.create_table(
        "digest_received",
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_digest_received_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_digest_received_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "paper_id", name=op.f("pk_digest_received")),
    )
    with op.batch_alter_table("digest_received", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_received_paper_id"), ["paper_id"], unique=False)

    op.create_table(
        "digest_topic_matches",
        sa.Column("period_key", sa.String(length=30), nullable=False),
        sa.Column("topic_query", sa.String(length=300), nullable=False),
        sa.Column("paper_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "period_key", "topic_query", name=op.f("pk_digest_topic_matches")
        ),
    )
    op.create_table(
        "digest_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("paper_ids", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=250), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_digest_sends_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_sends")),
        sa.UniqueConstraint("subscription_id", "period_key", name="uq_digest_sends_period"),
    )
    with op.batch_alter_table("digest_sends", schema=None) as batch_op:
        batch_op.create_index("ix_digest_sends_period_state", ["period_key", "state"], unique=False)


def downgrade() -> None:
    op.drop_table("digest_topic_matches")
    with op.batch_alter_table("digest_sends", schema=None) as batch_op:
        batch_op.drop_index("ix_digest_sends_period_state")

    op.drop_table("digest_sends")
    with op.batch_alter_table("digest_received", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_received_paper_id"))

    op.drop_table("digest_received")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_email_key"))
        batch_op.drop_index("ix_subscriptions_cadence_confirmed")

    op.drop_table("subscriptions")
    op.drop_table("rate_limit_counters")
