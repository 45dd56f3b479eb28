"""Author keys in the store (migration backfill, every ingest path), author pages and the
author API: merged spellings, co-authors, the canonical slug's 301, 404s for hostile slugs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.normalize import ArxivRecord
from dailypapers.ingest.upsert_arxiv import ArxivUpserter, HashedRecord
from dailypapers.models import Author
from dailypapers.web.app import create_app
from tests.factories import add_daily_paper
from tests.support.database import db_session

pytestmark = pytest.mark.both_backends

PEREZ = ("José-Luis Pérez", "Jose Luis Perez", "PÉREZ, José-Luis")


def _record(arxiv_id: str, authors: tuple[str, ...], day: int = 1) -> ArxivRecord:
    return ArxivRecord(
        arxiv_id=arxiv_id,
        version=1,
        versions=((1, dt.datetime(2026, 3, day, tzinfo=dt.UTC)),),
        title=f"Paper {arxiv_id}",
        title_raw=None,
        abstract="An abstract.",
        abstract_raw=None,
        authors=authors,
        categories=("cs.LG",),
        comments=None,
        journal_ref=None,
        doi=None,
        license=None,
        published_at=dt.datetime(2026, 3, day, tzinfo=dt.UTC),
        revised_at=None,
        listing_date=None,
        withdrawn=False,
    )


def _arxiv(settings: Settings, *records: ArxivRecord) -> None:
    """Through the bulk arXiv upsert (SQL inside SQLite, the portable path on PostgreSQL)."""
    engine = make_engine(settings)
    with make_session_factory(engine).begin() as session:
        ArxivUpserter().apply(
            session,
            [HashedRecord(r, f"h-{r.arxiv_id}-{len(r.authors)}") for r in records],
            dt.datetime(2026, 3, 9, tzinfo=dt.UTC),
        )
    engine.dispose()


def _keys(settings: Settings) -> dict[str, str]:
    with db_session(settings) as session:
        return {row[0]: row[1] for row in session.execute(select(Author.name, Author.name_key))}


@pytest.fixture
def store(settings: Settings, engine: Engine) -> Settings:
    """Three spellings of one author on three papers, a different 'J. Smith', co-authors."""
    _arxiv(
        settings,
        _record("2603.00001", (PEREZ[0], "Ada Lovelace"), 1),
        _record("2603.00002", (PEREZ[1], "Ada Lovelace", "J. Smith"), 2),
    )
    add_daily_paper(
        settings,
        arxiv_id="2603.00003",
        title="Daily one",
        authors=(PEREZ[2], "John Smith"),
        upvotes=7,
        published_at=dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
    )
    return settings


@pytest.fixture
def client(store: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client


def test_every_ingest_path_stores_the_key(store: Settings) -> None:
    keys = _keys(store)
    assert {keys[name] for name in PEREZ} == {"jose luis perez"}
    assert keys["J. Smith"] == "j smith"
    assert keys["John Smith"] == "john smith"  # initials are never expanded


def test_an_update_that_changes_the_authors_moves_the_page(
    store: Settings, client: TestClient
) -> None:
    _arxiv(store, _record("2603.00002", ("Grace Hopper",), 2))
    assert _keys(store)["Grace Hopper"] == "grace hopper"
    assert client.get("/api/authors/grace-hopper").json()["numPapers"] == 1
    assert client.get("/api/authors/jose-luis-perez").json()["numPapers"] == 2
    assert client.get("/api/authors/j-smith").status_code == 404  # its only paper moved


def test_migration_backfills_the_keys_of_stored_names(settings: Settings) -> None:
    engine = make_engine(settings)
    migrate.upgrade(engine, "0013")
    with engine.begin() as connection:
        for name in (*PEREZ, "J. Smith"):
            connection.execute(text("INSERT INTO authors (name) VALUES (:n)"), {"n": name})
    migrate.upgrade(engine, "0016")
    keys = _keys(settings)
    assert {keys[name] for name in PEREZ} == {"jose luis perez"}
    assert keys["J. Smith"] == "j smith"
    engine.dispose()


def test_author_page_merges_spellings_and_links_coauthors(client: TestClient) -> None:
    response = client.get("/authors/jose-luis-perez")
    assert response.status_code == 200
    page = response.text
    assert "3 papers in this store" in page
    assert "▲ 7 upvotes" in page
    for name in ("José-Luis Pérez", "Jose Luis Perez", "PÉREZ, José-Luis"):
        assert name in page
    assert '<a href="/authors/ada-lovelace">Ada Lovelace</a> <span class="meta">2</span>' in page
    assert 'href="/authors/john-smith"' in page
    assert 'href="/authors/j-smith"' in page
    assert 'href="/feeds/authors/jose-luis-perez.atom"' in page
    assert "{# follow" not in page  # the spot is a template comment
    # Newest first: 2603.00003 (Mar 3) before 2603.00002 before 2603.00001.
    assert page.index("2603.00003") < page.index("2603.00002") < page.index("2603.00001")


def test_smith_spellings_stay_apart(client: TestClient) -> None:
    assert client.get("/api/authors/j-smith").json()["numPapers"] == 1
    john = client.get("/api/authors/john-smith").json()
    assert john["variants"] == ["John Smith"]
    assert john["numPapers"] == 1


def test_api_author(client: TestClient) -> None:
    body = client.get("/api/authors/jose-luis-perez").json()
    assert body["numPapers"] == 3
    assert body["upvotes"] == 7
    assert set(body["variants"]) == set(PEREZ)
    assert [p["id"] for p in body["papers"]] == ["2603.00003", "2603.00002", "2603.00001"]
    assert "user" not in body
    schema = client.get("/openapi.json").json()
    assert "/api/authors/{slug}" in schema["paths"]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/authors/Jose-Luis-Perez", "/authors/jose-luis-perez"),
        ("/authors/jos%C3%A9-luis-p%C3%A9rez?page=1", "/authors/jose-luis-perez?page=1"),
        ("/api/authors/JOSE-LUIS-PEREZ", "/api/authors/jose-luis-perez"),
    ],
)
def test_non_canonical_slug_redirects(client: TestClient, path: str, target: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == target


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/authors/nobody-at-all", 404),
        ("/authors/" + "a" * 10_000, 404),
        ("/authors/" + "ab-" * 3_000, 404),
        ("/authors/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 404),
        ("/authors/a%2Fb", 404),
        ("/authors/%00", 400),
        ("/authors/---", 404),
        ("/api/authors/%00", 400),
        ("/api/authors/" + "x" * 10_000, 404),
        ("/authors/jose-luis-perez?page=99999999999", 400),
    ],
)
def test_hostile_slugs_are_clear_errors(client: TestClient, path: str, status: int) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == status, response.text[:300]
    if path.startswith("/api/"):
        assert "error" in response.json()
    else:
        assert "<script>alert" not in response.text


def test_cards_and_paper_page_link_authors(client: TestClient) -> None:
    day = client.get("/papers/date/2026-02-27").text
    assert '<a href="/authors/jose-luis-perez">PÉREZ, José-Luis</a>' in day
    paper = client.get("/papers/2603.00002").text
    assert '<a href="/authors/j-smith">J. Smith</a>' in paper


def test_coauthor_spellings_on_one_paper_count_once(store: Settings) -> None:
    """Co-authors are counted from the stored names: two spellings of one co-author on one
    paper count once, the link shows the first spelling in code point order."""
    _arxiv(store, _record("2603.00004", (PEREZ[1], "ADA LOVELACE", "Ada Lovelace"), 4))
    with TestClient(create_app(store)) as client:
        page = client.get("/authors/jose-luis-perez").text
    assert '<a href="/authors/ada-lovelace">ADA LOVELACE</a> <span class="meta">3</span>' in page
