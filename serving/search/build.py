"""Build (or reuse) the CRM's hybrid search index where the serving layer loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haste.settings import Settings


def search_index_dir(settings: Settings) -> Path:
    """Return the folder holding the saved index (FAISS + BM25 + documents)."""
    return settings.home / "search_index"


def build_search_index(settings: Settings) -> Any:
    """Load the saved index if it holds the CRM's current documents, else rebuild and save it.

    Contacts without AI consent (and their emails and transcripts) are left out.

    Args:
        settings: Platform settings (database, home).

    Returns:
        The :class:`serving.search.index.HybridIndex`.
    """
    from serving.search.documents import load_documents
    from serving.search.index import HybridIndex

    documents = load_documents(settings.database_url)
    return HybridIndex.load_or_build(search_index_dir(settings), documents)


def load_search_index(settings: Settings) -> Any:
    """Load the index the ``search-index`` flow saved; build it only when there is none.

    Serving never rebuilds a saved index on its own: the daily flow (or
    ``haste build-search-index``) refreshes it, so a query never waits for re-embedding.

    Args:
        settings: Platform settings.

    Returns:
        The :class:`serving.search.index.HybridIndex`.
    """
    from serving.search.index import HybridIndex

    folder = search_index_dir(settings)
    try:
        return HybridIndex.load(folder)
    except (FileNotFoundError, ValueError):
        return build_search_index(settings)
