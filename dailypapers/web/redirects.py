"""Where a form sends the browser next: only ever a path on this site.

``next=`` parameters and the Referer are chosen by whoever made the link, so both go through
:func:`local_path`; ``//evil.example/x`` and ``/\\evil.example`` are paths to a browser's
address bar but another site to its redirect handling.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request


def local_path(target: str | None, fallback: str = "/") -> str:
    """``target`` if it is a path on this site, else ``fallback``."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target or any(ord(char) < 0x20 for char in target):
        return fallback
    parts = urlsplit(target)
    return fallback if parts.scheme or parts.netloc else target


def back(request: Request, fallback: str) -> str:
    """Back to the page the form was on, when the Referer is this site's; else ``fallback``."""
    referer = request.headers.get("referer", "")
    base = str(request.base_url)
    if not referer.startswith(base):
        return fallback
    return local_path("/" + referer[len(base) :], fallback)
