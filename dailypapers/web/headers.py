"""Security headers on every answer (pure ASGI: no body buffering).

Pages load only this site's own styles and scripts and cannot be framed (CSP
``frame-ancestors 'none'`` and ``X-Frame-Options``), so a vote, sign-out or moderation button
cannot be clicked through another site's frame. Account pages are not cached anywhere.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets style attributes from its scripts' markup.
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
DOCS_PATH = "/docs"
# Pages with a session's secrets or a person's data: never kept by a browser or proxy cache.
NO_STORE_PREFIXES = (
    "/account",
    "/signin",
    "/signup",
    "/moderation",
    "/subscriptions/",
    "/subscribe/confirm/",
    "/unsubscribe/",
    "/library",
    "/api/me/",
)
HSTS = "max-age=31536000"


def add_security_headers(headers: MutableHeaders, path: str, *, https: bool) -> None:
    """The headers of every answer to ``path`` (those a response set itself are kept)."""
    policy = DOCS_CONTENT_SECURITY_POLICY if path == DOCS_PATH else CONTENT_SECURITY_POLICY
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if https:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if path.startswith(NO_STORE_PREFIXES):
        headers["Cache-Control"] = "no-store"


class SecurityHeadersMiddleware:
    """Adds :func:`add_security_headers`. A 500 is sent from outside every middleware
    (Starlette's ServerErrorMiddleware), so the app's 500 handler adds them itself."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message), path, https=self.https)
            await send(message)

        await self.app(scope, receive, send_with_headers)
