"""Organizations: create, invite, accept, tag submissions, leave; profiles; the API object."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dailypapers.config import Settings
from dailypapers.web.app import create_app
from tests.factories import make_user
from tests.support.database import make_settings
from tests.support.fake_remotes import FakeRemote
from tests.support.web_client import form, sign_in

pytestmark = pytest.mark.both_backends


@pytest.fixture
def settings(demo_settings: Settings) -> Iterator[Settings]:
    with FakeRemote() as remote:
        yield make_settings(
            demo_settings.data_dir,
            database_url=demo_settings.database_url,
            arxiv_api_url=f"{remote.url}/api/query",
            arxiv_delay_seconds=0,
            submit_max_age_days=3650,
        )


def test_an_organization_from_creation_to_a_tagged_submission(settings: Settings) -> None:
    make_user(settings, "owner")
    make_user(settings, "grace")
    with TestClient(create_app(settings)) as owner, TestClient(create_app(settings)) as grace:
        sign_in(owner, "owner")
        sign_in(grace, "grace")
        bad = form(owner, "/orgs", {"name": "x", "fullname": "Lab"})
        assert bad.status_code == 400
        assert 'value="Lab"' in bad.text
        created = form(
            owner, "/orgs", {"name": "deeplab", "fullname": "Deep Lab"}, follow_redirects=False
        )
        assert created.headers["location"] == "/orgs/deeplab"
        assert form(owner, "/orgs", {"name": "deeplab"}).status_code == 400  # taken
        reserved = form(owner, "/orgs", {"name": "new"})  # /orgs/new is the creation form
        assert reserved.status_code == 400
        assert "page of the site" in reserved.text

        # Not a member yet: cannot tag a submission, cannot invite.
        refused = form(grace, "/papers/submit", {"paper": "2606.22527", "organization": "deeplab"})
        assert "not a member" in refused.text
        form(owner, "/orgs/deeplab/invite", {"username": "grace"})
        assert "Accept the invitation" in grace.get("/orgs/deeplab").text
        form(grace, "/orgs/deeplab/accept")
        done = form(
            grace,
            "/papers/submit",
            {"paper": "2606.22527", "organization": "deeplab"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        page = grace.get("/orgs/deeplab").text
        assert "2606.22527" in page
        assert "grace" in page
        item = grace.get("/api/papers/2606.22527").json()
        assert item["organization"]["name"] == "deeplab"

        # The last owner stays while others remain; a member leaves.
        last = form(owner, "/orgs/deeplab/leave")
        assert last.status_code == 400
        assert "Invite another owner" in last.text
        form(grace, "/orgs/deeplab/leave")
        assert "Leave" not in grace.get("/orgs/deeplab").text
    assert TestClient(create_app(settings)).get("/orgs/nope").status_code == 404


def test_only_owners_invite(settings: Settings) -> None:
    make_user(settings, "owner")
    make_user(settings, "eve")
    with TestClient(create_app(settings)) as owner, TestClient(create_app(settings)) as eve:
        sign_in(owner, "owner")
        sign_in(eve, "eve")
        form(owner, "/orgs", {"name": "lab", "fullname": "Lab"})
        refused = form(eve, "/orgs/lab/invite", {"username": "eve"})
        assert refused.status_code == 400
        assert "Only owners can invite." in refused.text
        unknown = form(owner, "/orgs/lab/invite", {"username": "nobody"})
        assert "No account is named" in unknown.text


def test_a_profile_lists_submissions_and_lets_moderators_ban(settings: Settings) -> None:
    make_user(settings, "mod", role="moderator")
    make_user(settings, "ada")
    with TestClient(create_app(settings)) as client:
        assert client.get("/users/nobody").status_code == 404
        sign_in(client, "mod")
        page = client.get("/users/ada")
        assert page.status_code == 200
        assert "Ban this user" in page.text
