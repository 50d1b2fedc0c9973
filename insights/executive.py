"""The dashboard's executive-summary section (placeholder until the summaries land)."""

from __future__ import annotations

from typing import Any


def executive_section(url: str) -> dict[str, Any] | None:
    """Return the executive summary and trends section (``None``: nothing to show yet).

    Args:
        url: Database URL.
    """
    del url
    return None
