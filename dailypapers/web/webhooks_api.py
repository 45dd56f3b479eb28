"""Your webhooks as JSON under ``/api/me/webhooks``: list, add (the answer holds the secret,
the only time the API shows it), delete, re-enable, send a test, read the delivery log.

Auth as every ``/api/me/`` route: a Bearer token, or the session cookie with ``X-CSRF-Token``
on writes. Adding and testing count against the webhook rate limit, the rest against writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from dailypapers.db import write_transaction
from dailypapers.models import User, Webhook, WebhookDelivery
from dailypapers.schemas import WebhookCreatedOut, WebhookDeliveryOut, WebhookIn, WebhookOut
from dailypapers.web.deps import ReadSessionDep, SessionDep, SettingsDep
from dailypapers.web.inputs import row_id_or_404
from dailypapers.web.limits import limit_or_429
from dailypapers.web.openapi import api
from dailypapers.web.security import ActiveUser, ApiCsrfChecked, CurrentUser, touch_token
from dailypapers.web.webhooks import add_checked, refused
from dailypapers.webhooks import service
from dailypapers.webhooks.service import WebhookError

router = APIRouter(prefix="/api/me/webhooks", tags=["webhooks"])
MAX_LOG = 50  # what the log keeps per hook


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def webhook_out(hook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=hook.id,
        url=hook.url,
        active=hook.active,
        consecutiveFailures=hook.consecutive_failures,
        disabledAt=hook.disabled_at,
        disabledReason=hook.disabled_reason,
        createdAt=hook.created_at,
    )


def _delivery_out(row: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=row.id,
        delivery=row.delivery_id,
        event=row.event,
        statusCode=row.status_code,
        error=row.error,
        attempt=row.attempt,
        papers=row.paper_count,
        bytes=row.body_bytes,
        durationMs=row.duration_ms,
        createdAt=row.created_at,
    )


def _own(session: Session, user: User, webhook_id: int) -> Webhook:
    row_id_or_404(webhook_id, "webhook")
    try:
        return service.own_webhook(session, user, webhook_id)
    except WebhookError as exc:
        raise refused(exc) from None


@router.get(
    "",
    response_model=list[WebhookOut],
    responses=api(401),
    summary="Your webhooks (without their secrets)",
)
def list_webhooks(session: ReadSessionDep, user: CurrentUser) -> list[WebhookOut]:
    return [webhook_out(hook) for hook in service.webhooks_of(session, user)]


@router.post(
    "",
    dependencies=[ApiCsrfChecked],
    status_code=201,
    response_model=WebhookCreatedOut,
    responses=api(400, 401, 403, 429),
    summary="Add a webhook; the answer holds its signing secret (shown only here)",
)
def create_webhook(
    request: Request, body: WebhookIn, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> WebhookCreatedOut:
    """The URL must be http(s) and resolve to public addresses only (docs/webhooks.md)."""
    with write_transaction(session):
        touch_token(request, session)
    try:
        hook = add_checked(request, session, settings, user, body.url)
    except WebhookError as exc:
        raise refused(exc) from None
    return WebhookCreatedOut(**webhook_out(hook).model_dump(), secret=hook.secret)


@router.delete(
    "/{webhook_id}",
    dependencies=[ApiCsrfChecked],
    status_code=204,
    response_class=Response,
    responses=api(401, 403, 404, 429),
    summary="Delete a webhook and its delivery log",
)
def delete_webhook(
    request: Request, webhook_id: int, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> Response:
    with write_transaction(session):
        _own(session, user, webhook_id)
        touch_token(request, session)
        limit_or_429(request, session, settings, user, "write")
        service.delete_webhook(session, user, webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/enable",
    dependencies=[ApiCsrfChecked],
    response_model=WebhookOut,
    responses=api(401, 403, 404, 429),
    summary="Turn a disabled webhook back on (missed alerts are not resent)",
)
def enable_webhook(
    request: Request, webhook_id: int, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> WebhookOut:
    with write_transaction(session):
        _own(session, user, webhook_id)
        touch_token(request, session)
        limit_or_429(request, session, settings, user, "write")
        return webhook_out(service.enable_webhook(session, user, webhook_id))


@router.post(
    "/{webhook_id}/test",
    dependencies=[ApiCsrfChecked],
    status_code=202,
    response_model=WebhookOut,
    responses=api(400, 401, 403, 404, 429),
    summary="Queue a test delivery (its outcome shows in the delivery log)",
)
def test_webhook(
    request: Request, webhook_id: int, session: SessionDep, settings: SettingsDep, user: ActiveUser
) -> WebhookOut:
    with write_transaction(session):
        _own(session, user, webhook_id)
        touch_token(request, session)
        limit_or_429(request, session, settings, user, "webhook")
        try:
            return webhook_out(service.send_test(session, user, webhook_id, _now()))
        except WebhookError as exc:
            raise refused(exc) from None


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[WebhookDeliveryOut],
    responses=api(400, 401, 404),
    summary="A webhook's delivery log, newest first",
)
def deliveries(
    webhook_id: int,
    session: ReadSessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG)] = 20,
) -> list[WebhookDeliveryOut]:
    hook = _own(session, user, webhook_id)
    return [_delivery_out(row) for row in service.deliveries_of(session, hook, limit)]
