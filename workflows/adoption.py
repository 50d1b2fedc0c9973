"""Adoption of AI suggestions: accepted / shown, per feature and team (spec target 60 %).

* **shown**: every decided review item (approved or rejected; pending ones are not counted
  yet) and every recorded AI suggestion of the features in :data:`SUGGESTION_FEATURES`
  (``ai_interactions``: next best actions, action recommendations, drafted workflows, email
  drafts, reply suggestions and subject lines);
* **accepted**: approved review items, and suggestions their user rated 4 or 5 through
  ``POST /api/ai/feedback``.

A suggestion nobody rated counts as shown and not accepted: the rate is a lower bound.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, select

from haste.db.models import AIInteraction, Team
from haste.db.session import session_scope
from haste.db.workflow_tables import ReviewItem

#: ``ai_interactions.feature`` values that are suggestions a person can take or leave.
SUGGESTION_FEATURES: tuple[str, ...] = (
    "next_actions",
    "workflow_recommendations",
    "workflow_suggest",
    "email_compose",
    "email_reply",
    "email_subject",
)
#: Feedback scores that count as "accepted".
ACCEPTED_FEEDBACK = 4


def compute_adoption(url: str, target: float = 0.6) -> dict[str, Any]:
    """Return the adoption rate overall, per feature and per (feature, team).

    Args:
        url: Database URL.
        target: The spec's target rate (shown next to the figures).
    """
    counts: dict[tuple[str, uuid.UUID | None], list[int]] = defaultdict(lambda: [0, 0])
    with session_scope(url) as session:
        reviews = session.execute(
            select(
                ReviewItem.feature,
                ReviewItem.team_id,
                func.count(),
                func.sum(case((ReviewItem.status == "approved", 1), else_=0)),
            )
            .where(ReviewItem.status != "pending")
            .group_by(ReviewItem.feature, ReviewItem.team_id)
        ).all()
        suggestions = session.execute(
            select(
                AIInteraction.feature,
                AIInteraction.team_id,
                func.count(),
                func.sum(case((AIInteraction.feedback_score >= ACCEPTED_FEEDBACK, 1), else_=0)),
            )
            .where(
                AIInteraction.feature.in_(SUGGESTION_FEATURES),
                AIInteraction.error_message.is_(None),
            )
            .group_by(AIInteraction.feature, AIInteraction.team_id)
        ).all()
        teams = dict(session.execute(select(Team.id, Team.name)).all())
    for feature, team, shown, accepted in [*reviews, *suggestions]:
        cell = counts[(str(feature), team)]
        cell[0] += int(shown or 0)
        cell[1] += int(accepted or 0)
    per_feature: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rows = []
    for (feature, team), (shown, accepted) in sorted(
        counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))
    ):
        per_feature[feature][0] += shown
        per_feature[feature][1] += accepted
        rows.append(
            {
                "feature": feature,
                "team": teams.get(team, "unassigned") if team else "unassigned",
                "shown": shown,
                "accepted": accepted,
                "rate": _rate(accepted, shown),
            }
        )
    shown_total = sum(v[0] for v in per_feature.values())
    accepted_total = sum(v[1] for v in per_feature.values())
    overall = _rate(accepted_total, shown_total)
    return {
        "target": target,
        "overall": {
            "shown": shown_total,
            "accepted": accepted_total,
            "rate": overall,
            "meets_target": overall is not None and overall >= target,
        },
        "per_feature": [
            {"feature": f, "shown": s, "accepted": a, "rate": _rate(a, s)}
            for f, (s, a) in sorted(per_feature.items())
        ],
        "per_feature_team": rows,
        "definition": (
            "accepted / shown: approved review items + suggestions rated 4-5, over decided "
            "review items + every recorded suggestion (unrated ones count as not accepted)"
        ),
    }


def _rate(accepted: int, shown: int) -> float | None:
    """Return accepted / shown rounded, or ``None`` when nothing was shown."""
    return None if shown == 0 else round(accepted / shown, 4)
