"""Digest subscription pages: subscribe, confirm, manage, sample, unsubscribe.

No account is needed: the secret token in each mailed link is what proves the reader owns the
address. Changing anything takes a POST (a mail scanner that fetches links changes nothing);
``POST /unsubscribe/{token}`` is the RFC 8058 one-click target and needs no cookie.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dailypapers.digests import subscriptions
from dailypapers.digests.subscriptions import SubscriptionFormError
from dailypapers.models import Subscription
from dailypapers.periods import CADENCES
from dailypapers.rate_limits import RateLimitedError
from dailypapers.signing import Signer, TokenError
from dailypapers.web.deps import SessionDep, SettingsDep, TemplatesDep, writes
from dailypapers.web.limits import client_ip
from dailypapers.web.openapi import form, page
from dailypapers.web.security import CsrfChecked

router = APIRouter(tags=["digests"])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _form_values(email: str, cadence: str, topic: str, paper_count: str) -> dict[str, str]:
    return {"email": email, "cadence": cadence, "topic": topic, "paper_count": paper_count}


def _subscribe_form(
    request: Request,
    templates: TemplatesDep,
    settings: SettingsDep,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "values": values,
        "errors": errors,
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
    templates: TemplatesDep,
    settings: SettingsDep,
    email: str = "",
    cadence: str = "daily",
    topic: str = "",
) -> HTMLResponse:
    values = _form_values(email[:320], cadence[:10], topic[:300], "")
    return _subscribe_form(request, templates, settings, values, {})


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
) -> HTMLResponse:
    values = _form_values(email, cadence, topic, paper_count)
    try:
        choice = subscriptions.validate_choice(
            settings, email=email, cadence=cadence, topic=topic, paper_count=paper_count
        )
    except SubscriptionFormError as exc:
        return _subscribe_form(request, templates, settings, values, exc.errors, 400)
    try:
        subscriptions.subscribe(session, settings, choice, client_ip=client_ip(request), now=_now())
    except RateLimitedError as exc:
        return _rate_limited(request, templates, exc, {})
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
    **form(400, 403, 404),
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
