"""Digest pages: subscribe, confirm, manage, sample and unsubscribe; the public digest of every
period and the digests' Atom feeds.

No account is needed to subscribe: the secret token in each mailed link is what proves the reader
owns the address. Changing anything takes a POST (a mail scanner that fetches links changes
nothing); ``POST /unsubscribe/{token}`` is the RFC 8058 one-click target and needs no cookie.

A public digest is the trending digest (no topic) of its period with the default size: the
mail a new subscriber would have received, at today's upvote counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from feedgen.feed import FeedGenerator
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dailypapers.config import Settings
from dailypapers.digests import subscriptions
from dailypapers.digests.compose import KIND_ALERTS, KIND_FOR_ME, PeriodComposer
from dailypapers.digests.subscriptions import SubscriptionFormError
from dailypapers.models import DailyEntry, Subscription, User
from dailypapers.periods import (
    CADENCES,
    DigestCadence,
    PeriodError,
    digest_period_key,
    parse_digest_period,
    week_window_of,
)
from dailypapers.rate_limits import RateLimitedError
from dailypapers.signing import Signer, TokenError
from dailypapers.web.cards import viewer_context
from dailypapers.web.deps import SessionDep, SettingsDep, TemplatesDep, writes
from dailypapers.web.feeds import ATOM_TYPE, xml_text
from dailypapers.web.limits import client_ip, limit_or_429
from dailypapers.web.openapi import ATOM, form, page
from dailypapers.web.security import CsrfChecked, session_user

router = APIRouter(tags=["digests"])
FEED_PERIODS = 20


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _form_values(
    email: str, cadence: str, topic: str, paper_count: str, kind: str = "list"
) -> dict[str, str]:
    return {
        "email": email,
        "cadence": cadence,
        "topic": topic,
        "paper_count": paper_count,
        "kind": kind,
    }


def _subscribe_form(
    request: Request,
    templates: TemplatesDep,
    settings: SettingsDep,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
    viewer: User | None = None,
) -> HTMLResponse:
    context = {
        "values": values,
        "errors": errors,
        "viewer": viewer,
        "cadences": CADENCES,
        "default_papers": settings.digest_default_papers,
        "max_papers": subscriptions.MAX_PAPERS,
    }
    return templates.TemplateResponse(request, "subscribe.html", context, status_code=status_code)


def _rate_limited(
    request: Request, templates: TemplatesDep, exc: RateLimitedError, context: dict[str, Any]
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        "subscribe_limited.html",
        {"message": str(exc), "retry_after": exc.retry_after, **context},
        status_code=429,
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.get("/subscribe", response_class=HTMLResponse, summary="Subscribe to the digest")
def subscribe_page(
    request: Request,
    session: SessionDep,
    templates: TemplatesDep,
    settings: SettingsDep,
    email: str = "",
    cadence: str = "daily",
    topic: str = "",
    kind: str = "list",
) -> HTMLResponse:
    viewer = session_user(request, session)
    if viewer is not None and not email:
        email = viewer.email or ""
    values = _form_values(email[:320], cadence[:10], topic[:300], "", kind[:10])
    return _subscribe_form(request, templates, settings, values, {}, viewer=viewer)


@router.post(
    "/subscribe",
    response_class=HTMLResponse,
    dependencies=[CsrfChecked],
    responses=page(400, 403, 429),
    summary="Ask for a confirmation mail",
)
@writes
def subscribe_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    email: Annotated[str, Form(max_length=2000)] = "",
    cadence: Annotated[str, Form(max_length=50)] = "daily",
    topic: Annotated[str, Form(max_length=5000)] = "",
    paper_count: Annotated[str, Form(max_length=20)] = "",
    kind: Annotated[str, Form(max_length=50)] = "list",
) -> Response:
    viewer = session_user(request, session)
    values = _form_values(email, cadence, topic, paper_count, kind)
    try:
        choice = subscriptions.validate_choice(
            settings,
            email=email,
            cadence=cadence,
            topic=topic,
            paper_count=paper_count,
            kind=kind,
            user=viewer,
        )
    except SubscriptionFormError as exc:
        return _subscribe_form(request, templates, settings, values, exc.errors, 400, viewer)
    try:
        subscription = subscriptions.subscribe(
            session, settings, choice, client_ip=client_ip(request), now=_now()
        )
    except RateLimitedError as exc:
        return _rate_limited(request, templates, exc, {})
    if choice.kind == KIND_FOR_ME:  # the owner's own digest, confirmed by the account
        return RedirectResponse(
            f"/subscriptions/{subscription.unsubscribe_token}?confirmed=1", status_code=303
        )
    # The same answer whether the address was new, pending or already subscribed.
    return templates.TemplateResponse(request, "subscribe_sent.html", {"choice": choice})


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.signer
    return signer


@router.get("/subscribe/confirm/{token}", response_class=HTMLResponse, summary="Confirm page")
def confirm_page(request: Request, token: str, templates: TemplatesDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "subscribe_confirm.html", {"token": token})


@router.post("/subscribe/confirm/{token}", **form(400), summary="Confirm a subscription")
@writes
def confirm_submit(
    request: Request, token: str, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        subscription = subscriptions.confirm(session, settings, _signer(request), token, _now())
    except TokenError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(
        f"/subscriptions/{subscription.unsubscribe_token}?confirmed=1", status_code=303
    )


def _subscription(session: SessionDep, token: str) -> Subscription:
    subscription = subscriptions.by_token(session, token)
    if subscription is None:
        raise HTTPException(404, "No subscription has this link (it may have been cut).")
    return subscription


def _manage_page(
    request: Request,
    templates: TemplatesDep,
    subscription: Subscription,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "subscription": subscription,
        "values": values
        or _form_values(
            subscription.email,
            subscription.cadence,
            subscription.topic_query,
            str(subscription.paper_count),
        ),
        "errors": errors or {},
        "notice": notice,
        "cadences": CADENCES,
        "max_papers": subscriptions.MAX_PAPERS,
    }
    return templates.TemplateResponse(
        request, "subscription_manage.html", context, status_code=status_code
    )


NOTICES = {
    "confirmed": "Your subscription is confirmed: the next digest is on its way when it is due.",
    "updated": "Saved.",
    "sample": "A sample is on its way to your inbox.",
}


@router.get(
    "/subscriptions/{token}",
    response_class=HTMLResponse,
    responses=page(404),
    summary="Manage a digest",
)
def manage_page(
    request: Request,
    token: str,
    session: SessionDep,
    templates: TemplatesDep,
    confirmed: str = "",
    updated: str = "",
    sample: str = "",
) -> HTMLResponse:
    subscription = _subscription(session, token)
    flags = {"confirmed": confirmed, "updated": updated, "sample": sample}
    notice = next((NOTICES[name] for name, value in flags.items() if value), None)
    return _manage_page(request, templates, subscription, notice=notice)


@router.post(
    "/subscriptions/{token}",
    dependencies=[CsrfChecked],
    **form(400, 403, 404, 429),
    summary="Change cadence, topic or size",
)
@writes
def manage_submit(
    request: Request,
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    cadence: Annotated[str, Form(max_length=50)] = "daily",
    topic: Annotated[str, Form(max_length=5000)] = "",
    paper_count: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    subscription = _subscription(session, token)
    limit_or_429(request, session, settings, None, "write")  # per address: no account here
    values = _form_values(subscription.email, cadence, topic, paper_count)
    try:
        choice = subscriptions.validate_choice(
            settings,
            email=subscription.email,
            cadence=cadence,
            topic=topic,
            paper_count=paper_count,
        )
        subscriptions.update(session, subscription, choice)
    except SubscriptionFormError as exc:
        return _manage_page(
            request, templates, subscription, values=values, errors=exc.errors, status_code=400
        )
    return RedirectResponse(f"/subscriptions/{token}?updated=1", status_code=303)


@router.post(
    "/subscriptions/{token}/sample",
    dependencies=[CsrfChecked],
    **form(403, 404, 409, 429),
    summary="Send me a sample now",
)
@writes
def sample_submit(
    request: Request,
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
) -> Response:
    subscription = _subscription(session, token)
    if not subscription.active:
        raise HTTPException(409, "This subscription is not active; subscribe again first.")
    if subscription.kind == KIND_ALERTS:
        raise HTTPException(409, "This mail only carries your alerts: there is no sample.")
    try:
        subscriptions.request_sample(session, settings, subscription, _now())
    except RateLimitedError as exc:
        return _rate_limited(request, templates, exc, {"subscription": subscription})
    return RedirectResponse(f"/subscriptions/{token}?sample=1", status_code=303)


@router.get(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    responses=page(404),
    summary="Unsubscribe page",
)
def unsubscribe_page(
    request: Request, token: str, session: SessionDep, templates: TemplatesDep
) -> HTMLResponse:
    subscription = _subscription(session, token)
    return templates.TemplateResponse(
        request, "unsubscribe.html", {"subscription": subscription, "done": False}
    )


@router.post(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    responses=page(404),
    summary="Unsubscribe (RFC 8058)",
)
@writes
def unsubscribe_submit(
    request: Request, token: str, session: SessionDep, templates: TemplatesDep
) -> HTMLResponse:
    subscription = _subscription(session, token)
    subscriptions.unsubscribe(subscription, _now())
    return templates.TemplateResponse(
        request, "unsubscribe.html", {"subscription": subscription, "done": True}
    )


# Public digest pages and their feeds ---------------------------------------------------------


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


@router.get("/digests", response_class=HTMLResponse, summary="Past digests")
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
    "/digests/daily.atom",
    response_class=Response,
    responses=ATOM,
    summary="Atom feed of the daily digests",
)
def daily_feed(session: SessionDep, settings: SettingsDep) -> Response:
    return Response(_atom(session, settings, "daily"), media_type=ATOM_TYPE)


@router.get(
    "/digests/weekly.atom",
    response_class=Response,
    responses=ATOM,
    summary="Atom feed of the weekly digests",
)
def weekly_feed(session: SessionDep, settings: SettingsDep) -> Response:
    return Response(_atom(session, settings, "weekly"), media_type=ATOM_TYPE)


@router.get(
    "/digests/{cadence}/{key}",
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
        **viewer_context(session, session_user(request, session), [e.paper_id for e in entries]),
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
