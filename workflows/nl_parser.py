"""Offline natural language -> workflow definition: the common phrasings, by rules, no network.

"When a hot lead has not been contacted in 3 days, create a call task for the owner" becomes a
:class:`~workflows.definition.WorkflowDefinition`. The text is normalised first (number words
to digits with ``text2num``, URLs and quoted names set aside, lower case), then read in order,
each match consuming its words:

1. **trigger**: an event after "when/whenever/once/if/after" ("replies to an email", "books a
   meeting", "becomes hot", "the lead score goes above 80", "a deal moves stage"), or a
   schedule anywhere ("every Monday at 9", "daily"). Without one, conditions introduced as a
   state ("when a hot lead has not been contacted in 3 days") are checked daily at 09:00 UTC,
   an assumption the answer states;
2. **actions** (:mod:`workflows.nl_vocabulary`-style tables below): tasks, emails, sequences,
   webhooks, field updates, reviews; "then" orders an action after the previous one. A negated
   action ("do not email them") is never created;
3. **conditions**: days since contact or activity, bands and scores, industry, country,
   employees, deal amount, stage and age, lifecycle stage, lead source, open deals.

What is left unread is returned in ``not_understood``. Nothing is invented: no trigger (and no
state to check) or no action is a :class:`ValueError` naming what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from text_to_num import alpha2digit

from workflows.definition import Action, Condition, WorkflowDefinition, parse_definition
from workflows.nl_vocabulary import (
    ACTION_RULES,
    CONDITION_RULES,
    EVENT_RULES,
    FILLER_WORDS,
    LEAD_IN,
    NEGATION,
    SCHEDULE,
    SCHEDULE_HOUR,
    THEN,
    TRIGGER_RULES,
    due_in_days,
)

#: Longest description accepted (the definition's description field holds 2000 characters).
MAX_TEXT_CHARS = 2000
#: Hour (UTC) of a schedule the text did not give.
DEFAULT_HOUR = 9
_URL = re.compile(r"https?://[^\s,;\"'<>]+", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“”]([^\"“”]{1,80})[\"“”]|(?<!\w)['‘]([^'‘’]{1,80})['’](?!\w)")


@dataclass(frozen=True)
class ParsedWorkflow:
    """A definition read from text, with how it was read.

    Attributes:
        definition: The validated definition.
        path: ``offline`` (the rules of this module) or ``llm``.
        not_understood: Fragments of the text nothing used.
        assumptions: Choices the text did not make (a default hour, a daily check...).
        provider: The LLM provider that answered (``llm`` path).
        fallback_reason: Why the LLM path was not used or not kept, if it was tried.
    """

    definition: WorkflowDefinition
    path: str = "offline"
    not_understood: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    provider: str | None = None
    fallback_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "definition": self.definition.model_dump(mode="json"),
            "path": self.path,
            "not_understood": list(self.not_understood),
            "assumptions": list(self.assumptions),
            "provider": self.provider,
            "fallback_reason": self.fallback_reason,
        }


class ParseText:
    """The text being read: normalised, with the spans already used masked out.

    Args:
        text: The description as written.
    """

    def __init__(self, text: str) -> None:
        self.urls: list[str] = []
        self.quotes: list[str] = []
        work = _URL.sub(lambda m: self._keep(self.urls, "urlref", m.group(0).rstrip(".:!?)")), text)
        work = _QUOTED.sub(lambda m: self._keep(self.quotes, "quoteref", m.group(1) or m.group(2)), work)
        work = work.replace("’", "'").replace("‘", "'")
        work = alpha2digit(work, "en", threshold=1)
        work = re.sub(r"\be-mail", "email", re.sub(r"\s+", " ", work.lower())).strip()
        self.low = work
        self._used = [False] * len(work)
        self.assumptions: list[str] = []
        self.skipped: list[str] = []

    @staticmethod
    def _keep(store: list[str], prefix: str, value: str) -> str:
        """Set a URL or quoted name aside and return its placeholder."""
        store.append(value.strip())
        return f" {prefix}{len(store) - 1} "

    def working(self) -> str:
        """Return the text with used spans replaced by NUL characters."""
        return "".join("\x00" if used else c for c, used in zip(self.low, self._used, strict=True))

    def take(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` as used."""
        for i in range(start, end):
            self._used[i] = True

    def restore(self, value: str) -> str:
        """Return ``value`` with its URL and quote placeholders replaced by the originals."""
        value = re.sub(r"urlref(\d+)", lambda m: self.urls[int(m.group(1))], value)
        return re.sub(r"quoteref(\d+)", lambda m: self.quotes[int(m.group(1))], value).strip()

    def after_lead_in(self, start: int) -> bool:
        """Return whether a "when/if/once..." opens the clause that holds ``start``."""
        return re.search(LEAD_IN + r"[^,.;:\x00]*$", self.low[:start]) is not None

    def leftovers(self) -> list[str]:
        """Return the unused fragments that hold more than filler words."""
        pieces = re.split(r"[\x00,.;:!?()]+", self.working())
        kept = []
        for piece in pieces:
            words = re.findall(r"[\w$%'/-]+", piece)
            if any(w not in FILLER_WORDS for w in words):
                kept.append(self.restore(" ".join(words)))
        return kept


def _read_trigger(text: ParseText) -> dict[str, Any] | None:
    """Find the trigger: a schedule anywhere, or an event/score/field change after a lead-in."""
    found: list[tuple[int, int, int, dict[str, Any]]] = []
    for pattern, build in (*EVENT_RULES, *TRIGGER_RULES):
        for m in re.finditer(pattern, text.working()):
            if text.after_lead_in(m.start()):
                found.append((m.start(), m.end(), 0, build(m)))
    m = re.search(SCHEDULE, text.working())
    if m is not None:
        found.append((m.start(), m.end(), 1, _schedule(text, m)))
    if not found:
        return None
    found.sort(key=lambda item: (item[0], item[2]))
    start, end, _, trigger = found[0]
    text.take(start, end)
    lead = re.search(LEAD_IN + r"[^,.;:\x00]*$", text.low[:start])
    if lead is not None:
        text.take(lead.start(), lead.start() + len(lead.group(0).split()[0]))
    for other in found[1:]:
        text.skipped.append(f"only one trigger per workflow: {text.low[other[0] : other[1]]!r}")
        text.take(other[0], other[1])
    return trigger


def _schedule(text: ParseText, m: re.Match[str]) -> dict[str, Any]:
    """Build a schedule trigger from an "every ..." match (and an "at 9am" nearby)."""
    unit = next(g for g in m.groups() if g)
    every = {"hour": "hour", "hourly": "hour", "week": "week", "weekly": "week"}.get(unit, "day")
    if unit in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
        every = "week"
        text.assumptions.append(f"runs weekly: a schedule does not keep the weekday ({unit})")
    if unit == "weekday":
        text.assumptions.append("runs every day: a schedule cannot skip weekends")
    trigger: dict[str, Any] = {"type": "schedule", "every": every}
    if every == "hour":
        return trigger
    hour = re.search(SCHEDULE_HOUR, text.working())
    if hour is not None:
        trigger["at_hour"] = _hour(hour)
        text.take(hour.start(), hour.end())
    else:
        trigger["at_hour"] = {"morning": 9, "afternoon": 14, "evening": 18}.get(unit, DEFAULT_HOUR)
        text.assumptions.append(f"runs at {trigger['at_hour']:02d}:00 UTC")
    return trigger


def _hour(m: re.Match[str]) -> int:
    """Return the 24-hour clock hour of an "at ..." match."""
    word = m.group("word")
    if word:
        return 0 if word == "midnight" else 12
    hour = int(m.group("h")) % 24
    ampm = (m.group("ampm") or "").replace(".", "")
    if ampm == "pm" and hour < 12:
        hour += 12
    if ampm == "am" and hour == 12:
        hour = 0
    return hour


def _read_actions(text: ParseText) -> list[dict[str, Any]]:
    """Find the actions in text order; "then" runs one after the previous one."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    for pattern, build in ACTION_RULES:
        for m in re.finditer(pattern, text.working()):
            if re.search(NEGATION + r"$", text.low[max(0, m.start() - 20) : m.start()]):
                text.skipped.append(f"negated action left out: {text.low[m.start() : m.end()]!r}")
                text.take(m.start(), m.end())
                continue
            action = build(m, text)
            if action is not None:
                found.append((m.start(), m.end(), action))
                text.take(m.start(), m.end())
    found.sort(key=lambda item: item[0])
    actions: list[dict[str, Any]] = []
    ids: set[str] = set()
    for i, (start, end, action) in enumerate(found):
        base, n = action.pop("id"), 2
        action["id"] = base
        while action["id"] in ids:
            action["id"], n = f"{base}_{n}", n + 1
        ids.add(action["id"])
        if i and re.search(THEN, text.low[found[i - 1][1] : start]):
            action["after"] = [actions[-1]["id"]]
        following = found[i + 1][0] if i + 1 < len(found) else len(text.low)
        due = due_in_days(text, end, following)
        if due is not None and action["type"] == "create_task":
            action["params"]["due_in_days"] = due
        actions.append(action)
    return actions


def _read_conditions(text: ParseText) -> list[dict[str, Any]]:
    """Find the conditions (each rule may match several times)."""
    conditions: list[dict[str, Any]] = []
    for pattern, build in CONDITION_RULES:
        for m in re.finditer(pattern, text.working()):
            condition = build(m, text)
            if condition is not None and condition not in conditions:
                conditions.append(condition)
                text.take(m.start(), m.end())
    return conditions


def _valid(
    items: list[dict[str, Any]], model: Callable[[dict[str, Any]], Any], text: ParseText
) -> list[dict[str, Any]]:
    """Keep the items the model accepts; report the others."""
    kept = []
    for item in items:
        try:
            model(item)
        except ValidationError as error:
            reason = error.errors()[0]["msg"].removeprefix("Value error, ")
            text.skipped.append(f"left out {item}: {reason}")
            continue
        kept.append(item)
    return kept


def _name(text: str) -> str:
    """Return a workflow name from the description (its first sentence, cut at 120 chars)."""
    first = re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0].rstrip(".!?")
    name = first if len(first) <= 120 else first[:119].rsplit(" ", 1)[0] + "…"
    return name[0].upper() + name[1:]


def parse_workflow_text(text: str) -> ParsedWorkflow:
    """Read a workflow definition from a description in English, offline.

    Args:
        text: The description ("when a lead becomes hot, create a call task for the owner").

    Returns:
        The definition with what was not understood and the assumptions made.

    Raises:
        ValueError: When the text is blank or too long, has no trigger (nor a state to check
            daily), or asks for no action; the message quotes the text.
    """
    if not text or not text.strip():
        raise ValueError("the description is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"the description has {len(text)} characters; at most {MAX_TEXT_CHARS}")
    state = ParseText(text)
    trigger = _read_trigger(state)
    actions = _valid(_read_actions(state), Action.model_validate, state)
    conditions = _valid(_read_conditions(state), Condition.model_validate, state)
    shown = " ".join(text.split())[:200]
    if trigger is None:
        lead = re.search(LEAD_IN + r"([^,.;:]*)", state.working())
        unread = lead is not None and any(
            w not in FILLER_WORDS for w in re.findall(r"[\w$%'-]+", lead.group(0))[1:]
        )
        if not conditions or unread:
            raise ValueError(f"could not find a trigger in {shown!r}")
        trigger = {"type": "schedule", "every": "day", "at_hour": DEFAULT_HOUR}
        state.assumptions.append(
            f"no event named: the conditions are checked every day at {DEFAULT_HOUR:02d}:00 UTC"
        )
        if lead is not None:
            state.take(lead.start(), lead.end())
    if not actions:
        raise ValueError(f"could not find an action in {shown!r}")
    definition = parse_definition(
        {
            "name": _name(text),
            "description": text.strip(),
            "trigger": trigger,
            "conditions": conditions,
            "actions": actions,
        }
    )
    return ParsedWorkflow(
        definition,
        "offline",
        tuple(state.skipped + state.leftovers()),
        tuple(state.assumptions),
    )


__all__ = ["MAX_TEXT_CHARS", "ParsedWorkflow", "parse_workflow_text"]
