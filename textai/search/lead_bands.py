"""The platform's lead-score bands (hot / warm / cold) and the band of a score.

The thresholds are ``scoring.bands`` of ``configs/streaming.yaml`` (lower bound inclusive; the
band of a score is the highest threshold it reaches), the ones the real-time scoring engine
publishes. Read here with PyYAML so the search does not import the streaming package.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

#: Fallback bands when the streaming configuration cannot be read.
DEFAULT_BANDS: dict[str, int] = {"hot": 70, "warm": 40, "cold": 0}


@lru_cache(maxsize=4)
def load_score_bands(path: str | None = None) -> tuple[tuple[str, int], ...]:
    """Return the platform's lead-score bands, highest threshold first.

    Args:
        path: A streaming YAML file (default: ``configs/streaming.yaml``).

    Returns:
        ``(band, lower bound)`` pairs, e.g. ``(("hot", 70), ("warm", 40), ("cold", 0))``.

    """
    import yaml

    from haste.settings import CONFIG_DIR

    source = Path(path) if path else Path(CONFIG_DIR) / "streaming.yaml"
    bands = DEFAULT_BANDS
    if source.exists():
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        bands = ((raw.get("scoring") or {}).get("bands")) or DEFAULT_BANDS
    return tuple(sorted(((str(k), int(v)) for k, v in bands.items()), key=lambda b: -b[1]))


def band_of_score(score: float, bands: tuple[tuple[str, int], ...] | None = None) -> str:
    """Return the band of a 0-100 lead score (the highest threshold it reaches).

    Args:
        score: The score.
        bands: ``(band, lower bound)`` pairs (default: :func:`load_score_bands`).

    Returns:
        The band name.

    """
    bands = bands or load_score_bands()
    for name, lower in bands:
        if score >= lower:
            return name
    return bands[-1][0]
