"""Text shown to people, shared by pages, feeds and mail (pure)."""

from __future__ import annotations

import datetime as dt

CARD_ABSTRACT_CHARS = 300
CARD_AUTHORS = 5


def shorten(text: str, limit: int = CARD_ABSTRACT_CHARS) -> str:
    """Cut at a word boundary with an ellipsis; the paper page shows the whole text."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"


def author_line(names: list[str], limit: int = CARD_AUTHORS) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def long_date(value: dt.date) -> str:
    return value.strftime("%b %-d, %Y")
