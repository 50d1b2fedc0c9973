import datetime as dt

from training.explain import Contribution
from training.next_actions import (
    STALE_AFTER_DAYS,
    Activity,
    NextAction,
    rank_actions,
    suggest_from_activity,
    suggest_from_score,
)

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def _email(days_ago: int, replied: bool = False) -> Activity:
    return Activity("email", NOW - dt.timedelta(days=days_ago), "outbound", replied)


def test_no_activity_suggests_introduction() -> None:
    actions = suggest_from_activity([], NOW, None)
    assert [a.channel for a in actions] == ["email"]
    assert "introduction" in actions[0].action


def test_stale_contact_gets_follow_up_with_reason() -> None:
    actions = suggest_from_activity([_email(STALE_AFTER_DAYS + 3, replied=True)], NOW, None)
    assert any(
        "follow-up" in a.action and f"{STALE_AFTER_DAYS + 3} days" in a.reason for a in actions
    )


def test_recent_activity_is_not_stale() -> None:
    actions = suggest_from_activity([_email(1, replied=True)], NOW, None)
    assert not any("follow-up" in a.action for a in actions)


def test_unanswered_emails_switch_channel_to_call() -> None:
    actions = suggest_from_activity([_email(3), _email(2), _email(1)], NOW, None)
    assert any(a.channel == "call" for a in actions)
    replied_last = suggest_from_activity([_email(3), _email(2), _email(1, replied=True)], NOW, None)
    assert not any(a.channel == "call" for a in replied_last)


def test_stage_playbook_and_unknown_stage() -> None:
    assert any(
        "discount" in a.action for a in suggest_from_activity([_email(1)], NOW, "Negotiation")
    )
    assert suggest_from_activity([_email(1, replied=True)], NOW, "alien-stage") == []


def test_score_suggestions_follow_band_and_negative_factors() -> None:
    contributions = [
        Contribution("Total Time Spent on Website", 10, -1.2),
        Contribution("Lead Source", "Google", 0.3),
    ]
    hot = suggest_from_score(85, contributions)
    assert "Call within 24 hours" in hot[0].action
    assert any("webinar" in a.action for a in hot)
    assert not any("channel-specific" in a.action for a in hot)  # positive factor: no advice
    assert suggest_from_score(85, []).pop().priority > suggest_from_score(10, []).pop().priority


def test_rank_deduplicates_and_orders_by_priority() -> None:
    actions = [
        NextAction("A", "r1", 0.4, "model", "any"),
        NextAction("A", "r2", 0.9, "rule", "email"),
        NextAction("B", "r3", 0.7, "model", "any"),
        NextAction("C", "r4", 0.7, "rule", "call"),
    ]
    ranked = rank_actions(actions, limit=3)
    assert [a.action for a in ranked] == ["A", "C", "B"]
    assert ranked[0].reason == "r2"
    assert len(rank_actions(actions, limit=1)) == 1
