"""Offline natural language -> workflow definition: the common phrasings, by rules, no network.

The text is normalised (number words to digits by ``text2num``, URLs and quotes set aside) and
read in order, each match using up its words: the **trigger** (an event after "when/if/once",
else a schedule, else a score threshold; a clause of conditions only, "when a hot lead has not
been contacted in 3 days", is checked daily, an assumption it reports), the **actions** ("then"
orders them; negated ones are left out), the **conditions**. Rules are regexes with ``<MACRO>``
shorthands and ``verb~`` for its -s/-ed forms. Nothing is invented: without a trigger (or a state
to check) or an action it raises a :class:`ValueError`; unread text is reported.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pydantic import ValidationError
from text_to_num import alpha2digit

from workflows.catalog import BANDS, DEAL_STAGES, EMAIL_PURPOSES, EMAIL_TONES, LIFECYCLE_STAGES
from workflows.definition import WorkflowDefinition, parse_definition

MAX_TEXT_CHARS = 2000
DEFAULT_HOUR = 9
Match = re.Match[str]
#: What :func:`parse_workflow_text` returns: the definition, the unread text, the assumptions.
OfflineParse = tuple[WorkflowDefinition, list[str], list[str]]


def words_for(values: tuple[str, ...], **synonyms: str) -> dict[str, str]:
    """Return value -> the words (a regex) that stand for it: the value itself by default."""
    return {value: synonyms.get(value, value.replace("_", "[ _-]?")) for value in values}


#: Word tables: catalogue value -> the words that stand for it.
TABLES: dict[str, dict[str, str]] = {
    "cmp": {"gte": "at least|no less than|>=", "lte": "at most|up to|no more than|<=",
            "gt": "over|above|more than|greater than|exceeding|>", "lt": "under|below|less than|<"},
    "industry": words_for(("software", "healthcare", "fintech", "retail", "manufacturing", "media",
                           "education", "logistics", "nonprofit", "government"),
                          software="software|saas|tech", healthcare="health ?care|medical",
                          fintech="fintech|financial services|finance", nonprofit="non-?profit"),
    "country": {"US": "us|usa|united states", "GB": "uk|united kingdom|britain", "DE": "germany",
                "CA": "canada", "FR": "france", "IN": "india", "AU": "australia",
                "NL": "netherlands|holland"},
    "lifecycle": words_for(LIFECYCLE_STAGES, mql="mqls?|marketing[ -]qualified(?: leads?)?",
                           sql="sqls?|sales[ -]qualified(?: leads?)?", customer="customers?",
                           lead="leads?", opportunity="opportunit(?:y|ies)"),
    "source": words_for(("referral", "webinar", "partner", "trade_show", "outbound", "paid_ads",
                         "organic_search", "content_download"), referral="referrals?",
                        webinar="webinars?", partner="partners?", trade_show="trade[ -]shows?"),
    "purpose": words_for(EMAIL_PURPOSES, intro="intro(?:duction)?|welcome", thank_you="thanks"
                         "|thank[ -]?you", win_back="win[ -]?back|re-?engagement"),
    "tone": words_for(EMAIL_TONES, formal="formal|polite", friendly="friendly|warm"),
    "band": words_for(BANDS),
    "stage": words_for(DEAL_STAGES),
}  # fmt: skip
MACROS = {
    "<OWNER>": "(?: (?:for|to) <D>(?:account )?<REP>)?", "<W>": r"(?:[\w'-]+ )?",
    "<REP>": "(?:owner|rep|sales ?rep|salesperson|account manager)",
    "<D>": "(?:(?:a|an|the|our|their|its|any|my|one|this|his|her) )?",
    "<THEM>": "(?:them|him|her|it|the (?:contact|lead)s?)", "<CMP>": "(?P<op><CMPS>)",
    "<NUM>": r"\$? ?(?P<n>\d[\d,]*(?:\.\d+)?) ?(?P<suf>k|m|bn|thousand|million)?(?!\w)",
    "<SINCE>": r"(?:in|for|within|over) (?:the )?(?:(?:last|past) )?(?P<more>more than |over )?"
               r"(?P<n>\d+|an?|one) (?P<unit>day|week|month)s?\b",
    "<UNTIL>": r"(?= ?(?:[,.;\x00]|$|and\b|then\b|if\b|when\b))",
    **{f"<{name.upper()}S>": "|".join(table.values()) for name, table in TABLES.items()},
}  # fmt: skip
LEAD_IN = r"\b(?:when(?:ever)?|once|as soon as|if|after|each time|every time)\b"
NEGATION = r"\b(?:don't|do not|never|no need to|not) (?:\w+ )?$"
THEN = r"\bthen\b|\bafter that\b|\bafterwards\b"
SCHEDULE = (r"\b(?:every|each) (hour|day|weekday|week|monday|tuesday|wednesday|thursday|friday"
            r"|saturday|sunday)s?\b|\b(hourly|daily|weekly)\b|\bonce an? (day|week)\b")  # fmt: skip
HOUR = r"\bat (?:(?P<h>[01]?\d|2[0-3])(?::\d\d)? ?(?P<ampm>[ap]m)?|(?P<word>noon|midnight))(?!\w)"
#: Words that carry nothing a workflow could use (left over, they are not reported).
FILLER = (r"(?:a|an|the|and|or|then|to|for|of|in|on|at|is|are|was|be|been|has|have|had|it|its"
          r"|they|them|their|his|her|him|this|that|who|with|by|from|as|so|any|all|each|our|we|us"
          r"|i|me|my|you|your|please|automatically|also|should|will|can|must|do|just|now|leads?"
          r"|contacts?|someone|prospects?|owner|rep|accounts?|deals?|compan(?:y|ies)|workflow"
          r"|when|whenever|if|once|after|immediately|there|still|already)(?:'s)?")  # fmt: skip
#: (event type or trigger kind, pattern); events count only after a lead-in ("when ...").
TRIGGERS: tuple[tuple[str, str], ...] = (
    ("email_replied", r"\b(?:repl(?:y|ies|ied)|respond~|answer~|wr(?:ites?|ote) back)\b(?: (?:(?:to"
     r"|on) )?<D><W>(?:emails?|messages?|campaigns?|outreach|newsletters?)\b)?"),
    ("email_clicked", r"\bclick~ (?:on )?<D>(?:(?:link|button) in )?<D><W>(?:emails?|links?)\b"),
    ("email_opened", r"\bopen~ <D><W>(?:emails?|newsletters?|messages?)\b"),
    ("meeting_booked", r"\b(?:book~|schedule~|sets? up|accept~) <D><W>(?:meetings?|demos?|calls?)"),
    ("form_submitted", r"\b(?:submit(?:s|ted)?|fill~ (?:in|out)|complete~) <D><W>forms?\b"),
    ("page_view", r"\b(?:visit~|view~|look~ at|land~ on) <D>(?:(?P<page>[\w/-]+) )?(?:pages?"
     r"|site|website)\b"),
    ("deal_stage_changed", r"\bdeal(?:'s)? (?:stage )?(?:move~|change~|advance~|goes)(?: stage)?"
     r"(?: to (?:a |the )?(?:new|next|another) stage| to\b)?"),
    ("deal_stage_changed", r"\b(?:reach~|enter~|move~ (?:in)?to)(?= (?:the )?(?:<STAGES>)\b)"),
    ("band", r"\b(?:become~|became|turn~|goes|went|move~|gets?|got|is (?:now )?(?:scored|rated)"
     r"(?: as)?) (?:from (?P<frm><BANDS>) (?:in)?to |(?:in)?to (?:the )?)?(?P<to><BANDS>)\b"),
    ("score", r"\b(?:lead )?scor(?:e|es|ed) (?:(?P<verb>goes|rises|climbs|is|drops|falls|reaches"
     r"|exceeds|hits|passes|crosses) )?(?:(?P<cmp>above|over|past|to|at least|more than|higher than"
     r"|below|under|less than|lower than) )?(?P<n>\d+)\b(?! ?%)"),
)  # fmt: skip
#: (field, how the value is read, pattern).
CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("contact.days_since_last_contacted", "since", r"\b(?:(?:has|have|is) ?(?:not|n't)|not|never"
     r"|nobody has|no one has) (?:been )?(?:contacted|called|reached(?: out to)?|touched|emailed"
     r"|spoken to)(?: (?:them|him|her))? <SINCE>"),
    ("contact.days_since_last_contacted", "since", r"\bno (?:contact|touch|outreach) <SINCE>"),
    ("contact.days_since_last_activity", "since", r"\b(?:no activity|inactive) <SINCE>"),
    ("score.band", "band", r"\b(?P<v>(?:<BANDS>)(?: (?:or|and) (?:<BANDS>))?) (?:leads?|contacts?"
     r"|prospects?)\b|\b(?:is|are) (?:still |now )?(?P<v2><BANDS>)\b"),
    ("score.lead_score", "cmp", r"\b(?:lead )?score (?:is )?<CMP> <NUM>"),
    ("company.employee_count", "cmp", r"\b<CMP> <NUM> (?:employees|staff|people)\b"),
    ("company.employee_count", "cmp", r"\b<NUM> ?\+ (?:employees|staff|people)\b"),
    ("deal.amount", "cmp", r"\b(?:deals?|amount|deal value) (?:is )?(?:worth )?<CMP> <NUM>"),
    ("deal.amount", "cmp", r"\b<CMP> \$<NUM>"),
    ("deal.amount", "cmp", r"\$<NUM> ?\+"),
    ("deal.stage", "stage", r"\b(?:in|at|to|reach~|enter~|is) (?:the )?(?P<v><STAGES>)\b(?: stage)?"
     r"|\b(?P<v2><STAGES>) stage\b"),
    ("contact.lifecycle_stage", "lifecycle", r"\blifecycle(?: stage)? is (?P<v><LIFECYCLES>)\b"
     r"|\b(?P<v2>mqls?|sqls?)\b"),
    ("company.industry", "industry", r"\b(?:in|from) (?:the )?(?P<v>(?:<INDUSTRYS>)(?: (?:or|and) "
     r"(?:<INDUSTRYS>))?)\b|\b(?P<v2><INDUSTRYS>) (?:compan(?:y|ies)|leads?|contacts?)\b"),
    ("company.country", "country", r"\b(?:in|from|based in) (?:the )?(?P<v><COUNTRYS>)(?!\w)"),
    ("contact.lead_source", "source", r"\b(?:lead source is|(?:came|comes?) (?:in )?(?:from|via)"
     r"|from) <D>(?P<v><SOURCES>)\b"),
    ("contact.open_deals", "none", r"\b(?:(?:has|have|with) no |without <D>)open deals?\b"),
    ("contact.open_deals", "some", r"\b(?:has|have|with) <D>open deals?\b"),
)  # fmt: skip
#: (action kind, pattern), in reading order (webhooks before "call ...", tasks before emails).
ACTIONS: tuple[tuple[str, str], ...] = (
    ("notify", r"\b(?:notify|ping|call|alert|post to|send (?:it|the run) to) <D>(?:webhook "
     r"(?:at )?)?(?P<v>urlref\d+)|\bwebhook (?:at )?(?P<v2>urlref\d+)"),
    ("review", r"\b(?:ask|get|have) <D>(?:sales )?(?:manager|supervisor|director) to (?:review"
     r"|check|approve)\b(?: (?:<THEM>|this|the deal))?|\b(?:request|require|flag (?:<THEM> )?for)"
     r" <D>(?:manager(?:'s)? )?(?:review|approval)\b"),
    ("enrol", r"\b(?:enrol+|add|put) (?P<keep>(?:[\w'-]+ ){0,3}?)(?:in|into|to) <D>(?P<v>quoteref"
     r"\d+|[\w-]+(?: [\w-]+)?) (?:email )?(?:sequence|cadence)\b"),
    ("update", r"\b(?:set|update|change) (?:the |their )?(?P<f>lifecycle(?: stage)?|deal stage"
     r"|stage|lead source|deal amount) to (?P<v>quoteref\d+|\$?\d[\d,.]* ?k?|[\w-]+(?: (?:won"
     r"|lost|search|ads|shows?))?)"),
    ("update", r"\b(?:mark|flag) <THEM> as (?:an? )?(?P<v><LIFECYCLES>)\b|\bmove <D>deal to <D>"
     r"(?P<v2><STAGES>)(?: stage)?"),
    ("task", r"\b(?:create|add|assign|set up) (?:an? )?(?:(?P<ch>call|meeting|email|follow-?up)"
     r" )?(?:task|reminder|to-?do)\b<OWNER>(?: to (?P<what>[^,.;\x00]+?)<UNTIL>)?"),
    ("task", r"\b(?:remind|ask|tell|have) <D><REP> to (?P<what>[^,.;\x00]+?)<UNTIL>"),
    ("task", r"\b(?:book|schedule|arrange) (?:an? )?(?P<what>meeting|demo|call)\b|\b(?P<ch>call"
     r"|phone) <THEM>\b"),
    ("email", r"\b(?P<verb>send|write) (?:<THEM> )?<D>(?:(?P<tone><TONES>) )?(?:(?P<purpose>"
     r"<PURPOSES>)\b ?)?(?P<noun>emails?|messages?)?\b"),
    ("email", r"\bemail <THEM>\b(?: (?:an? )?(?:(?P<tone><TONES>) )?(?P<purpose><PURPOSES>)\b)?"),
)  # fmt: skip
#: Task channel -> (words in the request that pick it, default title); "task" always fits.
_TASKS = {"call": (r"\bcall|phone", "Call the contact"), "email": ("email", "Email the contact"),
          "meeting": (r"\b(?:meet|demo)", "Book a meeting with the contact"),
          "task": ("", "Follow up with the contact")}  # fmt: skip


@functools.cache
def rx(pattern: str) -> re.Pattern[str]:
    """Compile a rule: ``<MACRO>`` shorthands expanded, ``verb~`` given its -s/-ed forms."""
    while found := re.search("|".join(map(re.escape, MACROS)), pattern):
        pattern = pattern.replace(found[0], MACROS[found[0]])
    return re.compile(re.sub(r"(\w+)~", r"\1(?:s|es|d|ed)?", pattern))


def _lookup(kind: str, word: str, default: Any = None) -> Any:
    return next((k for k, p in TABLES[kind].items() if re.fullmatch(p, word)), default)


def _number(m: Match) -> float | int:
    scale = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9}.get(m["suf"] or "", 1)
    value = float(m["n"].replace(",", "")) * scale
    return int(value) if value.is_integer() else value


def _days(m: Match) -> int:
    n = 1 if m["n"] in ("a", "an", "one") else int(m["n"])
    return n * {"day": 1, "week": 7, "month": 30}[m["unit"]]


def _content(words: list[str]) -> bool:
    return any(not re.fullmatch(FILLER, word) for word in words)


class _Reader:
    """Reads one description: the normalised text, the spans used so far, notes for the answer."""

    def __init__(self, text: str) -> None:
        self.urls: list[str] = []
        self.quotes: list[str] = []
        self.assumptions: list[str] = []  # choices the text left open
        self.skipped: list[str] = []  # what was read but left out, and why
        url = r"https?://[^\s,;\"'<>]*[^\s,;\"'<>.:!?)]"
        work = re.sub(url, lambda m: self.stash(self.urls, "urlref", m[0]), text)
        quoted = r"[\"“”]([^\"“”]{1,80})[\"“”]|(?<!\w)['‘]([^'‘’]{1,80})['’](?!\w)"
        work = re.sub(quoted, lambda m: self.stash(self.quotes, "quoteref", m[1] or m[2]), work)
        work = alpha2digit(work.replace("’", "'"), "en", threshold=1)
        work = re.sub(r"\be-mail", "email", " ".join(work.lower().split()))
        self.low = re.sub(r"\bno 1\b", "no one", work)
        self.used = [False] * len(self.low)

    def stash(self, store: list[str], kind: str, value: str) -> str:
        store.append(value.strip())
        return f" {kind}{len(store) - 1} "

    def working(self) -> str:
        return "".join("\x00" if u else c for c, u in zip(self.low, self.used, strict=True))

    def take(self, start: int, end: int, used: bool = True) -> None:
        self.used[start:end] = [used] * (end - start)

    def restore(self, value: str) -> str:
        value = re.sub(r"urlref(\d+)", lambda m: self.urls[int(m[1])], value)
        return re.sub(r"quoteref(\d+)", lambda m: self.quotes[int(m[1])], value).strip()

    def lead_in(self, start: int) -> Match | None:
        return re.search(LEAD_IN + r"[^,.;:]*$", self.low[:start])

    def trigger(self) -> dict[str, Any] | None:
        """Read the trigger: an event after a lead-in, else a schedule, else a score threshold."""
        found = []  # (state-like, start, end, trigger)
        for kind, pattern in TRIGGERS:
            for m in rx(pattern).finditer(self.working()):
                if self.lead_in(m.start()) and (trigger := self.trigger_of(kind, m)):
                    found.append((kind == "score", m.start(), m.end(), trigger))
        if m := re.search(SCHEDULE, self.working()):
            found.append((False, m.start(), m.end(), self.schedule(m)))
        found.sort(key=lambda item: item[:2])
        for state, start, end, other in found[1:]:
            if not state and other != found[0][3]:  # a score threshold may still be a condition
                self.skipped.append(f"one trigger per workflow, left out {self.low[start:end]!r}")
                self.take(start, end)
        if found:
            self.take(*found[0][1:3])
            if lead := self.lead_in(found[0][1]):
                self.take(lead.start(), lead.start() + len(lead[0].split()[0]))
        return found[0][3] if found else None

    def trigger_of(self, kind: str, m: Match) -> dict[str, Any] | None:
        if kind == "band":
            return {"type": "score_band", "to_band": m["to"], "from_band": m["frm"]}
        if kind == "score":
            down = re.search("drop|fall|below|under|less|lower", f"{m['verb']} {m['cmp']}")
            found = {
                "model": "lead_score",
                "op": "lte" if down else "gte",
                "threshold": int(m["n"]),
            }
            return {"type": "prediction_threshold", **found} if m["verb"] or m["cmp"] else None
        if page := m.groupdict().get("page"):
            self.assumptions.append(f"fires on any page view: no condition tests the page ({page})")
        return {"type": "event", "event_type": kind}

    def schedule(self, m: Match) -> dict[str, Any]:
        """Build a schedule trigger from "every ..." (and an "at 9am" anywhere)."""
        unit = next(group for group in m.groups() if group)
        every = {"hourly": "hour", "hour": "hour", "weekly": "week", "week": "week"}.get(
            unit, "day"
        )
        if unit not in ("day", "daily", "weekday") and every == "day":  # a day of the week
            every = "week"
            self.assumptions.append(f"runs weekly: a schedule does not keep the weekday ({unit})")
        if every == "hour":
            return {"type": "schedule", "every": "hour"}
        hour = DEFAULT_HOUR
        if at := re.search(HOUR, self.working()):
            self.take(at.start(), at.end())
            hour = int(at["h"] or {"noon": 12, "midnight": 0}.get(at["word"], 0))
            hour = hour % 12 + (12 if at["ampm"] == "pm" else 0) if at["ampm"] else hour
        else:
            self.assumptions.append(f"runs at {hour:02d}:00 UTC")
        return {"type": "schedule", "every": every, "at_hour": hour}

    def actions(self) -> list[dict[str, Any]]:
        """Read the actions in text order, with unique ids and "then" edges."""
        found = []
        for kind, pattern in ACTIONS:
            for m in rx(pattern).finditer(self.working()):
                before = max(0, m.start() - 20)
                negated = re.search(NEGATION, self.low[before : m.start()])
                action = None if negated else self.action_of(kind, m)
                if negated or action:
                    self.take(before + negated.start() if negated else m.start(), m.end())
                    if m.groupdict().get("keep"):  # words a condition may still read
                        self.take(m.start("keep"), m.end("keep"), used=False)
                if negated:
                    self.skipped.append(f"negated, left out: {m[0]!r}")
                elif action:
                    found.append((m.start(), m.end(), action))
        found.sort(key=lambda item: item[0])
        ids: list[str] = []
        for i, (start, _, action) in enumerate(found):
            n, base = 1, action["id"]
            while action["id"] in ids:
                n, action["id"] = n + 1, f"{base}_{n + 1}"
            if i and re.search(THEN, self.low[found[i - 1][1] : start]):
                action["after"] = [ids[-1]]
            ids.append(action["id"])
        return [action for _, _, action in found]

    def action_of(self, kind: str, m: Match) -> dict[str, Any] | None:
        found = {k: v for k, v in m.groupdict().items() if v}
        value = self.restore(found.get("v") or found.get("v2") or "")
        if kind in ("notify", "enrol", "review"):
            kind, key = dict(notify=("notify_webhook", "url"), review=("request_review", "reason"),
                             enrol=("enrol_sequence", "sequence"))[kind]  # fmt: skip
            value = value or "Manager review requested by this workflow"
            return {"id": kind.split("_")[0], "type": kind, "params": {key: value}}
        if kind == "task":
            what = self.restore(found.get("what", ""))
            cue = f"{found.get('ch', '')} {what}"
            channel, title = next((c, t) for c, (p, t) in _TASKS.items() if re.search(p, cue))
            params = {"title": (what[0].upper() + what[1:200]).strip() if " " in what else title}
            return {"id": channel, "type": "create_task", "params": {**params, "channel": channel}}
        if kind == "update":
            field, low = found.get("f", "stage"), value.lower()
            if field == "lead source":
                field, value = "contact.lead_source", _lookup("source", low, value)
            elif field == "deal amount" and (amount := rx("<NUM>").fullmatch(low)):
                field, value = "deal.amount", _number(amount)
            else:
                stage = _lookup("stage", low)
                field = "deal.stage" if stage else "contact.lifecycle_stage"
                value = stage or _lookup("lifecycle", low, low)
            params = {"field": field, "value": value}
            return {"id": "update", "type": "update_field", "params": params}
        if "verb" in m.groupdict() and not found.keys() & {"noun", "purpose"}:
            return None
        if "purpose" not in found:
            self.assumptions.append("no email purpose named: a follow-up email")
        params = {"purpose": _lookup("purpose", found.get("purpose", ""), "follow_up")}
        params.update({"tone": _lookup("tone", found["tone"])} if "tone" in found else {})
        return {"id": "email", "type": "send_email", "params": params}

    def conditions(self) -> list[dict[str, Any]]:
        """Read the conditions (each once)."""
        conditions: list[dict[str, Any]] = []
        for field, kind, pattern in CONDITIONS:
            for m in rx(pattern).finditer(self.working()):
                found = {k: v for k, v in m.groupdict().items() if v}
                if kind == "since":
                    op, value = ("gt" if "more" in found else "gte"), _days(m)
                elif kind == "cmp":
                    op, value = _lookup("cmp", found.get("op", ""), "gte"), _number(m)
                elif kind in ("none", "some"):
                    op, value = ("eq", 0) if kind == "none" else ("gte", 1)
                else:
                    words = re.findall(MACROS[f"<{kind.upper()}S>"], found.get("v") or found["v2"])
                    values = list(dict.fromkeys(_lookup(kind, word) for word in words))
                    op, value = ("eq", values[0]) if len(values) == 1 else ("in", values)
                if {"field": field, "op": op, "value": value} not in conditions:
                    conditions.append({"field": field, "op": op, "value": value})
                self.take(m.start(), m.end())
        return conditions

    def leftovers(self) -> list[str]:
        pieces = re.split(r"[\x00,.;:!?()]+", self.working())
        words = (re.findall(r"[\w$%'/-]+", piece) for piece in pieces)
        return [self.restore(" ".join(w)) for w in words if _content(w)]


def parse_workflow_text(text: str) -> OfflineParse:
    """Read a workflow definition from an English description, offline.

    Args:
        text: The description ("when a lead becomes hot, create a call task for the owner").

    Returns:
        The validated definition, the fragments nothing read and the assumptions made.

    Raises:
        ValueError: When the text is blank or too long, names no trigger (nor a state to check
            daily), asks for no action or for a value the catalogue refuses.
    """
    if not text or not text.strip() or len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"the description must hold 1 to {MAX_TEXT_CHARS} characters")
    reader, shown = _Reader(text), " ".join(text.split())[:200]
    trigger, actions, conditions = reader.trigger(), reader.actions(), reader.conditions()
    if trigger is None:
        lead = re.search(LEAD_IN + r"[^,.;:]*", reader.working())
        if not conditions or (lead and _content(re.findall(r"[\w$%'-]+", lead[0])[1:])):
            raise ValueError(f"could not find a trigger in {shown!r}")
        reader.take(*(lead.span() if lead else (0, 0)))
        trigger = {"type": "schedule", "every": "day", "at_hour": DEFAULT_HOUR}
        reader.assumptions.append(f"no event named: checked daily at {DEFAULT_HOUR:02d}:00 UTC")
    if not actions:
        raise ValueError(f"could not find an action in {shown!r}")
    name = " ".join(text.split())[:120].rstrip(".!? ")
    document = {"name": name[0].upper() + name[1:], "description": text.strip(),
                "trigger": trigger, "conditions": conditions, "actions": actions}  # fmt: skip
    try:
        definition = parse_definition(document)
    except ValidationError as error:
        reason = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise ValueError(f"could not build a valid workflow from {shown!r}: {reason}") from None
    return definition, reader.skipped + reader.leftovers(), reader.assumptions
