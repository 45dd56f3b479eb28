"""The feed channel: a private alerts feed per user behind a revocable token, and what the
public feeds per saved search, author and category list (service: no commits).

The private URL is the only secret: ``regenerate`` replaces the token, and the old URL then
answers 404 (a feed reader cannot send a cookie or a header)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.authors.names import author_key, key_of_slug
from dailypapers.models import AlertFeedToken, AlertMatch, Paper
from dailypapers.search import lexical
from dailypapers.search.query import parse_query

FEED_SIZE = 50
# Matches looked at before the newest FEED_SIZE are kept (a search's best matches by rank).
CANDIDATES = 500
TOKEN_BYTES = 32  # 43 URL-safe characters
MAX_TOKEN_CHARS = 64


def feed_token(
    session: Session, user_id: int, now: dt.datetime, *, regenerate: bool = False
) -> str:
    """The user's private feed token, made on first use; ``regenerate`` revokes the old one."""
    row = session.get(AlertFeedToken, user_id)
    if row is None:
        row = AlertFeedToken(
            user_id=user_id, token=secrets.token_urlsafe(TOKEN_BYTES), created_at=now
        )
        session.add(row)
    elif regenerate:
        row.token, row.created_at = secrets.token_urlsafe(TOKEN_BYTES), now
    session.flush()
    return row.token


def user_of_token(session: Session, token: str) -> int | None:
    """Whose feed a token opens (None: unknown, revoked or malformed)."""
    if not token or len(token) > MAX_TOKEN_CHARS or "\x00" in token:
        return None
    return session.scalar(select(AlertFeedToken.user_id).where(AlertFeedToken.token == token))


def alert_items(
    session: Session, user_id: int, limit: int = FEED_SIZE
) -> list[tuple[Paper, dt.datetime, tuple[str, ...]]]:
    """The user's newest matches for the feed channel: (paper, matched at, reasons)."""
    rows = session.execute(
        select(Paper, AlertMatch.matched_at, AlertMatch.reasons, AlertMatch.channels)
        .join(AlertMatch, AlertMatch.paper_id == Paper.id)
        .where(AlertMatch.user_id == user_id, Paper.hidden_at.is_(None))
        .order_by(AlertMatch.matched_at.desc(), AlertMatch.paper_id.desc())
        .limit(limit * 2)
    ).all()
    items = [(paper, at, tuple(why)) for paper, at, why, channels in rows if "feed" in channels]
    return items[:limit]


def newest_first(session: Session, paper_ids: Sequence[int], limit: int = FEED_SIZE) -> list[Paper]:
    """These papers, newest stored first (a feed's order)."""
    if not paper_ids:
        return []
    return list(
        session.scalars(
            select(Paper)
            .where(Paper.id.in_(paper_ids))
            .order_by(Paper.created_at.desc(), Paper.id.desc())
            .limit(limit)
        )
    )


def search_papers(session: Session, query: str) -> list[Paper]:
    """What a public saved-search feed lists: the query's matches, newest first."""
    statement = lexical.matching(session, query, Paper.hidden_at.is_(None)).limit(CANDIDATES)
    return newest_first(session, list(session.scalars(statement)))


def author_papers(session: Session, slug: str) -> list[Paper]:
    """The papers of the author a slug names, by the author key (docs/authors.md)."""
    key = key_of_slug(slug)
    if not key:
        return []
    parsed = parse_query(f'author:"{key}"', lenient=True)
    statement = lexical.matching(session, parsed, Paper.hidden_at.is_(None)).limit(CANDIDATES)
    papers = newest_first(session, list(session.scalars(statement)), CANDIDATES)
    # The filter matches the name's words; the key decides (no "Smith, J." for "John Smith").
    exact = [p for p in papers if any(author_key(n) == key for n in p.author_names)]
    return exact[:FEED_SIZE]


def category_papers(session: Session, category: str) -> list[Paper]:
    """The newest papers of a category (``cs.CL``) or archive (``cs``)."""
    statement = lexical.matching(
        session, parse_query(f"cat:{category}"), Paper.hidden_at.is_(None)
    ).limit(FEED_SIZE)
    return newest_first(session, list(session.scalars(statement)))
