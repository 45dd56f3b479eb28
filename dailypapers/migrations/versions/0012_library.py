"""library: saves, collections, notes, reading marks, imports; reading settings on users

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from dailypapers.models import UTCDateTime

revision = "0012"
down_revision = "0011"
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


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def _user_paper_table(table: str, *columns: SchemaItem) -> None:
    """A table keyed by (user, paper), with the paper indexed for deletes."""
    op.create_table(
        table,
        *_owner(table, "user_id", "users"),
        *_owner(table, "paper_id", "papers"),
        *columns,
        sa.PrimaryKeyConstraint("user_id", "paper_id", name=op.f(f"pk_{table}")),
    )
    op.create_index(op.f(f"ix_{table}_paper_id"), table, ["paper_id"])


def upgrade() -> None:
    _user_paper_table("saves", _when("saved_at", nullable=False))
    op.create_index("ix_saves_user_saved", "saves", ["user_id", "saved_at"])
    _user_paper_table(
        "notes",
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
    )
    _user_paper_table("paper_marks", _when("opened_at"), _when("read_at"), _when("dismissed_at"))
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        *_owner("collections", "user_id", "users", primary=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("user_id", "name", name="uq_collections_user_name"),
    )
    op.create_index(op.f("ix_collections_user_id"), "collections", ["user_id"])
    op.create_table(
        "collection_papers",
        *_owner("collection_papers", "collection_id", "collections"),
        *_owner("collection_papers", "paper_id", "papers"),
        _when("added_at", nullable=False),
        sa.PrimaryKeyConstraint("collection_id", "paper_id", name=op.f("pk_collection_papers")),
    )
    op.create_index(op.f("ix_collection_papers_paper_id"), "collection_papers", ["paper_id"])
    op.create_table(
        "library_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        *_owner("library_imports", "user_id", "users", primary=False),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        _when("created_at", nullable=False),
        _when("finished_at"),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_library_imports_collection_id_collections"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_library_imports")),
    )
    op.create_index(op.f("ix_library_imports_user_id"), "library_imports", ["user_id"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("collapse_seen", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("collapse_dismissed", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch.add_column(_when("last_active_at"))
        batch.add_column(_when("previous_visit_at"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        for column in (
            "previous_visit_at",
            "last_active_at",
            "collapse_dismissed",
            "collapse_seen",
        ):
            batch.drop_column(column)
    for table in ("library_imports", "collection_papers", "collections", "paper_marks", "notes"):
        op.drop_table(table)
    op.drop_table("saves")
