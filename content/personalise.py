"""Fill a template's typed slots for one contact, or refuse: never "Hi {first_name}".

:func:`render_template` formats each used slot's value by its type (money ``$50,000``, dates
``4 December 2026``, lists ``a, b and c``, integers ``1,200``), writes an optional slot's
fallback when the CRM has no value, and refuses with :class:`MissingSlotsError` (naming every
missing required slot and its source) rather than sending a half-filled text. A CRM value that
itself holds a ``{placeholder}`` and a text opening with an empty greeting (``Hi ,``) are
refused too.
:func:`personalise_content` is the entry point of ``POST /api/ai/content/personalize``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from content.slots import SLOT_SOURCES, SlotTemplate, parse_template

#: Symbols written before an amount; other currencies are written after it (``50,000 CHF``).
CURRENCY_SYMBOLS: dict[str, str] = {"USD": "$", "EUR": "€", "GBP": "£"}

_LEFTOVER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_EMPTY_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\s*[,!.:;]", re.I | re.M
)


class SlotValueError(ValueError):
    """A CRM value does not have its slot's type (the message names the slot)."""


class RenderError(ValueError):
    """The filled text would go out broken (a placeholder left, an empty greeting)."""


class MissingSlotsError(ValueError):
    """Required slots have no value: the content must not be sent.

    Attributes:
        missing: ``(slot name, source)`` of each missing required slot.
    """

    def __init__(self, missing: Sequence[tuple[str, str]], who: str = "the contact") -> None:
        self.missing = list(missing)
        listed = ", ".join(f"{{{name}}} from {source}" for name, source in self.missing)
        super().__init__(
            f"refused to personalise: no value for required slot(s) {listed} ({who}); fill "
            "them in the CRM, or make the slots optional with a fallback"
        )


@dataclass(frozen=True)
class FilledSlot:
    """One slot as it was filled.

    Attributes:
        name: Placeholder name.
        source: Where the value came from.
        type: Declared type.
        value: The text written.
        filled_from: ``crm`` (a CRM value) or ``fallback`` (the slot's fallback).
    """

    name: str
    source: str
    type: str
    value: str
    filled_from: str


@dataclass(frozen=True)
class PersonalisedContent:
    """A personalised text, ready to send.

    Attributes:
        subject: Filled subject (empty when the template has none).
        body: Filled body.
        slots: Each used slot with its source and value.
        content_id: The library item it came from (``None`` for an inline template).
        contact_id: The recipient.
        deal_id: The deal the values came from, when one was asked for.
    """

    subject: str
    body: str
    slots: list[FilledSlot] = field(default_factory=list)
    content_id: str | None = None
    contact_id: str | None = None
    deal_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def _number(value: Any, slot_type: str) -> Decimal:
    """Return a finite number, or raise SlotValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise SlotValueError(f"expected a {slot_type} value, got {type(value).__name__}")
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise SlotValueError(f"expected a {slot_type} value, got {value!r}") from None
    if not number.is_finite():
        raise SlotValueError(f"expected a finite {slot_type} value, got {value!r}")
    return number


def format_money(value: Any, currency: str | None = "USD") -> str:
    """Return ``$50,000`` / ``€1,250.50`` / ``50,000 CHF`` for an amount.

    Raises:
        SlotValueError: When the value is not a finite number.
    """
    number = _number(value, "money")
    text = f"{abs(number):,.0f}" if number == number.to_integral_value() else f"{abs(number):,.2f}"
    code = (currency or "USD").upper()
    sign = "-" if number < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code}"


def format_date(value: Any) -> str:
    """Return ``4 December 2026`` for a date, datetime or ISO-8601 string.

    Raises:
        SlotValueError: When the value is not a date.
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SlotValueError(f"expected a date, got {value!r}") from None
    if not isinstance(value, dt.date):
        raise SlotValueError(f"expected a date, got {type(value).__name__}")
    return f"{value.day} {value:%B %Y}"


def format_list(value: Any) -> str:
    """Return ``a``, ``a and b`` or ``a, b and c`` for a list of texts.

    Raises:
        SlotValueError: When the value is not a list of non-blank texts.
    """
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise SlotValueError(f"expected a list, got {type(value).__name__}")
    items = [" ".join(str(item).split()) for item in value if item is not None]
    items = [item for item in items if item]
    if not items:
        raise SlotValueError("expected a list of texts, got no text")
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def format_int(value: Any) -> str:
    """Return ``1,200`` for a whole number.

    Raises:
        SlotValueError: When the value is not a whole number.
    """
    number = _number(value, "int")
    if number != number.to_integral_value():
        raise SlotValueError(f"expected a whole number, got {value!r}")
    return f"{number:,.0f}"


def format_number(value: Any) -> str:
    """Return ``1,234.5`` for a number (at most two decimals, trailing zeros dropped)."""
    number = _number(value, "number")
    text = f"{number:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def is_missing(value: Any) -> bool:
    """Return whether a source value counts as "no value" (``None``, blank, empty list, NaN)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return not any(str(item).strip() for item in value if item is not None)
    return isinstance(value, float) and math.isnan(value)


def format_value(
    value: Any, slot_type: str, source_type: str = "str", currency: str | None = None
) -> str | None:
    """Write a value as its slot type says; ``None`` when there is no value.

    Args:
        value: The source's value.
        slot_type: The slot's declared type (``str`` writes the value as text, formatted by
            the source's own type: a money source still reads ``$50,000``).
        source_type: The source's own type.
        currency: ISO currency of money values (default USD).

    Returns:
        The text, or ``None`` when the value is missing.

    Raises:
        SlotValueError: When the value does not have the type.
    """
    if is_missing(value):
        return None
    kind = source_type if slot_type == "str" else slot_type
    if kind == "money":
        return format_money(value, currency)
    if kind == "date":
        return format_date(value)
    if kind == "list":
        return format_list(value)
    if kind == "int":
        return format_int(value)
    if kind == "number":
        return format_number(value)
    if not isinstance(value, str | int | float | Decimal) or isinstance(value, bool):
        raise SlotValueError(f"expected text, got {type(value).__name__}")
    return " ".join(str(value).split())


def _tidy(text: str) -> str:
    """Remove the gaps an empty fallback leaves (double spaces, space before punctuation)."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]+([,.;:!?])", r"\1", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def check_rendered(subject: str, body: str, had_subject: bool) -> None:
    """Refuse a filled text that would go out broken.

    Raises:
        RenderError: When the body opens with a greeting without a name, or a subject
            template came out empty.
    """
    greeting = _EMPTY_GREETING.search(body)
    if greeting:
        raise RenderError(f"the filled body has a greeting without a name: {greeting.group(0)!r}")
    if had_subject and not subject.strip():
        raise RenderError("the filled subject is empty")


def render_template(
    template: SlotTemplate, values: Mapping[str, Any], who: str = "the contact"
) -> PersonalisedContent:
    """Fill a template from source values, or refuse.

    Args:
        template: The validated template.
        values: ``{source: value}`` (:func:`content.slot_sources.load_slot_values`);
            ``deal.currency`` gives the currency of money values.
        who: Names the recipient in error messages.

    Returns:
        The filled subject and body with the filled slots.

    Raises:
        SlotValueError: When a value does not have its slot's type (all such slots named).
        MissingSlotsError: When required slots have no value (all of them named).
        RenderError: When the filled text would still go out broken.
    """
    filled: dict[str, str] = {}
    report: list[FilledSlot] = []
    missing: list[tuple[str, str]] = []
    wrong: list[str] = []
    currency = values.get("deal.currency")
    for name, spec in template.used_slots().items():
        native = SLOT_SOURCES[spec.source].type
        try:
            text = format_value(values.get(spec.source), spec.type, native, currency)
        except SlotValueError as error:
            wrong.append(f"{{{name}}} from {spec.source}: {error}")
            continue
        origin = "crm"
        leftover = _LEFTOVER.search(text or "")
        if leftover:
            raise RenderError(
                f"the value of {{{name}}} from {spec.source} holds a placeholder "
                f"({leftover.group(0)}): it would be sent as it is"
            )
        if text is None:
            if spec.required:
                missing.append((name, spec.source))
                continue
            text, origin = spec.fallback or "", "fallback"
        filled[name] = text
        report.append(FilledSlot(name, spec.source, spec.type, text, origin))
    if wrong:
        raise SlotValueError("refused to personalise: " + "; ".join(wrong))
    if missing:
        raise MissingSlotsError(missing, who)
    formatter = string.Formatter()
    subject = formatter.vformat(template.subject, (), filled)
    body = formatter.vformat(template.body, (), filled)
    if any(slot.filled_from == "fallback" and not slot.value for slot in report):
        subject, body = _tidy(subject), _tidy(body)
    check_rendered(subject, body, bool(template.subject.strip()))
    return PersonalisedContent(subject=subject.strip(), body=body.strip(), slots=report)


def load_content_template(session: Any, content_id: Any) -> tuple[Any, SlotTemplate]:
    """Return a ``content_items`` row and its validated template.

    Raises:
        ValueError: When the id is not a UUID, or the stored template is invalid.
        LookupError: When the item does not exist.
    """
    from content.slot_sources import as_uuid
    from haste.db.content_tables import ContentItem

    item = session.get(ContentItem, as_uuid(content_id, "content_id"))
    if item is None:
        raise LookupError(f"content item {content_id} not found")
    if not (item.body or "").strip():
        raise ValueError(f"content item {content_id} ({item.kind}) has no body to personalise")
    try:
        return item, parse_template(item.subject, item.body, item.slots)
    except ValueError as error:
        raise ValueError(f"content item {item.name!r} is not a valid template: {error}") from None


def personalise_content(
    database_url: str,
    contact_id: Any,
    *,
    content_id: Any = None,
    template: Mapping[str, Any] | None = None,
    deal_id: Any = None,
    now: dt.datetime | None = None,
) -> PersonalisedContent:
    """Personalise a library item (``content_id``) or an inline template for one contact.

    Args:
        database_url: The CRM database.
        contact_id: The recipient.
        content_id: A ``content_items`` id (exactly one of it and ``template``).
        template: An inline ``{subject, body, slots}``.
        deal_id: The deal the content is about (default: the contact's latest open deal).
        now: Reference time of "recent" company news.

    Returns:
        The filled content.

    Raises:
        ValueError: Bad ids, an invalid template, a deal of another contact, wrong-typed
            values (:class:`SlotValueError`) or missing required slots
            (:class:`MissingSlotsError`).
        LookupError: Unknown contact, deal or content item.
    """
    from content.slot_sources import as_uuid, load_slot_values
    from haste.db import session_scope

    if (content_id is None) == (template is None):
        raise ValueError("give exactly one of content_id and template")
    with session_scope(database_url) as session:
        if content_id is not None:
            _, parsed = load_content_template(session, content_id)
        else:
            inline = dict(template or {})
            parsed = parse_template(inline.get("subject"), inline.get("body"), inline.get("slots"))
        values = load_slot_values(session, contact_id, deal_id, now=now)
    who = f"contact {as_uuid(contact_id, 'contact_id')}"
    result = render_template(parsed, values, who)
    return PersonalisedContent(
        subject=result.subject,
        body=result.body,
        slots=result.slots,
        content_id=str(content_id) if content_id is not None else None,
        contact_id=str(as_uuid(contact_id, "contact_id")),
        deal_id=str(deal_id) if deal_id is not None else None,
    )
