"""Hybrid CRM search index: FAISS inner-product vectors + BM25 keywords, exact filters, fusion.

:class:`HybridIndex` puts the parts together:

* **Semantic**: document embeddings in a FAISS ``IndexFlatIP``
  (:mod:`textai.search.vector_index`, vectors from :mod:`textai.search.embedding`);
* **Keyword**: BM25 of title + text and of the title (:mod:`textai.search.keyword`);
* **Filters**: entity types and exact attribute filters applied to every document *before*
  ranking (:mod:`textai.search.attribute_filters`), so each hit satisfies them;
* **Fusion**: convex combination of normalised scores by default, or reciprocal-rank fusion;
  a query without free text lists the matching documents (:mod:`textai.search.fusion`).

:meth:`HybridIndex.save` / :meth:`HybridIndex.load` persist the FAISS index, the documents and
a fingerprint of the data (:mod:`textai.search.index_store`);
:meth:`HybridIndex.load_or_build` rebuilds only when the documents changed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textai.search.attribute_filters import AttributeTable, coerce_filter
from textai.search.documents import SearchDocument
from textai.search.embedding import documents_fingerprint, embed_documents, embed_query
from textai.search.fusion import FUSIONS, browse_order, fuse, ranked, top_positive
from textai.search.hits import SearchHit
from textai.search.index_store import read_index_files, saved_fingerprint, write_index_files
from textai.search.keyword import KeywordIndex
from textai.search.query_model import Filter, ParsedQuery, QueryVocabulary
from textai.search.query_parser import parse_query
from textai.search.vector_index import VectorIndex

#: Search modes: fused, vectors only, BM25 only.
MODES: tuple[str, ...] = ("hybrid", "semantic", "keyword")
#: Constructor options that are saved with the index (``query_threads`` is per process).
_SAVED_OPTIONS: tuple[str, ...] = ("fusion", "rrf_k", "alpha", "candidates", "title_weight")


class HybridIndex:
    """FAISS + BM25 hybrid index over :class:`SearchDocument` s with exact filters.

    Attributes:
        fusion: ``"rrf"`` or ``"convex"``.
        rrf_k: Rank offset of reciprocal-rank fusion.
        alpha: Weight of the semantic score in convex fusion.
        candidates: Candidates taken from each ranking before fusion.
        documents: Indexed documents, in index order.
        vocabulary: Categorical vocabulary of the documents, for the query parser.

    """

    def __init__(
        self,
        *,
        fusion: str = "convex",
        rrf_k: int = 60,
        alpha: float = 0.5,
        candidates: int = 100,
        title_weight: float = 1.0,
        query_threads: int | None = 1,
    ) -> None:
        """Configure the index (call :meth:`build` or :meth:`load` to fill it).

        Args:
            fusion: ``"rrf"`` (reciprocal-rank fusion) or ``"convex"``.
            rrf_k: RRF rank offset.
            alpha: Weight of the semantic ranking, in ``[0, 1]`` (0.5: plain RRF / equal
                weights).
            candidates: Candidates per ranking before fusion.
            title_weight: Extra weight of the title field in the keyword score.
            query_threads: Torch intra-op threads while encoding one query (``None``: leave
                torch's setting); one thread avoids the thread contention that makes a
                single short query several times slower on a busy CPU.

        Raises:
            ValueError: On an unknown fusion or out-of-range parameter.

        """
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if candidates < 1 or rrf_k < 0:
            raise ValueError("candidates must be positive and rrf_k non-negative")
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.alpha = alpha
        self.candidates = candidates
        self.title_weight = title_weight
        self.query_threads = query_threads
        self.documents: list[SearchDocument] = []
        self.vocabulary = QueryVocabulary()
        self.fingerprint = ""
        self._vectors: VectorIndex | None = None
        self._keywords = KeywordIndex([], [])
        self._table = AttributeTable([])

    # ----------------------------------------------------------------------------------------
    # Building and persistence
    # ----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Return the number of indexed documents."""
        return len(self.documents)

    def build(
        self,
        documents: Sequence[SearchDocument],
        embeddings: np.ndarray | None = None,
        *,
        cache_dir: str | Path | None = None,
    ) -> HybridIndex:
        """Index documents: embed them (unless given), fill FAISS and BM25.

        Args:
            documents: Documents with unique ``doc_id`` s.
            embeddings: Precomputed ``(n, 384)`` L2-normalised embeddings of
                ``doc.search_text``; computed when ``None``.
            cache_dir: Optional on-disk embedding cache (see :func:`embed_documents`).

        Returns:
            ``self``.

        Raises:
            ValueError: On duplicate ids or embeddings of the wrong shape.

        """
        documents = list(documents)
        ids = [d.doc_id for d in documents]
        if len(set(ids)) != len(ids):
            raise ValueError("document ids must be unique")
        if embeddings is None:
            embeddings = embed_documents(documents, cache_dir=cache_dir)
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[0] != len(documents):
            raise ValueError(
                f"embeddings shape {embeddings.shape} does not match {len(documents)} documents"
            )
        self._set(documents, embeddings)
        return self

    def _set(self, documents: list[SearchDocument], embeddings: np.ndarray) -> None:
        """Install documents and their embeddings (FAISS, BM25, attribute columns)."""
        self._vectors = VectorIndex(embeddings)
        self.documents = documents
        self._keywords = KeywordIndex(
            [d.title for d in documents], [d.search_text for d in documents]
        )
        self._table = AttributeTable(documents)
        self.vocabulary = QueryVocabulary.from_documents(documents)
        self.fingerprint = documents_fingerprint(documents)
        if hasattr(self, "_suggest_cache"):
            del self._suggest_cache

    @property
    def _vector_index(self) -> VectorIndex:
        """Return the FAISS vectors (an empty index before :meth:`build` / :meth:`load`)."""
        if self._vectors is None:
            self._vectors = VectorIndex(np.zeros((0, 0), dtype=np.float32))
        return self._vectors

    def save(self, directory: str | Path) -> Path:
        """Write the index to a folder (FAISS index, documents, metadata).

        Args:
            directory: Destination folder (created when missing).

        Returns:
            The folder.

        """
        options = {name: getattr(self, name) for name in _SAVED_OPTIONS}
        return write_index_files(
            directory, self._vector_index, self.documents, self.fingerprint, options
        )

    @classmethod
    def load(cls, directory: str | Path) -> HybridIndex:
        """Read an index written by :meth:`save`.

        Args:
            directory: The folder.

        Returns:
            The index, searching exactly like the saved one.

        Raises:
            FileNotFoundError: When a file is missing.
            ValueError: When the files disagree (document count or fingerprint).

        """
        meta, documents, embeddings = read_index_files(directory)
        index = cls(
            fusion=meta.get("fusion", "convex"),
            rrf_k=int(meta.get("rrf_k", 60)),
            alpha=float(meta.get("alpha", 0.5)),
            candidates=int(meta.get("candidates", 100)),
            title_weight=float(meta.get("title_weight", 1.0)),
        )
        index._set(documents, embeddings)
        if meta.get("fingerprint") and meta["fingerprint"] != index.fingerprint:
            raise ValueError(f"documents in {Path(directory)} do not match the saved fingerprint")
        return index

    @classmethod
    def load_or_build(
        cls, directory: str | Path, documents: Sequence[SearchDocument], **options: Any
    ) -> HybridIndex:
        """Load the index saved in ``directory`` if it holds these documents, else rebuild it.

        Args:
            directory: Index folder.
            documents: The current documents (their fingerprint is the data version).
            **options: Constructor options used when building.

        Returns:
            The index.

        """
        saved = saved_fingerprint(directory)
        if saved is not None and saved == documents_fingerprint(documents):
            try:
                return cls.load(directory)
            except (FileNotFoundError, ValueError):
                pass
        index = cls(**options).build(documents)
        index.save(directory)
        return index

    def remove(self, doc_ids: Iterable[str]) -> int:
        """Drop documents (e.g. after a contact's erasure) without re-embedding the others.

        Args:
            doc_ids: Ids to drop.

        Returns:
            The number of documents removed.

        """
        drop = set(doc_ids)
        keep = [i for i, d in enumerate(self.documents) if d.doc_id not in drop]
        removed = len(self.documents) - len(keep)
        if removed:
            embeddings = self._vector_index.embeddings[keep]
            self._set([self.documents[i] for i in keep], embeddings)
        return removed

    # ----------------------------------------------------------------------------------------
    # Filtering and search
    # ----------------------------------------------------------------------------------------

    def filter_mask(
        self,
        entity_types: Sequence[str] | None = None,
        filters: Sequence[Filter] = (),
        *,
        strict: bool = True,
    ) -> np.ndarray:
        """Return which documents pass the entity types and every filter (exactly).

        Args:
            entity_types: Allowed entity types (``None`` / empty: all).
            filters: Filters that must all hold; a missing attribute fails.
            strict: Reject a filter on a field no document has (``False``: it matches
                nothing, as for fields parsed from a query).

        Returns:
            Boolean array over :attr:`documents`.

        Raises:
            ValueError: On an unknown entity type or (``strict``) filter field.

        """
        return self._table.mask(entity_types, filters, strict=strict)

    def parse(
        self,
        query: str,
        today: dt.date | None = None,
        *,
        client: Any = None,
        provider: str | None = None,
    ) -> ParsedQuery:
        """Parse a query with this index's vocabulary (the values present in the data).

        Args:
            query: Natural-language query.
            today: Reference date of relative time phrases.
            client: An LLM client (or ``generate(prompt_name, variables)`` function): a hosted
                model parses the query, validated against the filter schema, with the rules
                as fallback (:func:`~textai.search.query_llm.parse_with_llm`); ``None``: the
                rules only.
            provider: LLM provider to start at (with ``client``).

        Returns:
            The parse (``path`` says whether the rules or the LLM answered).

        """
        if client is not None:
            from textai.search.query_llm import parse_with_llm

            return parse_with_llm(
                query, today, client=client, vocabulary=self.vocabulary, provider=provider
            )
        return parse_query(query, today, vocabulary=self.vocabulary)

    def search(
        self,
        query: str | ParsedQuery,
        limit: int = 10,
        entity_types: Sequence[str] | None = None,
        filters: Sequence[Filter | Mapping[str, Any]] | None = None,
        *,
        mode: str = "hybrid",
        today: dt.date | None = None,
    ) -> list[SearchHit]:
        """Search the index.

        Args:
            query: Natural-language query (parsed with
                :func:`~textai.search.query_parser.parse_query`) or a parse.
            limit: Maximum number of hits.
            entity_types: Entity types to search; overrides the parsed ones when given.
            filters: Extra exact filters, added to the parsed ones.
            mode: ``"hybrid"``, ``"semantic"`` (vectors only) or ``"keyword"`` (BM25 only).
            today: Reference date of relative time phrases (default: today).

        Returns:
            Up to ``limit`` hits, best first; every hit passes all filters.

        Raises:
            ValueError: On an invalid query, mode, limit, entity type or explicit filter
                (a parsed filter on a field the data lacks simply matches nothing).

        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if limit < 1:
            raise ValueError(f"limit must be positive, got {limit}")
        parsed = query if isinstance(query, ParsedQuery) else self.parse(query, today)
        types = tuple(entity_types) if entity_types else parsed.entity_types
        explicit = [coerce_filter(f) for f in (filters or ())]
        mask = self.filter_mask(types, explicit) & self.filter_mask(
            None, parsed.filters, strict=False
        )
        allowed = np.flatnonzero(mask)
        if len(allowed) == 0:
            return []
        text = parsed.text.strip()
        if not text:
            return self._browse(allowed, limit)
        n_candidates = max(self.candidates, limit)
        if mode == "keyword":
            keyword = top_positive(self.keyword_scores(text), allowed, n_candidates)
            return [self._hit(i, s, None, s) for i, s in ranked(keyword, limit)]
        vectors = self._vector_index
        query_vector = self._embed_query(text)
        semantic = vectors.search(query_vector, allowed, mask, n_candidates)
        if mode == "semantic":
            return [self._hit(i, s, s, None) for i, s in ranked(semantic, limit)]
        keyword_all = self.keyword_scores(text)
        keyword = top_positive(keyword_all, allowed, n_candidates)
        fused = fuse(semantic, keyword, fusion=self.fusion, alpha=self.alpha, rrf_k=self.rrf_k)
        hits = []
        for i, score in ranked(fused, limit):
            sem = semantic[i] if i in semantic else vectors.score(i, query_vector)
            hits.append(self._hit(i, score, sem, float(keyword_all[i])))
        return hits

    def keyword_scores(self, text: str) -> np.ndarray:
        """Return every document's keyword score: BM25 of title + text plus BM25 of the title.

        The title field counts :attr:`title_weight` more and a query equal to a document's
        title (case and punctuation aside) adds the best score to that document (see
        :class:`~textai.search.keyword.KeywordIndex`).

        Args:
            text: Free-text query.

        Returns:
            Array of ``len(self)`` scores.

        """
        return self._keywords.scores(text, self.title_weight)

    def _embed_query(self, text: str) -> np.ndarray:
        """Embed a query text (cached; encoded with :attr:`query_threads` torch threads)."""
        return embed_query(text, threads=self.query_threads)

    def _browse(self, allowed: np.ndarray, limit: int) -> list[SearchHit]:
        """List filtered documents without free text: deals by amount, then newest first."""
        order = browse_order(
            allowed,
            self._table.column("amount", "number"),
            self._table.column("created_at", "date"),
            limit,
        )
        return [self._hit(i, 1.0 / (rank + 1), None, None) for rank, i in enumerate(order)]

    def _hit(
        self, i: int, score: float, semantic: float | None, keyword: float | None
    ) -> SearchHit:
        """Wrap document ``i`` as a hit."""
        return SearchHit(self.documents[i], float(score), semantic, keyword)

    def timed_search(
        self, query: str | ParsedQuery, **kwargs: Any
    ) -> tuple[list[SearchHit], float]:
        """Run :meth:`search` and measure its latency.

        Args:
            query: The query.
            **kwargs: Arguments of :meth:`search`.

        Returns:
            ``(hits, seconds)``.

        """
        start = time.perf_counter()
        hits = self.search(query, **kwargs)
        return hits, time.perf_counter() - start

    def with_options(self, **options: Any) -> HybridIndex:
        """Return a shallow copy sharing the data with other fusion options.

        Args:
            **options: Constructor options (``fusion``, ``alpha``...).

        Returns:
            The copy.

        Raises:
            ValueError: On an unknown option.

        """
        names = (*_SAVED_OPTIONS, "query_threads")
        unknown = set(options) - set(names)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}")
        other = HybridIndex(**{name: options.get(name, getattr(self, name)) for name in names})
        other.__dict__.update({k: v for k, v in self.__dict__.items() if k not in names})
        return other
