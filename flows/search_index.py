"""Prefect flow ``search-index``: (re)build the CRM's hybrid semantic + keyword search index.

Thin orchestration: :func:`textai.search.build.build_search_index` embeds the CRM's contacts,
companies, deals, emails and transcripts with MiniLM (FAISS) and fits BM25; it rebuilds only
when the documents changed, so the daily schedule is cheap when nothing moved.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from haste.settings import get_settings


@task(name="build-search-index", cache_policy=NO_CACHE)
def build_index() -> int:
    """Build or reuse the index; return its number of documents."""
    from textai.search.build import build_search_index

    index = build_search_index(get_settings())
    get_run_logger().info("search index holds %d documents", len(index))
    return len(index)


@flow(name="search-index", log_prints=True)
def search_index() -> dict[str, Any]:
    """Refresh the search index used by ``POST /api/ai/search``.

    Returns:
        The number of indexed documents.
    """
    return {"documents": build_index()}
