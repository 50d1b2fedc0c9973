"""Unit tests of the search-index watcher: replicas follow the saved index (forget, refresh)."""

from __future__ import annotations

import os

from haste.settings import Settings
from textai.search.build import SavedIndexWatcher, saved_index_stamp, search_index_dir
from textai.search.index_store import META_FILE


def _fake_loader(built: list[int]):
    """Return a loader that 'builds' an index: it saves the metadata and returns a new object."""

    def load(settings: Settings) -> object:
        folder = search_index_dir(settings)
        if not (folder / META_FILE).exists():  # dropped: rebuild from the CRM and save it
            folder.mkdir(parents=True, exist_ok=True)
            (folder / META_FILE).write_text("{}", encoding="utf-8")
        built.append(1)
        return object()

    return load


def test_the_saved_index_is_loaded_once_while_unchanged(isolated_settings: Settings) -> None:
    built: list[int] = []
    watcher = SavedIndexWatcher(isolated_settings, _fake_loader(built))
    first = watcher.get()
    assert watcher.get() is first and watcher.get() is first
    assert len(built) == 1
    assert saved_index_stamp(isolated_settings) is not None


def test_a_refreshed_index_is_reloaded(isolated_settings: Settings) -> None:
    built: list[int] = []
    watcher = SavedIndexWatcher(isolated_settings, _fake_loader(built))
    first = watcher.get()
    meta = search_index_dir(isolated_settings) / META_FILE
    stat = meta.stat()
    os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # the flow saved anew
    assert watcher.get() is not first
    assert len(built) == 2


def test_a_dropped_index_is_rebuilt_on_the_next_query(isolated_settings: Settings) -> None:
    import shutil

    built: list[int] = []
    watcher = SavedIndexWatcher(isolated_settings, _fake_loader(built))
    first = watcher.get()
    shutil.rmtree(search_index_dir(isolated_settings))  # what `haste forget` does
    assert saved_index_stamp(isolated_settings) is None
    second = watcher.get()
    assert second is not first and len(built) == 2
    assert watcher.get() is second  # saved again: no further rebuild
