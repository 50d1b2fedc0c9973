"""The dashboard's section of the forecast ledger (accuracy over time against the naive baseline).

Placeholder until the feature lands: the section is hidden while it returns ``None``.
"""

from __future__ import annotations

from typing import Any


def ledger_overview(url: str) -> dict[str, Any] | None:
    """Return the section's data (``None``: nothing to show yet)."""
    del url
    return None
