"""Named collections of a user's saved papers. Private unless the owner makes one public; a
public collection has a page and feeds that anyone may read, a private one is a 404 to
everyone but its owner (the same answer as a collection that does not exist)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dailypapers.db import rows_changed, upsert_insert
from dailypapers.library import LibraryError, NotFoundError
from dailypapers.library.saves import save
from dailypapers.models import Collection, CollectionPaper, User

MAX_COLLECTIONS = 500
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2_000


def _clean_name(name: str) -> str:
    text = " ".join(name.replace("\x00", "").split())
    if not text:
        raise LibraryError("Give the collection a name.")
    if len(text) > MAX_NAME_CHARS:
        raise LibraryError(f"Keep collection names under {MAX_NAME_CHARS} characters.")
    return text


def _clean_description(description: str) -> str:
    text = description.replace("\x00", "").strip()
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise LibraryError(f"Keep descriptions under {MAX_DESCRIPTION_CHARS:,} characters.")
    return text


def _name_taken(session: Session, user: User, name: str, *, other_than: int | None = None) -> bool:
    query = select(Collection.id).where(
        Collection.user_id == user.id, func.lower(Collection.name) == name.lower()
    )
    if other_than is not None:
        query = query.where(Collection.id != other_than)
    return session.scalar(query) is not None


def create_collection(
    session: Session,
    user: User,
    name: str,
    *,
    description: str = "",
    is_public: bool = False,
    now: dt.datetime,
) -> Collection:
    clean = _clean_name(name)
    count = session.scalar(select(func.count()).where(Collection.user_id == user.id)) or 0
    if count >= MAX_COLLECTIONS:
        raise LibraryError(f"You have {MAX_COLLECTIONS} collections, the most one account keeps.")
    if _name_taken(session, user, clean):
        raise LibraryError(f"You already have a collection named {clean!r}.")
    collection = Collection(
        user_id=user.id,
        name=clean,
        description=_clean_description(description),
        is_public=is_public,
        created_at=now,
        updated_at=now,
    )
    try:
        # Added inside the savepoint: begin_nested() flushes what is pending first, and an
        # insert flushed there would fail the whole transaction instead of the savepoint.
        with session.begin_nested():
            session.add(collection)
            session.flush()
    except IntegrityError:  # the same name made at the same moment in another tab
        raise LibraryError(f"You already have a collection named {clean!r}.") from None
    return collection


def collection_named(session: Session, user: User, name: str) -> Collection | None:
    return session.scalar(
        select(Collection).where(
            Collection.user_id == user.id, func.lower(Collection.name) == name.strip().lower()
        )
    )


def own_collection(session: Session, user: User, collection_id: int) -> Collection:
    """The user's collection with this id; anyone else's is as missing as no collection."""
    collection = session.get(Collection, collection_id)
    if collection is None or collection.user_id != user.id:
        raise NotFoundError(f"You have no collection with id {collection_id}.")
    return collection


def readable_collection(session: Session, viewer: User | None, collection_id: int) -> Collection:
    """A collection the viewer may read: their own, or a public one."""
    collection = session.get(Collection, collection_id)
    if collection is None or not (
        collection.is_public or (viewer is not None and viewer.id == collection.user_id)
    ):
        raise NotFoundError(f"There is no collection with id {collection_id}.")
    return collection


def update_collection(
    session: Session,
    user: User,
    collection_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    is_public: bool | None = None,
    now: dt.datetime,
) -> Collection:
    collection = own_collection(session, user, collection_id)
    if name is not None:
        clean = _clean_name(name)
        if _name_taken(session, user, clean, other_than=collection.id):
            raise LibraryError(f"You already have a collection named {clean!r}.")
        collection.name = clean
    if description is not None:
        collection.description = _clean_description(description)
    if is_public is not None:
        collection.is_public = is_public
    collection.updated_at = now
    session.flush()
    return collection


def delete_collection(session: Session, user: User, collection_id: int) -> None:
    """Delete the collection; its papers stay saved."""
    collection = own_collection(session, user, collection_id)
    session.delete(collection)
    session.flush()


def add_to_collection(
    session: Session, user: User, collection_id: int, paper_ids: Sequence[int], now: dt.datetime
) -> int:
    """Put papers in the collection (saving them); returns how many were new to it."""
    collection = own_collection(session, user, collection_id)
    ids = list(dict.fromkeys(paper_ids))
    if not ids:
        return 0
    for paper_id in ids:
        save(session, user, paper_id, now)
    statement = (
        upsert_insert(session)(CollectionPaper)
        .values([{"collection_id": collection.id, "paper_id": p, "added_at": now} for p in ids])
        .on_conflict_do_nothing()
        .returning(CollectionPaper.paper_id)
    )
    added = len(session.execute(statement).all())
    collection.updated_at = now
    return added


def remove_from_collection(session: Session, user: User, collection_id: int, paper_id: int) -> bool:
    """Take a paper out of one collection; it stays saved."""
    collection = own_collection(session, user, collection_id)
    result = session.execute(
        delete(CollectionPaper).where(
            CollectionPaper.collection_id == collection.id, CollectionPaper.paper_id == paper_id
        )
    )
    return bool(rows_changed(result))


def collections_of(session: Session, user: User) -> list[tuple[Collection, int]]:
    """The user's collections by name, each with its paper count (one query)."""
    count = (
        select(func.count())
        .where(CollectionPaper.collection_id == Collection.id)
        .correlate(Collection)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Collection, count)
        .where(Collection.user_id == user.id)
        .order_by(func.lower(Collection.name))
    ).all()
    return [(collection, n) for collection, n in rows]


def memberships(session: Session, user: User, paper_ids: Sequence[int]) -> dict[int, set[int]]:
    """For each of these papers, the ids of the user's collections holding it (one query)."""
    if not paper_ids:
        return {}
    rows = session.execute(
        select(CollectionPaper.paper_id, CollectionPaper.collection_id)
        .join(Collection, Collection.id == CollectionPaper.collection_id)
        .where(Collection.user_id == user.id, CollectionPaper.paper_id.in_(paper_ids))
    ).all()
    result: dict[int, set[int]] = {}
    for paper_id, collection_id in rows:
        result.setdefault(paper_id, set()).add(collection_id)
    return result
