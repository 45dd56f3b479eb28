"""digests: subscription kinds ("for me", alerts-only) and a send's frozen sections

``subscriptions.kind`` is ``list`` (the period's list, trending or on a topic: every row made
before this revision), ``for_me`` (the period ranked for the owning account) or ``alerts``
(the mail that carries an account's email alerts when it has no digest). The address's
uniqueness now includes the kind, so one address can have a trending and a "for me" daily
digest. ``digest_sends.sections`` freezes what a send adds to its paper ids (the reasons of a
"for me" list, the "From your follows" items, the fallback notice) so a resend after a crash
carries the same content.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(10), nullable=False, server_default="list"))
        batch_op.drop_constraint("uq_subscriptions_email", type_="unique")
        batch_op.create_unique_constraint(
            "uq_subscriptions_email", ["email_key", "cadence", "topic_query", "kind"]
        )
        batch_op.create_index("ix_subscriptions_user_kind", ["user_id", "kind"], unique=False)
    with op.batch_alter_table("digest_sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sections", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("digest_sends", schema=None) as batch_op:
        batch_op.drop_column("sections")
    # Rows of the new kinds have no meaning before this revision (and would clash).
    op.execute("DELETE FROM subscriptions WHERE kind <> 'list'")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_user_kind")
        batch_op.drop_constraint("uq_subscriptions_email", type_="unique")
        batch_op.create_unique_constraint(
            "uq_subscriptions_email", ["email_key", "cadence", "topic_query"]
        )
        batch_op.drop_column("kind")
