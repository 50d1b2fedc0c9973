"""Hybrid CRM search index: FAISS inner-product vectors + BM25 keywords, exact filters, fusion.

* **Semantic**: all-MiniLM-L6-v2 embeddings (L2-normalised, so inner product = cosine) of each
  document's title and text in a FAISS ``IndexFlatIP`` (exact search). Filtered searches pass
  the allowed ids to FAISS as an ``IDSelectorBatch``.
* **Keyword**: Okapi BM25 (``k1=1.2``, ``b=0.75``) implemented with a SciPy sparse
  term-document matrix of precomputed BM25 weights; a query's scores are the sum of its terms'
  rows.
* **Filters** (entity types, exact :class:`~textai.search.query_parser.Filter` s parsed from
  the query or passed explicitly) are applied to every document *before* ranking, so each hit
  satisfies them.
* **Fusion**: by default a convex combination ``0.5 * semantic + 0.5 * keyword`` of the
  min-max normalised scores of the two candidate lists (``fusion="convex"``), or weighted
  reciprocal-rank fusion (``fusion="rrf"``, ``1 / (60 + rank)``). The default was picked on the
  labelled query set of :mod:`textai.search.evaluate` (500 contacts, 86 queries: convex 0.5
  gave recall@10 0.942 / MRR 0.830 against 0.907 / 0.773 for RRF k=60; convex 0.6 / 0.7 and
  RRF k=20 or weighted 0.6 / 0.7 were all lower).
* A query left with no free text after parsing ("deals over 50k in healthcare closing this
  quarter") lists the matching documents: deals by amount, others newest first.

:meth:`HybridIndex.save` / :meth:`HybridIndex.load` persist the FAISS index
(``faiss.write_index``), the documents (JSON lines) and a fingerprint of the data;
:meth:`HybridIndex.load_or_build` rebuilds only when the documents changed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textai.search.documents import ENTITY_TYPES, SearchDocument
from textai.search.embedding import (
    clear_query_cache,
    documents_fingerprint,
    embed_documents,
    embed_query,
)
from textai.search.keyword import _TOKEN, BM25, tokenize
from textai.search.query_model import Filter, ParsedQuery, QueryVocabulary
from textai.search.query_parser import parse_query

#: Search modes: fused, vectors only, BM25 only.
MODES: tuple[str, ...] = ("hybrid", "semantic", "keyword")
#: Fusion methods.
FUSIONS: tuple[str, ...] = ("rrf", "convex")
INDEX_FILE = "vectors.faiss"
DOCUMENTS_FILE = "documents.jsonl"
META_FILE = "meta.json"
FORMAT_VERSION = 1


def _title_key(text: str) -> str:
    """Normalise a title or query for exact matching: lower-case alphanumeric words."""
    return " ".join(_TOKEN.findall(text.lower()))


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


def coerce_filter(value: Filter | Mapping[str, Any]) -> Filter:
    """Turn a filter or a ``{"field", "op", "value"}`` mapping (e.g. from JSON) into a Filter.

    ISO date strings become :class:`datetime.date` objects and lists become tuples.

    Args:
        value: A :class:`Filter` or a mapping.

    Returns:
        The filter.

    Raises:
        ValueError: When the mapping lacks a key or has an invalid operator / range.

    """
    if isinstance(value, Filter):
        return value
    try:
        field_name, op, raw = value["field"], value["op"], value["value"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a filter needs field, op and value: {value!r}") from exc

    def convert(item: Any) -> Any:
        if isinstance(item, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", item):
            return dt.date.fromisoformat(item)
        if isinstance(item, int) and not isinstance(item, bool):
            return float(item)
        return item

    converted = tuple(convert(v) for v in raw) if isinstance(raw, list | tuple) else convert(raw)
    return Filter(str(field_name), str(op), converted)


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
        self._faiss: Any = None
        self._embeddings = np.zeros((0, 0), dtype=np.float32)
        self._bm25 = BM25()
        self._bm25_title = BM25()
        self._titles: dict[str, np.ndarray] = {}
        self._types = np.zeros(0, dtype=object)
        self._columns: dict[tuple[str, str], np.ndarray] = {}
        self._fields: set[str] = set()

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
        import faiss

        from features.text_embeddings import EMBEDDING_DIM

        dim = embeddings.shape[1] if embeddings.size else EMBEDDING_DIM
        index = faiss.IndexFlatIP(dim)
        if len(documents):
            index.add(embeddings.reshape(len(documents), dim))
        self._faiss = index
        self._embeddings = embeddings.reshape(len(documents), dim)
        self.documents = documents
        self._bm25 = BM25().fit([d.search_text for d in documents])
        self._bm25_title = BM25().fit([d.title for d in documents])
        titles: dict[str, list[int]] = {}
        for i, doc in enumerate(documents):
            titles.setdefault(_title_key(doc.title), []).append(i)
        self._titles = {k: np.array(v, dtype=np.int64) for k, v in titles.items() if k}
        self._types = np.array([d.entity_type for d in documents], dtype=object)
        self._columns = {}
        self._fields = {key for d in documents for key in d.attributes}
        self.vocabulary = QueryVocabulary.from_documents(documents)
        self.fingerprint = documents_fingerprint(documents)
        if hasattr(self, "_suggest_cache"):
            del self._suggest_cache

    def save(self, directory: str | Path) -> Path:
        """Write the index to a folder (FAISS index, documents, metadata).

        Args:
            directory: Destination folder (created when missing).

        Returns:
            The folder.

        """
        import faiss

        from features.text_embeddings import MODEL_NAME

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._faiss, str(folder / INDEX_FILE))
        with (folder / DOCUMENTS_FILE).open("w", encoding="utf-8") as handle:
            for doc in self.documents:
                handle.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
        meta = {
            "format_version": FORMAT_VERSION,
            "model": MODEL_NAME,
            "documents": len(self.documents),
            "fingerprint": self.fingerprint,
            "fusion": self.fusion,
            "rrf_k": self.rrf_k,
            "alpha": self.alpha,
            "candidates": self.candidates,
            "title_weight": self.title_weight,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return folder

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
        import faiss

        folder = Path(directory)
        for name in (INDEX_FILE, DOCUMENTS_FILE, META_FILE):
            if not (folder / name).exists():
                raise FileNotFoundError(f"search index file missing: {folder / name}")
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        index = cls(
            fusion=meta.get("fusion", "convex"),
            rrf_k=int(meta.get("rrf_k", 60)),
            alpha=float(meta.get("alpha", 0.5)),
            candidates=int(meta.get("candidates", 100)),
            title_weight=float(meta.get("title_weight", 1.0)),
        )
        with (folder / DOCUMENTS_FILE).open(encoding="utf-8") as handle:
            documents = [
                SearchDocument.from_dict(json.loads(line)) for line in handle if line.strip()
            ]
        vectors = faiss.read_index(str(folder / INDEX_FILE))
        if vectors.ntotal != len(documents):
            raise ValueError(f"{vectors.ntotal} vectors for {len(documents)} documents")
        embeddings = (
            vectors.reconstruct_n(0, vectors.ntotal)
            if vectors.ntotal
            else np.zeros((0, vectors.d), dtype=np.float32)
        )
        index._set(documents, np.ascontiguousarray(embeddings, dtype=np.float32))
        if meta.get("fingerprint") and meta["fingerprint"] != index.fingerprint:
            raise ValueError(f"documents in {folder} do not match the saved fingerprint")
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
        folder = Path(directory)
        meta_path = folder / META_FILE
        if meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("fingerprint") == documents_fingerprint(documents):
                try:
                    return cls.load(folder)
                except (FileNotFoundError, ValueError):
                    pass
        index = cls(**options).build(documents)
        index.save(folder)
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
            self._set([self.documents[i] for i in keep], self._embeddings[keep])
        return removed

    # ----------------------------------------------------------------------------------------
    # Filtering
    # ----------------------------------------------------------------------------------------

    def _column(self, field_name: str, kind: str) -> np.ndarray:
        """Return (cached) attribute values of every document as a typed numpy column."""
        key = (field_name, kind)
        if key not in self._columns:
            values = [d.attributes.get(field_name) for d in self.documents]
            if kind == "date":
                column = pd.to_datetime(
                    pd.Series([None if v is None else str(v)[:10] for v in values], dtype=object),
                    errors="coerce",
                    format="%Y-%m-%d",
                ).to_numpy(dtype="datetime64[D]")
            elif kind == "number":
                column = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
                    dtype=np.float64
                )
            else:
                column = np.array(
                    [None if v is None else str(v).lower() for v in values], dtype=object
                )
            self._columns[key] = column
        return self._columns[key]

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
        mask = np.ones(len(self.documents), dtype=bool)
        if entity_types:
            unknown = set(entity_types) - set(ENTITY_TYPES)
            if unknown:
                raise ValueError(f"unknown entity types {sorted(unknown)}")
            mask &= np.isin(self._types, list(entity_types))
        for flt in filters:
            if flt.field not in self._fields and flt.field != "entity_type":
                if strict and self.documents:
                    raise ValueError(f"unknown filter field {flt.field!r}")
                mask[:] = False
                continue
            mask &= self._filter_column(flt)
        return mask

    def _filter_column(self, flt: Filter) -> np.ndarray:
        """Evaluate one filter on every document."""
        if flt.field == "entity_type":
            values = flt.value if isinstance(flt.value, tuple) else (flt.value,)
            return np.isin(self._types, list(values))
        if flt.is_date:
            column = self._column(flt.field, "date")
            value = (
                tuple(np.datetime64(v, "D") for v in flt.value)
                if isinstance(flt.value, tuple)
                else np.datetime64(flt.value, "D")
            )
            valid = ~np.isnat(column)
        elif flt.is_numeric:
            column = self._column(flt.field, "number")
            value = (
                tuple(float(v) for v in flt.value)
                if isinstance(flt.value, tuple)
                else float(flt.value)
            )
            valid = ~np.isnan(column)
        else:
            column = self._column(flt.field, "text")
            value = (
                tuple(str(v).lower() for v in flt.value)
                if isinstance(flt.value, tuple)
                else str(flt.value).lower()
            )
            valid = np.array([v is not None for v in column], dtype=bool)
        out = np.zeros(len(column), dtype=bool)
        vals = column[valid]
        if flt.op == "==":
            res = vals == value
        elif flt.op == "in":
            res = np.isin(vals, list(value))
        elif flt.op == "between":
            res = (vals >= value[0]) & (vals <= value[1])
        elif flt.op == ">":
            res = vals > value
        elif flt.op == ">=":
            res = vals >= value
        elif flt.op == "<":
            res = vals < value
        else:
            res = vals <= value
        out[valid] = np.asarray(res, dtype=bool)
        return out

    # ----------------------------------------------------------------------------------------
    # Search
    # ----------------------------------------------------------------------------------------

    def parse(self, query: str, today: dt.date | None = None) -> ParsedQuery:
        """Parse a query with this index's vocabulary.

        Args:
            query: Natural-language query.
            today: Reference date of relative time phrases.

        Returns:
            The parse.

        """
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
            query: Natural-language query (parsed with :func:`parse_query`) or a parse.
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
        semantic: dict[int, float] = {}
        keyword: dict[int, float] = {}
        query_vector: np.ndarray | None = None
        if mode in ("hybrid", "semantic"):
            query_vector = self._embed_query(text)
            semantic = self._semantic(query_vector, allowed, mask, n_candidates)
        keyword_all = None
        if mode in ("hybrid", "keyword"):
            keyword_all = self.keyword_scores(text)
            keyword = self._keyword(keyword_all, allowed, n_candidates)
        if mode == "semantic":
            ranked = sorted(semantic.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
            return [self._hit(i, s, s, None) for i, s in ranked]
        if mode == "keyword":
            ranked = sorted(keyword.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
            return [self._hit(i, s, None, s) for i, s in ranked]
        assert query_vector is not None and keyword_all is not None
        fused = self._fuse(semantic, keyword)
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        hits = []
        for i, score in ranked:
            sem = float(self._embeddings[i] @ query_vector) if i not in semantic else semantic[i]
            hits.append(self._hit(i, score, sem, float(keyword_all[i])))
        return hits

    def keyword_scores(self, text: str) -> np.ndarray:
        """Return every document's keyword score: BM25 of title + text plus BM25 of the title.

        The title field counts twice (a BM25F-style boost) and a query equal to a document's
        title (case and punctuation aside) adds the best score to that document, so a query
        naming a record ranks it above the many documents that merely mention it.

        Args:
            text: Free-text query.

        Returns:
            Array of ``len(self)`` scores.

        """
        scores = self._bm25.scores(text) + self.title_weight * self._bm25_title.scores(text)
        exact = self._titles.get(_title_key(text))
        if exact is not None and len(scores):
            scores[exact] += float(scores.max())
        return scores

    def _embed_query(self, text: str) -> np.ndarray:
        """Embed a query text (cached; encoded with :attr:`query_threads` torch threads)."""
        return embed_query(text, threads=self.query_threads)

    def _semantic(
        self, vector: np.ndarray, allowed: np.ndarray, mask: np.ndarray, k: int
    ) -> dict[int, float]:
        """Return the top-``k`` allowed documents by inner product, via FAISS."""
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

    @staticmethod
    def _keyword(scores: np.ndarray, allowed: np.ndarray, k: int) -> dict[int, float]:
        """Return the top-``k`` allowed documents with a positive BM25 score."""
        sub = scores[allowed]
        positive = np.flatnonzero(sub > 0)
        if len(positive) == 0:
            return {}
        if len(positive) > k:
            positive = positive[np.argpartition(-sub[positive], k - 1)[:k]]
        return {int(allowed[j]): float(sub[j]) for j in positive}

    def _fuse(self, semantic: dict[int, float], keyword: dict[int, float]) -> dict[int, float]:
        """Fuse two candidate rankings (RRF or convex combination of normalised scores)."""
        fused: dict[int, float] = {}
        if self.fusion == "rrf":
            weights = (2.0 * self.alpha, 2.0 * (1.0 - self.alpha))
            for ranking, weight in zip((semantic, keyword), weights, strict=True):
                order = sorted(ranking.items(), key=lambda kv: (-kv[1], kv[0]))
                for rank, (i, _) in enumerate(order, start=1):
                    fused[i] = fused.get(i, 0.0) + weight / (self.rrf_k + rank)
            return fused

        def normalise(ranking: dict[int, float]) -> dict[int, float]:
            if not ranking:
                return {}
            values = np.fromiter(ranking.values(), dtype=np.float64)
            low, high = float(values.min()), float(values.max())
            span = high - low if high > low else 1.0
            return {i: (s - low) / span for i, s in ranking.items()}

        sem, kw = normalise(semantic), normalise(keyword)
        for i in set(sem) | set(kw):
            fused[i] = self.alpha * sem.get(i, 0.0) + (1.0 - self.alpha) * kw.get(i, 0.0)
        return fused

    def _browse(self, allowed: np.ndarray, limit: int) -> list[SearchHit]:
        """List filtered documents without free text: deals by amount, then newest first."""
        amount = self._column("amount", "number")[allowed]
        created = (
            self._column("created_at", "date")[allowed].astype("datetime64[D]").astype(np.int64)
        )
        created = np.where(np.isnat(self._column("created_at", "date")[allowed]), -(2**62), created)
        amount = np.where(np.isnan(amount), -np.inf, amount)
        order = np.lexsort((allowed, -created, -amount))[:limit]
        return [
            self._hit(int(allowed[j]), 1.0 / (rank + 1), None, None) for rank, j in enumerate(order)
        ]

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
        names = ("fusion", "rrf_k", "alpha", "candidates", "title_weight", "query_threads")
        unknown = set(options) - set(names)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}")
        other = HybridIndex(**{name: options.get(name, getattr(self, name)) for name in names})
        other.__dict__.update({k: v for k, v in self.__dict__.items() if k not in names})
        return other


def hits_doc_ids(hits: Sequence[SearchHit]) -> list[str]:
    """Return the document ids of hits, in order.

    Args:
        hits: Search hits.

    Returns:
        Their ``doc_id`` s.

    """
    return [h.doc.doc_id for h in hits]


__all__ = [
    "BM25",
    "MODES",
    "HybridIndex",
    "SearchHit",
    "clear_query_cache",
    "coerce_filter",
    "documents_fingerprint",
    "embed_documents",
    "embed_query",
    "hits_doc_ids",
    "tokenize",
]
