"""Conftest of the unit tests: marks every test here `unit` and owns the folder's fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haste.db import dispose_engine, upgrade_database
from haste.settings import Settings
from tests.support.markers import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder `unit` (select with `pytest -m unit`)."""
    mark_folder(items, Path(__file__).parent, pytest.mark.unit)


@pytest.fixture()
def db_url(isolated_settings: Settings) -> Iterator[str]:
    """A migrated, empty SQLite database in the test's isolated home."""
    url = isolated_settings.database_url
    upgrade_database(url)
    yield url
    dispose_engine(url)
