"""The ONNX runtime against the torch model's own vectors, and the embedding text rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dailypapers.search.embed import (
    MAX_TEXT_CHARS,
    Embedder,
    ModelUnavailableError,
    content_hash,
    load_embedder,
    paper_text,
)


def test_the_runtime_reproduces_the_torch_models_reference_vectors(model_dir: Path) -> None:
    embedder = load_embedder(model_dir)
    reference = embedder.manifest.reference
    assert len(reference) >= 5
    vectors = embedder.encode([item["text"] for item in reference])
    expected = np.array([item["vector"] for item in reference], dtype=np.float32)
    cosines = (vectors * expected).sum(axis=1)
    assert cosines.min() > 0.99999, cosines
    assert np.abs(vectors - expected).max() < 1e-4


def test_batching_and_length_sorting_keep_each_text_in_its_place(model_dir: Path) -> None:
    embedder = load_embedder(model_dir)
    texts = ["graph neural networks", "a" * 3000, "", "Bayesian optimization of hyperparameters"]
    together = embedder.encode(texts, batch_size=2)
    one_by_one = np.stack([embedder.encode_query(text) for text in texts])
    assert np.allclose(together, one_by_one, atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert together.dtype == np.float32
    assert together.shape == (4, embedder.dim)


def test_similar_meanings_are_closer_than_unrelated_ones(model_dir: Path) -> None:
    embedder = load_embedder(model_dir)
    query, near, far = embedder.encode(
        [
            "teaching robots to grasp objects",
            "Learning robotic manipulation and grasping from demonstrations",
            "A survey of tax policy in medieval Europe",
        ]
    )
    assert float(query @ near) > float(query @ far) + 0.2


def test_a_huge_text_is_cut_before_tokenizing(model_dir: Path) -> None:
    embedder = load_embedder(model_dir)
    huge = "transformer " * 100_000
    assert np.allclose(embedder.encode_query(huge), embedder.encode_query(huge[:MAX_TEXT_CHARS]))


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="model export"):
        Embedder(tmp_path)


def test_paper_text_and_its_hash() -> None:
    assert paper_text(" Attention  is all you need ", "We propose\nthe Transformer.") == (
        "Attention is all you need. We propose the Transformer."
    )
    assert paper_text("Why?", "Because.") == "Why? Because."
    assert paper_text("Only a title", "") == "Only a title"
    assert content_hash("x") != content_hash("x", "another-model")
    assert content_hash("x") == content_hash("x")
