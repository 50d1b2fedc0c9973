"""Per-contact facts written onto contact documents: last activity per kind and the lead score.

* ``last_activity_at``, ``last_email_at``, ``last_email_received_at`` (inbound email: the
  contact wrote or replied), ``last_email_sent_at``, ``last_call_at``, ``last_meeting_at``:
  ISO dates of the contact's latest email / call / meeting activities (the activity types the
  search indexes), so a result list can show them and a filter can compare them;
* ``lead_score`` (the latest of ``lead_scores``) and ``lead_score_band`` (its band, with the
  platform's thresholds: :func:`textai.search.lead_bands.band_of_score`).

Activity-fact filters ("replied to an email last week") are evaluated on the activity
documents themselves (:mod:`textai.search.activity_filters`), which is exact for any window;
these attributes are the contact-side summary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from textai.search.lead_bands import band_of_score

#: Activity types summarised per contact.
FACT_ACTIVITY_TYPES: tuple[str, ...] = ("email", "call", "meeting")


def _direction(details: Any) -> str | None:
    """Return ``details.direction`` of an activity (JSON text or dict)."""
    if isinstance(details, str) and details.strip().startswith("{"):
        try:
            details = json.loads(details)
        except json.JSONDecodeError:
            return None
    return str(details.get("direction") or "") or None if isinstance(details, dict) else None


def _latest(frame: pd.DataFrame, mask: pd.Series) -> dict[str, str]:
    """Return contact id -> ISO date of the latest ``occurred_at`` among the masked rows."""
    rows = frame[mask]
    if rows.empty:
        return {}
    latest = rows.groupby("contact_key")["day"].max()
    return {str(k): str(v) for k, v in latest.items()}


def activity_facts(activities: pd.DataFrame | None) -> dict[str, dict[str, str]]:
    """Return the last-activity dates of every contact with emails, calls or meetings.

    Args:
        activities: The ``activities`` frame (``contact_id``, ``type``, ``occurred_at`` and
            optionally ``details``).

    Returns:
        Contact id -> ``{"last_activity_at": "YYYY-MM-DD", "last_call_at": ...}`` (only the
        kinds the contact has).

    """
    if activities is None or activities.empty:
        return {}
    frame = activities[activities["type"].isin(FACT_ACTIVITY_TYPES)]
    frame = frame[frame["contact_id"].notna()]
    if frame.empty:
        return {}
    stamps = pd.to_datetime(frame["occurred_at"], utc=True, errors="coerce")
    frame = frame.assign(
        contact_key=frame["contact_id"].astype(str),
        day=stamps.dt.strftime("%Y-%m-%d"),
        direction=[_direction(d) for d in frame.get("details", pd.Series(None, frame.index))],
    )
    frame = frame[stamps.notna().to_numpy()]
    email = frame["type"] == "email"
    columns = {
        "last_activity_at": frame["type"].notna(),
        "last_email_at": email,
        "last_email_received_at": email & (frame["direction"] == "inbound"),
        "last_email_sent_at": email & (frame["direction"] == "outbound"),
        "last_call_at": frame["type"] == "call",
        "last_meeting_at": frame["type"] == "meeting",
    }
    out: dict[str, dict[str, str]] = {}
    for name, mask in columns.items():
        for contact, day in _latest(frame, mask).items():
            out.setdefault(contact, {})[name] = day
    return out


def score_facts(lead_scores: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Return every scored contact's latest lead score and its band.

    Args:
        lead_scores: The ``lead_scores`` frame (``contact_id``, ``score``, ``calculated_at``).

    Returns:
        Contact id -> ``{"lead_score": int, "lead_score_band": "hot"}``.

    """
    if lead_scores is None or lead_scores.empty:
        return {}
    frame = lead_scores.assign(
        when=pd.to_datetime(lead_scores["calculated_at"], utc=True, errors="coerce")
    ).sort_values("when", kind="stable")
    latest = frame.groupby(frame["contact_id"].astype(str))["score"].last()
    return {
        str(k): {"lead_score": int(v), "lead_score_band": band_of_score(float(v))}
        for k, v in latest.items()
        if pd.notna(v)
    }


def contact_facts(tables: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """Return the facts of every contact: last activities and lead score.

    Args:
        tables: CRM frames (``activities`` and optionally ``lead_scores``).

    Returns:
        Contact id -> attributes to add to its document.

    """
    facts = activity_facts(tables.get("activities"))
    for contact, scores in score_facts(tables.get("lead_scores")).items():
        facts.setdefault(contact, {}).update(scores)
    return facts
