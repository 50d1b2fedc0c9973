"""Dense side of the hybrid index: a FAISS inner-product index over document embeddings.

The embeddings are all-MiniLM-L6-v2 vectors, L2-normalised (so inner product = cosine), in a
FAISS ``IndexFlatIP`` (exact search). A filtered search passes the allowed ids to FAISS as an
``IDSelectorBatch``. :mod:`textai.search.embedding` computes the vectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class VectorIndex:
    """Exact FAISS inner-product search over document embeddings, in document order.

    Attributes:
        embeddings: ``(n, dim)`` float32 document vectors.

    """

    def __init__(self, embeddings: np.ndarray) -> None:
        """Fill a FAISS ``IndexFlatIP`` with the embeddings.

        Args:
            embeddings: ``(n, dim)`` float32 L2-normalised vectors (``n`` may be 0; a size-0
                array gets the encoder's dimension).

        """
        import faiss

        from features.text_embeddings import EMBEDDING_DIM

        n = len(embeddings)
        dim = embeddings.shape[1] if embeddings.size else EMBEDDING_DIM
        self.embeddings = embeddings.reshape(n, dim)
        self._faiss: Any = faiss.IndexFlatIP(dim)
        if n:
            self._faiss.add(self.embeddings)

    def __len__(self) -> int:
        """Return the number of vectors."""
        return int(self._faiss.ntotal)

    def score(self, i: int, vector: np.ndarray) -> float:
        """Return the inner product of document ``i`` with a query vector.

        Args:
            i: Document position.
            vector: ``(dim,)`` query vector.

        Returns:
            The cosine similarity (vectors are normalised).

        """
        return float(self.embeddings[i] @ vector)

    def search(
        self, vector: np.ndarray, allowed: np.ndarray, mask: np.ndarray, k: int
    ) -> dict[int, float]:
        """Return the top-``k`` allowed documents by inner product.

        Args:
            vector: ``(dim,)`` query vector.
            allowed: Positions of the documents passing the filters.
            mask: Boolean filter mask over all documents (all ``True``: no selector).
            k: Number of candidates.

        Returns:
            Document position -> inner product.

        """
        import faiss

        k = min(k, len(allowed))
        query = vector.reshape(1, -1).astype(np.float32)
        if mask.all():
            scores, ids = self._faiss.search(query, k)
        else:
            params = faiss.SearchParameters()
            params.sel = faiss.IDSelectorBatch(allowed.astype(np.int64))
            scores, ids = self._faiss.search(query, k, params=params)
        return {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0}

    def write(self, path: str | Path) -> None:
        """Write the FAISS index to a file (``faiss.write_index``).

        Args:
            path: Destination file.

        """
        import faiss

        faiss.write_index(self._faiss, str(path))

    @staticmethod
    def read_embeddings(path: str | Path) -> np.ndarray:
        """Read the vectors of a FAISS index written by :meth:`write`.

        Args:
            path: The file.

        Returns:
            ``(n, dim)`` contiguous float32 vectors.

        """
        import faiss

        vectors = faiss.read_index(str(path))
        embeddings = (
            vectors.reconstruct_n(0, vectors.ntotal)
            if vectors.ntotal
            else np.zeros((0, vectors.d), dtype=np.float32)
        )
        return np.ascontiguousarray(embeddings, dtype=np.float32)
