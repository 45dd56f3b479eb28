"""authors: the author key of every stored name, indexed (author pages); authorship claims

``authors.name_key`` is ``authors/names.author_key(name)``, the conservative grouping of a
name's spellings (docs/authors.md): an author page reads this index, then ``paper_authors``.
Existing rows are filled here in batches of ids, so a 75k-paper store (about 200k names)
upgrades without holding every name in memory. ``author_claims`` records who asked to be
which author and what a moderator decided.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dailypapers.authors.names import author_key
from dailypapers.models import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BATCH = 5_000


def _backfill_keys() -> None:
    connection = op.get_bind()
    authors = sa.table("authors", sa.column("id", sa.Integer), sa.column("name", sa.String))
    keys = sa.table("authors", sa.column("id", sa.Integer), sa.column("name_key", sa.String))
    update = (
        sa.update(keys)
        .where(keys.c.id == sa.bindparam("_id"))
        .values(name_key=sa.bindparam("_key"))
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(authors.c.id, authors.c.name)
            .where(authors.c.id > last)
            .order_by(authors.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        connection.execute(update, [{"_id": row.id, "_key": author_key(row.name)} for row in rows])
        last = rows[-1].id


def upgrade() -> None:
    op.add_column(
        "authors", sa.Column("name_key", sa.String(300), nullable=False, server_default="")
    )
    _backfill_keys()
    op.create_index(op.f("ix_authors_name_key"), "authors", ["name_key"])
    op.create_table(
        "author_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name_key", sa.String(300), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_author_claims_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_author_claims_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_author_claims")),
    )
    op.create_index(op.f("ix_author_claims_user_id"), "author_claims", ["user_id"])
    op.create_index(
        "ix_author_claims_status_created", "author_claims", ["status", "created_at"]
    )
    approved = sa.text("status = 'approved'")
    op.create_index(
        "uq_author_claims_approved",
        "author_claims",
        ["name_key"],
        unique=True,
        sqlite_where=approved,
        postgresql_where=approved,
    )
    pending = sa.text("status = 'pending'")
    op.create_index(
        "uq_author_claims_pending",
        "author_claims",
        ["user_id", "name_key"],
        unique=True,
        sqlite_where=pending,
        postgresql_where=pending,
    )


def downgrade() -> None:
    op.drop_table("author_claims")
    op.drop_index(op.f("ix_authors_name_key"), table_name="authors")
    op.drop_column("authors", "name_key")
