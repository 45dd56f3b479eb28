"""The worker's side of webhooks: build the body, sign it, POST it to the checked address,
log the attempt, and count failures.

One job is one delivery (a stable ``delivery_id``, sent as ``X-Dailypapers-Delivery`` so a
receiver can drop repeats). A failed alert attempt raises, and the job queue retries it with
its backoff until ``JOB_MAX_ATTEMPTS``; when the last attempt fails too, the hook's
``consecutive_failures`` grows, and at ``WEBHOOK_DISABLE_AFTER_FAILURES`` the hook is disabled
and its owner mailed. Any success resets the count. A test delivery is tried once and never
counts against the hook. The secret is read from the row at send time and goes nowhere else:
not into the job payload, the log table, an exception or a log line.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dailypapers import jobs
from dailypapers.config import Settings
from dailypapers.db import session_scope
from dailypapers.jobs import ACCOUNT_MAIL_JOB, WEBHOOK_JOB, WEBHOOK_TEST_JOB, JobContext
from dailypapers.models import Paper, User, Webhook, WebhookDelivery
from dailypapers.webhooks.signature import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    sign,
)
from dailypapers.webhooks.targets import Resolver, Target, TargetError, resolve, system_resolver

DELIVERY_LOG_KEEP = 50  # log rows kept per hook (the page shows the last 20)
MAX_RESPONSE_BYTES = 1024  # of a receiver's answer: read no further
MAX_ERROR_CHARS = 500


class WebhookDeliveryError(RuntimeError):
    """An attempt failed; the job queue retries it (the message is what the log shows)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and not self.error


def render_body(session: Session, settings: Settings, payload: dict[str, Any]) -> bytes:
    """The JSON body: event, delivery id, timestamp and the papers (hidden ones left out)."""
    reasons = {int(item["paper_id"]): list(item["reasons"]) for item in payload.get("items", [])}
    rows = session.execute(
        select(Paper.id, Paper.arxiv_id, Paper.title, Paper.author_names).where(
            Paper.id.in_(list(reasons)), Paper.hidden_at.is_(None)
        )
    ).all()
    by_id = {row.id: row for row in rows}
    papers = [
        {
            "id": by_id[paper_id].arxiv_id,
            "title": by_id[paper_id].title,
            "url": f"{settings.base_url}/papers/{by_id[paper_id].arxiv_id}",
            "authors": list(by_id[paper_id].author_names or []),
            "reasons": why,
        }
        for paper_id, why in reasons.items()
        if paper_id in by_id
    ]
    document = {
        "event": payload["event"],
        "delivery": payload["delivery_id"],
        "timestamp": payload["created_at"],
        "papers": papers,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _clean(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """POST to the checked address (the Host header and TLS name stay the URL's), follow no
    redirect, read at most ``MAX_RESPONSE_BYTES`` of the answer."""
    started = time.monotonic()
    extensions: dict[str, Any] = {}
    if target.scheme == "https" and target.host != target.address:
        extensions["sni_hostname"] = target.host
    status: int | None = None
    error: str | None = None
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST",
                target.connect_url,
                content=body,
                headers={**headers, "Host": target.host_header},
                extensions=extensions,
            )
            response = client.send(request, stream=True)
            try:
                status = response.status_code
                answer = b""
                for chunk in response.iter_raw():
                    answer += chunk
                    if len(answer) >= MAX_RESPONSE_BYTES:
                        break
            finally:
                response.close()
        if 300 <= status < 400:
            location = _clean(response.headers.get("location", ""))[:200]
            error = f"HTTP {status}: redirects are not followed (to {location or '?'})."
        elif not 200 <= status < 300:
            snippet = _clean(answer[:200].decode("utf-8", "replace"))
            error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    except httpx.TimeoutException:
        error = f"No answer within {timeout:g} s."
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {_clean(str(exc))}"
    duration = int((time.monotonic() - started) * 1000)
    return Outcome(status, error[:MAX_ERROR_CHARS] if error else None, duration)


def _prune(session: Session, webhook_id: int) -> None:
    cutoff = session.scalar(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .offset(DELIVERY_LOG_KEEP)
        .limit(1)
    )
    if cutoff is not None:
        session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.id <= cutoff
            )
        )


def _disable(session: Session, settings: Settings, hook: Webhook, now: dt.datetime) -> None:
    """Turn the hook off and tell its owner (the account page says it too)."""
    hook.active = False
    hook.disabled_at = now
    hook.disabled_reason = f"{hook.consecutive_failures} deliveries in a row failed every attempt."
    user = session.get(User, hook.user_id)
    if user is not None and user.email:
        jobs.enqueue(
            session,
            ACCOUNT_MAIL_JOB,
            {
                "template": "webhook_disabled",
                "user_id": user.id,
                "to": user.email,
                "url": f"{settings.base_url}/account/webhooks",
            },
            dedupe_key=f"webhook-disabled:{hook.id}",
            now=now,
        )


def deliver(
    context: JobContext, payload: dict[str, Any], *, resolver: Resolver = system_resolver
) -> None:
    """Worker handler of ``deliver_webhook`` and ``test_webhook`` (idempotent per attempt:
    a rerun after a crash sends the same delivery id again)."""
    settings = context.settings
    event = str(payload["event"])
    with session_scope(context.factory) as session:
        hook = session.get(Webhook, int(payload["webhook_id"]))
        if hook is None or not hook.active:
            return  # deleted or disabled since: nothing to send
        url, secret = hook.url, hook.secret
        body = render_body(session, settings, payload)
    paper_count = len(json.loads(body)["papers"])
    if event == "alert" and paper_count == 0:
        return  # every paper was hidden since: an empty alert says nothing
    try:
        target = resolve(url, allow_private=settings.webhook_allow_private, resolver=resolver)
    except TargetError as exc:  # the name resolves elsewhere now (or no longer resolves)
        outcome = Outcome(None, f"Refused: {exc}"[:MAX_ERROR_CHARS], 0)
    else:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": settings.http_user_agent,
            EVENT_HEADER: event,
            DELIVERY_HEADER: str(payload["delivery_id"]),
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
        }
        outcome = post(target, body, headers, settings.webhook_timeout_seconds)
    final = event == "test" or context.last_attempt
    with session_scope(context.factory, write=True) as session:
        hook = session.get(Webhook, int(payload["webhook_id"]))
        if hook is None:
            return
        session.add(
            WebhookDelivery(
                webhook_id=hook.id,
                delivery_id=str(payload["delivery_id"]),
                event=event,
                paper_count=paper_count,
                body_bytes=len(body),
                status_code=outcome.status_code,
                error=outcome.error,
                attempt=context.attempt,
                duration_ms=outcome.duration_ms,
                created_at=context.now,
            )
        )
        if outcome.ok:
            hook.consecutive_failures = 0
        elif event == "alert" and final and hook.active:
            hook.consecutive_failures += 1
            if hook.consecutive_failures >= settings.webhook_disable_after_failures:
                _disable(session, settings, hook, context.now)
        session.flush()
        _prune(session, hook.id)
    if not outcome.ok and not final:
        raise WebhookDeliveryError(outcome.error or "failed")


HANDLERS: dict[str, jobs.Handler] = {WEBHOOK_JOB: deliver, WEBHOOK_TEST_JOB: deliver}
