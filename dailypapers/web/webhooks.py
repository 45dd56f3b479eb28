"""``/account/webhooks``: add, list, delete, re-enable and test your webhooks, and read their
delivery log. Every form works without JavaScript (303 back to the page); the JSON routes are
``web/webhooks_api.py``, the rules and the delivery ``dailypapers/webhooks/``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.db import write_transaction
from dailypapers.models import User, Webhook
from dailypapers.web.deps import ReadSessionDep, SessionDep, SettingsDep, TemplatesDep, writes
from dailypapers.web.inputs import row_id_or_404
from dailypapers.web.limits import limit_or_429
from dailypapers.web.openapi import REDIRECT, form, page
from dailypapers.web.security import ActiveUser, CsrfChecked, OptionalUser, signed_in
from dailypapers.webhooks import service
from dailypapers.webhooks.service import WebhookError

router = APIRouter(tags=["webhooks"])
PAGE = "/account/webhooks"
LOG_SIZE = 20
# Longer than a hook may be (2000), so the service says why; far longer is the 400 of validation.
FormUrl = Annotated[str, Form(max_length=4_000)]
NOTICES = {
    "added": "Webhook added. Its secret is below: verify each delivery's signature with it.",
    "delete": "Webhook deleted.",
    "enable": "Webhook turned back on.",
    "test": "Test delivery queued: it shows in the log below once the worker has sent it.",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def refused(exc: WebhookError) -> HTTPException:
    return HTTPException(404 if exc.not_found else 400, str(exc))


def _render(
    request: Request,
    session: Session,
    templates: Jinja2Templates,
    user: User,
    *,
    notice: str | None = None,
    error: str | None = None,
    url: str = "",
) -> HTMLResponse:
    hooks = service.webhooks_of(session, user)
    context = {
        "user": user,
        "hooks": [(hook, service.deliveries_of(session, hook, LOG_SIZE)) for hook in hooks],
        "notice": notice,
        "error": error,
        "url": url,
    }
    return templates.TemplateResponse(
        request, "webhooks.html", context, status_code=400 if error else 200
    )


@router.get(
    PAGE,
    response_class=HTMLResponse,
    responses={**REDIRECT, **page(400)},
    summary="Your webhooks: add, test, re-enable, delete; their delivery log",
)
def webhooks_page(
    request: Request,
    session: ReadSessionDep,
    templates: TemplatesDep,
    viewer: OptionalUser,
    notice: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    user = signed_in(viewer)
    return _render(request, session, templates, user, notice=NOTICES.get(notice))


def add_checked(
    request: Request, session: Session, settings: Settings, user: User, url: str
) -> Webhook:
    """Count the attempt (a refused URL too: DNS probing costs the same), check the target
    outside any transaction (it waits on DNS), then store it. Raises ``WebhookError``."""
    with write_transaction(session):
        limit_or_429(request, session, settings, user, "webhook")
    checked = service.check_target(settings, url.strip())
    with write_transaction(session):
        return service.create_webhook(session, settings, user, checked, _now())


@router.post(
    PAGE,
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 429),
    summary="Add a webhook (its URL is checked: public addresses only)",
)
def add_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    user: ActiveUser,
    url: FormUrl = "",
) -> Response:
    try:
        add_checked(request, session, settings, user, url)
    except WebhookError as exc:
        return _render(request, session, templates, user, error=str(exc), url=url)
    return RedirectResponse(f"{PAGE}?notice=added", status_code=303)


def _act(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    webhook_id: int,
    action: str,
) -> Response:
    """Delete, enable or test one of the user's hooks (a test counts as the webhook limit,
    the others as writes), then back to the page at that hook."""
    row_id_or_404(webhook_id, "webhook")
    limit_or_429(request, session, settings, user, "webhook" if action == "test" else "write")
    try:
        if action == "delete":
            service.delete_webhook(session, user, webhook_id)
        elif action == "enable":
            service.enable_webhook(session, user, webhook_id)
        else:
            service.send_test(session, user, webhook_id, _now())
    except WebhookError as exc:
        raise refused(exc) from None
    anchor = "" if action == "delete" else f"#hook-{webhook_id}"
    return RedirectResponse(f"{PAGE}?notice={action}{anchor}", status_code=303)


@router.post(
    PAGE + "/{webhook_id}/delete",
    dependencies=[CsrfChecked],
    **form(401, 403, 404, 429),
    summary="Delete a webhook and its delivery log",
)
@writes
def delete_form(
    request: Request,
    webhook_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> Response:
    return _act(request, session, settings, user, webhook_id, "delete")


@router.post(
    PAGE + "/{webhook_id}/enable",
    dependencies=[CsrfChecked],
    **form(401, 403, 404, 429),
    summary="Turn a disabled webhook back on (missed alerts are not resent)",
)
@writes
def enable_form(
    request: Request,
    webhook_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> Response:
    return _act(request, session, settings, user, webhook_id, "enable")


@router.post(
    PAGE + "/{webhook_id}/test",
    dependencies=[CsrfChecked],
    **form(400, 401, 403, 404, 429),
    summary="Queue a test delivery to a webhook",
)
@writes
def test_form(
    request: Request,
    webhook_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
) -> Response:
    return _act(request, session, settings, user, webhook_id, "test")
