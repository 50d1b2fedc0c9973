"""Rule-based search query parsing: amounts, industries, stages, time phrases, entity types."""

from __future__ import annotations

import datetime as dt

import pytest

from textai.search.documents import SearchDocument
from textai.search.intents import rule_intent
from textai.search.query_model import Filter, ParsedQuery, QueryVocabulary
from textai.search.query_parser import parse_query
from textai.search.suggestions import suggest_queries
from textai.search.time_ranges import quarter_range

TODAY = dt.date(2026, 5, 15)  # a Friday in Q2 2026


def _filters(query: str, today: dt.date = TODAY) -> dict[str, Filter]:
    return {f.field: f for f in parse_query(query, today).filters}


def test_spec_example_deals_over_50k_in_healthcare_closing_this_quarter() -> None:
    parsed = parse_query("deals over 50k in healthcare closing this quarter", TODAY)
    assert parsed.entity_types == ("deal",)
    assert parsed.text == ""
    assert parsed.intent == "filter_list"
    assert set(parsed.filters) == {
        Filter("amount", ">", 50_000.0),
        Filter("industry", "==", "healthcare"),
        Filter("expected_close_date", "between", (dt.date(2026, 4, 1), dt.date(2026, 6, 30))),
    }


@pytest.mark.parametrize(
    ("query", "op", "value"),
    [
        ("deals above $1.2m", ">", 1_200_000.0),
        ("deals under 10,000", "<", 10_000.0),
        ("deals between 20k and 40k", "between", (20_000.0, 40_000.0)),
        ("opportunities from 20 to 40k", "between", (20_000.0, 40_000.0)),
        ("deals at least $5,500", ">=", 5_500.0),
        ("deals worth up to 2 million", "<=", 2_000_000.0),
    ],
)
def test_amounts(query: str, op: str, value: object) -> None:
    parsed = parse_query(query, TODAY)
    assert parsed.filters == (Filter("amount", op, value),)
    assert parsed.entity_types == ("deal",)


def test_amount_alone_implies_deals_and_employees_or_revenue_imply_companies() -> None:
    assert parse_query("over 50k in fintech", TODAY).entity_types == ("deal",)
    parsed = parse_query("companies with more than 500 employees", TODAY)
    assert parsed.filters == (Filter("employee_count", ">", 500.0),)
    assert parsed.entity_types == ("company",)
    assert _filters("revenue over $10m")["annual_revenue"] == Filter(
        "annual_revenue", ">", 10_000_000.0
    )


@pytest.mark.parametrize(
    ("query", "industry"),
    [
        ("Healthcare deals", "healthcare"),
        ("health care companies", "healthcare"),
        ("contacts in the medical sector", "healthcare"),
        ("FINTECH accounts", "fintech"),
        ("deals in non-profit", "nonprofit"),
        ("companies in the public sector", "government"),
    ],
)
def test_industries_and_synonyms(query: str, industry: str) -> None:
    assert _filters(query)["industry"] == Filter("industry", "==", industry)


def test_several_industries_and_vocabulary_of_the_data() -> None:
    assert _filters("deals in fintech or software")["industry"] == Filter(
        "industry", "in", ("fintech", "software")
    )
    vocab = QueryVocabulary(industries=("Biotech", "Aerospace"))
    parsed = parse_query("aerospace companies", TODAY, vocabulary=vocab)
    assert parsed.filters == (Filter("industry", "==", "Aerospace"),)
    # "healthcare" is not an industry of this data: no filter, it stays in the text.
    assert parse_query("healthcare companies", TODAY, vocabulary=vocab).filters == ()


def test_industry_word_inside_a_known_company_name_is_not_a_filter() -> None:
    vocab = QueryVocabulary(names=frozenset({"summit peak software"}))
    parsed = parse_query("Summit Peak Software growth deal", TODAY, vocabulary=vocab)
    assert parsed.filters == ()
    assert parsed.entity_types == ("deal",)
    assert parsed.text == "Summit Peak Software growth"


def test_industry_needs_a_filter_context() -> None:
    parsed = parse_query("media", TODAY)
    assert parsed.filters == ()
    assert parsed.text == "media"


@pytest.mark.parametrize(
    ("query", "stage"),
    [
        ("won deals", "closed_won"),
        ("closed won opportunities", "closed_won"),
        ("lost deals", "closed_lost"),
        ("deals in negotiation", "negotiation"),
        ("deals in the proposal stage", "proposal"),
    ],
)
def test_stages(query: str, stage: str) -> None:
    parsed = parse_query(query, TODAY)
    assert Filter("stage", "==", stage) in parsed.filters
    assert parsed.entity_types == ("deal",)


def test_open_deals_and_lifecycle_stages() -> None:
    assert _filters("open deals")["stage"].op == "in"
    parsed = parse_query("MQLs in the UK", TODAY)
    assert set(parsed.filters) == {
        Filter("lifecycle_stage", "==", "marketing_qualified_lead"),
        Filter("country", "==", "GB"),
    }
    assert parsed.entity_types == ("contact",)


@pytest.mark.parametrize(
    ("query", "field", "span"),
    [
        ("deals closing next month", "expected_close_date", ("2026-06-01", "2026-06-30")),
        ("contacts created last week", "created_at", ("2026-05-04", "2026-05-10")),
        ("deals closing in Q3", "expected_close_date", ("2026-07-01", "2026-09-30")),
        ("companies added in 2025", "created_at", ("2025-01-01", "2025-12-31")),
        ("emails sent yesterday", "occurred_at", ("2026-05-14", "2026-05-14")),
        ("meetings this week", "occurred_at", ("2026-05-11", "2026-05-17")),
        ("won deals last quarter", "closed_at", ("2026-01-01", "2026-03-31")),
        ("deals in March 2026", "expected_close_date", ("2026-03-01", "2026-03-31")),
        ("contacts created in the last 30 days", "created_at", ("2026-04-15", "2026-05-15")),
        ("deals closing in q4 2026", "expected_close_date", ("2026-10-01", "2026-12-31")),
    ],
)
def test_time_phrases(query: str, field: str, span: tuple[str, str]) -> None:
    flt = _filters(query)[field]
    assert flt.op == "between"
    assert flt.value == tuple(dt.date.fromisoformat(d) for d in span)


def test_open_ended_time_phrases() -> None:
    assert _filters("contacts added since March")["created_at"] == Filter(
        "created_at", ">=", dt.date(2026, 3, 1)
    )
    assert _filters("deals closing before 2026-06-01")["expected_close_date"] == Filter(
        "expected_close_date", "<", dt.date(2026, 6, 1)
    )


def test_this_quarter_follows_today() -> None:
    flt = _filters("deals closing this quarter", dt.date(2025, 11, 3))["expected_close_date"]
    assert flt.value == quarter_range(2025, 4) == (dt.date(2025, 10, 1), dt.date(2025, 12, 31))


@pytest.mark.parametrize(
    ("query", "types"),
    [
        ("deals", ("deal",)),
        ("people at fintech companies", ("contact", "company")),
        ("leads from India", ("contact",)),
        ("accounts in Germany", ("company",)),
        ("emails from healthcare contacts last month", ("email",)),
        ("calls and meetings in April", ("transcript",)),
        ("transcripts", ("transcript",)),
    ],
)
def test_entity_types(query: str, types: tuple[str, ...]) -> None:
    assert parse_query(query, TODAY).entity_types == types


def test_calls_or_meetings_add_an_activity_type_filter() -> None:
    assert _filters("calls in April")["activity_type"] == Filter("activity_type", "==", "call")
    assert _filters("meetings next week")["activity_type"] == Filter(
        "activity_type", "==", "meeting"
    )
    assert "activity_type" not in _filters("calls and meetings in April")


@pytest.mark.parametrize(
    ("query", "country"),
    [
        ("fintech companies in Germany", "DE"),
        ("German software companies", "DE"),
        ("deals in the US", "US"),
        ("contacts based in the United Kingdom", "GB"),
        ("Dutch accounts", "NL"),
    ],
)
def test_countries(query: str, country: str) -> None:
    assert _filters(query)["country"] == Filter("country", "==", country)


def test_lowercase_us_and_in_are_not_countries() -> None:
    parsed = parse_query("emails to us in spring", TODAY)
    assert all(f.field != "country" for f in parsed.filters)


def test_free_text_remainder_and_intent() -> None:
    parsed = parse_query("show me calls about pricing with healthcare companies", TODAY)
    assert parsed.text == "about pricing"
    assert parsed.entity_types == ("transcript",)
    assert Filter("industry", "==", "healthcare") in parsed.filters
    person = parse_query("who is Olivia Smith", TODAY)
    assert person.text == "Olivia Smith"
    assert person.intent == "lookup_person"
    assert person.entity_types == ("contact",)
    assert parse_query("Blue Harbor Labs", TODAY).intent == "find_entity"
    assert parse_query("what did we discuss with Acme about pricing?", TODAY).intent == "question"


def test_descriptive_query_is_searched_as_text_without_incidental_filters() -> None:
    query = (
        "calls where the customer complains that the delivery was late and wants a refund "
        "tomorrow for more than $20"
    )
    parsed = parse_query(query, TODAY)
    assert parsed.filters == ()
    assert parsed.entity_types == ("transcript",)  # the leading "calls" is kept
    assert "refund" in parsed.text
    assert parsed.intent == "topic_search"


def test_intent_classifier_hook_is_used() -> None:
    parsed = parse_query("deals in fintech", TODAY, intent_classifier=lambda text: "question")
    assert parsed.intent == "question"
    assert rule_intent("fintech companies", parse_query("fintech companies", TODAY)) == (
        "filter_list"
    )


@pytest.mark.parametrize("bad", ["", "   ", "?!.", "x" * 600, None, 42])
def test_bad_input_raises_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="query"):
        parse_query(bad, TODAY)  # type: ignore[arg-type]


def test_inverted_range_raises_value_error() -> None:
    with pytest.raises(ValueError, match="inverted"):
        parse_query("deals between 40k and 20k", TODAY)
    with pytest.raises(ValueError, match="lower bound"):
        Filter("amount", "between", (5.0, 1.0))
    with pytest.raises(ValueError, match="operator"):
        Filter("amount", "~", 1.0)


def test_filter_matches_and_json() -> None:
    flt = Filter("expected_close_date", "between", (dt.date(2026, 4, 1), dt.date(2026, 6, 30)))
    assert flt.matches("2026-05-02")
    assert not flt.matches("2026-07-01")
    assert not flt.matches(None)
    assert Filter("industry", "==", "Healthcare").matches("healthcare")
    assert Filter("amount", ">", 50_000.0).matches(60_000)
    assert not Filter("amount", ">", 50_000.0).matches(float("nan"))
    assert flt.to_dict() == {
        "field": "expected_close_date",
        "op": "between",
        "value": ["2026-04-01", "2026-06-30"],
    }
    assert isinstance(parse_query("deals", TODAY), ParsedQuery)
    assert parse_query("deals", TODAY).to_dict()["entity_types"] == ["deal"]


def test_suggestions_complete_names_industries_and_templates() -> None:
    docs = [
        SearchDocument(
            "company:1", "company", "1", "Blue Harbor Labs", "x", {"industry": "retail"}
        ),
        SearchDocument(
            "company:2", "company", "2", "Bright Wave Works", "x", {"industry": "media"}
        ),
        SearchDocument("contact:3", "contact", "3", "Olivia Chen", "x", {"industry": "retail"}),
    ]
    assert suggest_queries("Blu", docs) == ["Blue Harbor Labs"]
    assert "deals over 50k in retail" in suggest_queries("deals over 50k in ret", docs)
    assert suggest_queries("che", docs) == ["Olivia Chen"]
    empty = suggest_queries("", docs, limit=3)
    assert len(empty) == 3
    assert empty[0] == "deals closing this quarter"
    assert suggest_queries("zzz", docs) == []
    assert suggest_queries("deals", docs, limit=0) == []
