"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it accepts and can refuse;
its fixtures (``smtp_server``, ``smtp``, ``mail_settings``) are in tests/conftest.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import secrets
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from sqlalchemy.orm import Session

from dailypapers.models import Subscription


@dataclass
class SmtpRecorder:
    """aiosmtpd handler: keeps every accepted message; ``rcpt_replies`` refuses addresses,
    ``data_replies`` answers the next DATA commands (e.g. ``["451 try later"]``)."""

    messages: list[EmailMessage] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    delay_seconds: float = 0.0  # per accepted message, to make a send take a while
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def add_subscription(
    session: Session,
    address: str,
    *,
    cadence: str = "daily",
    topic: str = "",
    paper_count: int = 5,
    confirmed: bool = True,
) -> Subscription:
    """Factory: a subscription row (confirmed unless told), flushed so it has an id."""
    subscription = Subscription(
        email=address,
        email_key=address.lower(),
        cadence=cadence,
        topic_query=topic,
        paper_count=paper_count,
        unsubscribe_token=secrets.token_urlsafe(32),
        hard_failures=0,
        confirmed_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC) if confirmed else None,
    )
    session.add(subscription)
    session.flush()
    return subscription
