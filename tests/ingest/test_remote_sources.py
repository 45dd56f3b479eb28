"""arXiv API, OAI-PMH and Hugging Face over HTTP, against recorded fixtures served on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.config import Settings
from dailypapers.ingest.http import PoliteClient, SourceUnavailableError, retry_after_seconds
from dailypapers.ingest.run import harvest_oai, ingest_arxiv_api, load_hf_daily_date
from dailypapers.ingest.sources.records import SourceFormatError
from dailypapers.models import Job, Paper, PaperVersion
from tests.support import DATA_DIR
from tests.support.fake_remotes import FakeRemote

pytestmark = pytest.mark.both_backends


API_IDS = [
    "2606.31796", "2606.30801", "2606.29066", "2606.28823", "2606.27705", "2606.27206",
    "2606.26859", "2606.24366", "2606.24155", "2606.23959", "2606.23375", "2606.19819",
]  # fmt: skip


# The range the recorded OAI-PMH pages answer.
OAI_WINDOW: dict[str, object] = {
    "set_spec": "cs",
    "from_date": dt.date(2026, 6, 20),
    "until_date": dt.date(2026, 7, 1),
}


class FakeTime:
    """A clock that moves only when the code sleeps: records every wait, never waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def remote() -> Iterator[FakeRemote]:
    with FakeRemote() as fake:
        yield fake


@pytest.fixture
def remote_settings(settings: Settings, remote: FakeRemote) -> Settings:
    return settings.model_copy(
        update={
            "arxiv_api_url": f"{remote.url}/api/query",
            "oai_url": f"{remote.url}/oai",
            "hf_api_url": remote.url,
        }
    )


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(fake_time: FakeTime, *, retries: int = 3, delay: float = 3.0) -> PoliteClient:
    return PoliteClient(
        delay_seconds=delay,
        max_retries=retries,
        timeout_seconds=5,
        user_agent="dailypapers-tests",
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
    )


def _ids(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return sorted(session.scalars(select(Paper.arxiv_id)))


def test_api_search_pages_through_every_result_politely(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    with make_client(fake_time) as client:
        stats = ingest_arxiv_api(
            session_factory, remote_settings, client, query="cat:cs.CL", page_size=5
        )
    assert (stats.new, stats.failed) == (12, 0)
    assert _ids(session_factory) == sorted(API_IDS)
    assert [q["start"] for _, q in remote.requests] == ["0", "5", "10"]
    assert fake_time.sleeps == [3.0, 3.0]  # the courtesy delay between requests
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2606.23959"))
        assert paper is not None
        assert paper.title.startswith("Does My Embedding Reflect That A = B? Evaluating")
        assert paper.title_raw is not None
        assert "$A = B$" in paper.title_raw
        long_list = session.scalar(select(Paper).where(Paper.arxiv_id == "2606.24155"))
        assert long_list is not None
        assert len(long_list.author_names) == 14
        assert long_list.author_names[-1] == "Xu Jie"
        assert session.scalar(select(func.count()).select_from(Job)) == 12  # one embed job each


def test_api_id_list_keeps_the_latest_version(
    session_factory: sessionmaker[Session], remote_settings: Settings, fake_time: FakeTime
) -> None:
    with make_client(fake_time) as client:
        stats = ingest_arxiv_api(
            session_factory,
            remote_settings,
            client,
            ids=["2606.17255", "2606.22527v2", "2606.22568"],
        )
    assert stats.new == 3
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2606.22527"))
        assert paper is not None
        assert paper.version == 2
        assert paper.revised_at == dt.datetime(2026, 6, 26, 14, 32, 7, tzinfo=dt.UTC)
        versions = session.scalars(
            select(PaperVersion.version).where(PaperVersion.paper_id == paper.id)
        ).all()
        assert list(versions) == [1, 2]


def test_api_error_entry_for_a_bad_id_is_reported(
    session_factory: sessionmaker[Session], remote_settings: Settings, fake_time: FakeTime
) -> None:
    with make_client(fake_time) as client:
        stats = ingest_arxiv_api(session_factory, remote_settings, client, ids=["1234"])
    assert stats.failed == 1
    assert "incorrect id format for 1234" in stats.errors[0]


def test_api_empty_result(
    session_factory: sessionmaker[Session], remote_settings: Settings, fake_time: FakeTime
) -> None:
    query = "cat:cs.CL AND submittedDate:[202607100000 TO 202607102359]"
    with make_client(fake_time) as client:
        stats = ingest_arxiv_api(session_factory, remote_settings, client, query=query)
    assert stats.total == 0


def test_429_and_503_then_success_honour_retry_after(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    remote.faults.extend([("status", 429, "7"), ("status", 503, "11"), ("drop",)])
    with make_client(fake_time, retries=3, delay=0) as client:
        stats = ingest_arxiv_api(
            session_factory, remote_settings, client, query="cat:cs.CL", page_size=5
        )
    assert stats.new == 12
    assert fake_time.sleeps[:3] == [7.0, 11.0, 4.0]  # Retry-After twice, then backoff 2**2
    assert len(remote.requests) == 3 + 3


def test_retry_after_as_an_http_date() -> None:
    now = dt.datetime(2026, 7, 2, 6, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("Thu, 02 Jul 2026 06:00:30 GMT", now) == 30.0
    assert retry_after_seconds("99999", now) == 600.0  # capped
    assert retry_after_seconds("soon", now) is None


def test_a_source_that_never_answers_gives_a_clear_error(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    remote.faults.extend([("status", 503, "1")] * 3)
    with (
        make_client(fake_time, retries=2, delay=0) as client,
        pytest.raises(SourceUnavailableError, match="gave up after 3 attempts"),
    ):
        ingest_arxiv_api(session_factory, remote_settings, client, query="cat:cs.CL")


def test_malformed_xml_is_a_clear_error_and_keeps_earlier_pages(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    remote.routes["api"] = b"malformed.xml"
    with make_client(fake_time) as client, pytest.raises(SourceFormatError, match="malformed XML"):
        ingest_arxiv_api(session_factory, remote_settings, client, query="cat:cs.CL", page_size=5)
    assert _ids(session_factory) == []


def test_oai_harvest_follows_resumption_tokens_and_skips_deleted(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    with make_client(fake_time) as client:
        stats = harvest_oai(
            session_factory,
            remote_settings,
            client,
            set_spec="cs",
            from_date=dt.date(2026, 6, 20),
            until_date=dt.date(2026, 7, 1),
        )
    assert (stats.new, stats.deleted, stats.failed) == (6, 1, 0)
    assert remote.requests[0][1] == {
        "verb": "ListRecords",
        "metadataPrefix": "arXiv",
        "set": "cs",
        "from": "2026-06-20",
        "until": "2026-07-01",
    }
    assert remote.requests[1][1] == {"verb": "ListRecords", "resumptionToken": "6942261|1001"}
    assert "2606.29069" not in _ids(session_factory)
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2606.20909"))
        assert paper is not None
        assert paper.author_names[0] == "Ümit Mert Çağlar"


def test_oai_drop_mid_harvest_then_resume_has_no_duplicate_and_no_gap(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    window = OAI_WINDOW
    # Page 1 answers; page 2's connection drops and no retry is allowed: the run stops.
    with make_client(fake_time, retries=0) as client:
        first = harvest_first_page_then_drop(
            session_factory, remote_settings, client, remote, window
        )
    assert first == 4
    assert sorted(_ids(session_factory)) == ["2606.20909", "2606.22511", "2606.23050", "2606.29734"]
    with make_client(fake_time) as client:
        stats = harvest_oai(session_factory, remote_settings, client, **window)  # type: ignore[arg-type]
    assert remote.requests[-1][1] == {"verb": "ListRecords", "resumptionToken": "6942261|1001"}
    assert stats.new == 2
    assert len(_ids(session_factory)) == 6
    assert stats.resumed_after == 4


def harvest_first_page_then_drop(
    factory: sessionmaker[Session],
    settings: Settings,
    client: PoliteClient,
    remote: FakeRemote,
    window: dict[str, object],
) -> int:
    """Run a harvest whose second request loses its connection; return the papers stored."""
    original = client.get

    def get_then_drop(url: str, params: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        if params and "resumptionToken" in params:
            remote.faults.append(("drop",))
        return original(url, params=params)

    client.get = get_then_drop  # type: ignore[method-assign]
    with pytest.raises(SourceUnavailableError):
        harvest_oai(factory, settings, client, **window)  # type: ignore[arg-type]
    return len(_ids(factory))


def test_oai_expired_token_restarts_the_range(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    from dailypapers.ingest.checkpoints import save_checkpoint
    from dailypapers.ingest.run import oai_source_key

    window = OAI_WINDOW
    with session_factory.begin() as session:
        save_checkpoint(
            session,
            oai_source_key("cs", "arXiv"),
            {"from": "2026-06-20", "until": "2026-07-01", "token": "expired|1", "records": 4},
        )
    with make_client(fake_time) as client:
        stats = harvest_oai(session_factory, remote_settings, client, **window)  # type: ignore[arg-type]
    assert remote.requests[0][1]["resumptionToken"] == "expired|1"
    assert "metadataPrefix" in remote.requests[1][1]  # started over
    assert stats.new == 6


def test_oai_arxivraw_versions_and_no_records_match(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    fake_time: FakeTime,
) -> None:
    with make_client(fake_time) as client:
        raw = harvest_oai(
            session_factory, remote_settings, client, set_spec="cs",
            from_date=dt.date(2026, 6, 20), metadata_prefix="arXivRaw",
        )  # fmt: skip
        empty = harvest_oai(
            session_factory, remote_settings, client, set_spec="cs",
            from_date=dt.date(2026, 7, 5),
        )  # fmt: skip
    assert raw.new == 3
    assert empty.total == 0
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2606.22640"))
        assert paper is not None
        assert paper.version == 2
        assert paper.published_at == dt.datetime(2026, 6, 23, tzinfo=dt.UTC)


def test_incremental_harvest_starts_where_the_last_one_ended(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    with make_client(fake_time) as client:
        harvest_oai(
            session_factory, remote_settings, client, set_spec="cs",
            from_date=dt.date(2026, 6, 20), until_date=dt.date(2026, 7, 5),
        )  # fmt: skip
        remote.requests.clear()
        again = harvest_oai(session_factory, remote_settings, client, set_spec="cs")
    assert remote.requests[0][1]["from"] == "2026-07-05"
    assert again.total == 0


def test_hf_daily_by_date(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    remote.hf_days["2026-02-10"] = (DATA_DIR / "hf_api_daily_papers_2026-02-10.json").read_bytes()
    with make_client(fake_time, delay=0) as client:
        stats = load_hf_daily_date(session_factory, remote_settings, client, dt.date(2026, 2, 10))
        nothing = load_hf_daily_date(session_factory, remote_settings, client, dt.date(2026, 2, 14))
    assert stats.new == 4
    assert nothing.total == 0
    # A short page is the last: one request a day.
    assert [(q["date"], q["p"]) for _, q in remote.requests] == [
        ("2026-02-10", "0"),
        ("2026-02-14", "0"),
    ]


def test_an_empty_page_in_the_middle_is_retried_then_fails_keeping_the_checkpoint(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    original = remote.answer

    def empty_second_page(path: str, query: dict[str, str]) -> tuple[int, bytes, str]:
        if query.get("start") == "5":
            body = (DATA_DIR / "arxiv_api/query_page_1.xml").read_bytes()
            cut = body.index(b"<entry>")
            return 200, body[:cut] + b"</feed>\n", "application/atom+xml"
        return original(path, query)

    remote.answer = empty_second_page  # type: ignore[method-assign]
    with (
        make_client(fake_time) as client,
        pytest.raises(SourceFormatError, match="empty pages at start=5 of 12"),
    ):
        ingest_arxiv_api(session_factory, remote_settings, client, query="cat:cs.CL", page_size=5)
    assert len(_ids(session_factory)) == 5
    assert sum(1 for _, q in remote.requests if q.get("start") == "5") == 4


def test_an_hf_answer_that_is_not_a_list_stops_at_once(
    session_factory: sessionmaker[Session],
    remote_settings: Settings,
    remote: FakeRemote,
    fake_time: FakeTime,
) -> None:
    remote.hf_days["2026-02-11"] = b'{"error": "rate limited"}'
    with make_client(fake_time, delay=0) as client:
        stats = load_hf_daily_date(session_factory, remote_settings, client, dt.date(2026, 2, 11))
    assert stats.failed == 1
    assert "expected a JSON array" in stats.errors[0]
    assert len(remote.requests) == 1
