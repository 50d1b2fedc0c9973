"""The dashboard's content-performance section (placeholder until the content library lands)."""

from __future__ import annotations

from typing import Any


def content_overview(url: str) -> dict[str, Any] | None:
    """Return the content-performance section (``None``: nothing to show yet).

    Args:
        url: Database URL.
    """
    del url
    return None
