"""The intelligent builder: draft workflows from the sequences that precede won deals and replies.

A mined pattern (:mod:`workflows.mining`) reads as *cue → next step*: when its last item is a
rep's step (a ``call``, a ``meeting_booked``, an ``email_sent``), the items before it are the
cue and the workflow prompts that step; otherwise the whole pattern is the cue and the step is
the outcome's usual next move (a call towards a won deal, a follow-up email towards a reply).

* **trigger**: the event of the cue's last item that the real-time engine streams
  (``email_clicked``, ``page_view``...); a generic ``page_view`` only when nothing better is in
  the cue. A cue without any (``call → meeting_booked``) falls back to a daily schedule over
  warm and hot leads.
* **conditions**: ``contact.days_since_last_contacted >= quiet_days`` when the trigger is the
  contact's own move, so the owner is prompted only when nobody reached out lately.
* **actions**: a ``create_task`` for the owner (channel of the step), or ``send_email``.

Drafts whose trigger is a specific event come first, then generic page views, then schedules,
each by the pattern's lift times support; identical drafts are kept once. Every draft carries
its evidence and one rationale sentence. The figures are associational (see the mining module).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workflows.catalog import TRIGGER_EVENT_TYPES
from workflows.definition import WorkflowDefinition, parse_definition
from workflows.mining import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MIN_SUPPORT,
    DEFAULT_WINDOW_DAYS,
    LabelledSequences,
    Outcome,
    SequencePattern,
    check_outcome,
    mine_patterns,
    sequences_from_db,
)

#: Days without a rep's touch before a drafted task fires on the contact's own move.
DEFAULT_QUIET_DAYS = 2
#: Patterns listed next to the drafts in :meth:`WorkflowSuggestions.to_dict`.
LISTED_PATTERNS = 10
CAVEAT = (
    "Associational: the patterns are what preceded the outcome more often than chance in this "
    "CRM's history (reps also call and meet contacts whose deals already move); a drafted "
    "workflow is a suggestion to try, ideally against a holdout, not a proven cause."
)
#: Rep steps -> (task channel, task title, what the rationale says the workflow does).
STEPS: dict[str, tuple[str, str, str]] = {
    "call": ("call", "Call this engaged contact", "creates a call task for the owner"),
    "meeting_booked": ("meeting", "Book a meeting", "creates a meeting task for the owner"),
    "email_sent": (
        "email",
        "Send a personal follow-up email",
        "creates an email task for the owner",
    ),
}
_FOLLOW_UP = "Send a follow-up email"
#: Item -> (phrase in a rationale, phrase in a workflow name).
PHRASES: dict[str, tuple[str, str]] = {
    "email_opened": ("opened an email", "an email open"),
    "email_clicked": ("clicked an email", "an email click"),
    "email_replied": ("replied to an email", "a reply"),
    "email_sent": ("got a rep's email", "a rep's email"),
    "meeting_booked": ("had a meeting", "a meeting"),
    "call": ("got a call", "a call"),
    "page_view": ("viewed a page", "a page view"),
    "form_submitted": ("submitted a form", "a form"),
    "form_submitted:sales": ("submitted a sales form", "a sales form"),
    "social_engagement": ("engaged on social media", "social engagement"),
}
_OUTCOME_WORDS = {"won": "a won deal", "replied": "a reply"}


def describe_item(item: str) -> tuple[str, str]:
    """Return an item's (rationale, name) phrases: ``page_view:pricing`` -> the pricing page."""
    if item in PHRASES:
        return PHRASES[item]
    base, _, detail = item.partition(":")
    if base == "page_view" and detail:
        page = detail.replace("_", " ")
        return f"viewed the {page} page", f"a {page} page view"
    return PHRASES.get(base, (item.replace("_", " "), item.replace("_", " ")))


@dataclass(frozen=True)
class SuggestedWorkflow:
    """A drafted workflow with the evidence behind it.

    Attributes:
        definition: The validated workflow definition (disabled until someone saves it).
        pattern: The mined pattern it comes from.
        rationale: One sentence: what preceded the outcome, how often, and what it does.
        outcome: ``won`` or ``replied``.
        window_days: The mining window.
        notes: Approximations the draft makes (e.g. a page the conditions cannot test).
    """

    definition: WorkflowDefinition
    pattern: SequencePattern
    rationale: str
    outcome: str
    window_days: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: definition, evidence, rationale and notes."""
        evidence = {**self.pattern.to_dict(), "outcome": self.outcome}
        return {
            "definition": self.definition.model_dump(mode="json"),
            "evidence": {**evidence, "window_days": self.window_days},
            "rationale": self.rationale,
            "notes": list(self.notes),
        }


def _split(items: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """Return (cue, rep step) of a pattern: the step is its last item when it is a rep's."""
    if items and items[-1] in STEPS:
        return tuple(items[:-1]), items[-1]
    return tuple(items), None


def _trigger_item(cue: Sequence[str]) -> str | None:
    """Return the cue item the workflow triggers on (``None``: nothing is streamed)."""
    usable = [item for item in cue if item.partition(":")[0] in TRIGGER_EVENT_TYPES]
    specific = [item for item in usable if item != "page_view"]
    return (specific or usable or [None])[-1]


def _rank(pattern: SequencePattern) -> tuple[int, float]:
    """Sort key of a pattern for drafting: trigger strength, then lift times support."""
    item = _trigger_item(_split(pattern.items)[0])
    strength = 2 if item is None else 1 if item == "page_view" else 0
    return strength, -pattern.score


def draft_workflow(
    pattern: SequencePattern,
    *,
    outcome: str = "won",
    window_days: int = DEFAULT_WINDOW_DAYS,
    quiet_days: int = DEFAULT_QUIET_DAYS,
) -> SuggestedWorkflow:
    """Turn one mined pattern into a validated workflow definition (see the module docstring).

    Args:
        pattern: The mined pattern.
        outcome: What the pattern preceded (``won`` or ``replied``).
        window_days: The mining window (reported).
        quiet_days: Days without a touch before a task fires on the contact's own move.

    Returns:
        The draft, its evidence and rationale.
    """
    check_outcome(outcome)
    cue, step = _split(pattern.items)
    trigger_item = _trigger_item(cue)
    notes: list[str] = []
    conditions: list[dict[str, Any]] = []
    if trigger_item is None:
        trigger: dict[str, Any] = {"type": "schedule", "every": "day", "at_hour": 9}
        conditions.append({"field": "score.band", "op": "in", "value": ["warm", "hot"]})
        notes.append("No streamed event in the pattern: runs daily over warm and hot leads.")
        when, cue_words = "Daily", "every day for warm and hot leads"
    else:
        event, _, detail = trigger_item.partition(":")
        trigger = {"type": "event", "event_type": event}
        when = f"After {describe_item(trigger_item)[1]}"
        cue_words = f"on the next {describe_item(trigger_item)[1].split(' ', 1)[1]} of contacts"
        if detail and event == "page_view":
            notes.append(
                f"Conditions cannot test the page yet: it fires on every page view, not only "
                f"on the {detail.replace('_', ' ')} page."
            )
        elif detail:
            notes.append(f"Conditions cannot test {trigger_item!r}: it fires on every {event}.")
    if trigger_item not in STEPS:
        conditions.append(
            {"field": "contact.days_since_last_contacted", "op": "gte", "value": quiet_days}
        )
        cue_words += f" nobody contacted for {quiet_days} days"
    if step is not None:
        channel, title, does = STEPS[step]
        action = {"id": channel, "type": "create_task", "params": {"title": title}}
        action["params"].update({"channel": channel, "due_in_days": 1})
    elif outcome == "replied":
        does, title = "sends a friendly follow-up email", _FOLLOW_UP
        action = {"id": "follow_up", "type": "send_email"}
        action["params"] = {"purpose": "follow_up", "tone": "friendly"}
    else:
        channel, title, does = STEPS["call"]
        action = {"id": "call", "type": "create_task", "params": {"title": title}}
        action["params"].update({"channel": "call", "due_in_days": 1})
    name = f"{when}: {title[0].lower()}{title[1:]} (mined, lift {pattern.lift:.1f})"
    seen = ", then ".join(describe_item(item)[0] for item in pattern.items)
    rationale = (
        f"{pattern.support_positive:.0%} of the contacts with {_OUTCOME_WORDS[outcome]} "
        f"{seen} in the {window_days} days before it, against {pattern.support_negative:.0%} "
        f"of the others (lift {pattern.lift:.2f}, {pattern.count} contacts): this workflow "
        f"{does} {cue_words}."
    )
    definition = parse_definition(
        {
            "name": name,
            "description": f"Drafted from the mined pattern {pattern.describe()}.",
            "trigger": trigger,
            "conditions": conditions,
            "actions": [action],
        }
    )
    return SuggestedWorkflow(definition, pattern, rationale, outcome, window_days, tuple(notes))


def _signature(definition: WorkflowDefinition) -> str:
    """Return what makes two drafts the same workflow (trigger, conditions, actions)."""
    body = definition.model_dump(mode="json", include={"trigger", "conditions", "actions"})
    return json.dumps(body, sort_keys=True)


def draft_workflows(
    patterns: Sequence[SequencePattern],
    top: int = 3,
    *,
    outcome: str = "won",
    window_days: int = DEFAULT_WINDOW_DAYS,
    quiet_days: int = DEFAULT_QUIET_DAYS,
) -> list[SuggestedWorkflow]:
    """Draft up to ``top`` distinct workflows from mined patterns, best first.

    Args:
        patterns: Mined patterns (any order).
        top: Most drafts returned.
        outcome: What the patterns preceded.
        window_days: The mining window (reported).
        quiet_days: Days without a touch before a task fires on the contact's own move.

    Returns:
        The drafts: specific event triggers first, then page views, then schedules.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    drafts: list[SuggestedWorkflow] = []
    seen: set[str] = set()
    for pattern in sorted(patterns, key=_rank):
        draft = draft_workflow(
            pattern, outcome=outcome, window_days=window_days, quiet_days=quiet_days
        )
        signature = _signature(draft.definition)
        if signature in seen:
            continue
        seen.add(signature)
        drafts.append(draft)
        if len(drafts) == top:
            break
    return drafts


@dataclass(frozen=True)
class WorkflowSuggestions:
    """The answer of ``POST /api/ai/workflows/suggest``: the data, the patterns, the drafts."""

    summary: dict[str, Any]
    patterns: list[SequencePattern]
    workflows: list[SuggestedWorkflow]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the best :data:`LISTED_PATTERNS` patterns listed)."""
        return {
            **self.summary,
            "patterns": [p.to_dict() for p in self.patterns[:LISTED_PATTERNS]],
            "workflows": [w.to_dict() for w in self.workflows],
            "caveat": CAVEAT,
        }


def suggest_workflows(
    data: LabelledSequences,
    *,
    top: int = 3,
    min_support: float = DEFAULT_MIN_SUPPORT,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> WorkflowSuggestions:
    """Mine labelled sequences and draft workflows from the patterns found.

    Args:
        data: Sequences from :func:`~workflows.mining.sequences_from_crm` or ``_from_db``.
        top: Most drafts.
        min_support: Least share of positives with a pattern.
        max_length: Longest pattern.
    """
    patterns = mine_patterns(data.sequences, data.outcomes, min_support, max_length)
    drafts = draft_workflows(patterns, top, outcome=data.outcome, window_days=data.window_days)
    summary = {**data.summary(), "min_support": min_support, "max_length": max_length}
    return WorkflowSuggestions(summary, patterns, drafts)


def suggest_workflows_from_db(
    database_url: str,
    *,
    outcome: Outcome = "won",
    window_days: int = DEFAULT_WINDOW_DAYS,
    top: int = 3,
    min_support: float = DEFAULT_MIN_SUPPORT,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> WorkflowSuggestions:
    """Read the CRM database, mine it and draft workflows (the route's one call).

    Raises:
        ValueError: On an unknown outcome or out-of-range parameters (a 422), before any read.
    """
    check_outcome(outcome)
    if window_days < 1 or top < 1:
        raise ValueError(f"window_days and top must be at least 1, got {window_days} and {top}")
    mine_patterns([], [], min_support, max_length)  # checks the mining parameters
    data = sequences_from_db(database_url, outcome, window_days)
    return suggest_workflows(data, top=top, min_support=min_support, max_length=max_length)
