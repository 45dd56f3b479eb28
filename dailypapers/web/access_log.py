"""The access log without the secrets that some links carry in their path.

Confirmation, reset and unsubscribe links are the secret themselves (whoever has one can reset
a password or change a subscription), so uvicorn's access log line keeps the route and drops
the token: ``GET /unsubscribe/[secret] HTTP/1.1`` 200.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "[secret]"
# Every route with a {token} path segment (web/accounts.py, web/digests.py).
_SECRET_SEGMENT = re.compile(
    r"^(/account/(?:email|reset|verify)/|/subscribe/confirm/|/subscriptions/|/unsubscribe/)"
    r"[^/?#]+"
)


def redact_path(path: str) -> str:
    """``/unsubscribe/abc?x=1`` → ``/unsubscribe/[secret]?x=1``; other paths unchanged."""
    return _SECRET_SEGMENT.sub(lambda match: match[1] + REDACTED, path)


class RedactSecretPaths(logging.Filter):
    """On uvicorn's access logger, whose records carry ``(client, method, path, version,
    status)`` as arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def install() -> None:
    """Add the filter once (uvicorn has configured its loggers by the time this runs)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactSecretPaths) for existing in logger.filters):
        logger.addFilter(RedactSecretPaths())
