"""The ``X-Dailypapers-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` of
``f"{t}.{body}"`` under the hook's secret (Stripe's scheme). Receivers verify it over the
exact bytes they received and refuse a ``t`` outside their replay window (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Dailypapers-Signature"
EVENT_HEADER = "X-Dailypapers-Event"
DELIVERY_HEADER = "X-Dailypapers-Delivery"
REPLAY_WINDOW_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = REPLAY_WINDOW_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its time is within
    ``tolerance`` seconds of ``now`` (what a receiver written in Python does)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, sent) for sent in fields.get("v1", []))
