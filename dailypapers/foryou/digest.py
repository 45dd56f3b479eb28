""" "For me" digests: one period ranked for many users at a digest's pace (service, no commits).

The For you page trains a per-user linear SVM (a few hundred milliseconds for a large library,
docs/for-you.md); 10,000 digests a morning cannot pay that. A digest chunk instead scores every
user of the chunk with the same features, the same neighbour part, the same fusion and the same
reasons, but with the closed-form linear model of ``ranker.centroid_scores`` (the mean of the
user's papers minus the mean of the background sample, Rocchio style) over each user's newest
``DIGEST_POSITIVES`` papers. The expensive parts are shared: the period's features (cached per
process), the background's mean (cached with the sample), the features of every profile paper
of the chunk (hashed once however many users saved it), and one sparse product of the
candidates with all of them; what is left per user is a few small array slices.
bench/bench_digest.py measures it against the global digest in the same run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import xxhash
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from dailypapers.follows.matching import UserMatch, match_papers
from dailypapers.foryou import ranker
from dailypapers.foryou.profile import Profile, load_profiles
from dailypapers.foryou.service import (
    CLOSE_ENOUGH,
    _background_features,
    _candidate_features,
    _candidates,
    _texts,
    _vectors,
)
from dailypapers.models import DailyEntry
from dailypapers.periods import FeedWindow
from dailypapers.search.embed import paper_text

# The newest papers of a profile a digest learns from: bounds the work per user (a library
# of 5,000 saves costs what one of 200 does); the page's SVM takes up to 2,000.
DIGEST_POSITIVES = 200
# Dismissed papers per user the model pushes away from (they are never sent either way).
DIGEST_DISMISSED = 200
# Profile papers scored in one sparse product: bounds the (candidates × papers) array.
GROUP_PAPERS = 8000
# Hashed profile papers kept per process (about 1 KB each): a store's saved papers, mostly.
ROW_CACHE_SIZE = 50_000

_lock = threading.Lock()
_row_cache: OrderedDict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()

FALLBACK = (
    "Nothing to learn from yet: save or upvote a few papers and this digest is ranked for "
    "you. Until then it has the period's trending papers"
)


@dataclass(frozen=True)
class DigestRanking:
    """One user's digest of the period: paper ids best first, the reasons of each, and why
    the list is trending instead when it is (an empty profile)."""

    paper_ids: list[int]
    reasons: dict[int, list[str]] = field(default_factory=dict)
    fallback: str | None = None


class PeriodRanker:
    """Ranks one period for many users; made once per send chunk (or preview)."""

    def __init__(self, session: Session, window: FeedWindow) -> None:
        self.session = session
        self.window = window
        self._entries: list[DailyEntry] | None = None
        self._words: dict[int, list[str]] = {}  # candidate index -> its tokens

    def _tokens(self, index: int, texts: list[str]) -> list[str]:
        """A candidate's tokens, found once per period for every user of the chunk."""
        if index not in self._words:
            self._words[index] = ranker.tokens(texts[index])
        return self._words[index]

    def entries(self) -> list[DailyEntry]:
        if self._entries is None:
            self._entries = _candidates(self.session, self.window, self.window.end)
        return self._entries

    def rank(
        self,
        sizes: Mapping[int, int],
        exclude: Mapping[int, Collection[int]] | None = None,
    ) -> dict[int, DigestRanking]:
        """``sizes``: user id → papers wanted; ``exclude``: user id → papers never to pick
        (already sent). Dismissed papers and the user's own papers are never picked."""
        exclude = exclude or {}
        entries = self.entries()
        users = list(sizes)
        if not entries or not users:
            return {user: DigestRanking([]) for user in users}
        with threadpool_limits(1, user_api="blas"):  # small products (see service.py)
            return self._rank(entries, users, sizes, exclude)

    def _rank(
        self,
        entries: list[DailyEntry],
        users: list[int],
        sizes: Mapping[int, int],
        exclude: Mapping[int, Collection[int]],
    ) -> dict[int, DigestRanking]:
        session = self.session
        ids = [entry.paper_id for entry in entries]
        texts = [paper_text(e.paper.title, e.paper.abstract) for e in entries]
        features, vectors = _candidate_features(session, entries, texts)
        profiles = load_profiles(session, users, limit=DIGEST_POSITIVES)
        wanted = set(users)
        follows = {u: m for u, m in match_papers(session, ids).items() if u in wanted}
        result: dict[int, DigestRanking] = {}
        learners = []
        for user in users:
            profile = profiles[user]
            sent = set(exclude.get(user, ()))
            allowed = [
                i
                for i, paper_id in enumerate(ids)
                if paper_id not in profile.dismissed
                and paper_id not in profile.positives
                and paper_id not in sent
            ]
            if not allowed:
                result[user] = DigestRanking([])
            elif profile.empty:
                result[user] = _trending(ids, allowed, follows.get(user, {}), sizes[user])
            else:
                learners.append((user, profile, allowed))
        if learners:
            background = _background_features(session)
            mean = np.asarray(background.mean(axis=0), dtype=np.float32).ravel()
            with_background = np.asarray(features @ mean).ravel()
            for group in _groups(learners):
                result.update(
                    self._score_group(
                        group, ids, texts, features, vectors, mean, with_background, follows, sizes
                    )
                )
        return result

    def _score_group(
        self,
        group: list[tuple[int, Profile, list[int]]],
        ids: list[int],
        texts: list[str],
        features: sp.csr_matrix,
        vectors: np.ndarray,
        mean: np.ndarray,
        with_background: np.ndarray,
        follows: Mapping[int, Mapping[int, UserMatch]],
        sizes: Mapping[int, int],
    ) -> dict[int, DigestRanking]:
        session = self.session
        union: dict[int, None] = {}
        for _, profile, _ in group:
            union.update(dict.fromkeys(profile.positives))
            union.update(dict.fromkeys(sorted(profile.dismissed)[:DIGEST_DISMISSED]))
        found = _texts(session, list(union))
        papers = [paper_id for paper_id in union if paper_id in found]
        column = {paper_id: j for j, paper_id in enumerate(papers)}
        paper_vectors = _vectors(session, papers)
        paper_texts = [found[paper_id][1] for paper_id in papers]
        profile_features = ranker.combined_features(
            _word_rows(session, papers, paper_texts), paper_vectors
        )
        dots = np.asarray((features @ profile_features.T).toarray(), dtype=np.float32)
        cosines = vectors @ paper_vectors.T
        # Word columns × profile papers, for the "words you keep" weights (row slices only).
        by_column = sp.csr_matrix(profile_features.T)
        words: dict[int, list[str]] = {}
        out: dict[int, DigestRanking] = {}
        for user, profile, allowed in group:
            mine = np.asarray([column[p] for p in profile.positives if p in column], dtype=np.intp)
            hard = np.asarray(
                [column[p] for p in sorted(profile.dismissed)[:DIGEST_DISMISSED] if p in column],
                dtype=np.intp,
            )
            matches = follows.get(user, {})
            if not allowed:
                out[user] = DigestRanking([])
                continue
            if not len(mine):  # none of the profile's papers is stored any more
                out[user] = _trending(ids, allowed, matches, sizes[user])
                continue
            rows = np.asarray(allowed, dtype=np.intp)
            linear = ranker.centroid_scores(
                dots[np.ix_(rows, mine)],
                with_background[rows],
                dots[np.ix_(rows, hard)] if len(hard) else None,
            )
            near = cosines[np.ix_(rows, mine)]
            scores = ranker.fuse(linear, ranker.top_k_mean(near))
            followed = np.array([ids[i] in matches for i in allowed], dtype=bool)
            order = np.lexsort((-scores, ~followed))[: sizes[user]]
            picked = [ids[allowed[int(k)]] for k in order]
            profile_words: set[str] = set()
            for j in mine.tolist():
                if j not in words:
                    words[j] = ranker.tokens(paper_texts[j])
                profile_words.update(words[j])
            weights: dict[int, float] = {}

            def weigh(
                columns: list[int], known: dict[int, float] = weights, of: np.ndarray = mine
            ) -> np.ndarray:
                missing = [c for c in dict.fromkeys(columns) if c not in known]
                if missing:
                    part = by_column[missing].toarray()[:, of].mean(axis=1)
                    for c, value in zip(missing, part - mean[missing], strict=True):
                        known[c] = float(value)
                return np.asarray([known[c] for c in columns], dtype=np.float32)

            # One lookup of every reason weight this user's papers need, not one per paper.
            needed = [
                ranker.word_column(w)
                for k in order
                for w in self._tokens(allowed[int(k)], texts)
                if w in profile_words and len(w) >= 3
            ]
            if needed:
                weigh(needed)
            reasons: dict[int, list[str]] = {}
            for k in order:
                i = allowed[int(k)]
                why = list(matches[ids[i]].reasons) if ids[i] in matches else []
                best = int(np.argmax(near[int(k)]))
                if vectors[i].any() and near[int(k), best] >= CLOSE_ENOUGH:
                    pid = papers[int(mine[best])]
                    how = profile.positives.get(pid, "saved")
                    why.append(f"close to “{found[pid][0]}” you {how}")
                kept = ranker.kept_words_by(
                    weigh, texts[i], profile_words, text_tokens=self._tokens(i, texts)
                )
                if kept:
                    why.append("matches words you keep: " + ", ".join(kept))
                reasons[ids[i]] = why
            out[user] = DigestRanking(picked, reasons)
        return out


def _word_rows(session: Session, papers: list[int], texts: list[str]) -> sp.csr_matrix:
    """The hashed words of profile papers, each hashed once per process (papers saved by many
    users and in many chunks cost one hashing), keyed by the text so an edit re-hashes."""
    url = str(session.get_bind().engine.url)
    keys = [
        (url, pid, xxhash.xxh3_64_intdigest(text.encode()))
        for pid, text in zip(papers, texts, strict=True)
    ]
    with _lock:
        rows = [_row_cache.get(key) for key in keys]
    todo = [i for i, row in enumerate(rows) if row is None]
    if todo:
        fresh = ranker.word_features([texts[i] for i in todo])
        with _lock:
            for n, i in enumerate(todo):
                start, end = fresh.indptr[n], fresh.indptr[n + 1]
                row = (fresh.indices[start:end].copy(), fresh.data[start:end].copy())
                rows[i] = row
                _row_cache[keys[i]] = row
            while len(_row_cache) > ROW_CACHE_SIZE:
                _row_cache.popitem(last=False)
    kept = [row for row in rows if row is not None]
    indptr = np.zeros(len(kept) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(indices) for indices, _ in kept])
    indices = np.concatenate([i for i, _ in kept]) if kept else np.zeros(0, dtype=np.int32)
    data = np.concatenate([d for _, d in kept]) if kept else np.zeros(0, dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(kept), ranker.HASH_FEATURES))


def _groups(
    learners: list[tuple[int, Profile, list[int]]],
) -> list[list[tuple[int, Profile, list[int]]]]:
    """Users in groups whose profile papers together stay under GROUP_PAPERS."""
    groups: list[list[tuple[int, Profile, list[int]]]] = []
    current: list[tuple[int, Profile, list[int]]] = []
    seen: set[int] = set()
    for learner in learners:
        papers = set(learner[1].positives) | set(sorted(learner[1].dismissed)[:DIGEST_DISMISSED])
        if current and len(seen | papers) > GROUP_PAPERS:
            groups.append(current)
            current, seen = [], set()
        current.append(learner)
        seen |= papers
    if current:
        groups.append(current)
    return groups


def _trending(
    ids: list[int], allowed: list[int], matches: Mapping[int, UserMatch], size: int
) -> DigestRanking:
    """The fallback: the period by trending score, papers matching a follow first."""
    ordered = sorted(allowed, key=lambda i: ids[i] not in matches)  # stable: trending order
    picked = [ids[i] for i in ordered[:size]]
    reasons = {pid: list(matches[pid].reasons) for pid in picked if pid in matches}
    why = FALLBACK + (", those matching what you follow first." if matches else ".")
    return DigestRanking(picked, reasons, why)
