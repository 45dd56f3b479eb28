"""users, orgs: accounts and organizations imported from Hugging Face renamed ``name@hf``

Imported names were stored bare, so an imported submitter called ``admin`` was the local admin
(see dailypapers/hf_names.py). Imported accounts are the external ones; imported organizations
are the ones without members (a local organization always has its owner).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dailypapers.hf_names import stored_name

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    users = bind.execute(
        sa.text("SELECT id, username FROM users WHERE is_external AND username NOT LIKE '%@hf'")
    ).all()
    for user_id, name in users:
        bind.execute(
            sa.text("UPDATE users SET username = :name WHERE id = :id"),
            {"name": stored_name(name), "id": user_id},
        )
    orgs = bind.execute(
        sa.text(
            "SELECT id, name FROM orgs WHERE name NOT LIKE '%@hf'"
            " AND NOT EXISTS (SELECT 1 FROM org_members m WHERE m.org_id = orgs.id)"
        )
    ).all()
    for org_id, name in orgs:
        bind.execute(
            sa.text("UPDATE orgs SET name = :name WHERE id = :id"),
            {"name": stored_name(name), "id": org_id},
        )


def downgrade() -> None:
    for table, column in (("users", "username"), ("orgs", "name")):
        op.execute(
            f"UPDATE {table} SET {column} = substr({column}, 1, length({column}) - 3)"  # noqa: S608
            f" WHERE {column} LIKE '%@hf'"
        )
