"""Jinja2 filters and globals shared by every page."""

from __future__ import annotations

import datetime as dt

from fastapi.templating import Jinja2Templates

from dailypapers import arxiv_ids
from dailypapers.config import Settings

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


def configure_templates(templates: Jinja2Templates, settings: Settings) -> None:
    env = templates.env
    env.globals["site_name"] = settings.site_name
    env.globals["base_url"] = settings.base_url
    env.filters["shorten"] = shorten
    env.filters["author_line"] = author_line
    env.filters["long_date"] = long_date
    env.filters["abs_url"] = arxiv_ids.abs_url
    env.filters["pdf_url"] = arxiv_ids.pdf_url
