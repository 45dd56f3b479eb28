"""Public digest pages: every period's digest has a permanent page and the digests an Atom feed.

A public digest is the trending digest (no topic) of its period with the default size: the
mail a new subscriber would have received, at today's upvote counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from feedgen.feed import FeedGenerator
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dailypapers.config import Settings
from dailypapers.digests.compose import PeriodComposer
from dailypapers.models import DailyEntry
from dailypapers.periods import (
    DigestCadence,
    PeriodError,
    digest_period_key,
    parse_digest_period,
    week_window_of,
)
from dailypapers.web.deps import SessionDep, SettingsDep, TemplatesDep
from dailypapers.web.feeds import ATOM_TYPE, xml_text
from dailypapers.web.openapi import ATOM, page

router = APIRouter(prefix="/digests", tags=["digests"])
FEED_PERIODS = 20


def _entries(session: Session, composer: PeriodComposer, size: int) -> list[DailyEntry]:
    """The period's top entries in digest order, with what the cards show, in one query."""
    ids = composer.trending_ids()[:size]
    entries = session.scalars(
        select(DailyEntry)
        .options(
            joinedload(DailyEntry.paper),
            joinedload(DailyEntry.submitter),
            joinedload(DailyEntry.organization),
        )
        .where(DailyEntry.paper_id.in_(ids))
    ).all()
    order = {paper_id: rank for rank, paper_id in enumerate(ids)}
    return sorted(entries, key=lambda entry: order[entry.paper_id])


def _closed_periods(session: Session, settings: Settings, cadence: DigestCadence) -> list[str]:
    """The newest periods that are over (their digest has gone out) and had papers."""
    today = settings.current_date()
    days = session.scalars(
        select(DailyEntry.feed_date)
        .where(DailyEntry.feed_date < today)
        .group_by(DailyEntry.feed_date)
        .order_by(DailyEntry.feed_date.desc())
        .limit(FEED_PERIODS * 7)
    ).all()
    if cadence == "daily":
        return [f"daily:{day.isoformat()}" for day in days[:FEED_PERIODS]]
    keys: list[str] = []
    for day in days:
        week = week_window_of(day)
        key = digest_period_key("weekly", week)
        if week.end < today and key not in keys:
            keys.append(key)
    return keys[:FEED_PERIODS]


@router.get("", response_class=HTMLResponse, summary="Past digests")
def digest_index(
    request: Request, session: SessionDep, settings: SettingsDep, templates: TemplatesDep
) -> HTMLResponse:
    periods = {
        cadence: [
            (key, parse_digest_period(key)[1])
            for key in _closed_periods(session, settings, cadence)
        ]
        for cadence in ("daily", "weekly")
    }
    return templates.TemplateResponse(request, "digests_index.html", {"periods": periods})


def _atom(session: Session, settings: Settings, cadence: DigestCadence) -> bytes:
    base = settings.base_url
    generator = FeedGenerator()
    generator.id(f"{base}/digests/{cadence}.atom")
    generator.title(f"{settings.site_name}: {cadence} digest")
    generator.link(href=f"{base}/digests", rel="alternate", type="text/html")
    generator.link(href=f"{base}/digests/{cadence}.atom", rel="self", type=ATOM_TYPE)
    generator.language("en")
    keys = _closed_periods(session, settings, cadence)
    if not keys:
        generator.updated(dt.datetime.combine(settings.current_date(), dt.time(), tzinfo=dt.UTC))
    for key in reversed(keys):  # feedgen prepends: add oldest first
        composer = PeriodComposer(session, settings, key)
        entries = _entries(session, composer, settings.digest_default_papers)
        url = f"{base}/digests/{key.replace(':', '/')}"
        closed = dt.datetime.combine(
            composer.window.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
        )
        item = generator.add_entry()
        item.id(url)
        item.link(href=url)
        item.title(xml_text(f"{settings.site_name} · {composer.label}"))
        item.content(xml_text(_digest_html(base, entries)), type="html")
        item.published(closed)
        item.updated(closed)
    body: bytes = generator.atom_str(pretty=True)
    return body


def _digest_html(base: str, entries: Sequence[DailyEntry]) -> str:
    items = "".join(
        f'<li><a href="{base}/papers/{escape(entry.paper.arxiv_id)}">'
        f"{escape(entry.paper.title)}</a> · ▲ {entry.paper.upvotes}</li>"
        for entry in entries
    )
    return f"<ol>{items}</ol>"


@router.get(
    "/daily.atom",
    response_class=Response,
    responses=ATOM,
    summary="Atom feed of the daily digests",
)
def daily_feed(session: SessionDep, settings: SettingsDep) -> Response:
    return Response(_atom(session, settings, "daily"), media_type=ATOM_TYPE)


@router.get(
    "/weekly.atom",
    response_class=Response,
    responses=ATOM,
    summary="Atom feed of the weekly digests",
)
def weekly_feed(session: SessionDep, settings: SettingsDep) -> Response:
    return Response(_atom(session, settings, "weekly"), media_type=ATOM_TYPE)


@router.get(
    "/{cadence}/{key}",
    response_class=HTMLResponse,
    responses=page(400, 404),
    summary="One period's digest",
)
def digest_page(
    request: Request,
    cadence: str,
    key: str,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
) -> HTMLResponse:
    try:
        composer = PeriodComposer(session, settings, f"{cadence}:{key}")
    except PeriodError as exc:
        raise HTTPException(404 if cadence not in ("daily", "weekly") else 400, str(exc)) from None
    if composer.window.start > settings.current_date():
        raise HTTPException(404, f"The digest of {composer.label} does not exist yet.")
    entries = _entries(session, composer, settings.digest_default_papers)
    note = None if entries else composer.empty_note("", had_papers=False)
    context = {
        "composer": composer,
        "cadence": composer.cadence,
        "entries": entries,
        "note": note,
        "feed_url": f"/digests/{composer.cadence}.atom",
        "feed_page_url": (
            f"/papers/date/{composer.window.key}"
            if composer.cadence == "daily"
            else f"/papers/week/{composer.window.key}"
        ),
    }
    return templates.TemplateResponse(request, "digest.html", context)
