"""PostgreSQL with pgvector: a vector copy of each embedding and an HNSW index (cosine)

Only when the server offers the extension (``pg_available_extensions``); otherwise, and on
SQLite, nothing changes and search keeps its in-process index. Existing vectors are copied
from their bytes once here; later ones are written by the indexer beside the bytes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 08:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dailypapers.search.pgvector_index import HNSW_INDEX, fill_embedding_column

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _available(bind: sa.Connection) -> bool:
    return bind.dialect.name == "postgresql" and bool(
        bind.execute(
            sa.text("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')")
        ).scalar()
    )


def upgrade() -> None:
    bind = op.get_bind()
    if not _available(bind):
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("ALTER TABLE embeddings ADD COLUMN embedding vector")
    fill_embedding_column(bind)
    op.execute(HNSW_INDEX)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_embeddings_hnsw")
    op.execute("ALTER TABLE embeddings DROP COLUMN IF EXISTS embedding")
