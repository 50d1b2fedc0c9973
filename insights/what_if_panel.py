"""The dashboard's "What would make this hot?" panel: counterfactuals of the top leads.

Placeholder until the feature lands: the section is hidden while it returns ``None``.
"""

from __future__ import annotations

from typing import Any


def what_if_panel(url: str) -> dict[str, Any] | None:
    """Return the section's data (``None``: nothing to show yet)."""
    del url
    return None
