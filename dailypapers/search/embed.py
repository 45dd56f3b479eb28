"""Sentence embeddings of papers and queries: all-MiniLM-L6-v2 on ONNX Runtime (DESIGN.md §2).

The runtime is only ``onnxruntime`` + ``tokenizers`` + ``numpy``: it imports in a fraction of a
second and encodes a short query in a few milliseconds, where torch takes seconds to import.
Tokenization, mean pooling and L2 normalization are done here the way sentence-transformers
does them, so the vectors equal the torch model's (checked against the export's references).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_FILE = "model.onnx"
# The same model with int8 weights (dynamic quantization): faster to encode with the same
# ranking quality on the evaluation (docs/benchmarks.md); its vectors differ from float32 ones,
# so they are stored under their own model name.
INT8_MODEL_FILE = "model.int8.onnx"
INT8_SUFFIX = "-int8"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_NAME = "manifest.json"
# sentence-transformers' max_seq_length for this model: longer texts are cut, as in training.
MAX_TOKENS = 256
DIM = 384
# Longest text handed to the tokenizer: 256 word pieces never need more, and a pasted book
# must not cost seconds of tokenizing.
MAX_TEXT_CHARS = 4000


class ModelUnavailableError(RuntimeError):
    """The exported model is missing or unreadable; callers fall back to lexical search."""


def paper_text(title: str, abstract: str | None) -> str:
    """The text a paper is embedded from: "title. abstract" (both already cleaned at ingest)."""
    title = " ".join(title.split())
    abstract = " ".join((abstract or "").split())
    if not abstract:
        return title
    if title and title[-1] not in ".?!":
        title += "."
    return f"{title} {abstract}".strip()


def content_hash(text: str, model: str = MODEL_NAME) -> str:
    """Key of a vector: the model and the exact text it was computed from."""
    return xxhash.xxh3_128_hexdigest(f"{model}\0{text}".encode())


@dataclass(frozen=True)
class Manifest:
    """What ``dailypapers model export`` recorded next to the model file."""

    model: str
    dim: int
    max_tokens: int
    sha256: str
    reference: list[dict[str, Any]]

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        return cls(
            model=data["model"],
            dim=int(data["dim"]),
            max_tokens=int(data["max_tokens"]),
            sha256=data["sha256"],
            reference=list(data.get("reference", [])),
        )


class Embedder:
    """Encodes texts into unit-length float32 vectors; safe to share between threads."""

    def __init__(self, folder: Path, *, threads: int = 0, model_file: str = MODEL_FILE) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        path = folder / model_file
        if not path.exists() or not (folder / MANIFEST_NAME).exists():
            raise ModelUnavailableError(
                f"no exported model in {folder}: run 'dailypapers model export' once"
            )
        self.folder = folder
        self.manifest = Manifest.read(folder)
        self.model = self.manifest.model + (INT8_SUFFIX if model_file == INT8_MODEL_FILE else "")
        self.dim = self.manifest.dim
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._tokenizer.enable_truncation(max_length=self.manifest.max_tokens)
        self._tokenizer.no_padding()
        # tokenizers' Tokenizer is not documented as thread-safe for encode_batch with state.
        self._lock = threading.Lock()

    def _batch(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            encodings = self._tokenizer.encode_batch([text[:MAX_TEXT_CHARS] for text in texts])
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Vectors of ``texts`` in order. Texts are batched by length so padding stays small."""
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            result[chosen] = self._batch([texts[i] for i in chosen])
        return result

    def encode_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.encode([text])[0]
        return vector


_loaded: dict[tuple[Path, int, str], Embedder] = {}
_loading = threading.Lock()


def load_embedder(folder: Path, *, threads: int = 0, model_file: str = MODEL_FILE) -> Embedder:
    """The process's embedder for ``folder``, loaded once (its ONNX session is large)."""
    key = (folder.resolve(), threads, model_file)
    with _loading:
        if key not in _loaded:
            _loaded[key] = Embedder(folder, threads=threads, model_file=model_file)
        return _loaded[key]
