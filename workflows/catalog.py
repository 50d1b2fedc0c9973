"""What a workflow may refer to: fields, operators, triggers and actions (the vocabulary).

Fields are named ``<entity>.<name>``; :data:`FIELDS` says each one's type, whether a workflow
may write it (``update_field``) and what it means. The definitions (:mod:`workflows.definition`)
refuse anything outside this catalogue, with the list of what is known.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.corpora.emails import PURPOSES, TONES
from streaming.events import EVENT_TYPES


@dataclass(frozen=True)
class FieldSpec:
    """One field a condition may test (and an ``update_field`` action may set).

    Attributes:
        kind: ``number``, ``string`` or ``bool``.
        writable: Whether ``update_field`` may set it.
        doc: What it means.
        choices: The values a string field takes (``None``: free text).
    """

    kind: str
    writable: bool
    doc: str
    choices: tuple[str, ...] | None = None


BANDS: tuple[str, ...] = ("cold", "warm", "hot")
DEAL_STAGES: tuple[str, ...] = (
    "prospecting",
    "qualification",
    "proposal",
    "negotiation",
    "closed_won",
    "closed_lost",
)
LIFECYCLE_STAGES: tuple[str, ...] = ("lead", "mql", "sql", "opportunity", "customer")

FIELDS: dict[str, FieldSpec] = {
    "contact.lifecycle_stage": FieldSpec(
        "string", True, "Funnel stage of the contact.", LIFECYCLE_STAGES
    ),
    "contact.lead_source": FieldSpec("string", True, "Acquisition channel."),
    "contact.job_title": FieldSpec("string", True, "Job title."),
    "contact.ai_consent": FieldSpec("bool", False, "Whether AI may process the contact."),
    "contact.days_since_created": FieldSpec("number", False, "Days since the contact was created."),
    "contact.days_since_last_activity": FieldSpec(
        "number", False, "Days since the last logged activity (any type, either direction)."
    ),
    "contact.days_since_last_contacted": FieldSpec(
        "number", False, "Days since a rep last called, met or emailed the contact."
    ),
    "contact.activities_30d": FieldSpec("number", False, "Activities in the last 30 days."),
    "contact.open_deals": FieldSpec("number", False, "Open deals of the contact."),
    "company.industry": FieldSpec("string", False, "Industry of the contact's company."),
    "company.employee_count": FieldSpec("number", False, "Employees of the company."),
    "company.country": FieldSpec("string", False, "Country of the company."),
    "deal.stage": FieldSpec("string", True, "Stage of the contact's latest deal.", DEAL_STAGES),
    "deal.amount": FieldSpec("number", True, "Value of the contact's latest deal."),
    "deal.days_open": FieldSpec("number", False, "Days since the latest deal was created."),
    "deal.days_to_expected_close": FieldSpec(
        "number", False, "Days until the latest deal's expected close date (negative: overdue)."
    ),
    "score.lead_score": FieldSpec("number", False, "Latest 0-100 lead score."),
    "score.band": FieldSpec("string", False, "Band of the latest lead score.", BANDS),
    "prediction.trigger_probability": FieldSpec(
        "number",
        False,
        "Probability that the contact replies, meets or moves stage in the next 14 days.",
    ),
}

#: Operators: name -> the field kinds it applies to.
OPERATORS: dict[str, frozenset[str]] = {
    "eq": frozenset({"number", "string", "bool"}),
    "ne": frozenset({"number", "string", "bool"}),
    "in": frozenset({"number", "string"}),
    "not_in": frozenset({"number", "string"}),
    "gt": frozenset({"number"}),
    "gte": frozenset({"number"}),
    "lt": frozenset({"number"}),
    "lte": frozenset({"number"}),
    "contains": frozenset({"string"}),
    "is_set": frozenset({"number", "string", "bool"}),
    "is_not_set": frozenset({"number", "string", "bool"}),
}
#: Operators that take no value.
UNARY_OPERATORS: frozenset[str] = frozenset({"is_set", "is_not_set"})

TRIGGER_EVENT_TYPES: tuple[str, ...] = EVENT_TYPES
#: Models a ``prediction_threshold`` trigger may watch, with the field holding their output.
PREDICTION_MODELS: dict[str, str] = {
    "lead_score": "score.lead_score",
    "trigger_prediction": "prediction.trigger_probability",
}


@dataclass(frozen=True)
class ActionSpec:
    """One action type: its required and optional parameters, and what it does."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    doc: str


ACTIONS: dict[str, ActionSpec] = {
    "create_task": ActionSpec(
        ("title",), ("due_in_days", "channel"), "Create a task for the contact's owner."
    ),
    "enrol_sequence": ActionSpec(("sequence",), (), "Enrol the contact in an email sequence."),
    "send_email": ActionSpec(
        ("purpose",), ("tone",), "Compose an email with the LLM layer and send it."
    ),
    "update_field": ActionSpec(("field", "value"), (), "Set a writable CRM field."),
    "notify_webhook": ActionSpec(("url",), (), "POST the run to a URL (unsigned)."),
    "request_review": ActionSpec(("reason",), (), "Ask a manager to review the contact."),
}
TASK_CHANNELS: tuple[str, ...] = ("call", "email", "meeting", "task")
EMAIL_TONES: tuple[str, ...] = TONES
EMAIL_PURPOSES: tuple[str, ...] = PURPOSES
