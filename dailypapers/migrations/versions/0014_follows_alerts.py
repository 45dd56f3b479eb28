"""follows and alerts: follows, alert_matches, alert_deliveries, alert_feed_tokens, alert_cursor

A match is one row per user × paper with every reason; a delivery one row per user × paper ×
channel: the two keys that make a paper matching several follows arrive once per channel.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from dailypapers.models import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _owner(table: str, column: str, target: str, *, primary: bool = True) -> list[SchemaItem]:
    """A NOT NULL reference removed with its target, and its foreign key."""
    return [
        sa.Column(column, sa.Integer(), nullable=False, primary_key=primary),
        sa.ForeignKeyConstraint(
            [column],
            [f"{target}.id"],
            name=op.f(f"fk_{table}_{column}_{target}"),
            ondelete="CASCADE",
        ),
    ]


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("id", sa.Integer(), nullable=False),
        *_owner("follows", "user_id", "users", primary=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follows")),
        sa.UniqueConstraint("user_id", "kind", "target", name="uq_follows_user_kind_target"),
    )
    op.create_index(op.f("ix_follows_user_id"), "follows", ["user_id"])
    op.create_index("ix_follows_kind_target", "follows", ["kind", "target"])
    op.create_table(
        "alert_matches",
        *_owner("alert_matches", "user_id", "users"),
        *_owner("alert_matches", "paper_id", "papers"),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        _when("matched_at"),
        sa.PrimaryKeyConstraint("user_id", "paper_id", name=op.f("pk_alert_matches")),
    )
    op.create_index(op.f("ix_alert_matches_paper_id"), "alert_matches", ["paper_id"])
    op.create_index("ix_alert_matches_user_matched", "alert_matches", ["user_id", "matched_at"])
    op.create_table(
        "alert_deliveries",
        *_owner("alert_deliveries", "user_id", "users", primary=False),
        *_owner("alert_deliveries", "paper_id", "papers", primary=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        _when("delivered_at"),
        sa.PrimaryKeyConstraint(
            "user_id", "paper_id", "channel", name=op.f("pk_alert_deliveries")
        ),
    )
    op.create_index(op.f("ix_alert_deliveries_paper_id"), "alert_deliveries", ["paper_id"])
    op.create_table(
        "alert_feed_tokens",
        *_owner("alert_feed_tokens", "user_id", "users"),
        sa.Column("token", sa.String(length=64), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_alert_feed_tokens")),
        sa.UniqueConstraint("token", name=op.f("uq_alert_feed_tokens_token")),
    )
    op.create_table(
        "alert_cursor",
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("last_paper_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_cursor")),
    )


def downgrade() -> None:
    for table in ("alert_cursor", "alert_feed_tokens", "alert_deliveries", "alert_matches"):
        op.drop_table(table)
    op.drop_index("ix_follows_kind_target", table_name="follows")
    op.drop_table("follows")
