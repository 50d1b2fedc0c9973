"""Keyword side of the hybrid index: tokenisation, a sparse BM25 ranker and title matching.

:class:`BM25` is Okapi BM25 (``k1=1.2``, ``b=0.75``) implemented with a SciPy sparse
term-document matrix of precomputed BM25 weights; a query's scores are the sum of its terms'
rows. :class:`KeywordIndex` scores documents on title + text plus the title alone, and boosts a
document whose title the query names exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import sparse

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
    """Okapi BM25 over a fixed corpus, as a sparse term x document weight matrix.

    Attributes:
        k1: Term-frequency saturation.
        b: Length normalisation.
        vocabulary: Term -> row of :attr:`weights`.
        weights: ``(n_terms, n_docs)`` CSR matrix of BM25 term weights.

    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        """Set the BM25 parameters.

        Args:
            k1: Term-frequency saturation.
            b: Length normalisation (0: none, 1: full).

        """
        self.k1 = k1
        self.b = b
        self.vocabulary: dict[str, int] = {}
        self.weights: sparse.csr_matrix = sparse.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, texts: Sequence[str]) -> BM25:
        """Index a corpus.

        Args:
            texts: One text per document.

        Returns:
            ``self``.

        """
        rows: list[int] = []
        cols: list[int] = []
        vocabulary: dict[str, int] = {}
        lengths = np.zeros(len(texts), dtype=np.float64)
        for doc, text in enumerate(texts):
            terms = tokenize(text)
            lengths[doc] = len(terms)
            for term in terms:
                rows.append(vocabulary.setdefault(term, len(vocabulary)))
                cols.append(doc)
        n_docs, n_terms = len(texts), len(vocabulary)
        tf = sparse.coo_matrix(
            (np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n_terms, n_docs)
        ).tocsr()
        tf.sum_duplicates()
        df = np.diff(tf.indptr).astype(np.float64)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        avg = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        norm = self.k1 * (1.0 - self.b + self.b * lengths / avg)
        coo = tf.tocoo()
        values = idf[coo.row] * coo.data * (self.k1 + 1.0) / (coo.data + norm[coo.col])
        self.weights = sparse.csr_matrix(
            (values.astype(np.float32), (coo.row, coo.col)), shape=(n_terms, n_docs)
        )
        self.vocabulary = vocabulary
        return self

    @property
    def n_docs(self) -> int:
        """Number of indexed documents."""
        return int(self.weights.shape[1])

    def scores(self, query: str) -> np.ndarray:
        """Score every document for a query.

        Args:
            query: Query text.

        Returns:
            Array of ``n_docs`` BM25 scores (0 for documents sharing no term).

        """
        rows = [self.vocabulary[t] for t in tokenize(query) if t in self.vocabulary]
        if not rows:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.weights[rows].sum(axis=0), dtype=np.float32).ravel()


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
