"""Jinja2 filters and globals shared by every page."""

from __future__ import annotations

from fastapi.templating import Jinja2Templates

from dailypapers import arxiv_ids
from dailypapers.config import Settings
from dailypapers.display import author_line, long_date, shorten
from dailypapers.web.security import csrf_field


def configure_templates(templates: Jinja2Templates, settings: Settings) -> None:
    env = templates.env
    env.globals["site_name"] = settings.site_name
    env.globals["base_url"] = settings.base_url
    env.filters["shorten"] = shorten
    env.filters["author_line"] = author_line
    env.filters["long_date"] = long_date
    env.filters["abs_url"] = arxiv_ids.abs_url
    env.filters["pdf_url"] = arxiv_ids.pdf_url
    env.globals["csrf_field"] = csrf_field
