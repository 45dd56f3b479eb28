"""The "For you" ranker as a pure core (no database, no web): features, a per-user model, scores.

Why this shape (measured in bench/bench_for_you.py, figures in docs/benchmarks.md): a mean of
embeddings, several centroids or a nearest-neighbour maximum ranked a prolific author's next
papers about half as well as arxiv-sanity-lite's per-user linear SVM over tf-idf, and adding
the embedding to the SVM's features or fusing a neighbour score did not help either (tuned on a
validation split before the test cutoff). What beats that SVM is the same discriminative model
over better tf-idf: every word and word pair of the title and abstract hashed into 2^20
columns (no 20,000-term vocabulary cap and no minimum document count, so a rare method name
an author keeps using counts), sublinear term counts, a real idf from document frequencies
over a sample of the store, and the terms in more than a fifth of the papers left out. The
hashing needs nothing fitted but the idf array, so a new paper needs no refit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.svm import LinearSVC
from sklearn.utils import murmurhash3_32

# arxiv-sanity-lite's token pattern: words starting with a letter, at least two characters.
TOKEN_PATTERN = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"  # noqa: S105 - a regex, not a secret
HASH_FEATURES = 2**20
IDF_SAMPLE = 5000  # papers of the store the document frequencies are counted over
MAX_DF = 0.2  # terms in more of the sampled papers than this share carry no weight ...
MAX_DF_FROM = 100  # ... once the sample is large enough for a share to mean anything
SVM_C = 1.0
NEGATIVES = 3000  # sampled papers as the background a user's taste stands out of
HARD_NEGATIVE_WEIGHT = 3.0  # a dismissed paper counts as much as three sampled ones

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


def word_counts(texts: Sequence[str]) -> sp.csr_matrix:
    """Hashed counts of the words and word pairs of each text (arxiv-sanity-lite's tokens)."""
    if not texts:  # the hasher refuses an empty list
        return sp.csr_matrix((0, HASH_FEATURES), dtype=np.float32)
    return sp.csr_matrix(_HASHER.transform(list(texts)).tocsr().astype(np.float32))


def idf_weights(counts: sp.csr_matrix) -> np.ndarray:
    """Smoothed idf per hashed column from a sample of papers' counts (scikit-learn's
    formula), zero for the terms that are too common to tell papers apart."""
    docs = counts.shape[0]
    df = np.bincount(sp.csr_matrix(counts).indices, minlength=HASH_FEATURES).astype(np.float64)
    idf = np.log((1.0 + docs) / (1.0 + df)) + 1.0
    if docs >= MAX_DF_FROM:
        idf[df > MAX_DF * docs] = 0.0
    return np.asarray(idf, dtype=np.float32)


def tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf times idf, unit length (a text with no weighted term stays all zeros)."""
    x = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    x.data = (1.0 + np.log(x.data)) * idf[x.indices]
    x.eliminate_zeros()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags((1.0 / norms).astype(np.float32)) @ x)


@dataclass(frozen=True)
class Background:
    """What every user's model is learned against: the idf of the store and the features of
    the papers sampled from it (the first ``NEGATIVES`` of the idf sample)."""

    idf: np.ndarray
    negatives: sp.csr_matrix

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> Background:
        counts = word_counts(texts)
        idf = idf_weights(counts)
        return cls(idf, tfidf(counts[:NEGATIVES], idf))

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        return tfidf(word_counts(texts), self.idf)


@dataclass(frozen=True)
class UserModel:
    """What a user's papers taught: a linear scorer over the tf-idf columns, the idf it was
    learned with, and the vectors of their papers (for the "close to" reason)."""

    coef: np.ndarray
    intercept: float
    idf: np.ndarray
    positive_vectors: np.ndarray  # (n, dim) unit rows

    def scores(self, features: sp.csr_matrix) -> np.ndarray:
        return np.asarray(features @ self.coef).ravel() + self.intercept


def train(
    positives: sp.csr_matrix,
    background: Background,
    positive_vectors: np.ndarray,
    *,
    positive_weights: np.ndarray | None = None,
    hard_negatives: sp.csr_matrix | None = None,
    c: float = SVM_C,
) -> UserModel:
    """A linear SVM, the user's papers against the background (balanced classes, as
    arxiv-sanity-lite does), dismissed papers weighed as hard negatives."""
    negatives = background.negatives
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
        idf=background.idf,
        positive_vectors=positive_vectors.astype(np.float32),
    )


def knn_scores(positive_vectors: np.ndarray, vectors: np.ndarray, k: int = 3) -> np.ndarray:
    """Mean of the k highest cosines of each candidate to the user's papers (the bench's
    embedding-only comparison)."""
    if not len(positive_vectors) or not len(vectors):
        return np.zeros(len(vectors), dtype=np.float32)
    sims = vectors @ positive_vectors.T
    k = min(k, sims.shape[1])
    top = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
    return np.asarray(top.mean(axis=1), dtype=np.float32)


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
def _word_column(word: str) -> int:
    """The hasher's column of a single word (sklearn's HashingVectorizer: signed 32-bit
    MurmurHash3 with seed 0, absolute value modulo the width; a test checks they agree)."""
    return int(abs(murmurhash3_32(word, positive=False))) % HASH_FEATURES


def kept_words(model: UserModel, text: str, profile_words: set[str], limit: int = 2) -> list[str]:
    """Words of this paper that the user's papers also use and that the model weighs most
    in their favour (its weight times the word's idf: what a word adds to the score): the
    lexical reason, true to what moved the score."""
    weights = {
        word: float(model.coef[_word_column(word)] * model.idf[_word_column(word)])
        for word in dict.fromkeys(tokens(text))
        if word in profile_words and len(word) >= 3
    }
    best = sorted((w for w in weights if weights[w] > 0), key=lambda w: -weights[w])
    return best[:limit]
