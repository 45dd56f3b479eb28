"""``/api/papers/search`` and ``/api/papers/{id}/related`` on the demo month, and
``huggingface_hub``'s ``list_papers`` against them on a live server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import PaperInfo

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.run import load_snapshot
from dailypapers.web.app import create_app
from tests.factories import add_daily_paper, hide_paper
from tests.support import DATA_DIR
from tests.support.live_server import LiveServer
from tests.web.test_search_pages import HOSTILE, PAPERBANANA

pytestmark = pytest.mark.both_backends


HF_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
# A paper of the arXiv snapshot fixture: stored, never on the Daily Papers list.
SNAPSHOT_PAPER = "2606.17162"


def _ids(response: object) -> list[str]:
    return [item["paper"]["id"] for item in response.json()]  # type: ignore[attr-defined]


@pytest.fixture
def search_client(search_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(search_settings)) as client:
        yield client


def _load_snapshot(settings: Settings) -> None:
    engine = make_engine(settings)
    stats = load_snapshot(make_session_factory(engine), DATA_DIR / "arxiv_snapshot_150.jsonl.gz")
    assert stats.failed == 0
    engine.dispose()


def test_search_returns_daily_items_best_first(demo_client: TestClient) -> None:
    response = demo_client.get("/api/papers/search", params={"q": "PaperBanana illustration"})
    assert response.status_code == 200
    items = response.json()
    assert items[0]["paper"]["id"] == PAPERBANANA
    # The same item shape as /api/daily_papers.
    daily = demo_client.get("/api/daily_papers", params={"date": "2026-02-02", "limit": 100})
    same = next(item for item in daily.json() if item["paper"]["id"] == PAPERBANANA)
    assert items[0] == same
    assert HF_TIME.fullmatch(items[0]["publishedAt"])
    assert items[0]["paper"]["authors"][0] == {"name": "Dawei Zhu", "hidden": False}


def test_limit_defaults_to_20_and_is_checked(demo_client: TestClient) -> None:
    assert len(demo_client.get("/api/papers/search", params={"q": "model"}).json()) == 20
    assert len(demo_client.get("/api/papers/search", params={"q": "model", "limit": 5}).json()) == 5
    many = demo_client.get("/api/papers/search", params={"q": "model", "limit": 100}).json()
    assert len(many) == 100
    assert len({item["paper"]["id"] for item in many}) == 100
    for bad in ("0", "101", "ten"):
        response = demo_client.get("/api/papers/search", params={"q": "model", "limit": bad})
        assert response.status_code == 400
        assert response.json()["error"].startswith("limit: ")


def test_empty_query_is_an_empty_list(demo_client: TestClient) -> None:
    assert demo_client.get("/api/papers/search").json() == []
    assert demo_client.get("/api/papers/search", params={"q": "  "}).json() == []


def test_an_arxiv_id_or_link_is_first(demo_client: TestClient) -> None:
    for query in (PAPERBANANA, f"arxiv.org/pdf/{PAPERBANANA}v1", f"{PAPERBANANA} agents"):
        response = demo_client.get("/api/papers/search", params={"q": query})
        assert _ids(response)[0] == PAPERBANANA, query


def test_filters_narrow_results(demo_client: TestClient, demo_settings: Settings) -> None:
    everything = _ids(demo_client.get("/api/papers/search", params={"q": "agents", "limit": 100}))
    cs_cl = demo_client.get(
        "/api/papers/search", params={"q": "agents cat:cs.CL has:code", "limit": 100}
    ).json()
    assert 0 < len(cs_cl) < len(everything)
    for item in cs_cl:
        assert "cs.CL" in item["paper"]["categories"]
        assert item["githubRepo"]
    authored = _ids(demo_client.get("/api/papers/search", params={"q": 'author:"Dawei Zhu"'}))
    assert PAPERBANANA in authored
    excluded = demo_client.get("/api/papers/search", params={"q": "PaperBanana -academic"})
    assert PAPERBANANA not in _ids(excluded)
    # Publication dates: the snapshot's papers carry them (the demo month's do not).
    _load_snapshot(demo_settings)
    found = _ids(demo_client.get("/api/papers/search", params={"q": "MemSlides from:2026"}))
    assert found == [SNAPSHOT_PAPER]
    assert _ids(demo_client.get("/api/papers/search", params={"q": "MemSlides to:2025"})) == []


def test_a_paper_never_on_the_list_is_an_item_too(
    demo_client: TestClient, demo_settings: Settings
) -> None:
    _load_snapshot(demo_settings)
    items = demo_client.get("/api/papers/search", params={"q": SNAPSHOT_PAPER}).json()
    assert [item["paper"]["id"] for item in items] == [SNAPSHOT_PAPER]
    item = items[0]
    assert item["title"].startswith("MemSlides")
    assert HF_TIME.fullmatch(item["publishedAt"])
    assert item["publishedAt"] == item["paper"]["publishedAt"]
    assert "submittedOnDailyAt" not in item["paper"]
    assert PaperInfo(**item).id == SNAPSHOT_PAPER


def test_malformed_filters_are_400_with_the_reason(demo_client: TestClient) -> None:
    for query, reason in (
        ("from:2026-13-01", "not a real date"),
        ("to:yesterday", "expected YYYY, YYYY-MM or YYYY-MM-DD"),
        ("cat:!!", "is not an arXiv category"),
        ("has:pdf", "has:code is the one there is"),
        ("from:2026-03 to:2026-01", "swap them"),
        ("-author:Smith", "Filters cannot be excluded"),
    ):
        response = demo_client.get("/api/papers/search", params={"q": query})
        assert response.status_code == 400, query
        assert reason in response.json()["error"], query


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
def test_no_input_makes_the_api_fail(demo_client: TestClient, query: str) -> None:
    response = demo_client.get("/api/papers/search", params={"q": query})
    assert response.status_code in (200, 400), response.text[:500]
    if response.status_code == 400:
        assert response.json()["error"]
    else:
        assert isinstance(response.json(), list)


def test_stopwords_and_non_latin_scripts(demo_client: TestClient, demo_settings: Settings) -> None:
    add_daily_paper(
        demo_settings,
        arxiv_id="2602.66666",
        title="大規模言語モデル の 評価",
        abstract="Большие языковые модели и $\\alpha$-расхождение.",
    )
    assert _ids(demo_client.get("/api/papers/search", params={"q": "大規模言語モデル"})) == [
        "2602.66666"
    ]
    assert "2602.66666" in _ids(demo_client.get("/api/papers/search", params={"q": "языковые"}))
    assert demo_client.get("/api/papers/search", params={"q": "the of"}).json()


def test_hidden_papers_are_left_out(demo_client: TestClient, demo_settings: Settings) -> None:
    hide_paper(demo_settings, PAPERBANANA)
    for query in (PAPERBANANA, "PaperBanana", "academic illustration"):
        assert PAPERBANANA not in _ids(demo_client.get("/api/papers/search", params={"q": query}))
    assert demo_client.get(f"/api/papers/{PAPERBANANA}/related").status_code == 404
    related = _ids(demo_client.get("/api/papers/2602.03828/related", params={"limit": 50}))
    assert PAPERBANANA not in related


def test_semantic_search_finds_a_paraphrase(search_client: TestClient) -> None:
    query = "drawing figures scientific manuscripts"
    title = "PaperBanana: Automating Academic Illustration for AI Scientists"
    assert not set(query.split()) & set(re.findall(r"\w+", title.lower()))
    found = _ids(search_client.get("/api/papers/search", params={"q": query}))
    assert PAPERBANANA in found[:10]


def test_without_a_model_search_is_lexical(demo_client: TestClient) -> None:
    found = _ids(demo_client.get("/api/papers/search", params={"q": "causal robot world model"}))
    assert found[0] == "2601.21998"  # Causal World Modeling for Robot Control
    assert len(found) == 20


def test_related_papers(search_client: TestClient, search_settings: Settings) -> None:
    response = search_client.get(f"/api/papers/{PAPERBANANA}/related")
    assert response.status_code == 200
    items = response.json()
    assert len(items) == 8
    ids = [item["paper"]["id"] for item in items]
    assert PAPERBANANA not in ids
    assert "2602.03828" in ids[:3]  # AutoFigure: scientific illustrations too
    assert set(items[0]) >= {"paper", "publishedAt", "title", "summary", "numComments"}
    assert len(search_client.get(f"/api/papers/{PAPERBANANA}v2/related?limit=3").json()) == 3
    hide_paper(search_settings, "2602.03828")
    assert "2602.03828" not in _ids(search_client.get(f"/api/papers/{PAPERBANANA}/related"))


def test_related_errors_and_old_style_ids(demo_client: TestClient, demo_settings: Settings) -> None:
    missing = demo_client.get("/api/papers/2601.99999/related")
    assert missing.status_code == 404
    assert "not in this site's store" in missing.json()["error"]
    malformed = demo_client.get("/api/papers/not-an-id/related")
    assert malformed.status_code == 400
    assert malformed.json()["error"]
    assert demo_client.get(f"/api/papers/{PAPERBANANA}/related?limit=0").status_code == 400
    assert demo_client.get(f"/api/papers/{PAPERBANANA}/related?limit=51").status_code == 400
    add_daily_paper(demo_settings, title="Old style world model for robot control")
    old = demo_client.get("/api/papers/hep-th/9901001/related")
    assert old.status_code == 200
    assert old.json()
    assert "hep-th/9901001" not in _ids(old)
    # The paper itself still answers at its own path.
    assert demo_client.get("/api/papers/hep-th/9901001").json()["id"] == "hep-th/9901001"


@pytest.fixture
def _no_hub_side_effects(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.mark.usefixtures("_no_hub_side_effects")
def test_huggingface_hub_list_papers_parses_our_search(demo_server: LiveServer) -> None:
    api = HfApi(endpoint=demo_server.url, token=False)
    papers = list(api.list_papers(query="PaperBanana illustration", limit=5))
    assert 1 <= len(papers) <= 5
    first = papers[0]
    assert first.id == PAPERBANANA
    assert first.title is not None
    assert first.title.startswith("PaperBanana")
    assert first.authors is not None
    assert first.authors[0].name == "Dawei Zhu"
    assert first.upvotes == 188
    assert first.submitted_at is not None
    assert first.github_repo is not None
    assert len(list(api.list_papers(query="model"))) == 20
    assert list(api.list_papers()) == []
    with pytest.raises(HfHubHTTPError) as bad:
        list(api.list_papers(query="from:2026-13"))
    assert bad.value.response is not None
    assert bad.value.response.status_code == 400
