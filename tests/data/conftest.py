"""Conftest of the data tests: marks every test here `data` and owns the folder's fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.markers import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder `data` (select with `pytest -m data`)."""
    mark_folder(items, Path(__file__).parent, pytest.mark.data)
