"""Mark every test collected below a folder with that folder's marker (its conftest calls this)."""

from __future__ import annotations

from pathlib import Path

import pytest


def mark_folder(items: list[pytest.Item], folder: Path, marker: pytest.MarkDecorator) -> None:
    """Add ``marker`` to each item whose file lies under ``folder``.

    Args:
        items: The session's collected items (pytest passes all of them to every conftest).
        folder: The conftest's own folder.
        marker: The folder's marker (``pytest.mark.unit`` ...).
    """
    for item in items:
        if Path(item.path).is_relative_to(folder):
            item.add_marker(marker)
