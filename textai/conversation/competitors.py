"""Competitor mentions in a call and the alerts they raise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textai.conversation.config import (
    Competitor,
)
from textai.conversation.transcript import (
    Turn,
    clean_text,
)


def find_competitor_mentions(
    turns: Sequence[Turn], competitors: Sequence[Competitor]
) -> list[dict[str, Any]]:
    """Find every competitor mention.

    Args:
        turns: Parsed turns.
        competitors: Competitors to look for.

    Returns:
        ``{competitor, matched, turn_index, speaker, timestamp, text}`` per mention, in order.
    """
    patterns = [(competitor, competitor.compile_pattern()) for competitor in competitors]
    mentions = []
    for turn in turns:
        text = clean_text(turn.text)
        for competitor, pattern in patterns:
            for match in pattern.finditer(text):
                mentions.append(
                    {
                        "competitor": competitor.name,
                        "matched": match.group(0),
                        "turn_index": turn.index,
                        "speaker": turn.speaker,
                        "timestamp": turn.timestamp,
                        "text": _cut_snippet(text, match.start(), match.end()),
                    }
                )
    return mentions


def _cut_snippet(text: str, start: int, end: int, width: int = 90) -> str:
    """Return up to ``width`` characters each side of a match, with ellipses when cut."""
    left = max(0, start - width)
    right = min(len(text), end + width)
    return ("…" if left else "") + text[left:right].strip() + ("…" if right < len(text) else "")


def build_competitor_alerts(
    mentions: Sequence[Mapping[str, Any]],
    *,
    negative_turns: set[int] | None = None,
    objection_turns: set[int] | None = None,
    pricing_turns: set[int] | None = None,
    reps: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Group competitor mentions into one alert per competitor.

    Severity is ``high`` when the competitor comes up in a negative, objection or pricing
    turn, or at least twice by non-rep speakers; ``medium`` otherwise.

    Args:
        mentions: From :func:`find_competitor_mentions`.
        negative_turns: Turn indexes with negative sentiment.
        objection_turns: Turn indexes with objection keywords.
        pricing_turns: Turn indexes with pricing keywords.
        reps: Speakers known to be sales reps.

    Returns:
        Alerts ``{type, competitor, severity, mentions, turns, speakers, message, reasons}``.
    """
    negative_turns = negative_turns or set()
    objection_turns = objection_turns or set()
    pricing_turns = pricing_turns or set()
    reps = reps or set()
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for mention in mentions:
        grouped.setdefault(mention["competitor"], []).append(mention)
    alerts = []
    for competitor, items in grouped.items():
        turns = sorted({item["turn_index"] for item in items})
        speakers = sorted({item["speaker"] for item in items})
        reasons = []
        if set(turns) & negative_turns:
            reasons.append("mentioned with negative sentiment")
        if set(turns) & objection_turns:
            reasons.append("mentioned in an objection")
        if set(turns) & pricing_turns:
            reasons.append("mentioned while discussing price")
        if sum(item["speaker"] not in reps for item in items) >= 2:
            reasons.append("raised repeatedly by the other party")
        severity = "high" if reasons else "medium"
        alerts.append(
            {
                "type": "competitor_mention",
                "competitor": competitor,
                "severity": severity,
                "mentions": len(items),
                "turns": turns,
                "speakers": speakers,
                "reasons": reasons,
                "message": (
                    f"{competitor} mentioned {len(items)} time{'s' if len(items) > 1 else ''} "
                    f"by {', '.join(speakers)} (turn{'s' if len(turns) > 1 else ''} "
                    f"{', '.join(str(t) for t in turns)})"
                    + (f": {'; '.join(reasons)}" if reasons else "")
                ),
            }
        )
    return alerts
