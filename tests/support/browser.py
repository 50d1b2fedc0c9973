"""Dashboard checks shared by the browser tests: section ids and screenshot helpers.

Screenshots land in ``tests/artifacts/dashboard/`` (and are copied to
``$PYTEST_ARTIFACTS_DIR`` when it is set).
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from typing import Any

#: Where the browser tests write their screenshots.
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"

#: Sections every dashboard page shows.
SECTION_IDS = (
    "kpis",
    "lead-scores",
    "stream-alerts",
    "live-feed",
    "predictions",
    "next-actions",
    "models",
    "monitoring",
    "usage",
)


def full_page_png(browser: Any) -> bytes:
    """Return a PNG of the whole page (Chrome DevTools beyond-viewport capture).

    Args:
        browser: A Selenium Chrome driver.

    Returns:
        The PNG bytes.
    """
    metrics = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    return base64.b64decode(shot["data"])


def save_screenshot(name: str, png: bytes) -> Path:
    """Write a screenshot to :data:`ARTIFACTS` and copy it to ``$PYTEST_ARTIFACTS_DIR``.

    Args:
        name: File name (``dashboard-full-page.png``).
        png: The PNG bytes.

    Returns:
        The written file under :data:`ARTIFACTS`.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(png)
    extra = os.environ.get("PYTEST_ARTIFACTS_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(extra) / name)
    return path
