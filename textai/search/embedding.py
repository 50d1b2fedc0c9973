"""Dense side of the hybrid index: MiniLM vectors of documents and (cached) queries."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from textai.search.documents import SearchDocument

_QUERY_LOCK = threading.Lock()


@lru_cache(maxsize=1024)
def _cached_query_vector(text: str, threads: int | None) -> np.ndarray:
    """Embed one query, optionally with a fixed number of torch threads (cached)."""
    from features.text_embeddings import embed_texts

    if threads is None:
        return embed_texts([text])[0]
    import torch

    with _QUERY_LOCK:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            vector = embed_texts([text])[0]
        finally:
            torch.set_num_threads(previous)
    vector.setflags(write=False)
    return vector


def embed_query(text: str, threads: int | None = 1) -> np.ndarray:
    """Embed a search query (an LRU cache of 1,024 queries avoids re-encoding repeats).

    Args:
        text: Query text.
        threads: Torch intra-op threads for the encoding (``None``: torch's setting).

    Returns:
        Read-only ``(384,)`` float32 L2-normalised vector.

    """
    return _cached_query_vector(text, threads)


def clear_query_cache() -> None:
    """Forget cached query embeddings (e.g. to time cold queries)."""
    _cached_query_vector.cache_clear()


def _text_key(text: str) -> str:
    """Return the cache key of one embedded text (model name + text)."""
    from features.text_embeddings import MODEL_NAME

    return hashlib.sha1(f"{MODEL_NAME}\x00{text}".encode("utf-8", "replace")).hexdigest()


def embed_documents(
    documents: Sequence[SearchDocument], cache_dir: str | Path | None = None
) -> np.ndarray:
    """Embed documents' ``search_text``, reusing vectors cached on disk.

    The cache (``<cache_dir>/embeddings.npz``) maps a SHA-1 of model name + text to its vector,
    so unchanged documents are never re-embedded when the data version changes.

    Args:
        documents: Documents.
        cache_dir: Cache folder (``None``: no cache).

    Returns:
        ``(n, 384)`` float32 L2-normalised embeddings.

    """
    from features.text_embeddings import EMBEDDING_DIM, embed_texts

    texts = [d.search_text for d in documents]
    if cache_dir is None:
        return embed_texts(texts)
    path = Path(cache_dir) / "embeddings.npz"
    cached: dict[str, np.ndarray] = {}
    if path.exists():
        try:
            with np.load(path) as data:
                cached = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            cached = {}
    keys = [_text_key(t) for t in texts]
    missing = sorted({k: i for i, k in enumerate(keys) if k not in cached}.items())
    if missing:
        fresh = embed_texts([texts[i] for _, i in missing])
        cached.update({k: fresh[j] for j, (k, _) in enumerate(missing)})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"embeddings.{os.getpid()}.tmp.npz")
        np.savez(
            tmp,
            keys=np.array(list(cached), dtype="U40"),
            vectors=np.stack(list(cached.values())).astype(np.float32),
        )
        os.replace(tmp, path)
    if not keys:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    return np.stack([cached[k] for k in keys]).astype(np.float32)


def documents_fingerprint(documents: Sequence[SearchDocument]) -> str:
    """Return a fingerprint of documents and the embedding model (the index's data version).

    Args:
        documents: Documents in index order.

    Returns:
        Hex digest.

    """
    from features.text_embeddings import text_fingerprint

    return text_fingerprint(
        [
            f"{d.doc_id}\x01{d.entity_type}\x01{d.search_text}\x01"
            + json.dumps(d.attributes, sort_keys=True, default=str)
            for d in documents
        ]
    )
