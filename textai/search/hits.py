"""Search results of the hybrid index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textai.search.documents import SearchDocument


@dataclass(frozen=True)
class SearchHit:
    """One search result.

    Attributes:
        doc: The matching document.
        score: Fused score (RRF or convex), higher is better.
        semantic_score: Cosine similarity to the query (``None`` without free text).
        keyword_score: BM25 score (``None`` without free text).

    """

    doc: SearchDocument
    score: float
    semantic_score: float | None
    keyword_score: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view of the hit.

        Returns:
            The document's fields plus the three scores.

        """
        return {
            **self.doc.to_dict(),
            "score": round(self.score, 6),
            "semantic_score": None
            if self.semantic_score is None
            else round(self.semantic_score, 6),
            "keyword_score": None if self.keyword_score is None else round(self.keyword_score, 6),
        }


def hits_doc_ids(hits: Sequence[SearchHit]) -> list[str]:
    """Return the document ids of hits, in order.

    Args:
        hits: Search hits.

    Returns:
        Their ``doc_id`` s.

    """
    return [h.doc.doc_id for h in hits]
