"""Next best actions: rules over recent activity and deal stage, merged with model explanations.

Each suggestion carries its reason and where it came from (``rule`` or ``model``), so a rep can
see why it is suggested. Priorities are in [0, 1]; suggestions are de-duplicated by action.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from training.explain import Contribution
from training.scoring import FACTOR_ADVICE, band_of

#: Days without any activity after which a contact is going cold.
STALE_AFTER_DAYS = 14
#: Outbound emails without a reply after which the channel should change.
UNANSWERED_EMAILS = 3

STAGE_PLAYBOOK: dict[str, tuple[str, str, float]] = {
    "prospecting": ("Qualify budget, authority, need and timing on a discovery call.", "call", 0.6),
    "qualification": ("Book a product demo with the decision maker.", "meeting", 0.65),
    "proposal": ("Follow up on the proposal and offer a walkthrough of pricing.", "email", 0.7),
    "negotiation": ("Loop in your manager to agree the discount and close terms.", "task", 0.75),
}


@dataclass(frozen=True)
class Activity:
    """A recent CRM activity as sent by the client."""

    type: str
    occurred_at: dt.datetime
    direction: str = "outbound"
    replied: bool = False


@dataclass(frozen=True)
class NextAction:
    """One suggested action."""

    action: str
    reason: str
    priority: float
    source: str
    channel: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = asdict(self)
        out["priority"] = round(self.priority, 3)
        return out


def suggest_from_activity(
    activities: Sequence[Activity], now: dt.datetime, deal_stage: str | None
) -> list[NextAction]:
    """Apply the activity and stage rules.

    Args:
        activities: Recent activities of the contact (any order).
        now: The reference time.
        deal_stage: The open deal's stage, if any.

    Returns:
        Rule-based suggestions.
    """
    suggestions: list[NextAction] = []
    last = max((a.occurred_at for a in activities), default=None)
    if last is None:
        suggestions.append(
            NextAction(
                "Send a personalised introduction email.",
                "No recorded activity with this contact yet.",
                0.7,
                "rule",
                "email",
            )
        )
    elif (now - last).days >= STALE_AFTER_DAYS:
        suggestions.append(
            NextAction(
                "Send a follow-up email to re-engage.",
                f"Last activity was {(now - last).days} days ago (>= {STALE_AFTER_DAYS}).",
                0.8,
                "rule",
                "email",
            )
        )
    emails = sorted((a for a in activities if a.type == "email"), key=lambda a: a.occurred_at)
    unanswered = 0
    for email in reversed(emails):
        if email.replied or email.direction == "inbound":
            break
        unanswered += 1
    if unanswered >= UNANSWERED_EMAILS:
        suggestions.append(
            NextAction(
                "Call instead of emailing.",
                f"The last {unanswered} outbound emails got no reply.",
                0.75,
                "rule",
                "call",
            )
        )
    if deal_stage:
        play = STAGE_PLAYBOOK.get(deal_stage.lower())
        if play:
            action, channel, priority = play
            suggestions.append(
                NextAction(action, f"The deal is in {deal_stage}.", priority, "rule", channel)
            )
    return suggestions


def suggest_from_score(score: int, contributions: Sequence[Contribution]) -> list[NextAction]:
    """Turn a lead score and its SHAP factors into suggestions.

    Args:
        score: 0-100 lead score.
        contributions: The score's contributions (strongest first).

    Returns:
        The band's action (priority grows with the score) and advice for negative factors.
    """
    band, band_action = band_of(score)
    suggestions = [
        NextAction(
            band_action, f"Lead score {score}/100 ({band}).", 0.5 + score / 200, "model", "any"
        )
    ]
    for contribution in contributions:
        if contribution.impact >= 0:
            continue
        for key, advice in FACTOR_ADVICE:
            if key.lower() in contribution.feature.lower():
                suggestions.append(
                    NextAction(
                        advice,
                        f"{contribution.feature} lowers the score ({contribution.impact:+.2f}).",
                        min(0.9, 0.4 + abs(contribution.impact) / 4),
                        "model",
                        "any",
                    )
                )
                break
    return suggestions


def rank_actions(suggestions: Sequence[NextAction], limit: int = 5) -> list[NextAction]:
    """Return distinct actions, highest priority first (ties: rules before model advice)."""
    best: dict[str, NextAction] = {}
    for suggestion in suggestions:
        kept = best.get(suggestion.action)
        if kept is None or suggestion.priority > kept.priority:
            best[suggestion.action] = suggestion
    ordered = sorted(best.values(), key=lambda s: (-s.priority, s.source != "rule", s.action))
    return ordered[:limit]


@dataclass(frozen=True)
class ActionPlan:
    """The ranked next actions of a contact and the model that contributed to them."""

    actions: list[dict[str, Any]]
    lead_score: int | None
    model_version: str | None
    model_ref: str


def plan_next_actions(
    activities: Sequence[Activity],
    now: dt.datetime,
    deal_stage: str | None,
    scored: dict[str, Any] | None,
    limit: int = 5,
    extra: Sequence[NextAction] = (),
) -> ActionPlan:
    """Merge the activity/stage rules with the lead model's advice and rank them.

    Args:
        activities: The contact's recent activities.
        now: The current time (for staleness rules).
        deal_stage: The open deal's stage, if any.
        scored: The lead model's answer for the contact (``score``, ``contributions``,
            ``model_name``, ``model_version``), or None when no model scored it (rules only).
        limit: Most actions returned.
        extra: More suggestions to rank with them (the action-uplift model's, ``source``
            ``uplift``).

    Returns:
        The plan: JSON-ready actions, highest priority first.
    """
    suggestions = suggest_from_activity(activities, now, deal_stage) + list(extra)
    lead_score, model_version, model_ref = None, None, "rules"
    if scored is not None:
        lead_score = scored["score"]
        contributions = [
            Contribution(c["feature"], c["value"], c["impact"]) for c in scored["contributions"]
        ]
        suggestions += suggest_from_score(lead_score, contributions)
        model_version = scored["model_version"]
        model_ref = f"{scored['model_name']}@v{model_version}"
    ranked = [action.to_dict() for action in rank_actions(suggestions, limit)]
    return ActionPlan(ranked, lead_score, model_version, model_ref)
