"""A polite HTTP client for remote sources: courtesy delay, retries, Retry-After.

arXiv asks API clients to wait 3 seconds between requests and answers overload with 429/503
and a ``Retry-After`` header; connections also drop. ``PoliteClient.get`` waits, retries with
backoff, honours ``Retry-After`` (seconds or an HTTP date, capped), and raises
``SourceUnavailableError`` with the last problem when it gives up. Sleeping and the clock are
injectable so tests run without waiting.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER_SECONDS = 600.0


class SourceUnavailableError(RuntimeError):
    """The remote source did not answer usefully after every retry."""


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER_SECONDS)


class PoliteClient:
    def __init__(
        self,
        *,
        delay_seconds: float,
        max_retries: int,
        timeout_seconds: float,
        user_agent: str,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.delay_seconds = delay_seconds
        self.max_retries = max_retries
        self.sleep = sleep
        self.monotonic = monotonic
        self._last_request: float | None = None
        self._client = httpx.Client(
            timeout=timeout_seconds,
            headers={"User-Agent": user_agent},
            follow_redirects=True,
            transport=transport,
        )

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _courtesy_wait(self) -> None:
        if self._last_request is not None:
            remaining = self.delay_seconds - (self.monotonic() - self._last_request)
            if remaining > 0:
                self.sleep(remaining)
        self._last_request = self.monotonic()

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """GET with the courtesy delay and retries; returns a 2xx/4xx response (not 429/5xx)."""
        problem = "no attempt made"
        for attempt in range(self.max_retries + 1):
            self._courtesy_wait()
            try:
                response = self._client.get(url, params=params)
            except httpx.TransportError as exc:  # refused, dropped mid-response, timed out
                problem = f"{type(exc).__name__}: {exc}"
                wait = min(2.0**attempt, 60.0)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"HTTP {response.status_code}"
                wait = retry_after_seconds(
                    response.headers.get("Retry-After"), dt.datetime.now(dt.UTC)
                ) or min(2.0**attempt, 60.0)
            if attempt < self.max_retries:
                self.sleep(wait)
        raise SourceUnavailableError(
            f"{url}: gave up after {self.max_retries + 1} attempts ({problem})"
        )
