"""Keyword side of the hybrid index: tokenisation, a BM25 ranker and title matching.

:class:`BM25` is Okapi BM25 (``k1=1.2``, ``b=0.75``) of the ``bm25s`` library (eager sparse
scores) over this module's tokens; the index is rebuilt from the documents on load, so a saved
index holds no keyword files. :class:`KeywordIndex` scores documents on title + text plus the
title alone, and boosts a document whose title the query names exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

_STOPWORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any",
        "are", "as", "at", "be", "because", "been", "before", "being", "below", "between",
        "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during",
        "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
        "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into",
        "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor",
        "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
        "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such",
        "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there",
        "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
        "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
        "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "s",
        "t", "don"
    }
)  # fmt: skip


_TOKEN = re.compile(r"[a-z0-9]+")


def title_key(text: str) -> str:
    """Normalise a title or query for exact matching: lower-case alphanumeric words.

    Args:
        text: A title or a query.

    Returns:
        Its lower-case alphanumeric runs joined by single spaces.

    """
    return " ".join(_TOKEN.findall(text.lower()))


def tokenize(text: str) -> list[str]:
    """Split text into BM25 terms: lower-case alphanumeric runs, stopwords dropped, plural -s.

    Args:
        text: Any text.

    Returns:
        The terms, in order.

    """
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token in _STOPWORDS:
            continue
        if len(token) > 4 and token.endswith("ies"):
            token = token[:-3] + "y"
        elif len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
            token = token[:-1]
        out.append(token)
    return out


class BM25:
    """Okapi BM25 over a fixed corpus, backed by ``bm25s`` (Lucene variant, sparse scores).

    The terms are :func:`tokenize`'s (stopwords dropped, plural -s folded), so a query and the
    documents are split alike. ``bm25s``'s Lucene variant leaves out the constant factor
    ``k1 + 1`` of the textbook formula; :meth:`scores` multiplies it back, so the scores equal
    Okapi BM25 with Lucene's idf (the former hand-written ranker's, to float precision).

    Attributes:
        k1: Term-frequency saturation.
        b: Length normalisation.

    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        """Set the BM25 parameters.

        Args:
            k1: Term-frequency saturation.
            b: Length normalisation (0: none, 1: full).

        """
        self.k1 = k1
        self.b = b
        self._model: Any = None
        self._vocabulary: frozenset[str] = frozenset()
        self._n_docs = 0

    def fit(self, texts: Sequence[str]) -> BM25:
        """Index a corpus.

        Args:
            texts: One text per document.

        Returns:
            ``self``.

        """
        import bm25s

        corpus = [tokenize(text) for text in texts]
        self._n_docs = len(corpus)
        self._vocabulary = frozenset(t for terms in corpus for t in terms)
        self._model = None
        if self._vocabulary:
            model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            model.index(corpus, show_progress=False)
            self._model = model
        return self

    @property
    def n_docs(self) -> int:
        """Number of indexed documents."""
        return self._n_docs

    def scores(self, query: str) -> np.ndarray:
        """Score every document for a query.

        Args:
            query: Query text.

        Returns:
            Array of ``n_docs`` BM25 scores (0 for documents sharing no term).

        """
        terms = [t for t in tokenize(query) if t in self._vocabulary]
        if not terms or self._model is None:
            return np.zeros(self.n_docs, dtype=np.float32)
        scores = np.asarray(self._model.get_scores(terms), dtype=np.float32)
        return scores * np.float32(self.k1 + 1.0)


class KeywordIndex:
    """BM25 keyword scores of documents: title + text, the title again, and exact titles."""

    def __init__(self, titles: Sequence[str], texts: Sequence[str]) -> None:
        """Index the documents' titles and search texts.

        Args:
            titles: One title per document.
            texts: One search text (title and body) per document.

        """
        self._text = BM25().fit(texts)
        self._title = BM25().fit(titles)
        rows: dict[str, list[int]] = {}
        for i, title in enumerate(titles):
            rows.setdefault(title_key(title), []).append(i)
        self._exact = {k: np.array(v, dtype=np.int64) for k, v in rows.items() if k}

    def scores(self, text: str, title_weight: float = 1.0) -> np.ndarray:
        """Return every document's keyword score: BM25 of title + text plus BM25 of the title.

        The title field counts twice (a BM25F-style boost) and a query equal to a document's
        title (case and punctuation aside) adds the best score to that document, so a query
        naming a record ranks it above the many documents that merely mention it.

        Args:
            text: Free-text query.
            title_weight: Extra weight of the title field.

        Returns:
            One score per document.

        """
        scores = self._text.scores(text) + title_weight * self._title.scores(text)
        exact = self._exact.get(title_key(text))
        if exact is not None and len(scores):
            scores[exact] += float(scores.max())
        return scores
