"""The Hugging Face-compatible JSON API (DESIGN.md §5)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from dailypapers.config import Settings
from tests.factories import load_api_fixture

pytestmark = pytest.mark.both_backends

HF_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def _all_pages(client: TestClient, **params: object) -> list[dict]:  # type: ignore[type-arg]
    items: list[dict] = []  # type: ignore[type-arg]
    page = 0
    while True:
        batch = client.get("/api/daily_papers", params={**params, "p": page, "limit": 100}).json()
        if not batch:
            return items
        items += batch
        page += 1


def test_a_day_in_the_hf_item_shape(demo_client: TestClient) -> None:
    response = demo_client.get("/api/daily_papers", params={"date": "2026-02-10"})
    assert response.status_code == 200
    items = response.json()
    assert len(items) == 50  # default limit
    upvotes = [item["paper"]["upvotes"] for item in items]
    assert upvotes == sorted(upvotes, reverse=True)
    first = items[0]
    assert first["paper"]["id"] == "2602.08222"
    assert set(first) >= {"paper", "publishedAt", "title", "summary", "numComments"}
    assert first["paper"]["authors"][0] == {"name": "Zehao Chen", "hidden": False}
    assert HF_TIME.fullmatch(first["publishedAt"])
    assert first["publishedAt"].startswith("2026-02-10")
    assert first["paper"]["githubRepo"].startswith("https://github.com/")
    assert "submittedBy" not in first
    assert "organization" not in first


def test_week_and_month_follow_hf_windows(demo_client: TestClient) -> None:
    week = _all_pages(demo_client, week="2026-W07")
    assert len(week) == 247
    assert {item["publishedAt"][:10] for item in week} == {
        "2026-02-09",
        "2026-02-10",
        "2026-02-11",
        "2026-02-12",
        "2026-02-13",
    }
    month = _all_pages(demo_client, month="2026-02")
    assert len(month) == 783
    assert len({item["paper"]["id"] for item in month}) == 783


def test_default_is_the_latest_day_and_past_the_end_is_empty(demo_client: TestClient) -> None:
    items = demo_client.get("/api/daily_papers").json()
    assert len(items) == 28
    assert {i["publishedAt"][:10] for i in items} == {"2026-02-27"}
    assert demo_client.get("/api/daily_papers", params={"date": "2026-02-10", "p": 5}).json() == []
    assert demo_client.get("/api/daily_papers", params={"date": "2026-02-14"}).json() == []


def test_paging_keeps_the_order(demo_client: TestClient) -> None:
    whole = demo_client.get("/api/daily_papers", params={"date": "2026-02-10", "limit": 58}).json()
    pages = [
        demo_client.get(
            "/api/daily_papers", params={"date": "2026-02-10", "limit": 20, "p": p}
        ).json()
        for p in range(3)
    ]
    assert [i["paper"]["id"] for page in pages for i in page] == [i["paper"]["id"] for i in whole]


def test_sort_trending(demo_client: TestClient) -> None:
    by_votes = _all_pages(demo_client, month="2026-02")
    by_trend = _all_pages(demo_client, month="2026-02", sort="trending")
    assert [i["paper"]["id"] for i in by_votes] != [i["paper"]["id"] for i in by_trend]
    assert by_trend[0]["publishedAt"] > by_votes[0]["publishedAt"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date": "2025-13-40"}, "date: '2025-13-40' is not a real calendar date"),
        ({"date": "10/02/2026"}, "expected YYYY-MM-DD"),
        ({"week": "2026-W60"}, "has no ISO week 60"),
        ({"month": "2026-13"}, "not a real month"),
        ({"date": "2026-02-10", "week": "2026-W07"}, "at most one of date, week and month"),
        ({"sort": "random"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"p": -1}, "p"),
        ({"p": "x"}, "p"),
    ],
)
def test_bad_parameters_are_400_with_a_json_error(
    demo_client: TestClient, params: dict[str, object], message: str
) -> None:
    response = demo_client.get("/api/daily_papers", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_paper_object_and_its_errors(demo_client: TestClient) -> None:
    paper = demo_client.get("/api/papers/2601.23265").json()
    assert paper["id"] == "2601.23265"
    assert paper["title"].startswith("PaperBanana")
    assert paper["upvotes"] == 188
    assert "paper" not in paper
    assert HF_TIME.fullmatch(paper["submittedOnDailyAt"])
    assert demo_client.get("/api/papers/2601.23265v3").json()["id"] == "2601.23265"
    missing = demo_client.get("/api/papers/2601.99999")
    assert missing.status_code == 404
    assert "is not in this site's store" in missing.json()["error"]
    malformed = demo_client.get("/api/papers/1234")
    assert malformed.status_code == 400
    assert "is not an arXiv id" in malformed.json()["error"]


def test_submitter_filter_and_object_shapes(
    demo_settings: Settings, demo_client: TestClient
) -> None:
    load_api_fixture(demo_settings)
    items = demo_client.get(
        "/api/daily_papers", params={"date": "2026-02-10", "submitter": "ada"}
    ).json()
    assert [i["paper"]["id"] for i in items] == ["2602.08222", "2602.08794"]
    submitter = items[0]["submittedBy"]
    assert submitter["user"] == "ada"
    assert submitter["fullname"] == "Ada Lovelace"
    assert set(submitter) >= {"_id", "user", "fullname", "avatarUrl", "type"}
    org = items[0]["organization"]
    assert org == {
        "_id": org["_id"],
        "name": "example-lab",
        "fullname": "Example Lab",
        "avatarUrl": "https://example.org/lab.png",
    }
    assert items[0]["paper"]["ai_summary"].startswith("A hand-written")
    assert (
        demo_client.get(
            "/api/daily_papers", params={"submitter": "nobody", "date": "2026-02-10"}
        ).json()
        == []
    )


@pytest.mark.parametrize(
    "params",
    [{"month": "9999-12"}, {"week": "9999-W52"}, {"month": "0001-01"}, {"date": "0001-01-01"}],
)
def test_years_out_of_range_are_400_not_500(
    demo_client: TestClient, params: dict[str, str]
) -> None:
    response = demo_client.get("/api/daily_papers", params=params)
    assert response.status_code == 400
    assert "the year must be between 1900 and 9998" in response.json()["error"]


def test_a_page_far_past_the_end_is_empty(demo_client: TestClient) -> None:
    assert demo_client.get("/api/daily_papers", params={"p": 100_001}).json() == []
