"""The ranker's tf-idf, on hand-made texts: the idf it learns from a sample of the store and
what a user's model then ranks first."""

from __future__ import annotations

import numpy as np

from dailypapers.foryou import ranker


def _column(word: str) -> int:
    return int(ranker.word_counts([word]).indices[0])


def test_common_terms_carry_no_weight_once_the_sample_is_large_enough() -> None:
    texts = [f"model number{i} of things" for i in range(ranker.MAX_DF_FROM)]
    idf = ranker.idf_weights(ranker.word_counts(texts))
    assert idf[_column("model")] == 0  # in every paper: tells none apart
    assert idf[_column("number7")] > 1  # in one paper: the most telling
    small = ranker.idf_weights(ranker.word_counts(texts[:10]))
    assert small[_column("model")] > 0  # ten papers say nothing about what is common


def test_the_users_papers_rank_their_own_rare_terms_first() -> None:
    """A user whose papers share a term the store has never seen (their method's name) gets
    the new paper that names it first, and the reason names it."""
    topics = ["graph neural networks", "protein folding", "speech recognition", "robot grasping"]
    background = ranker.Background.from_texts([f"{topics[i % 4]} study {i}" for i in range(400)])
    mine = background.features(["protein folding with lumerix", "lumerix for protein folding"])
    model = ranker.train(mine, background, np.zeros((2, 4), dtype=np.float32))
    candidates = ["protein folding at scale", "lumerix for speech", "robot grasping"]
    scores = model.scores(background.features(candidates))
    assert int(np.argmax(scores)) == 1
    assert ranker.kept_words(model, candidates[1], {"lumerix", "protein"}) == ["lumerix"]
