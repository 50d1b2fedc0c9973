"""Typed slots: placeholder parsing, slot specs, formatting and the refusal of missing slots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from content.personalise import (
    MissingSlotsError,
    RenderError,
    SlotValueError,
    format_date,
    format_int,
    format_list,
    format_money,
    format_number,
    render_template,
)
from content.slots import (
    SLOT_SOURCES,
    SlotSpec,
    SlotTemplate,
    TemplateError,
    describe_sources,
    parse_placeholders,
    parse_template,
)

NAME = {"type": "str", "source": "contact.first_name"}
COMPANY = {"type": "str", "source": "company.name"}


def template(body: str, subject: str = "", **slots: dict) -> SlotTemplate:
    return parse_template(subject, body, slots)


# ------------------------------------------------------------------ parsing


def test_placeholders_are_read_in_order_once_and_escaped_braces_are_literal() -> None:
    text = "Hi {first_name}, {company} and {first_name} again; {{not_a_slot}} stays."
    assert parse_placeholders(text) == ["first_name", "company"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Hi {first_name", "unbalanced"),
        ("Hi first_name}", "unbalanced"),
        ("Hi {}", "not a slot name"),
        ("Hi {0}", "not a slot name"),
        ("Hi {contact.first_name}", "not a slot name"),
        ("Hi {names[0]}", "not a slot name"),
        ("Hi {First}", "not a slot name"),
        ("Hi {first_name!r}", "conversion or format spec"),
        ("Hi {amount:>10}", "conversion or format spec"),
    ],
)
def test_bad_placeholders_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(TemplateError, match=fragment):
        parse_placeholders(text)


def test_a_placeholder_without_a_slot_spec_makes_the_template_invalid() -> None:
    with pytest.raises(TemplateError, match=r"placeholders without a slot spec: \{company\}"):
        template("Hi {first_name} at {company}", first_name=NAME)


def test_a_subject_placeholder_needs_a_spec_too() -> None:
    with pytest.raises(TemplateError, match=r"\{deal_name\}"):
        template("Hi {first_name}", subject="About {deal_name}", first_name=NAME)


def test_unused_specs_are_allowed_and_used_slots_follow_the_text() -> None:
    parsed = template("{company} / {first_name}", subject="Hi {first_name}",
                      first_name=NAME, company=COMPANY, spare=COMPANY)  # fmt: skip
    assert list(parsed.used_slots()) == ["first_name", "company"]


# ------------------------------------------------------------------ slot specs


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"type": "str", "source": "contact.shoe_size"}, "unknown slot source"),
        ({"type": "money", "source": "contact.first_name"}, "does not fit source"),
        ({"type": "date", "source": "deal.amount"}, "does not fit source"),
        ({"type": "emoji", "source": "contact.first_name"}, "type"),
        ({"type": "str", "source": "contact.first_name", "required": False}, "needs a fallback"),
        ({"type": "str", "source": "contact.first_name", "fallback": "there"}, "required slot"),
        ({"type": "str", "source": "company.news"}, "must be optional"),
        (
            {"type": "str", "source": "company.news", "required": False, "fallback": "{x}"},
            "plain text",
        ),
        ({"type": "str", "source": "contact.first_name", "colour": "red"}, "Extra inputs"),
    ],
)
def test_bad_slot_specs_are_refused(spec: dict, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        SlotSpec.model_validate(spec)


def test_a_type_may_be_the_sources_own_or_str() -> None:
    assert SlotSpec(type="money", source="deal.amount").type == "money"
    assert SlotSpec(type="str", source="deal.amount").type == "str"
    assert SlotSpec(type="number", source="company.employee_count").type == "number"


def test_bad_slot_names_are_refused() -> None:
    with pytest.raises(TemplateError, match="not a lower-case identifier"):
        template("Hi", **{"First Name": NAME})


def test_every_source_is_described_for_the_prompt() -> None:
    text = describe_sources()
    assert all(f"- {name} (" in text for name in SLOT_SOURCES)
    assert "no external news feed" in text


# ------------------------------------------------------------------ formatting


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (50000, "USD", "$50,000"),
        (50000.0, None, "$50,000"),
        (Decimal("1250.5"), "EUR", "€1,250.50"),
        ("7,500", "GBP", "£7,500"),
        (-300, "usd", "-$300"),
        (99, "CHF", "99 CHF"),
    ],
)
def test_money(value: object, currency: str | None, expected: str) -> None:
    assert format_money(value, currency) == expected


@pytest.mark.parametrize("value", ["lots", True, float("nan"), float("inf"), [1]])
def test_money_refuses_what_is_not_an_amount(value: object) -> None:
    with pytest.raises(SlotValueError):
        format_money(value)


def test_dates_lists_and_numbers() -> None:
    assert format_date(dt.date(2026, 12, 4)) == "4 December 2026"
    assert format_date(dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)) == "1 March 2026"
    assert format_date("2026-12-04T10:00:00Z") == "4 December 2026"
    assert format_list(["pricing"]) == "pricing"
    assert format_list(["pricing", "  the   timeline "]) == "pricing and the timeline"
    assert format_list(["a", "b", "c"]) == "a, b and c"
    assert format_int(1200) == "1,200"
    assert format_int(12.0) == "12"
    assert format_number(1234.5) == "1,234.5"
    assert format_number(3) == "3"


@pytest.mark.parametrize(
    ("fn", "value"),
    [
        (format_date, "next Tuesday"),
        (format_date, 20261204),
        (format_list, "a, b"),
        (format_list, ["", "  "]),
        (format_int, 12.5),
    ],
)
def test_formatters_refuse_wrong_types(fn, value) -> None:
    with pytest.raises(SlotValueError):
        fn(value)


# ------------------------------------------------------------------ rendering

VALUES = {
    "contact.first_name": "Ada",
    "company.name": "Acme",
    "deal.amount": 50000.0,
    "deal.currency": "USD",
    "deal.expected_close_date": dt.date(2026, 12, 4),
    "insights.pain_points": ["pricing", "the migration"],
    "company.news": None,
}


def test_render_formats_every_slot_by_type_and_reports_sources() -> None:
    parsed = template(
        "Hi {first_name},\n{amount} by {close}; you raised {pains}.",
        subject="{company} proposal",
        first_name=NAME,
        company=COMPANY,
        amount={"type": "money", "source": "deal.amount"},
        close={"type": "date", "source": "deal.expected_close_date"},
        pains={"type": "list", "source": "insights.pain_points"},
    )
    result = render_template(parsed, VALUES)
    assert result.subject == "Acme proposal"
    assert result.body == (
        "Hi Ada,\n$50,000 by 4 December 2026; you raised pricing and the migration."
    )
    filled = {slot.name: (slot.source, slot.value, slot.filled_from) for slot in result.slots}
    assert filled["amount"] == ("deal.amount", "$50,000", "crm")
    assert filled["first_name"] == ("contact.first_name", "Ada", "crm")


def test_missing_required_slots_are_refused_naming_each_slot_and_source() -> None:
    parsed = template(
        "Hi {first_name}, about {company} and {amount}.",
        first_name=NAME,
        company=COMPANY,
        amount={"type": "money", "source": "deal.amount"},
    )
    with pytest.raises(MissingSlotsError) as caught:
        render_template(parsed, {"contact.first_name": "  ", "deal.amount": 10}, "contact X")
    message = str(caught.value)
    assert "{first_name} from contact.first_name" in message
    assert "{company} from company.name" in message
    assert "amount" not in message and "(contact X)" in message
    assert caught.value.missing == [
        ("first_name", "contact.first_name"),
        ("company", "company.name"),
    ]


def test_optional_slots_write_their_fallback_and_an_empty_one_leaves_no_gap() -> None:
    parsed = template(
        "Hi {first_name},\n\n{news}\n\nWe spoke {when}.",
        first_name=NAME,
        news={"type": "str", "source": "company.news", "required": False, "fallback": ""},
        when={
            "type": "date",
            "source": "last_activity.date",
            "required": False,
            "fallback": "recently",
        },
    )
    result = render_template(parsed, VALUES)
    assert result.body == "Hi Ada,\n\nWe spoke recently."
    assert {s.name: s.filled_from for s in result.slots} == {
        "first_name": "crm",
        "news": "fallback",
        "when": "fallback",
    }


def test_a_value_of_the_wrong_type_is_refused_with_the_slot_named() -> None:
    parsed = template("Total {amount}", amount={"type": "money", "source": "deal.amount"})
    with pytest.raises(SlotValueError, match=r"\{amount\} from deal.amount: expected a money"):
        render_template(parsed, {"deal.amount": "a lot"})


def test_an_empty_greeting_is_never_sent() -> None:
    parsed = template(
        "Hi {name},\nThanks.",
        name={"type": "str", "source": "contact.job_title", "required": False, "fallback": ""},
    )
    with pytest.raises(RenderError, match="greeting without a name"):
        render_template(parsed, {})


def test_a_crm_value_holding_a_placeholder_is_refused() -> None:
    parsed = template("Hi {first_name}", first_name=NAME)
    with pytest.raises(RenderError, match=r"first_name\} from contact.first_name holds"):
        render_template(parsed, {"contact.first_name": "{company}"})


def test_literal_braces_survive_rendering() -> None:
    parsed = template("Hi {first_name}, use {{code}}.", first_name=NAME)
    assert render_template(parsed, VALUES).body == "Hi Ada, use {code}."
