"""Lexical search on a real SQLite store: escaping, filters, exclusions, names, budgets,
snippets. Papers are stored through the real upsert path (FTS5 rows by trigger)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from dailypapers import migrate
from dailypapers.db import make_engine, make_session_factory
from dailypapers.ingest.normalize import DailyPaperRecord, OrgRef
from dailypapers.ingest.upsert import DailyPaperUpserter
from dailypapers.models import Paper
from dailypapers.postgres_local import LocalPostgres
from dailypapers.search.lexical import (
    ColumnWeights,
    LexicalHit,
    filter_clause,
    fts5,
    fts5_expression,
    lexical_search,
    match_terms,
    matching,
    planner,
    postgres,
    snippets,
)
from dailypapers.search.lexical.terms import tsquery
from dailypapers.search.query import Filters, QueryError, parse_query
from tests.support.database import BACKENDS, make_settings

pytestmark = pytest.mark.both_backends


FEED_DAY = dt.date(2026, 2, 27)


def _record(arxiv_id: str, title: str, abstract: str, **fields: object) -> DailyPaperRecord:
    values: dict[str, object] = {
        "arxiv_id": arxiv_id,
        "version": 1,
        "title": title,
        "abstract": abstract,
        "authors": ("Ada Lovelace",),
        "categories": ("cs.LG",),
        "published_at": dt.datetime(2026, 2, 1, 17, tzinfo=dt.UTC),
        "feed_date": FEED_DAY,
        "submitted_at": dt.datetime(2026, 2, 27, 8, tzinfo=dt.UTC),
        "upvotes": 1,
        "upvotes_read_at": None,
    }
    values.update(fields)
    return DailyPaperRecord(**values)  # type: ignore[arg-type]


RECORDS = [
    _record(
        "2601.00001",
        "V-GRPO: Verifiable Group Relative Policy Optimization",
        "We train reasoning models with reinforcement learning and verifiable rewards.",
        authors=("Yann LeCun", "Jürgen Müller"),
        categories=("cs.LG", "stat.ML"),
        published_at=dt.datetime(2025, 6, 10, tzinfo=dt.UTC),
        github_repo="https://github.com/example/v-grpo",
    ),
    _record(
        "2601.00002",
        "MV-GRPO: Multi-View Policy Optimization for Flow Models",
        "Reinforcement learning for image generation with several views.",
        categories=("cs.CV",),
        published_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    ),
    _record(
        "2602.00003",
        "Mobile-Agent-v3.5: Multi-platform Fundamental GUI Agents",
        "GUI agents that operate phones and desktops.",
        authors=("Wei Wang", "Jane Doe"),
        categories=("cs.AI", "cs.CL"),
        published_at=dt.datetime(2026, 2, 3, 23, 59, tzinfo=dt.UTC),
        organization=OrgRef("X-PLUG", "Alibaba X-PLUG", None),
    ),
    _record(
        "2602.00004",
        "Attention <script>alert(1)</script> & Friends",
        "Transformers with attention for translation; see <b>bold</b> claims.",
        categories=("cs.CL",),
        published_at=dt.datetime(2026, 2, 28, tzinfo=dt.UTC),
    ),
    _record(
        "2602.00005",
        "Bounds on divergences between distributions",
        "We bound the $\\alpha$-divergence and the $O(n^2)$ cost of estimating it.",
        categories=("math.ST", "stat.TH"),
        published_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    ),
    _record(
        "2602.00006",
        "大型语言模型的推理 survey",
        "A survey of reasoning in large language models, written for Chinese readers.",
        categories=("cs.CL",),
    ),
    _record(
        "2602.00007",
        "Diffusion models for video generation",
        "Video diffusion models generate clips from text prompts.",
        categories=("cs.CV",),
    ),
    _record(
        "2602.00008",
        "Diffusion models for protein design",
        "Diffusion models design proteins; no video is involved.",
        categories=("q-bio.BM",),
        github_repo="",
    ),
    _record(
        "2602.00009",
        "Hidden diffusion secrets",
        "A paper a moderator hid.",
        categories=("cs.CV",),
        github_repo="https://github.com/example/hidden",
    ),
    _record(
        "2602.00010",
        "Graph neural networks near molecules",
        "Message passing over molecular graphs AND NOT much else.",
        authors=("Ann Smith", "John Doe"),
        categories=("physics.chem-ph", "cs.LG"),
        organization=OrgRef("deepmind", "Google DeepMind", None),
    ),
]
HIDDEN = "2602.00009"


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[sessionmaker[Session]]:
    """The records above in a SQLite file and in a PostgreSQL database (module-wide)."""
    folder: Path = tmp_path_factory.mktemp("lexical")
    url = None
    server: LocalPostgres | None = None
    name = f"lexical_{uuid.uuid4().hex[:8]}"
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(name)
    settings_ = make_settings(folder, database_url=url)
    engine: Engine = make_engine(settings_)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        DailyPaperUpserter(session, settings_.trending_window_hours).apply(RECORDS)
        session.execute(
            update(Paper)
            .where(Paper.arxiv_id == HIDDEN)
            .values(hidden_at=dt.datetime(2026, 2, 27, 12, tzinfo=dt.UTC))
        )
    yield factory
    engine.dispose()
    if server is not None:
        server.drop_database(name)


@pytest.fixture
def session(store: sessionmaker[Session]) -> Iterator[Session]:
    with store() as session:
        yield session


@pytest.fixture(scope="module")
def arxiv_ids(store: sessionmaker[Session]) -> dict[int, str]:
    with store() as session:
        return dict(session.execute(select(Paper.id, Paper.arxiv_id)).all())


def search(session: Session, raw: str, limit: int = 20) -> list[LexicalHit]:
    return lexical_search(session, parse_query(raw), limit=limit)


def found(session: Session, raw: str, ids: dict[int, str], limit: int = 20) -> list[str]:
    return [ids[hit.paper_id] for hit in search(session, raw, limit)]


@pytest.mark.parametrize(
    "raw",
    [
        '"',
        '""',
        '"""',
        "*",
        "diffusion*",
        "NEAR(",
        "NEAR(video diffusion)",
        "NEAR(video diffusion, 2)",
        "video AND",
        "AND",
        "OR OR OR",
        "NOT video",
        "video NOT",
        "^title",
        "title:video",
        "{title}: video",
        "(",
        ")",
        "((video)",
        "video:",
        ":",
        "'",
        "\\",
        "-",
        "--",
        "+video",
        "video^2",
        'a"b',
        "\x00",
        "video\x00diffusion",
        "\u200b",
        "🙂 diffusion",
    ],
)
def test_fts5_syntax_in_a_query_is_plain_text(session: Session, raw: str) -> None:
    hits = search(session, raw)
    assert all(isinstance(hit, LexicalHit) for hit in hits)


def test_operators_are_words_not_syntax(session: Session, arxiv_ids: dict[int, str]) -> None:
    # "near" and "and" are words of paper 10's title and abstract, not operators.
    assert found(session, "NEAR molecules", arxiv_ids)[0] == "2602.00010"
    assert found(session, '"AND NOT much"', arxiv_ids) == ["2602.00010"]


def test_unbalanced_quote_searches_the_phrase(session: Session, arxiv_ids: dict[int, str]) -> None:
    assert found(session, '"video generation', arxiv_ids) == ["2602.00007"]


def test_a_10kb_query_is_fast_and_answers(session: Session, arxiv_ids: dict[int, str]) -> None:
    raw = "diffusion video " + "lorem ipsum " * 900
    assert len(raw) > 10_000
    started = time.perf_counter()
    hits = search(session, raw)
    assert time.perf_counter() - started < 2
    assert hits  # the words kept before the cut still match


def test_empty_and_stopword_only_queries(session: Session) -> None:
    assert search(session, "") == []
    assert search(session, "   ") == []
    assert search(session, "-- ** ()") == []
    assert search(session, "-diffusion") == []  # exclusions alone find nothing
    # Stop words alone are searched rather than dropped (they are all there is).
    hits = search(session, "the of and")
    assert all(isinstance(hit.paper_id, int) for hit in hits)


def test_stop_words_do_not_have_to_match(session: Session, arxiv_ids: dict[int, str]) -> None:
    assert found(session, "the diffusion models for a video", arxiv_ids)[0] == "2602.00007"


@pytest.mark.parametrize(
    "raw",
    ["大型语言模型", "语言模型", "推理", "модели диффузии", "نماذج", "मॉडल", "😀", "ⓐⓑ"],
)
def test_non_latin_scripts_answer_or_find_nothing(session: Session, raw: str) -> None:
    search(session, raw)


def test_a_cjk_run_is_found_by_its_start(session: Session, arxiv_ids: dict[int, str]) -> None:
    assert found(session, "大型语言模型", arxiv_ids) == ["2602.00006"]
    assert found(session, "大型语言模型的推理", arxiv_ids) == ["2602.00006"]


@pytest.mark.parametrize(
    "raw", ["$\\alpha$", "$\\alpha$-divergence", "$O(n^2)$", "\\frac{1}{2}", "$$", "\\"]
)
def test_latex_answers_or_finds_nothing(session: Session, raw: str) -> None:
    search(session, raw)


def test_latex_matches_the_abstract_text(session: Session, arxiv_ids: dict[int, str]) -> None:
    assert found(session, "$\\alpha$-divergence", arxiv_ids)[0] == "2602.00005"
    assert found(session, "$O(n^2)$ cost", arxiv_ids)[0] == "2602.00005"


@pytest.mark.parametrize(
    ("raw", "first"),
    [
        ("V-GRPO", "2601.00001"),
        ("v-grpo", "2601.00001"),
        ("MV-GRPO", "2601.00002"),
        ("Mobile-Agent-v3.5", "2602.00003"),
        ("mobile-agent-v3.5 GUI", "2602.00003"),
    ],
)
def test_hyphenated_and_versioned_names_find_their_paper(
    session: Session, arxiv_ids: dict[int, str], raw: str, first: str
) -> None:
    hits = search(session, raw)
    assert arxiv_ids[hits[0].paper_id] == first
    assert hits[0].all_terms


def test_a_name_is_a_phrase_not_its_parts(session: Session, arxiv_ids: dict[int, str]) -> None:
    # MV-GRPO holds "grpo" but not the phrase "v grpo".
    assert found(session, "V-GRPO", arxiv_ids) == ["2601.00001"]


def test_hidden_papers_never_appear(session: Session, arxiv_ids: dict[int, str]) -> None:
    for raw in ("hidden diffusion secrets", "diffusion", "cat:cs.CV", "has:code", "moderator"):
        assert HIDDEN not in found(session, raw, arxiv_ids), raw
    allowed = session.scalars(select(Paper.arxiv_id).where(filter_clause(Filters()))).all()
    assert HIDDEN not in allowed
    assert len(allowed) == len(RECORDS) - 1


def test_hidden_papers_among_the_best_do_not_shorten_the_page(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fts5, "HIDDEN_SLACK", 0)
    # The hidden paper is the best match for "diffusion" (short title); one more is asked for.
    hits = search(session, "diffusion", limit=2)
    assert len(hits) == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("author:lecun", {"2601.00001"}),
        ('author:"Yann LeCun"', {"2601.00001"}),
        ("author:LECUN reinforcement", {"2601.00001"}),
        ("author:muller", {"2601.00001"}),  # accents are ignored, as in the index
        ('author:"Yann LeCun" author:"Jürgen Müller"', {"2601.00001"}),
        ('author:"Yann LeCun" author:"Jane Doe"', set()),  # every author must be on it
        ("author:doe", {"2602.00003", "2602.00010"}),
        ("cat:cs.CL", {"2602.00003", "2602.00004", "2602.00006"}),
        ("cat:CS.cl", {"2602.00003", "2602.00004", "2602.00006"}),
        ("cat:cs.CL,cs.CV", {"2601.00002", "2602.00003", "2602.00004", "2602.00006", "2602.00007"}),
        ("cat:stat", {"2601.00001", "2602.00005"}),  # an archive: any of its categories
        ("cat:q-bio.BM", {"2602.00008"}),
        ("cat:physics.chem-ph", {"2602.00010"}),
        ("cat:cs.C", set()),
        ("org:x-plug", {"2602.00003"}),
        ('org:"Google DeepMind"', {"2602.00010"}),
        ("org:nobody", set()),
        ("has:code", {"2601.00001"}),  # an empty repo is no code; the hidden one is hidden
        ("from:2026-02-03 to:2026-02-03", {"2602.00003"}),  # 23:59 UTC is still that day
        ("from:2026-02-28", {"2602.00004", "2602.00005"}),
        ("to:2025", {"2601.00001"}),
        ("from:2026-01 to:2026-01", {"2601.00002"}),
        ("from:2026-03", {"2602.00005"}),
        ("policy optimization cat:cs.CV", {"2601.00002"}),
        ("reinforcement learning has:code", {"2601.00001"}),
        ("diffusion models cat:cs.CV from:2026-02", {"2602.00007"}),
        ("agents org:X-PLUG cat:cs.AI author:wang from:2026-02 to:2026-02", {"2602.00003"}),
        ("agents org:X-PLUG cat:cs.LG", set()),
        ("graph author:smith org:deepmind cat:cs.LG", {"2602.00010"}),
    ],
)
def test_filters_alone_and_combined(
    session: Session, arxiv_ids: dict[int, str], raw: str, expected: set[str]
) -> None:
    assert set(found(session, raw, arxiv_ids)) == expected
    # The vector branch's condition picks the same papers among those with the words.
    parsed = parse_query(raw)
    allowed = set(session.scalars(select(Paper.arxiv_id).where(filter_clause(parsed.filters))))
    assert expected <= allowed


def test_filter_only_queries_list_newest_first(session: Session) -> None:
    hits = search(session, "cat:cs.CL")
    assert [hit.rank for hit in hits] == [1, 2, 3]
    assert all(hit.score == 0.0 for hit in hits)
    listed = session.execute(
        select(Paper.listing_date, Paper.id).where(Paper.id.in_([h.paper_id for h in hits]))
    ).all()
    order = {paper_id: (day, paper_id) for day, paper_id in listed}
    keys = [order[hit.paper_id] for hit in hits]
    assert keys == sorted(keys, reverse=True)


def test_filter_statements_are_reused_with_new_values(session: Session) -> None:
    """The per-dialect condition's cache key carries its values: a cached statement run with
    another author must not answer for the first one."""
    first = session.scalars(
        select(Paper.arxiv_id).where(filter_clause(parse_query("author:lecun").filters))
    ).all()
    second = session.scalars(
        select(Paper.arxiv_id).where(filter_clause(parse_query("author:smith").filters))
    ).all()
    assert (first, second) == (["2601.00001"], ["2602.00010"])


def test_exclusions(session: Session, arxiv_ids: dict[int, str]) -> None:
    def matching_all(raw: str) -> set[str]:
        return {arxiv_ids[h.paper_id] for h in search(session, raw) if h.all_terms}

    assert matching_all("diffusion models") == {"2602.00007", "2602.00008"}
    assert matching_all("diffusion models -protein") == {"2602.00007"}
    # Excluded papers stay out of the OR fallback too ("no video" in 08's abstract).
    assert not {"2602.00007", "2602.00008"} & set(
        found(session, "diffusion models -video", arxiv_ids)
    )
    assert found(session, 'diffusion -"video generation"', arxiv_ids) == ["2602.00008"]
    assert found(session, "cat:cs.CV -video", arxiv_ids) == ["2601.00002"]


def test_all_terms_first_then_the_or_fallback(session: Session, arxiv_ids: dict[int, str]) -> None:
    hits = search(session, "reinforcement learning image")
    assert arxiv_ids[hits[0].paper_id] == "2601.00002"
    assert hits[0].all_terms
    rest = hits[1:]
    assert rest
    assert not any(hit.all_terms for hit in rest)
    assert "2601.00001" in {arxiv_ids[hit.paper_id] for hit in rest}
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))


def test_sentences_skip_the_and_and_still_find_the_paper(
    session: Session, arxiv_ids: dict[int, str]
) -> None:
    sentence = (
        "A framework that trains reasoning models using reinforcement learning with rewards "
        "that can be verified, improving group relative policy optimization"
    )
    hits = search(session, sentence)
    assert arxiv_ids[hits[0].paper_id] == "2601.00001"


@pytest.mark.postgres_gap("hidden papers are left out before the budget (FTS5 counts them in it)")
def test_the_rank_budget_ranks_the_newest_matches(
    session: Session, arxiv_ids: dict[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planner, "RANK_BUDGET", 1)
    # Three papers match; only the two most recently stored are ranked, and the newest is hidden
    # (dropped after ranking, so it took a place in the budget).
    assert found(session, "diffusion", arxiv_ids) == ["2602.00008"]
    monkeypatch.setattr(planner, "RANK_BUDGET", 2)
    assert set(found(session, "diffusion", arxiv_ids)) == {"2602.00008", "2602.00007"}
    monkeypatch.setattr(planner, "RANK_BUDGET", 1)
    # The same with a filter that needs the paper row.
    assert set(found(session, "diffusion cat:cs.CV", arxiv_ids)) == {"2602.00007"}
    assert set(found(session, "diffusion cat:cs.CV,q-bio", arxiv_ids)) == {
        "2602.00007",
        "2602.00008",
    }


def test_limit(session: Session) -> None:
    assert search(session, "diffusion", limit=0) == []
    assert len(search(session, "models", limit=1)) == 1


def test_weights_change_the_order(session: Session, arxiv_ids: dict[int, str]) -> None:
    # "attention" is in 04's title and in no other paper.
    title_heavy = lexical_search(
        session, parse_query("attention"), limit=5, weights=ColumnWeights(10, 1, 1)
    )
    assert arxiv_ids[title_heavy[0].paper_id] == "2602.00004"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.text(max_size=200))
def test_no_text_makes_search_raise(session: Session, raw: str) -> None:
    try:
        parsed = parse_query(raw)
    except QueryError:
        return
    lexical_search(session, parsed, limit=5)
    snippets(session, [1, 2], parsed)
    lexical_search(session, parse_query(raw, lenient=True), limit=5)


def test_snippets_mark_matches_and_escape_html(session: Session, arxiv_ids: dict[int, str]) -> None:
    parsed = parse_query("attention bold")
    paper_id = next(i for i, a in arxiv_ids.items() if a == "2602.00004")
    snippet = snippets(session, [paper_id], parsed)[paper_id]
    title = str(snippet.title_html)
    assert title.startswith("<mark>Attention</mark> &lt;script&gt;alert(1)&lt;/script&gt; &amp;")
    assert "<script>" not in title
    abstract = str(snippet.abstract_html)
    assert "&lt;b&gt;<mark>bold</mark>&lt;/b&gt;" in abstract
    assert any(fragment.highlighted for fragment in snippet.title)
    assert "".join(f.text for f in snippet.title) == "Attention <script>alert(1)</script> & Friends"


def test_snippets_of_names_and_of_papers_the_words_miss(
    session: Session, arxiv_ids: dict[int, str]
) -> None:
    by_arxiv = {a: i for i, a in arxiv_ids.items()}
    chosen = [by_arxiv["2602.00003"], by_arxiv["2602.00005"], 10_000]
    marked = snippets(session, chosen, parse_query("Mobile-Agent-v3.5"))
    assert set(marked) == {by_arxiv["2602.00003"], by_arxiv["2602.00005"]}  # unknown id: none
    assert str(marked[by_arxiv["2602.00003"]].title_html).startswith(
        "<mark>Mobile-Agent-v3.5</mark>:"
    )
    plain = marked[by_arxiv["2602.00005"]]  # found by meaning only: no marks, the opening
    assert not any(f.highlighted for f in plain.title + plain.abstract)
    assert str(plain.abstract_html).startswith("We bound the $\\alpha$-divergence")
    assert snippets(session, [], parse_query("x")) == {}


def test_digest_topics_keep_working(session: Session, arxiv_ids: dict[int, str]) -> None:
    assert fts5_expression('"" -- **') is None
    assert fts5_expression("agents Bcc: victim@example.org") is not None
    assert fts5_expression('NEAR( "x') == '("NEAR(" AND "x")'
    everything = Paper.hidden_at.is_(None)
    ids = session.scalars(matching(session, "diffusion models -protein", everything)).all()
    assert [arxiv_ids[i] for i in ids] == ["2602.00007"]
    # A topic's filters apply; a malformed one is only text.
    ids = session.scalars(matching(session, "reinforcement cat:cs.CV", everything)).all()
    assert [arxiv_ids[i] for i in ids] == ["2601.00002"]
    assert session.scalars(matching(session, "from:2026-13 diffusion", everything)).all() == []
    assert session.scalars(matching(session, "-- **", everything)).all() == []


def test_filter_clause_compiles_for_postgresql() -> None:
    parsed = parse_query(
        'author:"Yann LeCun" cat:cs.CL cat:stat org:x from:2025 to:2026-02 has:code'
    )
    sql = str(
        select(Paper.id).where(filter_clause(parsed.filters)).compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    )
    assert "MATCH" not in sql
    assert "ts_filter(papers.search_document" in sql  # authors: the index's weight-B part
    assert "timezone" in sql
    assert "CAST(papers.categories AS TEXT) LIKE" in sql


def test_the_postgresql_search_compiles() -> None:
    """No PostgreSQL server here yet: at least the statement builds and binds user text only
    as values."""
    parsed = parse_query('V-GRPO "video generation" -survey cat:cs.CV author:lecun')
    for operator in ("&&", "||"):
        query = tsquery(match_terms(parsed), operator)
        compiled = postgres.postgres_statement(parsed, query).compile(
            dialect=postgresql.dialect()  # type: ignore[no-untyped-call]
        )
        sql = str(compiled)
        assert "phraseto_tsquery" in sql
        assert "V-GRPO" not in sql
        assert "V-GRPO" in compiled.params.values()


def test_papers_without_a_publication_date_are_dated_by_their_feed_day(
    demo_session: Session,
) -> None:
    from dailypapers.models import DailyEntry

    day = dt.date(2026, 2, 10)
    expected = set(
        demo_session.scalars(
            select(DailyEntry.paper_id)
            .join(Paper, Paper.id == DailyEntry.paper_id)
            .where(DailyEntry.feed_date == day, Paper.published_at.is_(None))
        )
    )
    assert expected  # the demo month carries feed dates only
    hits = lexical_search(demo_session, parse_query("from:2026-02-10 to:2026-02-10"), limit=500)
    assert {hit.paper_id for hit in hits} == expected
