"""The library's JSON API under /api/me and the import / export pages, through the real app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dailypapers.config import Settings
from dailypapers.web.app import create_app
from tests.factories import api_token, make_user
from tests.support.queries import QueryCounter
from tests.support.web_client import csrf_token, form, sign_in

pytestmark = pytest.mark.both_backends
PAPER = "2602.08222"
OTHER = "2602.06130"


@pytest.fixture
def app_settings(demo_settings: Settings) -> Settings:
    return demo_settings.model_copy(update={"offline": True})


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    token = api_token(app_settings, make_user(app_settings, "ada"))
    with TestClient(create_app(app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_save_mark_and_read_back_the_library(client: TestClient) -> None:
    assert client.put(f"/api/me/saves/{PAPER}").json() == {"paper": PAPER, "saved": True}
    assert client.put(f"/api/me/saves/{PAPER}").status_code == 200  # idempotent
    assert client.put(f"/api/me/marks/read/{PAPER}").json()["on"] is True
    assert client.put(f"/api/me/marks/bogus/{PAPER}").status_code == 400
    assert client.put("/api/me/saves/2601.99999").status_code == 404
    library = client.get("/api/me/library").json()
    assert library["total"] == 1
    item = library["items"][0]
    assert item["item"]["paper"]["id"] == PAPER
    assert item["state"]["saved"] is True
    assert item["state"]["read"] is True
    assert item["state"]["seen"] is True
    states = client.get("/api/me/states", params={"ids": f"{PAPER},{OTHER}"}).json()
    assert states[PAPER]["saved"] is True
    assert states[OTHER] == dict.fromkeys(states[OTHER], False)
    assert client.delete(f"/api/me/saves/{PAPER}").json()["saved"] is False
    assert client.get("/api/me/library").json()["total"] == 0


def test_a_json_import_with_a_bad_field_says_which(client: TestClient) -> None:
    """It said only 'Send {"text": …} as JSON', whatever was wrong."""
    too_long = client.post("/api/me/imports", json={"text": PAPER, "filename": "a" * 201})
    assert too_long.status_code == 400
    assert too_long.json()["error"] == "body.filename: String should have at most 200 characters"
    not_text = client.post("/api/me/imports", json={"text": 5})
    assert not_text.json()["error"] == "body.text: Input should be a valid string"
    not_json = client.post(
        "/api/me/imports", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"].startswith('Send {"text"')


def test_states_take_a_fixed_number_of_statements(client: TestClient) -> None:
    """Asking for 100 papers' states costs what asking for 2 does (it was two statements a
    paper); hidden and unknown papers are left out."""
    month = client.get("/api/daily_papers", params={"month": "2026-02", "limit": 100}).json()
    ids = [item["paper"]["id"] for item in month]
    for arxiv_id in ids[:60]:
        client.put(f"/api/me/marks/read/{arxiv_id}")
    engine = client.app.state.engine  # type: ignore[attr-defined]
    counts = []
    for wanted in (ids[:2], ids[:100]):
        with QueryCounter(engine) as counter:
            answer = client.get("/api/me/states", params={"ids": ",".join(wanted)})
        assert answer.status_code == 200
        assert list(answer.json()) == wanted
        counts.append(counter.count)
    assert counts[0] == counts[1]
    unknown = client.get("/api/me/states", params={"ids": f"{PAPER},2601.99999"}).json()
    assert list(unknown) == [PAPER]


def test_collections_and_notes(client: TestClient, app_settings: Settings) -> None:
    made = client.post("/api/me/collections", json={"name": "Agents", "isPublic": False})
    assert made.status_code == 201
    cid = made.json()["id"]
    assert client.post("/api/me/collections", json={"name": "agents"}).status_code == 400
    assert client.put(f"/api/me/collections/{cid}/papers/{PAPER}").json()["inCollection"] is True
    listed = client.get("/api/me/collections").json()
    assert [(c["name"], c["numPapers"]) for c in listed] == [("Agents", 1)]
    patched = client.patch(f"/api/me/collections/{cid}", json={"isPublic": True}).json()
    assert patched["isPublic"] is True
    assert patched["name"] == "Agents"
    note = client.put(f"/api/me/notes/{PAPER}", json={"body": "<script>x</script> *why*"}).json()
    assert note["html"] == "<p>&lt;script&gt;x&lt;/script&gt; <em>why</em></p>\n"
    assert client.get(f"/api/me/notes/{PAPER}").json()["body"] == "<script>x</script> *why*"
    other_token = api_token(app_settings, make_user(app_settings, "eve"))
    eve = {"Authorization": f"Bearer {other_token}"}
    assert client.get(f"/api/me/notes/{PAPER}", headers=eve).status_code == 404
    assert client.get(f"/api/me/library?collection={cid}", headers=eve).status_code == 404
    assert client.delete(f"/api/me/collections/{cid}", headers=eve).status_code == 404
    assert client.put(f"/api/me/collections/{cid}/papers/{OTHER}", headers=eve).status_code == 404
    assert client.delete(f"/api/me/notes/{PAPER}").status_code == 204
    assert client.get(f"/api/me/notes/{PAPER}").status_code == 404
    assert client.delete(f"/api/me/collections/{cid}").status_code == 204
    assert client.get("/api/me/library").json()["total"] == 1  # still saved


def test_import_json_and_multipart_then_export(client: TestClient) -> None:
    text = f"{PAPER}\nhttps://arxiv.org/abs/{OTHER}v2\nnot an id\n"
    made = client.post("/api/me/imports", json={"text": text, "filename": "ids.txt"})
    assert made.status_code == 201, made.text
    result = made.json()
    assert result["state"] == "done"
    assert [(o["index"], o["outcome"]) for o in result["outcomes"]] == [
        (1, "matched"),
        (2, "matched"),
        (3, "unparseable"),
    ]
    assert client.get(f"/api/me/imports/{result['id']}").json()["outcomes"] == result["outcomes"]
    # The list is a summary: with every outcome, a few 20,000-entry imports made it megabytes.
    (listed,) = client.get("/api/me/imports").json()
    assert (listed["id"], listed["counts"], listed["outcomes"]) == (
        result["id"],
        result["counts"],
        [],
    )
    bib = client.get("/api/me/export", params={"format": "bibtex"})
    assert bib.headers["content-type"].startswith("application/x-bibtex")
    assert f"eprint={{{PAPER}}}" in bib.text
    again = client.post(
        "/api/me/imports",
        files={"file": ("library.bib", bib.content, "application/x-bibtex")},
        data={"collection": "From BibTeX"},
    )
    assert again.status_code == 201, again.text
    assert {o["outcome"] for o in again.json()["outcomes"]} == {"matched"}
    assert [c["numPapers"] for c in client.get("/api/me/collections").json()] == [2]
    assert client.post("/api/me/imports", json={"text": ""}).status_code == 400
    assert (
        client.post(
            "/api/me/imports", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )


def test_an_import_may_be_large_where_other_bodies_may_not(client: TestClient) -> None:
    big = "% padding\n" * 200_000 + f"@misc{{a, title={{x}}, eprint={{{PAPER}}}}}\n"  # 2 MB
    assert (
        client.post("/api/me/imports", files={"file": ("big.bib", big.encode())}).status_code == 201
    )
    assert client.put(f"/api/me/notes/{PAPER}", json={"body": "x" * 2_000_000}).status_code == 413


def test_cookie_writes_need_the_csrf_header(app_settings: Settings) -> None:
    make_user(app_settings, "bob")
    with TestClient(create_app(app_settings)) as browser:
        sign_in(browser, "bob")
        assert browser.put(f"/api/me/saves/{PAPER}").status_code == 403
        token = csrf_token(browser, "/signin")
        assert (
            browser.put(f"/api/me/saves/{PAPER}", headers={"X-CSRF-Token": token}).status_code
            == 200
        )
        assert browser.get("/api/me/library").json()["total"] == 1


def test_import_and_export_pages(app_settings: Settings) -> None:
    make_user(app_settings, "cyd")
    with TestClient(create_app(app_settings)) as browser:
        sign_in(browser, "cyd")
        assert browser.get("/library/import").status_code == 200
        sent = form(
            browser, "/library/import", {"text": f"{PAPER}\n1234.5678\n"}, follow_redirects=False
        )
        assert sent.status_code == 303
        page = browser.get(sent.headers["location"]).text
        assert "1 matched" in page
        assert "outcome-not_found" in page or "outcome-unparseable" in page
        empty = form(browser, "/library/import", {"text": ""})
        assert empty.status_code == 400
        assert 'role="alert"' in empty.text
        ris = browser.get("/library/export?format=ris")
        assert ris.status_code == 200
        assert "attachment" in ris.headers["content-disposition"]
        assert PAPER in ris.text
        assert browser.get("/library/export?format=docx").status_code == 400
