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
        The :class:`textai.search.index.HybridIndex`.
    """
    from textai.search.documents import load_documents
    from textai.search.index import HybridIndex

    documents = load_documents(settings.database_url)
    return HybridIndex.load_or_build(search_index_dir(settings), documents)


def load_search_index(settings: Settings) -> Any:
    """Load the index the ``search-index`` flow saved; build it only when there is none.

    Serving never rebuilds a saved index on its own: the daily flow (or
    ``haste build-search-index``) refreshes it, so a query never waits for re-embedding.

    Args:
        settings: Platform settings.

    Returns:
        The :class:`textai.search.index.HybridIndex`.
    """
    from textai.search.index import HybridIndex

    folder = search_index_dir(settings)
    try:
        return HybridIndex.load(folder)
    except (FileNotFoundError, ValueError):
        return build_search_index(settings)


def saved_index_stamp(settings: Settings) -> int | None:
    """Return the modification time (ns) of the saved index's metadata, None when there is none."""
    from textai.search.index_store import META_FILE

    try:
        return (search_index_dir(settings) / META_FILE).stat().st_mtime_ns
    except FileNotFoundError:
        return None


class SavedIndexWatcher:
    """Serve the saved search index, reloading it when the saved copy changes or disappears.

    A replica would otherwise keep its in-memory index until a restart: after ``haste forget``
    (which drops the saved index) it would still return the erased contact, and after the
    daily ``search-index`` flow it would answer from yesterday's CRM. One ``stat`` per query
    notices both: a changed index is reloaded, a dropped one is rebuilt from the CRM.

    Args:
        settings: Platform settings.
        loader: Returns the index to serve (default :func:`load_search_index`).
    """

    def __init__(self, settings: Settings, loader: Any = None) -> None:
        self.settings = settings
        self.loader = loader or load_search_index
        self.index: Any = None
        self.stamp: int | None = None

    def get(self) -> Any:
        """Return the index, (re)loaded when the saved copy is not the one in memory."""
        stamp = saved_index_stamp(self.settings)
        if self.index is None or stamp is None or stamp != self.stamp:
            self.index = self.loader(self.settings)
            self.stamp = saved_index_stamp(self.settings)
        return self.index
