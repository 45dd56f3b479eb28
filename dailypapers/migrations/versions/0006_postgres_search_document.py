"""PostgreSQL: a stored, weighted tsvector of each paper with a GIN index (lexical search)

SQLite has its FTS5 index since 0001; this is PostgreSQL's counterpart. Title weighs A,
authors B, abstract C; the column is generated, so every write path keeps it current. Like the
FTS5 index (porter stemming, no stopword list) the text search configuration stems English
and keeps stopwords: "the of" and "Attention Is All You Need" must still find papers; with
the unaccent extension it folds accents too.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

CONFIG = "dailypapers_english"  # dailypapers.search.lexical.PG_TEXT_CONFIG
DOCUMENT = (
    f"setweight(to_tsvector('{CONFIG}'::regconfig, coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector('{CONFIG}'::regconfig, coalesce(authors_text, '')), 'B') || "
    f"setweight(to_tsvector('{CONFIG}'::regconfig, coalesce(abstract, '')), 'C')"
)
WORD_TOKENS = "asciiword, asciihword, hword_asciipart, word, hword, hword_part"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TEXT SEARCH DICTIONARY dailypapers_english_stem "
        "(TEMPLATE = snowball, Language = english)"
    )
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = english)")
    # Accents folded first where the server has unaccent (contrib), as FTS5's
    # remove_diacritics does: "Muller" finds "Müller".
    bind = op.get_bind()
    unaccent = bind.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent')")
    ).scalar()
    if unaccent:
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    dictionaries = "unaccent, dailypapers_english_stem" if unaccent else "dailypapers_english_stem"
    op.execute(
        f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} "
        f"ALTER MAPPING FOR {WORD_TOKENS} WITH {dictionaries}"
    )
    op.execute(
        f"ALTER TABLE papers ADD COLUMN search_document tsvector "
        f"GENERATED ALWAYS AS ({DOCUMENT}) STORED"
    )
    op.execute("CREATE INDEX ix_papers_search_document ON papers USING gin (search_document)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_papers_search_document")
    op.execute("ALTER TABLE papers DROP COLUMN search_document")
    op.execute(f"DROP TEXT SEARCH CONFIGURATION {CONFIG}")
    op.execute("DROP TEXT SEARCH DICTIONARY dailypapers_english_stem")
