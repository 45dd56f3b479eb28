"""The "For you" ranker as a pure core (no database, no web): features, a per-user model, scores.

Why this shape (measured in bench/bench_for_you.py, figures in docs/benchmarks.md): a mean of
embeddings, several centroids or a nearest-neighbour maximum all ranked a prolific author's next
papers about half as well as arxiv-sanity-lite's per-user linear SVM over tf-idf. What beats that
SVM is the same discriminative idea over *both* sides of a paper: hashed words and word pairs of
the title and abstract (stateless, so nothing is fitted on the corpus and a new paper needs no
refit) next to its 384-d embedding, scaled so neither side drowns the other, learned against
papers sampled from the store (and the user's dismissed papers as hard negatives), then fused
with the nearest-neighbour similarity to the user's papers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.svm import LinearSVC
from sklearn.utils import murmurhash3_32

# arxiv-sanity-lite's token pattern: words starting with a letter, at least two characters.
TOKEN_PATTERN = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"  # noqa: S105 - a regex, not a secret
HASH_FEATURES = 2**20
DENSE_WEIGHT = 0.7  # the embedding side's share next to the (unit-length) word side
SVM_C = 0.3
NEGATIVES = 3000  # papers sampled from the store as the background a user's taste stands out of
HARD_NEGATIVE_WEIGHT = 3.0  # a dismissed paper counts as much as three sampled ones
# Rocchio's weight of the non-relevant centroid against the relevant one (the classic
# β = 0.75, γ = 0.15): the dismissed papers' share in the "for me" digests' closed-form model.
ROCCHIO_NEGATIVE = 0.2
KNN_K = 3  # neighbour part: mean of the k best cosines to the user's papers
FUSION_KNN = 0.5  # weight of the neighbour part next to the model's (both z-scored)

_TOKEN = re.compile(TOKEN_PATTERN)
_HASHER = HashingVectorizer(
    n_features=HASH_FEATURES,
    token_pattern=TOKEN_PATTERN,
    ngram_range=(1, 2),
    stop_words="english",
    alternate_sign=False,
    norm=None,
    lowercase=True,
    strip_accents="unicode",
)


def word_features(texts: Sequence[str]) -> sp.csr_matrix:
    """Hashed words and word pairs, sublinear counts, unit length (tf without a fitted idf:
    the per-user model learns which words matter, against the sampled background)."""
    counts = _HASHER.transform(list(texts)).tocsr().astype(np.float32)
    counts.data = 1.0 + np.log(counts.data)
    norms = np.sqrt(counts.multiply(counts).sum(axis=1)).A1
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ counts)


def combined_features(
    words: sp.csr_matrix, vectors: np.ndarray, dense_weight: float = DENSE_WEIGHT
) -> sp.csr_matrix:
    """Words next to the embedding (rows without a vector carry zeros there)."""
    return sp.csr_matrix(sp.hstack([words, sp.csr_matrix(vectors * dense_weight)]).tocsr())


@dataclass(frozen=True)
class UserModel:
    """What a user's papers taught: a linear scorer and the vectors of their papers."""

    coef: np.ndarray  # over combined features
    intercept: float
    positive_vectors: np.ndarray  # (n, dim) unit rows, for the neighbour part and the reasons

    def linear(self, features: sp.csr_matrix) -> np.ndarray:
        return np.asarray(features @ self.coef).ravel() + self.intercept


def train(
    positives: sp.csr_matrix,
    negatives: sp.csr_matrix,
    positive_vectors: np.ndarray,
    *,
    positive_weights: np.ndarray | None = None,
    hard_negatives: sp.csr_matrix | None = None,
    c: float = SVM_C,
) -> UserModel:
    """A linear SVM, the user's papers against the background (balanced classes, as
    arxiv-sanity-lite does), dismissed papers weighed as hard negatives."""
    parts = [positives, negatives]
    labels = [np.ones(positives.shape[0]), np.zeros(negatives.shape[0])]
    weights = [
        positive_weights if positive_weights is not None else np.ones(positives.shape[0]),
        np.ones(negatives.shape[0]),
    ]
    if hard_negatives is not None and hard_negatives.shape[0]:
        parts.append(hard_negatives)
        labels.append(np.zeros(hard_negatives.shape[0]))
        weights.append(np.full(hard_negatives.shape[0], HARD_NEGATIVE_WEIGHT))
    x = sp.vstack(parts).tocsr()
    y = np.concatenate(labels)
    w = np.concatenate(weights)
    clf = LinearSVC(C=c, class_weight="balanced", max_iter=5000, tol=1e-4)
    clf.fit(x, y, sample_weight=w)
    return UserModel(
        coef=clf.coef_[0].astype(np.float32),
        intercept=float(clf.intercept_[0]),
        positive_vectors=positive_vectors.astype(np.float32),
    )


def knn_scores(positive_vectors: np.ndarray, vectors: np.ndarray, k: int = KNN_K) -> np.ndarray:
    """Mean of the k highest cosines of each candidate to the user's papers."""
    if not len(positive_vectors) or not len(vectors):
        return np.zeros(len(vectors), dtype=np.float32)
    return top_k_mean(vectors @ positive_vectors.T, k)


def _z(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return np.asarray((values - values.mean()) / (spread if spread > 1e-9 else 1.0))


def fused_scores(
    model: UserModel, features: sp.csr_matrix, vectors: np.ndarray, knn_weight: float = FUSION_KNN
) -> np.ndarray:
    """:func:`fuse` of the model's score and the neighbour part."""
    linear = model.linear(features)
    if knn_weight == 0 or not len(model.positive_vectors):
        return linear
    return fuse(linear, knn_scores(model.positive_vectors, vectors), knn_weight)


def nearest_positive(model: UserModel, vector: np.ndarray) -> tuple[int, float] | None:
    """Index (into the user's papers) and cosine of the paper this one is closest to."""
    if not len(model.positive_vectors) or not np.any(vector):
        return None
    sims = model.positive_vectors @ vector
    best = int(np.argmax(sims))
    return best, float(sims[best])


def tokens(text: str) -> list[str]:
    """The words the hasher sees, lower-cased, stop words left out."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in ENGLISH_STOP_WORDS]


@functools.lru_cache(maxsize=200_000)
def word_column(word: str) -> int:
    """The hasher's column of a single word (sklearn's HashingVectorizer: signed 32-bit
    MurmurHash3 with seed 0, absolute value modulo the width; a test checks they agree)."""
    return int(abs(murmurhash3_32(word, positive=False))) % HASH_FEATURES


def kept_words(model: UserModel, text: str, profile_words: set[str], limit: int = 2) -> list[str]:
    """Words of this paper that the user's papers also use and that the model weighs most
    in their favour: the lexical reason, true to what moved the score."""
    return kept_words_by(lambda columns: model.coef[columns], text, profile_words, limit)


def kept_words_by(
    weigh: Callable[[list[int]], np.ndarray],
    text: str,
    profile_words: set[str],
    limit: int = 2,
    *,
    text_tokens: Sequence[str] | None = None,
) -> list[str]:
    """:func:`kept_words` for any linear model: ``weigh`` gives the weights of word columns
    (``text_tokens``: the text's :func:`tokens`, when the caller has them already)."""
    seen = tokens(text) if text_tokens is None else text_tokens
    words = [w for w in dict.fromkeys(seen) if w in profile_words and len(w) >= 3]
    if not words:
        return []
    found = np.asarray(weigh([word_column(w) for w in words])).ravel()
    weights = {word: float(found[i]) for i, word in enumerate(words)}
    best = sorted((w for w in weights if weights[w] > 0), key=lambda w: -weights[w])
    return best[:limit]


def centroid_scores(
    with_positives: np.ndarray, background: np.ndarray, with_hard: np.ndarray | None = None
) -> np.ndarray:
    """A closed-form linear model (Rocchio): the mean of the user's papers minus the mean of
    the background and a share of the mean of the dismissed papers, scored as dot
    products. ``with_positives`` is candidates × the user's papers (dot products),
    ``background`` each candidate's dot product with the background's mean; no fitting, so
    many users cost one sparse product (the "for me" digests)."""
    scores = with_positives.mean(axis=1) - background
    if with_hard is not None and with_hard.shape[1]:
        scores = scores - ROCCHIO_NEGATIVE * with_hard.mean(axis=1)
    return np.asarray(scores, dtype=np.float32).ravel()


def fuse(linear: np.ndarray, knn: np.ndarray, knn_weight: float = FUSION_KNN) -> np.ndarray:
    """The model's score plus the neighbour part, each z-scored over the candidates (so the
    weight means the same for a day of 50 papers and a month of 3,000)."""
    return np.asarray(_z(linear) + knn_weight * _z(knn))


def top_k_mean(sims: np.ndarray, k: int = KNN_K) -> np.ndarray:
    """Mean of each row's k highest values (the neighbour part from precomputed cosines)."""
    if not sims.shape[1]:
        return np.zeros(sims.shape[0], dtype=np.float32)
    k = min(k, sims.shape[1])
    top = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
    return np.asarray(top.mean(axis=1), dtype=np.float32)
