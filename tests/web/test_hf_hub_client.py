"""huggingface_hub, unchanged, against our API served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import datetime as dt

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from dailypapers.config import Settings
from tests.factories import load_api_fixture
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.both_backends


@pytest.fixture(autouse=True)
def _no_hub_side_effects(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))
    monkeypatch.delenv("HF_TOKEN", raising=False)


def test_list_daily_papers_and_paper_info(demo_settings: Settings, demo_server: LiveServer) -> None:
    load_api_fixture(demo_settings)
    api = HfApi(endpoint=demo_server.url, token=False)

    papers = list(api.list_daily_papers(date="2026-02-10", limit=10))
    assert len(papers) == 10
    first = papers[0]
    assert first.id == "2602.08222"
    assert first.upvotes == 256
    assert first.title
    assert first.title.startswith("Weak-Driven Learning")
    assert first.authors is not None
    assert first.authors[0].name == "Zehao Chen"
    assert first.submitted_at is not None
    assert first.submitted_at.date() == dt.date(2026, 2, 10)
    assert first.submitted_at.tzinfo == dt.UTC
    assert first.submitted_by is not None
    assert first.submitted_by.username == "ada"
    assert first.organization is not None
    assert first.organization.name == "example-lab"
    assert first.ai_summary is not None
    assert first.github_repo is not None

    week = list(api.list_daily_papers(week="2026-W07", limit=100))
    assert len(week) == 100
    month_page = list(api.list_daily_papers(month="2026-02", sort="trending", p=1, limit=5))
    assert len(month_page) == 5
    mine = list(api.list_daily_papers(date="2026-02-10", submitter="ada"))
    assert [paper.id for paper in mine] == ["2602.08222", "2602.08794"]

    info = api.paper_info("2601.23265")
    assert info.id == "2601.23265"
    assert info.title is not None
    assert info.title.startswith("PaperBanana")
    assert info.upvotes == 188
    assert info.published_at is not None
    assert api.read_paper("2601.23265").startswith("# PaperBanana")

    with pytest.raises(HfHubHTTPError) as missing:
        api.paper_info("2601.99999")
    assert missing.value.response is not None
    assert missing.value.response.status_code == 404
