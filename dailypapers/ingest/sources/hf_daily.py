"""Hugging Face Daily Papers records: our JSON-lines crawl shape, or the API's JSON array.

The JSON-lines shape is one paper a line (``arxiv_id``, ``daily_date``, ``upvotes`` …, see
``dailypapers/data/README.md``). The API shape is what ``GET /api/daily_papers`` returns: a JSON
array of items ``{paper: {...}, publishedAt, submittedBy, organization, …}``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dailypapers.ingest.http import PoliteClient
from dailypapers.ingest.textfiles import open_binary


@dataclass(frozen=True, slots=True)
class RawRecord:
    position: str  # "line 12" or "item 3": where a problem with this record is reported
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SourceError:
    position: str
    message: str


def read_hf_daily(path: Path) -> Iterator[RawRecord | SourceError]:
    """Yield each record of ``path`` (plain, .gz or .xz), or an error naming its position.

    A malformed line is reported and skipped; the lines after it are still read.
    """
    with open_binary(path) as stream:
        first = stream.read(1)
        while first and first.isspace():
            first = stream.read(1)
        if first == b"[":
            yield from _read_json_array(first + stream.read())
            return
        yield from _read_json_lines(first + stream.readline(), stream)


def _read_json_array(content: bytes, prefix: str = "") -> Iterator[RawRecord | SourceError]:
    try:
        items = json.loads(content)
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, a 5000-digit number
        yield SourceError(
            f"{prefix}file".strip(", ") if not prefix else prefix.rstrip(", "),
            f"not a valid JSON array: {exc}",
        )
        return
    if not isinstance(items, list):
        yield SourceError(prefix.rstrip(", ") or "file", "expected a JSON array")
        return
    for index, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield RawRecord(f"{prefix}item {index}", item)
        else:
            yield SourceError(
                f"{prefix}item {index}", f"expected an object, got {type(item).__name__}"
            )


def _read_json_lines(first_line: bytes, rest: Any) -> Iterator[RawRecord | SourceError]:
    lines = [first_line] if first_line else []
    for line_number, raw in enumerate(_chain(lines, rest), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield SourceError(f"line {line_number}", f"not UTF-8 text: {exc.reason}")
            continue
        except json.JSONDecodeError as exc:
            yield SourceError(
                f"line {line_number}", f"malformed JSON: {exc.msg} (column {exc.colno})"
            )
            continue
        except RecursionError:
            yield SourceError(f"line {line_number}", "malformed JSON: nested too deeply")
            continue
        except ValueError as exc:  # e.g. an integer past Python's digit limit
            yield SourceError(f"line {line_number}", f"malformed JSON: {exc}")
            continue
        if not isinstance(data, dict):
            yield SourceError(
                f"line {line_number}", f"expected an object, got {type(data).__name__}"
            )
            continue
        yield RawRecord(f"line {line_number}", data)


def _chain(first: list[bytes], rest: Any) -> Iterator[bytes]:
    yield from first
    yield from rest


HF_PAGE_SIZE = 100
# No real day has more than a few hundred papers; a server that ignores ``p`` must not loop us.
HF_MAX_PAGES = 20


def fetch_hf_daily(
    client: PoliteClient, url: str, day: dt.date
) -> Iterator[RawRecord | SourceError]:
    """Yield the items of ``GET /api/daily_papers?date=day`` page by page.

    Stops at a short or empty page, at the first problem (reported), or after HF_MAX_PAGES.
    """
    for page in range(HF_MAX_PAGES):
        params = {"date": day.isoformat(), "limit": HF_PAGE_SIZE, "p": page}
        response = client.get(url, params=params)
        where = f"{day} page {page}"
        if response.status_code != 200:
            yield SourceError(where, f"HTTP {response.status_code}")
            return
        items = list(_read_json_array(response.content, prefix=f"{where}, "))
        yield from items
        if len(items) < HF_PAGE_SIZE or any(isinstance(item, SourceError) for item in items):
            return
    yield SourceError(f"{day}", f"more than {HF_MAX_PAGES} pages: stopped")
