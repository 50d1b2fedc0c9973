"""The dashboard's section of the score-gaming flags (counts and the latest flagged contacts).

Placeholder until the feature lands: the section is hidden while it returns ``None``.
"""

from __future__ import annotations

from typing import Any


def gaming_overview(url: str) -> dict[str, Any] | None:
    """Return the section's data (``None``: nothing to show yet)."""
    del url
    return None
