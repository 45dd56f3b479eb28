"""The "For you" list of a period: its papers ranked for one user, each with true reasons, or
the period by trending score (saying so) when the user has nothing to learn from yet.

The per-user model (dailypapers/foryou/ranker.py) costs a few hundred milliseconds to train for
a large library, so it is kept in a small in-process LRU keyed by the user's profile version:
a save, an upvote or a dismissal changes the version, and the next request trains afresh.
The store's idf and the sampled background are computed once an hour per process (a sample of
5,000 papers, a couple of seconds); a model is keyed by the background it was trained against.
Nothing another process needs is kept there (each process trains its own copy, DESIGN.md §8).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import xxhash
from sqlalchemy import func, select
from sqlalchemy.orm import Session, contains_eager, joinedload
from threadpoolctl import threadpool_limits

from dailypapers.follows.matching import match_papers
from dailypapers.foryou import ranker
from dailypapers.foryou.profile import Profile, load_profile
from dailypapers.models import DailyEntry, Embedding, Paper
from dailypapers.papers import HIDDEN_PAPER_IDS
from dailypapers.periods import FeedWindow
from dailypapers.search.embed import DIM, MODEL_NAME, paper_text

MAX_CANDIDATES = 5000  # a month of the busiest Daily Papers list is ~3,000
CLOSE_ENOUGH = 0.45  # cosine under which "close to X" would not be true to the eye
MODEL_CACHE_SIZE = 256
PERIOD_CACHE_SIZE = 32
BACKGROUND_TTL = dt.timedelta(hours=1)


@dataclass(frozen=True)
class RankedEntry:
    entry: DailyEntry
    score: float
    reasons: list[str]


@dataclass
class ForYouPage:
    items: list[RankedEntry]
    total: int
    fallback: bool  # True: trending order, the user has no profile yet
    reason: str = ""


@dataclass(frozen=True)
class _Background:
    at: dt.datetime
    version: str  # changes with every resample: models and period features are keyed by it
    data: ranker.Background


@dataclass
class _Trained:
    model: ranker.UserModel
    positive_ids: list[int]
    positive_titles: list[str]
    profile_words: set[str] = field(default_factory=set)


_lock = threading.Lock()
_models: OrderedDict[tuple[str, int, str, str], _Trained] = OrderedDict()
_periods: OrderedDict[str, sp.csr_matrix] = OrderedDict()
_background: dict[str, _Background] = {}


def reset_caches(*, models_only: bool = False) -> None:
    """Forget trained models (and the sampled background unless ``models_only``): tests, a
    reloaded store, the benchmark's cold requests."""
    with _lock:
        _models.clear()
        if not models_only:
            _periods.clear()
            _background.clear()


def follow_reasons(session: Session, user_id: int, papers: list[Paper]) -> dict[int, list[str]]:
    """Reasons from the user's follows, per paper id ("by Ada Lovelace, whom you follow"): the
    same matching and wording as the alerts (docs/follows.md)."""
    found = match_papers(session, [paper.id for paper in papers], user_id=user_id)
    return {paper_id: match.reasons for paper_id, match in found.get(user_id, {}).items()}


def _vectors(session: Session, paper_ids: list[int]) -> np.ndarray:
    out = np.zeros((len(paper_ids), DIM), dtype=np.float32)
    where = {pid: i for i, pid in enumerate(paper_ids)}
    for start in range(0, len(paper_ids), 900):
        chunk = paper_ids[start : start + 900]
        for pid, dim, blob in session.execute(
            select(Embedding.paper_id, Embedding.dim, Embedding.vector).where(
                Embedding.paper_id.in_(chunk), Embedding.model == MODEL_NAME
            )
        ):
            if dim == DIM and len(blob) == DIM * 4:
                out[where[pid]] = np.frombuffer(blob, dtype="<f4")
    return out


def _texts(session: Session, paper_ids: list[int]) -> dict[int, tuple[str, str]]:
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(paper_ids), 900):
        chunk = paper_ids[start : start + 900]
        for pid, title, abstract in session.execute(
            select(Paper.id, Paper.title, Paper.abstract).where(Paper.id.in_(chunk))
        ):
            found[pid] = (title, paper_text(title, abstract))
    return found


def _background_for(session: Session) -> _Background:
    """The idf of the store and the papers a user's taste stands out of, from one random
    sample of it; resampled hourly (a new store's first papers count as soon as there are any)."""
    key = str(session.get_bind().engine.url)
    now = dt.datetime.now(dt.UTC)
    with _lock:
        cached = _background.get(key)
    if cached is not None and now - cached.at < BACKGROUND_TTL:
        return cached
    rows = session.execute(
        select(Paper.title, Paper.abstract)
        .where(Paper.hidden_at.is_(None))
        .order_by(func.random())
        .limit(ranker.IDF_SAMPLE)
    ).all()
    data = ranker.Background.from_texts([paper_text(t, a) for t, a in rows])
    fresh = _Background(now, f"{now.isoformat()}/{id(data)}", data)
    with _lock:
        _background[key] = fresh
    return fresh


def _trained(session: Session, user_id: int, profile: Profile, background: _Background) -> _Trained:
    key = (str(session.get_bind().engine.url), user_id, profile.version, background.version)
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    ids = list(profile.positives)
    texts = _texts(session, ids)
    ids = [pid for pid in ids if pid in texts]
    pos_texts = [texts[pid][1] for pid in ids]
    pos_vectors = _vectors(session, ids)
    data = background.data
    positives = data.features(pos_texts)
    hard_ids = sorted(profile.dismissed)[: ranker.NEGATIVES]
    hard_texts = _texts(session, hard_ids)
    hard = data.features([hard_texts[pid][1] for pid in hard_ids if pid in hard_texts])
    model = ranker.train(positives, data, pos_vectors, hard_negatives=hard)
    words: set[str] = set()
    for text in pos_texts:
        words.update(ranker.tokens(text))
    trained = _Trained(model, ids, [texts[pid][0] for pid in ids], words)
    with _lock:
        _models[key] = trained
        while len(_models) > MODEL_CACHE_SIZE:
            _models.popitem(last=False)
    return trained


def _candidate_features(
    session: Session, entries: list[DailyEntry], texts: list[str], background: _Background
) -> sp.csr_matrix:
    """The period's features, the same for every reader: cached by the background's idf and
    the papers' ids and content hashes (a new version of a paper is a new key)."""
    digest = xxhash.xxh3_64(str(session.get_bind().engine.url).encode())
    digest.update(background.version.encode())
    for entry in entries:
        digest.update(f"{entry.paper_id}:{entry.paper.content_hash},".encode())
    key = digest.hexdigest()
    with _lock:
        cached = _periods.get(key)
        if cached is not None:
            _periods.move_to_end(key)
            return cached
    features = background.data.features(texts)
    with _lock:
        _periods[key] = features
        while len(_periods) > PERIOD_CACHE_SIZE:
            _periods.popitem(last=False)
    return features


def _candidates(session: Session, window: FeedWindow, until: dt.date) -> list[DailyEntry]:
    return list(
        session.scalars(
            select(DailyEntry)
            .join(DailyEntry.paper)
            .where(
                DailyEntry.feed_date >= window.start,
                DailyEntry.feed_date <= min(window.end, until),
                DailyEntry.paper_id.not_in(HIDDEN_PAPER_IDS),
            )
            .options(
                contains_eager(DailyEntry.paper),
                joinedload(DailyEntry.submitter),
                joinedload(DailyEntry.organization),
            )
            .order_by(Paper.trending_score.desc(), Paper.arxiv_id)
            .limit(MAX_CANDIDATES)
        ).unique()
    )


def rank_for_user(
    session: Session,
    user_id: int | None,
    window: FeedWindow,
    until: dt.date,
    *,
    offset: int = 0,
    limit: int = 50,
) -> ForYouPage:
    """One page (``offset``, ``limit``) of the window's papers for the user, best first; the
    reasons are worded for that page only."""
    entries = _candidates(session, window, until)
    profile = load_profile(session, user_id) if user_id is not None else None
    if user_id is None or profile is None or profile.empty:
        return _trending_for(session, user_id, entries, offset, limit)
    # Dismissed papers never; papers already saved or upvoted are known to the reader.
    entries = [
        e
        for e in entries
        if e.paper_id not in profile.dismissed and e.paper_id not in profile.positives
    ]
    if not entries:
        return ForYouPage([], 0, fallback=False)
    # One BLAS thread: these products are small, and waking a sleeping BLAS pool cost ~40 ms
    # a request on a busy 2-core machine (measured; 1 ms single-threaded).
    with threadpool_limits(1, user_api="blas"):
        return _ranked(session, user_id, profile, entries, offset, limit)


def _trending_for(
    session: Session,
    user_id: int | None,
    entries: list[DailyEntry],
    offset: int,
    limit: int,
) -> ForYouPage:
    """Nothing to learn from: the period's trending papers, those matching the reader's
    follows first, and a note that says so."""
    if user_id is None:
        why = "Sign in and save or upvote papers to get a list of your own."
        follows: dict[int, list[str]] = {}
    else:
        why = (
            "Nothing to learn from yet: save or upvote a few papers and this list is "
            "ranked for you. Until then it shows the period's trending papers"
        )
        follows = follow_reasons(session, user_id, [e.paper for e in entries])
        why += ", those matching what you follow first." if follows else "."
    items = [
        RankedEntry(e, float(e.paper.trending_score or 0.0), list(follows.get(e.paper_id, [])))
        for e in entries
    ]
    items.sort(key=lambda item: item.entry.paper_id not in follows)  # stable: trending order
    return ForYouPage(items[offset : offset + limit], len(items), fallback=True, reason=why)


def _ranked(
    session: Session,
    user_id: int,
    profile: Profile,
    entries: list[DailyEntry],
    offset: int,
    limit: int,
) -> ForYouPage:
    background = _background_for(session)
    trained = _trained(session, user_id, profile, background)
    texts = [paper_text(e.paper.title, e.paper.abstract) for e in entries]
    features = _candidate_features(session, entries, texts, background)
    scores = trained.model.scores(features)
    # Papers matching a follow come first (the reader asked for them), each group by score.
    follows = follow_reasons(session, user_id, [e.paper for e in entries])
    followed = np.array([e.paper_id in follows for e in entries], dtype=bool)
    order = np.lexsort((-scores, ~followed))[offset : offset + limit]
    # Vectors for the page's papers only: the "close to" reason, not the score, needs them.
    vectors = _vectors(session, [entries[int(i)].paper_id for i in order])
    items = []
    for row, i in enumerate(order):
        entry = entries[int(i)]
        reasons = list(follows.get(entry.paper_id, []))
        near = ranker.nearest_positive(trained.model, vectors[row])
        if near is not None and near[1] >= CLOSE_ENOUGH:
            pid = trained.positive_ids[near[0]]
            how = profile.positives.get(pid, "saved")
            reasons.append(f"close to “{trained.positive_titles[near[0]]}” you {how}")
        kept = ranker.kept_words(trained.model, texts[int(i)], trained.profile_words)
        if kept:
            reasons.append("matches words you keep: " + ", ".join(kept))
        items.append(RankedEntry(entry, float(scores[int(i)]), reasons))
    return ForYouPage(items, len(entries), fallback=False)
