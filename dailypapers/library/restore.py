"""Importing our own JSON of everything (``export_library(..., "json")``): a restore.

Its papers go through the same matching (and arXiv fetching) as any import; what the JSON adds
for each paper (when it was saved, the collections holding it, reading marks) is kept in the
entry row under ``restore`` and applied once the paper is saved. Collections are made when the
import starts. A note the user already has on a paper is kept, as for any import.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from dailypapers.arxiv_ids import ArxivIdError, parse_arxiv_id
from dailypapers.citations import MAX_IMPORT_BYTES, MAX_IMPORT_ENTRIES
from dailypapers.citations.fields import bounded_int
from dailypapers.library import LibraryError
from dailypapers.library.collections import add_to_collection, collection_named
from dailypapers.library.exports import LIBRARY_JSON_FORMAT
from dailypapers.library.marks import Mark, mark_opened, set_mark
from dailypapers.models import Save, User

LIBRARY_JSON = "library_json"  # the ``LibraryImport.format`` of a restore


def library_json(data: bytes) -> dict[str, Any] | None:
    """The file as our JSON of everything, or None when it is not one. The account export
    (``/account/export``) holds one under ``library``, and imports as it."""
    if len(data) > MAX_IMPORT_BYTES or data.lstrip()[:1] != b"{":
        return None
    try:
        document = json.loads(data.decode("utf-8-sig"), parse_int=bounded_int)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if isinstance(document, dict) and isinstance(document.get("library"), dict):
        document = document["library"]
    if isinstance(document, dict) and document.get("format") == LIBRARY_JSON_FORMAT:
        return document
    return None


def _time(value: Any) -> str | None:
    """An ISO time kept as given when it reads as one (applied later), else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()


def restore_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry row per paper the document names (saves first, in their order).

    :raises LibraryError: more papers than an import takes.
    """
    rows: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []

    def row_for(item: Any) -> dict[str, Any] | None:
        raw = item.get("arxiv_id") if isinstance(item, dict) else item
        try:
            arxiv_id = parse_arxiv_id(str(raw)).id
        except ArxivIdError as exc:
            errors.append({"error": str(exc)})
            return None
        if arxiv_id not in rows:
            rows[arxiv_id] = {"arxiv_id": arxiv_id, "title": None, "note": None, "restore": {}}
        return rows[arxiv_id]

    for item in _list(document, "saves"):
        row = row_for(item)
        if row is not None and isinstance(item, dict):
            row["title"] = item.get("title") if isinstance(item.get("title"), str) else None
            row["restore"]["saved_at"] = _time(item.get("saved_at"))
    for item in _list(document, "notes"):
        row = row_for(item)
        if row is not None and isinstance(item, dict) and isinstance(item.get("body"), str):
            row["note"] = item["body"]
    for collection in _list(document, "collections"):
        if not isinstance(collection, dict) or not isinstance(collection.get("name"), str):
            continue
        for paper in _list(collection, "papers"):
            row = row_for(paper)
            if row is not None:
                row["restore"].setdefault("collections", []).append(collection["name"])
    for item in _list(document, "marks"):
        row = row_for(item)
        if row is not None and isinstance(item, dict):
            for name in ("opened_at", "read_at", "dismissed_at"):
                if _time(item.get(name)):
                    row["restore"][name] = _time(item.get(name))
    everything = [*rows.values(), *errors]
    if len(everything) > MAX_IMPORT_ENTRIES:
        raise LibraryError(
            f"This file names more than {MAX_IMPORT_ENTRIES:,} papers; an import takes at most "
            f"{MAX_IMPORT_ENTRIES:,}."
        )
    for index, row in enumerate(everything, start=1):
        row["index"], row["line"] = index, None
    return everything


def _list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    return value if isinstance(value, list) else []


def restore_row(
    session: Session, user: User, paper_id: int, restore: dict[str, Any], now: dt.datetime
) -> None:
    """Apply what the JSON says about a paper just saved: its original save time (when
    earlier), its collections, its reading marks (at their original times)."""
    saved_at = restore.get("saved_at")
    if saved_at:
        moment = dt.datetime.fromisoformat(saved_at)
        session.execute(
            update(Save)
            .where(Save.user_id == user.id, Save.paper_id == paper_id, Save.saved_at > moment)
            .values(saved_at=moment)
        )
    for name in restore.get("collections") or []:
        collection = collection_named(session, user, name)
        if collection is not None:
            add_to_collection(session, user, collection.id, [paper_id], now)
    if restore.get("opened_at"):
        mark_opened(session, user, paper_id, dt.datetime.fromisoformat(restore["opened_at"]))
    marks: tuple[tuple[Mark, str], ...] = (("read", "read_at"), ("dismissed", "dismissed_at"))
    for mark, key in marks:
        if restore.get(key):
            moment = dt.datetime.fromisoformat(restore[key])
            set_mark(session, user, paper_id, mark, on=True, now=moment)
