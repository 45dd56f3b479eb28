"""Jinja2 filters and globals shared by every page."""

from __future__ import annotations

import functools

from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from dailypapers import arxiv_ids
from dailypapers.authors.names import author_slug
from dailypapers.config import Settings
from dailypapers.display import CARD_AUTHORS, long_date, shorten
from dailypapers.web.security import csrf_field


def author_links(names: list[str], limit: int | None = CARD_AUTHORS) -> Markup:
    """Names as plain links to their author pages (``display.author_line``'s cut: the first
    ``limit``, then "and N more"; None shows all). Plain links, no forms: cards stay cheap."""
    shown = names if limit is None or len(names) <= limit else names[:limit]
    line = Markup(", ".join(map(_author_link, shown)))  # noqa: S704 (each part escaped)
    if len(shown) < len(names):
        line += f" and {len(names) - len(shown)} more"
    return line


@functools.lru_cache(maxsize=65_536)
def _author_link(name: str) -> str:
    """One name's escaped link (its text alone when it has no letters), remembered: a paper
    page links thousands of names, and ``Markup.format`` cost ~9 µs a name."""
    slug = author_slug(name)
    if not slug:
        return str(escape(name))
    return str(Markup('<a href="/authors/{}">{}</a>').format(slug, name))


def configure_templates(templates: Jinja2Templates, settings: Settings) -> None:
    env = templates.env
    env.globals["site_name"] = settings.site_name
    env.globals["base_url"] = settings.base_url
    env.filters["shorten"] = shorten
    env.filters["author_links"] = author_links
    env.filters["long_date"] = long_date
    env.filters["abs_url"] = arxiv_ids.abs_url
    env.filters["pdf_url"] = arxiv_ids.pdf_url
    env.globals["csrf_field"] = csrf_field
