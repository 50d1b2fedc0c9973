"""Typed slots of a content template: the placeholders of its text and where their values come from.

A template (``content_items.subject`` / ``body``) holds ``{name}`` placeholders, read with
:class:`string.Formatter` (``{{`` and ``}}`` are literal braces). Each placeholder needs a
:class:`SlotSpec` in the template's ``slots``: its type (how the value is checked and written
out), its source (a path of :data:`SLOT_SOURCES`, e.g. ``contact.first_name``), whether it is
required and, for an optional slot, the fallback text used when the CRM has no value. A template
that uses a placeholder without a spec, a positional/attribute/indexed/formatted placeholder,
an unknown source or a type that does not fit its source is invalid (:class:`TemplateError`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SlotType = Literal["str", "int", "number", "money", "date", "list"]

#: Pattern of a slot name (a Python identifier, lower case).
SLOT_NAME_PATTERN = r"^[a-z_][a-z0-9_]{0,49}$"
MAX_SLOTS = 40
MAX_BODY_CHARS = 20_000
MAX_SUBJECT_CHARS = 300


@dataclass(frozen=True)
class SlotSource:
    """A CRM value a slot can be filled from.

    Attributes:
        type: The value's own type (a slot may declare it, or ``str`` for its plain text).
        doc: Where the value comes from, in words.
        always_optional: The source is often empty by design (the slot must be optional).
    """

    type: str
    doc: str
    always_optional: bool = False


#: Every source a slot may name, with its type and where it is read (content/slot_sources.py).
SLOT_SOURCES: dict[str, SlotSource] = {
    "contact.first_name": SlotSource("str", "contacts.first_name"),
    "contact.last_name": SlotSource("str", "contacts.last_name"),
    "contact.full_name": SlotSource("str", "contacts.first_name + last_name"),
    "contact.email": SlotSource("str", "contacts.email"),
    "contact.job_title": SlotSource("str", "contacts.job_title"),
    "contact.lifecycle_stage": SlotSource("str", "contacts.lifecycle_stage"),
    "company.name": SlotSource("str", "companies.name of the contact's company"),
    "company.industry": SlotSource("str", "companies.industry"),
    "company.country": SlotSource("str", "companies.country"),
    "company.employee_count": SlotSource("int", "companies.employee_count"),
    "company.annual_revenue": SlotSource("money", "companies.annual_revenue (USD)"),
    "company.news": SlotSource(
        "str",
        "subject of the latest note activity (of the contact or a colleague at the company) "
        "tagged news (details.tags contains 'news', or the subject starts with 'News:'); "
        "there is no external news feed",
        always_optional=True,
    ),
    "deal.name": SlotSource("str", "deals.name (the deal asked for, else the latest open deal)"),
    "deal.stage": SlotSource("str", "deals.stage"),
    "deal.amount": SlotSource("money", "deals.amount in deals.currency"),
    "deal.expected_close_date": SlotSource("date", "deals.expected_close_date"),
    "last_activity.type": SlotSource("str", "type of the latest call, meeting or email"),
    "last_activity.date": SlotSource("date", "date of the latest call, meeting or email"),
    "last_activity.subject": SlotSource("str", "subject of the latest call, meeting or email"),
    "insights.pain_points": SlotSource(
        "list", "objections the contact raised in analysed calls (conversation_insights)"
    ),
    "insights.top_pain_point": SlotSource(
        "str", "the latest objection the contact raised in an analysed call"
    ),
    "insights.last_call_summary": SlotSource(
        "str", "summary of the contact's latest analysed call (conversation_insights.summary)"
    ),
    "lead_score.score": SlotSource("int", "latest lead_scores.score (0-100)"),
    "lead_score.band": SlotSource("str", "hot / warm / cold band of the latest lead score"),
    "owner.full_name": SlotSource("str", "users.full_name of the contact's owner (the sender)"),
    "owner.first_name": SlotSource("str", "first word of the owner's full name"),
    "owner.email": SlotSource("str", "users.email of the contact's owner"),
}

#: Types a slot may declare for a source of each type (``str`` writes the plain value).
_COMPATIBLE: dict[str, set[str]] = {
    "str": {"str"},
    "int": {"int", "number", "str"},
    "number": {"number", "str"},
    "money": {"money", "number", "str"},
    "date": {"date", "str"},
    "list": {"list", "str"},
}


class TemplateError(ValueError):
    """A template is invalid (the message names the placeholder or slot)."""


class SlotSpec(BaseModel):
    """How one placeholder is filled.

    Attributes:
        type: How the value is checked and written (``money``: ``$50,000``; ``date``: ``4
            December 2026``; ``list``: ``a, b and c``; ``int``: ``1,200``).
        source: Where the value comes from (a key of :data:`SLOT_SOURCES`).
        required: Refuse to render when the CRM has no value (the default).
        fallback: Text written instead of a missing value (optional slots only; may be empty
            to drop the placeholder, never another placeholder).
    """

    model_config = ConfigDict(extra="forbid")

    type: SlotType = "str"
    source: str = Field(min_length=1, max_length=60)
    required: bool = True
    fallback: str | None = Field(None, max_length=500)

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        """Refuse a source the resolver does not know."""
        if value not in SLOT_SOURCES:
            raise ValueError(f"unknown slot source {value!r} (known: {', '.join(SLOT_SOURCES)})")
        return value

    @field_validator("fallback")
    @classmethod
    def _plain_fallback(cls, value: str | None) -> str | None:
        """Refuse a fallback holding braces (it is written out as it is)."""
        if value is not None and ("{" in value or "}" in value):
            raise ValueError("a fallback is plain text: no { or }")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SlotSpec:
        """Check the type fits the source and that optional slots say what to write."""
        native = SLOT_SOURCES[self.source]
        if self.type not in _COMPATIBLE[native.type]:
            allowed = ", ".join(sorted(_COMPATIBLE[native.type]))
            raise ValueError(
                f"type {self.type!r} does not fit source {self.source} ({native.type}); "
                f"use one of {allowed}"
            )
        if self.required and self.fallback is not None:
            raise ValueError("a required slot has no fallback: set required to false")
        if not self.required and self.fallback is None:
            raise ValueError("an optional slot needs a fallback (the text written without a value)")
        if native.always_optional and self.required:
            raise ValueError(f"{self.source} is often empty: the slot must be optional")
        return self


def parse_placeholders(text: str) -> list[str]:
    """Return the placeholder names of a text, in order of first use.

    Args:
        text: A subject or body with ``{name}`` placeholders (``{{``/``}}`` are literal).

    Returns:
        The distinct names.

    Raises:
        TemplateError: On unbalanced braces, or a placeholder that is positional (``{}``,
            ``{0}``), has an attribute or index (``{a.b}``, ``{a[0]}``), a conversion
            (``{a!r}``) or a format spec (``{a:>9}``), or is not a lower-case identifier.
    """
    import re

    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text or ""))
    except ValueError as error:
        raise TemplateError(
            f"unbalanced braces: {error} (write {{{{ or }}}} for a brace)"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if conversion or spec:
            raise TemplateError(f"placeholder {{{field}}} has a conversion or format spec")
        if not re.fullmatch(SLOT_NAME_PATTERN, field):
            raise TemplateError(
                f"placeholder {{{field}}} is not a slot name (lower-case letters, digits, _)"
            )
        if field not in names:
            names.append(field)
    return names


class SlotTemplate(BaseModel):
    """A template and its typed slots; valid only when every placeholder has a spec.

    Attributes:
        subject: Subject line (may hold placeholders).
        body: Body with ``{name}`` placeholders.
        slots: Spec of each placeholder (unused specs are allowed and ignored).
    """

    model_config = ConfigDict(extra="forbid")

    subject: str = Field("", max_length=MAX_SUBJECT_CHARS)
    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS, pattern=r"\S")
    slots: dict[str, SlotSpec] = Field(default_factory=dict, max_length=MAX_SLOTS)

    @field_validator("slots")
    @classmethod
    def _slot_names(cls, value: dict[str, SlotSpec]) -> dict[str, SlotSpec]:
        """Refuse slot names that could never be placeholders."""
        import re

        for name in value:
            if not re.fullmatch(SLOT_NAME_PATTERN, name):
                raise ValueError(f"slot name {name!r} is not a lower-case identifier")
        return value

    @model_validator(mode="after")
    def _every_placeholder_has_a_spec(self) -> SlotTemplate:
        """Refuse a placeholder without a slot spec (it would be sent as ``{name}``)."""
        used = self.placeholders()
        missing = [name for name in used if name not in self.slots]
        if missing:
            listed = ", ".join(f"{{{name}}}" for name in missing)
            raise ValueError(f"placeholders without a slot spec: {listed}")
        return self

    def placeholders(self) -> list[str]:
        """Return the placeholder names of the subject then the body."""
        names = parse_placeholders(self.subject)
        return names + [n for n in parse_placeholders(self.body) if n not in names]

    def used_slots(self) -> dict[str, SlotSpec]:
        """Return the specs of the placeholders actually used, in order of use."""
        return {name: self.slots[name] for name in self.placeholders()}


def parse_template(subject: str | None, body: str | None, slots: Any) -> SlotTemplate:
    """Validate a stored or submitted template (e.g. a ``content_items`` row).

    Args:
        subject: Subject line (``None``: none).
        body: Body.
        slots: The ``slots`` mapping.

    Returns:
        The validated template.

    Raises:
        TemplateError: With the first problem found, naming its field.
    """
    from pydantic import ValidationError

    try:
        return SlotTemplate.model_validate(
            {"subject": subject or "", "body": body or "", "slots": slots or {}}
        )
    except ValidationError as error:
        raise TemplateError(describe_validation_error(error)) from None


def describe_validation_error(error: Any) -> str:
    """Return ``field: message`` of a pydantic error's first problem."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "template"
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def describe_sources() -> str:
    """Return the slot sources as prompt/help text: ``- source (type): where it comes from``."""
    lines = []
    for name, spec in SLOT_SOURCES.items():
        note = " Optional only." if spec.always_optional else ""
        lines.append(f"- {name} ({spec.type}): {spec.doc}.{note}")
    return "\n".join(lines)
