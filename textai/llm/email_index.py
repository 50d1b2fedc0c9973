"""Run-time retrieval over the successful-email corpus: MiniLM nearest neighbours.

:class:`EmailIndex` embeds the corpus (:mod:`pipelines.corpora.emails`) with all-MiniLM-L6-v2
(cached on disk by fingerprint) and retrieves the nearest emails to a request, with a soft boost
for the requested purpose and tone. The offline provider and the email AI use it; nothing is
loaded at import time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipelines.corpora.emails import SuccessfulEmail, load_email_corpus

logger = logging.getLogger(__name__)

Embedder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class RetrievedEmail:
    """A corpus email returned by :meth:`EmailIndex.search`.

    Attributes:
        email: The email.
        similarity: Cosine similarity between the query and the email.
        score: Ranking score: similarity plus the purpose/tone/reply-rate boosts.
    """

    email: SuccessfulEmail
    similarity: float
    score: float


class EmailIndex:
    """MiniLM nearest-neighbour search over successful emails.

    Args:
        emails: The corpus.
        embed: Text embedder returning L2-normalised rows (defaults to MiniLM).
        cache_dir: Where corpus embeddings are cached (defaults to
            ``<HASTE_HOME>/cache/embeddings``); ``False`` disables the cache.
        purpose_boost: Added to the score of emails of the requested purpose.
        tone_boost: Added to the score of emails of the requested tone.
        reply_rate_weight: Weight of the email's reply rate in the score (a weak prior).
    """

    def __init__(
        self,
        emails: Iterable[SuccessfulEmail],
        *,
        embed: Embedder | None = None,
        cache_dir: str | Path | bool | None = None,
        purpose_boost: float = 0.15,
        tone_boost: float = 0.05,
        reply_rate_weight: float = 0.05,
    ) -> None:
        self.emails: list[SuccessfulEmail] = list(emails)
        if not self.emails:
            raise ValueError("EmailIndex needs at least one email")
        self._embed = embed
        self._cache_dir = cache_dir
        self.purpose_boost = purpose_boost
        self.tone_boost = tone_boost
        self.reply_rate_weight = reply_rate_weight
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def embed(self) -> Embedder:
        """The embedding function (MiniLM unless one was injected)."""
        if self._embed is None:
            from features.text_embeddings import embed_texts

            self._embed = embed_texts
        return self._embed

    def __len__(self) -> int:
        return len(self.emails)

    @property
    def vectors(self) -> np.ndarray:
        """The corpus embeddings ``(n, d)``, computed (or read from the cache) on first use."""
        if self._vectors is None:
            with self._lock:
                if self._vectors is None:
                    self._vectors = self._load_or_embed()
        return self._vectors

    def _resolve_cache_dir(self) -> Path | None:
        """Return the embedding cache folder, or ``None`` when caching is off."""
        if self._cache_dir is False or (self._embed is not None and self._cache_dir is None):
            return None
        if isinstance(self._cache_dir, str | Path):
            return Path(self._cache_dir)
        from features.text_embeddings import shared_cache_dir

        return shared_cache_dir()

    def _load_or_embed(self) -> np.ndarray:
        """Embed the corpus, reusing the on-disk cache when the texts are unchanged."""
        from features.text_embeddings import text_fingerprint

        texts = [email.to_retrieval_text() for email in self.emails]
        cache_dir = self._resolve_cache_dir()
        cache_file = None
        if cache_dir is not None:
            cache_file = cache_dir / f"email_corpus-{text_fingerprint(texts)[:24]}.npy"
            try:
                cached = np.load(cache_file)
                if cached.shape[0] == len(texts):
                    return cached.astype(np.float32)
            except (OSError, ValueError):
                pass
        vectors = np.asarray(self.embed(texts), dtype=np.float32)
        if cache_file is not None:
            try:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache_file.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, vectors)
                os.replace(tmp, cache_file)
            except OSError as exc:
                logger.debug("could not cache email corpus embeddings: %s", exc)
        return vectors

    def search(
        self,
        query: str,
        *,
        k: int = 3,
        purpose: str | None = None,
        tone: str | None = None,
    ) -> list[RetrievedEmail]:
        """Return the ``k`` best emails for a query, best first (ties broken by id).

        Args:
            query: Free text describing the wanted email (purpose, tone, context).
            k: How many to return.
            purpose: Boost emails of this purpose (soft: others can still rank).
            tone: Boost emails of this tone.

        Returns:
            Up to ``k`` retrieved emails.
        """
        query_vector = np.asarray(self.embed([query or " "]), dtype=np.float32)[0]
        similarity = self.vectors @ query_vector
        ranked = []
        for email, sim in zip(self.emails, similarity.tolist(), strict=True):
            score = sim + self.reply_rate_weight * email.reply_rate
            if purpose and email.purpose == purpose:
                score += self.purpose_boost
            if tone and email.tone == tone:
                score += self.tone_boost
            ranked.append(RetrievedEmail(email, round(float(sim), 6), round(float(score), 6)))
        ranked.sort(key=lambda item: (-item.score, item.email.id))
        return ranked[: max(0, k)]

    def get(self, email_id: str) -> SuccessfulEmail | None:
        """Return the email with this id, or ``None``."""
        return next((email for email in self.emails if email.id == email_id), None)


@lru_cache(maxsize=2)
def get_default_email_index(include_crm: bool = False) -> EmailIndex:
    """Return the process-wide index over the seed corpus (plus the CRM when asked).

    Args:
        include_crm: Also harvest the configured CRM database (read once per process).

    Returns:
        The shared :class:`EmailIndex` (embeddings are computed on first search).
    """
    return EmailIndex(load_email_corpus(include_crm=include_crm))
