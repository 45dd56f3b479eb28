"""The Hugging Face daily-papers loader against real files and real SQLite databases."""

from __future__ import annotations

import datetime as dt
import gzip
import lzma
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import migrate
from dailypapers.config import Settings
from dailypapers.data import DEMO_DAILY_PAPERS
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.run import load_hf_daily
from dailypapers.ingest.upsert import UpvoteReading, newest_upvotes
from dailypapers.models import Author, DailyEntry, Org, Paper, PaperAuthor, User
from dailypapers.ranking import trending_score
from tests.support import DATA_DIR
from tests.support.database import lexical_match_ids

pytestmark = pytest.mark.both_backends


MALFORMED = DATA_DIR / "hf_daily_malformed.jsonl"
API_ITEMS = DATA_DIR / "hf_api_daily_papers_2026-02-10.json"


def _snapshot(session: Session, *, with_row_times: bool = True) -> list[tuple[object, ...]]:
    """Every stored fact that a load may change, in a stable order.

    Without row times it compares two databases filled at different moments.
    """
    columns = [
        Paper.arxiv_id,
        Paper.title,
        Paper.abstract,
        Paper.authors_text,
        Paper.external_upvotes,
        Paper.trending_score,
        Paper.content_hash,
        DailyEntry.feed_date,
        DailyEntry.submitted_at,
    ]
    if with_row_times:
        columns.append(Paper.modified_at)
    rows = session.execute(select(*columns).join(Paper.daily_entry).order_by(Paper.arxiv_id))
    return [tuple(row) for row in rows]


def _demo_rows_in_a_fresh_database(settings: Settings, folder: Path) -> list[tuple[object, ...]]:
    """The rows an uninterrupted load of the demo month gives in a new database."""
    other = settings.model_copy(update={"data_dir": folder})
    engine = make_engine(other)
    migrate.upgrade(engine)
    load_hf_daily(make_session_factory(engine), other, DEMO_DAILY_PAPERS)
    with make_session_factory(engine)() as session:
        rows = _snapshot(session, with_row_times=False)
    engine.dispose()
    return rows


def test_demo_month_loads_with_the_duplicate_rule(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    stats = load_hf_daily(session_factory, settings, DEMO_DAILY_PAPERS)
    assert (stats.new, stats.failed, stats.total) == (783, 0, 808)
    with session_factory() as session:
        per_day = dict(
            session.execute(
                select(DailyEntry.feed_date, func.count()).group_by(DailyEntry.feed_date)
            ).all()
        )
        assert per_day[dt.date(2026, 2, 18)] == 25
        assert per_day[dt.date(2026, 2, 19)] == 21
        assert sum(per_day.values()) == 783
        # 2602.14111 was read at 22 upvotes on 02-18 and at 51 on 02-19 (later): newest wins,
        # and the entry stays on the earliest day.
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2602.14111"))
        assert paper is not None
        assert paper.daily_entry is not None
        assert paper.external_upvotes == 51
        assert paper.daily_entry.feed_date == dt.date(2026, 2, 18)
        assert paper.trending_score == pytest.approx(
            trending_score(51, paper.daily_entry.submitted_at, settings.trending_window_hours)
        )


def test_loading_twice_changes_nothing(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    load_hf_daily(session_factory, settings, DEMO_DAILY_PAPERS)
    with session_factory() as session:
        before = _snapshot(session)
        author_rows = session.scalar(select(func.count()).select_from(PaperAuthor))
    again = load_hf_daily(session_factory, settings, DEMO_DAILY_PAPERS)
    assert (again.new, again.updated, again.unchanged, again.failed) == (0, 0, 808, 0)
    with session_factory() as session:
        assert _snapshot(session) == before
        assert session.scalar(select(func.count()).select_from(PaperAuthor)) == author_rows


def test_order_of_files_does_not_matter(
    tmp_path: Path, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """Loading the lines newest-day-first gives the same rows as the file's own order."""
    lines = gzip.decompress(DEMO_DAILY_PAPERS.read_bytes()).splitlines(keepends=True)
    reversed_file = tmp_path / "reversed.jsonl"
    reversed_file.write_bytes(b"".join(reversed(lines)))
    load_hf_daily(session_factory, settings, reversed_file)
    with session_factory() as session:
        reversed_rows = _snapshot(session, with_row_times=False)
    assert reversed_rows == _demo_rows_in_a_fresh_database(settings, tmp_path / "other")


def test_malformed_lines_are_reported_and_the_rest_loaded(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    stats = load_hf_daily(session_factory, settings, MALFORMED)
    failed_lines = sorted(int(error.split(":")[0].split()[1]) for error in stats.errors)
    assert failed_lines == [2, 8, 9, 10, 11, 13, 14]
    messages = "\n".join(stats.errors)
    assert "line 2: malformed JSON" in messages
    assert "line 8: arxiv_id: 'not-an-id' is not an arXiv id" in messages
    assert "line 9: daily_date" in messages
    assert "line 10: expected an object, got list" in messages
    assert "line 11: upvotes" in messages
    assert "line 13: title: missing or empty" in messages
    assert "line 14: not UTF-8" in messages
    assert (stats.new, stats.failed) == (7, 7)
    with session_factory() as session:
        ids = set(session.scalars(select(Paper.arxiv_id)))
    assert ids == {
        "2601.23265",
        "2601.22975",
        "2601.21558",
        "2601.22813",
        "2601.23143",
        "2601.23184",
        "2601.21998",
    }


def test_missing_abstracts_latex_and_odd_unicode_are_kept_safely(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    load_hf_daily(session_factory, settings, MALFORMED)
    with session_factory() as session:
        papers = {p.arxiv_id: p for p in session.scalars(select(Paper))}
        assert papers["2601.21558"].abstract == ""
        assert papers["2601.22813"].abstract == ""
        latex = papers["2601.23143"]
        assert latex.title.startswith("χ₀: Taming Distributional Inconsistencies with O(n²)")
        assert latex.title_raw is not None
        assert latex.title_raw.startswith(r"$\chi_{0}$: Taming \textbf{Distributional}")
        odd = papers["2601.23184"]
        assert "\x07" not in odd.title  # control characters are dropped
        assert "café (é)" in odd.title  # combining accent composed (NFC)
        assert "🚀" in odd.title
        assert "שלום" in odd.title
        assert "漢字" in odd.title
        assert odd.author_names == ["Zoë Ünal", "José Ramírez", "李 雷"]
        # The lexical index has the row, so search can find it by a word of its title.
        assert lexical_match_ids(session, "Inconsistencies") == {papers["2601.23143"].id}


def test_api_shape_items_with_submitters_and_organizations(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    stats = load_hf_daily(session_factory, settings, API_ITEMS)
    assert (stats.new, stats.failed) == (4, 0)
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2602.08222"))
        assert paper is not None
        assert paper.daily_entry is not None
        assert "\n" not in paper.title
        assert "  " not in paper.title
        assert "Hidden Person" not in paper.author_names
        assert paper.ai_summary == "A hand-written one-sentence summary used only by the tests."
        assert paper.ai_keywords == ["agents", "benchmarks"]
        assert paper.github_stars == 120
        assert paper.published_at == dt.datetime(2026, 2, 9, 17, 59, 30, tzinfo=dt.UTC)
        assert paper.daily_entry.submitted_at == dt.datetime(
            2026, 2, 10, 0, 57, 9, 392000, tzinfo=dt.UTC
        )
        assert paper.daily_entry.feed_date == dt.date(2026, 2, 10)
        assert paper.daily_entry.submitter is not None
        assert paper.daily_entry.submitter.username == "ada@hf"  # never a local account's name
        assert paper.daily_entry.submitter.is_external
        assert paper.daily_entry.organization is not None
        assert paper.daily_entry.organization.fullname == "Example Lab"
        # "ada" submitted two papers: one user row.
        assert session.scalar(select(func.count()).select_from(User)) == 2
        assert session.scalar(select(func.count()).select_from(Org)) == 1
        unsafe = session.scalar(select(Paper).where(Paper.arxiv_id == "2602.07085"))
        assert unsafe is not None
        assert unsafe.project_page is None


def test_a_newer_reading_replaces_the_count_and_an_older_one_does_not(
    tmp_path: Path, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    record = (
        '{"arxiv_id": "2602.12670", "daily_date": "2026-02-19", "title": "T", "authors": ["A B"],'
        ' "upvotes": %d, "upvotes_fetched_at": "%s"}\n'
    )
    first = tmp_path / "first.jsonl"
    first.write_text(record % (38, "2026-02-19T01:55:00+00:00"))
    newer = tmp_path / "newer.jsonl"
    newer.write_text(record % (30, "2026-02-25T00:00:00+00:00"))  # someone un-voted
    older = tmp_path / "older.jsonl"
    older.write_text(record % (99, "2026-02-18T00:00:00+00:00"))
    load_hf_daily(session_factory, settings, first)
    assert load_hf_daily(session_factory, settings, newer).updated == 1
    assert load_hf_daily(session_factory, settings, older).unchanged == 1
    with session_factory() as session:
        assert session.scalar(select(Paper.external_upvotes)) == 30


@pytest.mark.parametrize(
    ("current", "incoming", "kept"),
    [
        (None, UpvoteReading(3, None), UpvoteReading(3, None)),
        (UpvoteReading(9, None), UpvoteReading(3, None), UpvoteReading(3, None)),
        (
            UpvoteReading(9, dt.datetime(2026, 1, 2, tzinfo=dt.UTC)),
            UpvoteReading(3, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
            UpvoteReading(9, dt.datetime(2026, 1, 2, tzinfo=dt.UTC)),
        ),
        (
            UpvoteReading(2, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
            UpvoteReading(5, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
            UpvoteReading(5, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
        ),
        (
            UpvoteReading(7, None),
            UpvoteReading(5, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
            UpvoteReading(7, None),
        ),
    ],
)
def test_newest_upvotes_rule(
    current: UpvoteReading | None, incoming: UpvoteReading, kept: UpvoteReading
) -> None:
    assert newest_upvotes(current, incoming) == kept


def test_compressed_inputs(
    tmp_path: Path, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    raw = MALFORMED.read_bytes()
    xz_file = tmp_path / "daily.jsonl.xz"
    xz_file.write_bytes(lzma.compress(raw))
    gz_file = tmp_path / "api.json.gz"
    gz_file.write_bytes(gzip.compress(API_ITEMS.read_bytes()))
    assert load_hf_daily(session_factory, settings, xz_file).new == 7
    assert load_hf_daily(session_factory, settings, gz_file).new == 4


def test_broken_json_array_is_one_clear_failure(
    tmp_path: Path, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"paper": {"id": "2602.08222"}}, ')
    stats = load_hf_daily(session_factory, settings, broken)
    assert stats.failed == 1
    assert stats.errors[0].startswith("file: not a valid JSON array")


def test_an_interrupted_load_resumes_to_the_same_rows(
    tmp_path: Path, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """A load that dies after some batches keeps them; a rerun completes to identical rows."""
    lines = gzip.decompress(DEMO_DAILY_PAPERS.read_bytes()).splitlines(keepends=True)
    partial = tmp_path / "partial.jsonl"
    partial.write_bytes(b"".join(lines[:300]))
    load_hf_daily(session_factory, settings, partial, batch_size=100)
    stats = load_hf_daily(session_factory, settings, DEMO_DAILY_PAPERS, batch_size=100)
    assert stats.failed == 0
    with session_factory() as session:
        resumed = _snapshot(session, with_row_times=False)
    assert resumed == _demo_rows_in_a_fresh_database(settings, tmp_path / "fresh")


def test_authors_are_shared_rows_in_order(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    load_hf_daily(session_factory, settings, DEMO_DAILY_PAPERS)
    with session_factory() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2601.23265"))
        assert paper is not None
        assert paper.author_names[:3] == ["Dawei Zhu", "Rui Meng", "Yale Song"]
        assert paper.authors_text.startswith("Dawei Zhu, Rui Meng, Yale Song")
        distinct_names = session.scalar(select(func.count()).select_from(Author))
        links = session.scalar(select(func.count()).select_from(PaperAuthor))
        assert distinct_names is not None
        assert links is not None
        assert distinct_names < links


def test_unusable_values_are_reported_and_odd_characters_dropped(
    tmp_path: Path, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    base = '{"arxiv_id": "%s", "daily_date": "2026-02-10", "title": "%s", "upvotes": %s%s}\n'
    lines = [
        base % ("2602.00001", "Lone \\ud800 surrogate \\uffff here", "1", ""),
        base % ("2602.00002", "Too many votes", str(2**70), ""),
        base % ("2602.00003", "Far past", "1", ', "published_at": "0001-01-01T00:00:00+05:00"'),
        base % ("2602.00004", "Fine", "3", ""),
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text("".join(lines))
    stats = load_hf_daily(session_factory, settings, path)
    assert (stats.new, stats.failed) == (2, 2), stats.errors
    assert "line 2: upvotes" in stats.errors[0]
    assert "line 3: published_at" in stats.errors[1]
    with session_factory() as session:
        title = session.scalar(select(Paper.title).where(Paper.arxiv_id == "2602.00001"))
        assert title == "Lone surrogate here"


def test_hf_loads_queue_an_embedding_job_per_paper(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    from dailypapers.models import Job

    load_hf_daily(session_factory, settings, DEMO_DAILY_PAPERS)
    load_hf_daily(session_factory, settings, DEMO_DAILY_PAPERS)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 783
