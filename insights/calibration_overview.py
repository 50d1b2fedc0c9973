"""The dashboard's section of the models' calibration (ECE before/after) and conformal coverage.

Placeholder until the feature lands: the section is hidden while it returns ``None``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def calibration_overview(url: str, reports_dir: Path | str) -> dict[str, Any] | None:
    """Return the section's data (``None``: nothing to show yet)."""
    del url, reports_dir
    return None
