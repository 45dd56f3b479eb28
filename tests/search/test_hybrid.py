"""The fusion's rules and the search service over the demo month with every vector."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from dailypapers.config import Settings
from dailypapers.db import make_engine, make_session_factory
from dailypapers.models import Embedding, Paper
from dailypapers.search import hybrid
from dailypapers.search.lexical import LexicalHit, lexical_search, match_terms, term_rarity
from dailypapers.search.query import parse_query
from dailypapers.search.vectors import reset_vector_indexes
from tests.factories import add_daily_paper
from tests.support.database import lexical_match_ids

pytestmark = pytest.mark.both_backends


def _lexical(*paper_ids: int) -> list[LexicalHit]:
    return [LexicalHit(p, 10.0 - rank, rank) for rank, p in enumerate(paper_ids, 1)]


def test_a_lexical_winner_missing_from_the_dense_top_stays_above_papers_fifth_in_both() -> None:
    # Plain RRF's failure: paper 1 is first lexically but not among the dense candidates.
    lexical = _lexical(1, 2, 3, 4, 5)
    dense = [(9, 0.50), (8, 0.49), (7, 0.48), (6, 0.47), (5, 0.46)]
    cosines = {1: 0.40, 2: 0.30, 3: 0.30, 4: 0.30}
    ranked = [hit.paper_id for hit in hybrid.fuse(lexical, dense, cosines)]
    assert ranked[0] == 1
    assert ranked.index(1) < ranked.index(5)


def test_a_much_closer_meaning_overtakes_a_near_tie_in_words() -> None:
    ranked = hybrid.fuse(_lexical(1, 2), [(2, 0.80)], {1: 0.20})
    assert [hit.paper_id for hit in ranked] == [2, 1]


def test_dense_only_candidates_need_the_cosine_floor() -> None:
    floor = hybrid.MIN_DENSE_ONLY_COSINE
    ranked = hybrid.fuse(_lexical(1), [(7, floor + 0.01), (8, floor - 0.01)], {1: 0.3})
    assert {hit.paper_id for hit in ranked} == {1, 7}


def test_a_lexical_hit_without_a_vector_is_scored_with_the_mean_cosine() -> None:
    ranked = hybrid.fuse(_lexical(1, 2, 3), [], {1: 0.5, 3: 0.3})
    middle = next(hit for hit in ranked if hit.paper_id == 2)
    assert middle.cosine is None
    expected = hybrid.math.exp(-1 / hybrid.LEXICAL_RANK_DECAY) + hybrid.DENSE_WEIGHT * 0.4
    assert abs(middle.score - expected) < 1e-9


def test_lexical_hits_none_embedded_yet_keep_their_place_against_meaning_alone() -> None:
    # New papers not embedded yet: a lexical hit scores as a paper at the cosine floor.
    ranked = hybrid.fuse(_lexical(1), [(7, hybrid.MIN_DENSE_ONLY_COSINE + 0.05)], {})
    assert [hit.paper_id for hit in ranked] == [1, 7]
    assert ranked[0].cosine is None


def test_the_head_comes_first_and_holding_more_query_terms_lifts_a_paper() -> None:
    lexical = _lexical(1, 2, 3)
    cosines = {1: 0.3, 2: 0.3, 3: 0.9}
    # Paper 2 holds every query term, paper 1 half of them; paper 3 is outside the head.
    ranked = hybrid.fuse(lexical, [], cosines, coverage={1: 0.5, 2: 1.0})
    assert [hit.paper_id for hit in ranked] == [2, 1, 3]
    assert next(hit.paper_id for hit in hybrid.fuse(lexical, [], cosines)) == 3


def test_the_head_holds_each_branch_first_candidates_above_the_floor() -> None:
    lexical = _lexical(*range(1, 30))
    floor = hybrid.MIN_DENSE_ONLY_COSINE
    dense = [(100, floor + 0.1), (1, floor + 0.05), (101, floor - 0.1)]
    head = hybrid.head_ids(lexical, dense)
    assert head == [*range(1, hybrid.HEAD_DEPTH + 1), 100]


def test_words_only_search_ranks_the_paper_holding_more_terms_first(
    search_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_daily_paper(
        search_settings,
        arxiv_id="2602.99001",
        title="Quokka numbat, quokka numbat",
        abstract="Quokka and numbat; numbat and quokka.",
    )
    add_daily_paper(
        search_settings,
        arxiv_id="2602.99002",
        title="Field notes from a long survey of small marsupials",
        abstract="We counted every quokka, numbat and wombat we met over three dry seasons "
        "in the south-west of the continent, across burnt and unburnt plots alike, and "
        "compare the counts with those of earlier surveys of the same plots and seasons, "
        "walking each transect at dawn and at dusk, when the animals are most active.",
    )
    for number in range(3):  # wombats are common, so bm25 weighs that word less
        add_daily_paper(
            search_settings,
            arxiv_id=f"2602.9901{number}",
            title=f"Burrows of the south-west, part {number}",
            abstract="Burrows dug by a wombat shelter many small animals through fires, "
            "droughts and floods; we mapped their entrances, depths and lodgers by camera.",
        )
    query = "quokka numbat wombat bilby"  # no paper holds all four
    factory = make_session_factory(make_engine(search_settings))
    with factory() as session:
        ids = dict(session.execute(select(Paper.arxiv_id, Paper.id)).all())
        lexical = lexical_search(session, parse_query(query), limit=10)
        assert lexical[0].paper_id == ids["2602.99001"]  # bm25: the repeated word wins
        words = hybrid.search(session, search_settings, query, semantic=False)
    assert not words.semantic
    assert words.hits[0].paper_id == ids["2602.99002"]

    with factory() as session:
        terms = match_terms(parse_query(query))
        rarity = dict(zip([t.text for t in terms], term_rarity(session, terms), strict=True))
        # Holding "bilby" (in no paper) would tell most, "wombat" (in four) least.
        if session.get_bind().dialect.name == "sqlite":
            assert rarity["bilby"] > rarity["quokka"] > rarity["wombat"] > 0
        else:  # estimates from ANALYZE's statistics, where rare words share one frequency
            assert rarity["bilby"] >= rarity["quokka"] >= rarity["wombat"] > 0
        # The authors' names count as the index's authors column does.
        with_author = hybrid._coverages(
            session, parse_query("quokka lovelace"), [ids["2602.99001"], ids["2602.99010"]]
        )
        assert with_author[ids["2602.99001"]] == 1.0
        assert 0 < with_author[ids["2602.99010"]] < 1.0

        # A coverage weight of 0 leaves the order to the score: bm25's first stays first.
        monkeypatch.setattr(hybrid, "WORDS_ONLY_COVERAGE_WEIGHT", 0.0)
        plain = hybrid.search(session, search_settings, query, semantic=False)
    assert plain.hits[0].paper_id == ids["2602.99001"]


def test_search_pins_an_id_an_exact_title_and_a_system_name(search_settings: Settings) -> None:
    factory = make_session_factory(make_engine(search_settings))
    with factory() as session:
        titled = session.scalars(
            select(Paper).where(Paper.title.like("%: %")).order_by(Paper.id).limit(40)
        ).all()
        paper = next(p for p in titled if len(p.title.split(":")[0].split()) == 1)
        name = paper.title.split(":")[0]
        for query in (paper.arxiv_id, f"https://arxiv.org/abs/{paper.arxiv_id}v2", paper.title):
            results = hybrid.search(session, search_settings, query)
            assert results.hits[0].paper_id == paper.id, query
            assert results.hits[0].pinned, query
        by_name = hybrid.search(session, search_settings, name)
        assert by_name.semantic
        assert by_name.hits[0].paper_id == paper.id


def test_pages_do_not_overlap_and_hidden_papers_never_appear(search_settings: Settings) -> None:
    factory = make_session_factory(make_engine(search_settings))
    with factory() as session:
        first = hybrid.search(session, search_settings, "language model agents", limit=10)
        second = hybrid.search(
            session, search_settings, "language model agents", limit=10, offset=10
        )
        assert first.semantic
        assert first.total > 20
        first_ids = [hit.paper_id for hit in first.hits]
        assert not set(first_ids) & {hit.paper_id for hit in second.hits}
        top = first_ids[0]
        session.execute(
            update(Paper).where(Paper.id == top).values(hidden_at=dt.datetime.now(dt.UTC))
        )
        session.commit()
        again = hybrid.search(session, search_settings, "language model agents", limit=50)
        assert top not in {hit.paper_id for hit in again.hits}
        assert top not in hybrid.related_papers(session, search_settings, first_ids[1])


def test_papers_without_vectors_are_still_found_by_their_words(search_settings: Settings) -> None:
    factory = make_session_factory(make_engine(search_settings))
    with factory() as session:
        paper = session.scalars(select(Paper).order_by(Paper.id.desc()).limit(1)).one()
        session.execute(Embedding.__table__.delete().where(Embedding.paper_id == paper.id))
        session.commit()
        results = hybrid.search(session, search_settings, paper.title, limit=5)
        assert results.semantic
        assert results.hits[0].paper_id == paper.id
        related = hybrid.related_papers(session, search_settings, paper.id)
        assert related
        assert paper.id not in related


def test_lexical_only_when_asked_or_without_a_model(
    search_settings: Settings, demo_settings: Settings
) -> None:
    for settings, semantic in ((search_settings, False), (demo_settings, True)):
        factory = make_session_factory(make_engine(settings))
        with factory() as session:
            results = hybrid.search(session, settings, "robot manipulation", semantic=semantic)
        assert not results.semantic
        assert results.hits
    assert results.notes  # no model: the page says results match the words only


def test_exclusions_also_remove_papers_found_by_meaning(search_settings: Settings) -> None:
    factory = make_session_factory(make_engine(search_settings))
    with factory() as session:
        tools = lexical_match_ids(session, "tool", prefix=True)
        plain = hybrid.search(session, search_settings, "language model agents", limit=100)
        # Without the exclusion, the dense side brings in tool-use papers the words miss.
        assert any(h.paper_id in tools and h.lexical_rank is None for h in plain.hits)
        excluded = hybrid.search(
            session, search_settings, "language model agents -tool*", limit=100
        )
        assert excluded.semantic
        assert excluded.hits
        assert not {hit.paper_id for hit in excluded.hits} & tools


def test_filters_hold_for_papers_found_by_meaning_broad_and_narrow(
    search_settings: Settings,
) -> None:
    factory = make_session_factory(make_engine(search_settings))
    with factory() as session:
        # Broad: enough of the 1,000 nearest pass. Narrow (few cs.RO papers in the month):
        # the nearest are searched again within the permitted ids.
        for query, broad in (
            ("reasoning in language models cat:cs.CL", True),
            ("agents cat:cs.AI", True),
            ("robot learning cat:cs.RO", False),
        ):
            results = hybrid.search(session, search_settings, query, limit=100)
            assert results.semantic
            assert results.hits
            if broad:
                assert any(hit.lexical_rank is None for hit in results.hits)
            cats = dict(
                session.execute(
                    select(Paper.id, Paper.categories).where(
                        Paper.id.in_([h.paper_id for h in results.hits])
                    )
                ).all()
            )
            wanted = query.rsplit("cat:", 1)[1]
            assert all(wanted in (cats[h.paper_id] or []) for h in results.hits), query


def test_damaged_vectors_never_fail_a_search(search_settings: Settings) -> None:
    factory = make_session_factory(make_engine(search_settings))
    query = "diffusion models for video"
    with factory() as session:
        lexical_only = hybrid.search(session, search_settings, query, semantic=False, limit=100)
        # One vector of the wrong length (a half-written blob): skipped, the rest still count.
        damaged = lexical_only.hits[-1].paper_id
        session.execute(
            update(Embedding).where(Embedding.paper_id == damaged).values(vector=b"\x00" * 6)
        )
        session.commit()
        results = hybrid.search(session, search_settings, query, limit=100)
        assert results.semantic
        assert damaged in {hit.paper_id for hit in results.hits}
    # Every vector of another size under the model's name (a bad restore): the words answer.
    with factory() as session:
        session.execute(update(Embedding).values(dim=3, vector=b"\x00" * 12))
        if session.get_bind().dialect.name == "postgresql":  # pgvector reads its own copy
            session.execute(text("UPDATE embeddings SET embedding = '[0,0,1]'"))
        session.commit()
    reset_vector_indexes()
    with factory() as session:
        results = hybrid.search(session, search_settings, query, limit=5)
        assert results.hits
        assert not results.semantic
        # In-process index: the search fails and says so; pgvector: no vector of the model's
        # size is searchable. Either way the page says results match the words only.
        assert any("words only" in note for note in results.notes)


def test_a_model_exported_while_the_site_runs_is_picked_up(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = hybrid._EmbedderCache()
    folder = tmp_path / "model"
    assert cache.get(folder, 1, "model.onnx") is None
    shutil.copytree(model_dir, folder)
    assert cache.get(folder, 1, "model.onnx") is None  # not tried again before the pause
    monkeypatch.setattr(hybrid._EmbedderCache, "RETRY_SECONDS", 0.0)
    embedder = cache.get(folder, 1, "model.onnx")
    assert embedder is not None
    assert cache.get(folder, 1, "model.onnx") is embedder
