"""Negated and activity-fact filters, contact facts and bm25s keywords on a hand-made CRM."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from textai.search.documents import documents_from_frames
from textai.search.hits import hits_doc_ids
from textai.search.index import HybridIndex
from textai.search.keyword import BM25, tokenize
from textai.search.lead_bands import band_of_score, load_score_bands
from textai.search.number_words import normalise_numbers
from textai.search.query_model import Filter

TODAY = dt.date(2026, 5, 15)


def _frames() -> dict[str, pd.DataFrame]:
    companies = pd.DataFrame(
        [
            {"id": "c1", "name": "Harbor Health", "industry": "healthcare", "country": "US",
             "employee_count": 300, "annual_revenue": 2e7, "domain": "h.example",
             "created_at": "2025-01-02"},
            {"id": "c2", "name": "Ledger Labs", "industry": "fintech", "country": "DE",
             "employee_count": 40, "annual_revenue": 3e6, "domain": "l.example",
             "created_at": "2025-02-03"},
            {"id": "c3", "name": "Mystery Co", "industry": None, "country": "FR",
             "employee_count": 10, "annual_revenue": None, "domain": None,
             "created_at": "2025-03-04"},
        ]
    )  # fmt: skip
    contacts = pd.DataFrame(
        [
            {"id": f"p{i}", "company_id": cid, "owner_id": None, "first_name": first,
             "last_name": "Test", "email": f"{first.lower()}@x.example", "job_title": "CTO",
             "lead_source": "web", "lifecycle_stage": "lead", "ai_consent": True,
             "created_at": "2026-01-10"}
            for i, (first, cid) in enumerate([("Ada", "c1"), ("Ben", "c2"), ("Cy", "c3")], 1)
        ]
    )  # fmt: skip
    deals = pd.DataFrame(
        [
            {"id": "d1", "name": "Harbor renewal", "contact_id": "p1", "account_id": None,
             "amount": 60000.0, "currency": "USD", "stage": "closed_won",
             "expected_close_date": "2026-04-01", "closed_at": "2026-04-02", "is_won": True,
             "created_at": "2026-01-01", "owner_id": None},
            {"id": "d2", "name": "Ledger expansion", "contact_id": "p2", "account_id": None,
             "amount": 20000.0, "currency": "USD", "stage": "negotiation",
             "expected_close_date": "2026-06-20", "closed_at": None, "is_won": None,
             "created_at": "2026-02-01", "owner_id": None},
            {"id": "d3", "name": "Mystery pilot", "contact_id": "p3", "account_id": None,
             "amount": 5000.0, "currency": "USD", "stage": "closed_lost",
             "expected_close_date": "2026-03-01", "closed_at": "2026-03-02", "is_won": False,
             "created_at": "2026-02-02", "owner_id": None},
        ]
    )  # fmt: skip
    activities = pd.DataFrame(
        [
            # Ada replied last week and we called her in March; Ben only got our email.
            {"id": "a1", "contact_id": "p1", "deal_id": "d1", "user_id": None, "type": "email",
             "subject": "Re: pricing", "body": "Thanks, pricing works.",
             "occurred_at": "2026-05-06T10:00:00Z", "details": {"direction": "inbound"}},
            {"id": "a2", "contact_id": "p1", "deal_id": None, "user_id": None, "type": "call",
             "subject": "Intro call", "body": "We talked.", "occurred_at": "2026-03-03T09:00:00Z",
             "details": {"outcome": "connected"}},
            {"id": "a3", "contact_id": "p2", "deal_id": "d2", "user_id": None, "type": "email",
             "subject": "Proposal", "body": "Here is the proposal.",
             "occurred_at": "2026-05-05T09:00:00Z", "details": {"direction": "outbound"}},
            {"id": "a4", "contact_id": "p3", "deal_id": None, "user_id": None, "type": "note",
             "subject": "Note", "body": "Left a note.", "occurred_at": "2026-05-07T09:00:00Z",
             "details": None},
        ]
    )  # fmt: skip
    lead_scores = pd.DataFrame(
        [
            {"contact_id": "p1", "score": 35, "calculated_at": "2026-04-01T00:00:00Z"},
            {"contact_id": "p1", "score": 82, "calculated_at": "2026-05-01T00:00:00Z"},
            {"contact_id": "p2", "score": 55, "calculated_at": "2026-05-01T00:00:00Z"},
        ]
    )
    return {"companies": companies, "contacts": contacts, "deals": deals,
            "activities": activities, "lead_scores": lead_scores}  # fmt: skip


@pytest.fixture(scope="module")
def index() -> HybridIndex:
    documents = documents_from_frames(_frames())
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(documents), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return HybridIndex().build(documents, embeddings=vectors)


def _ids(index: HybridIndex, query: str) -> set[str]:
    return set(hits_doc_ids(index.search(query, limit=100, today=TODAY)))


def test_contact_documents_carry_last_activities_and_the_latest_lead_score(
    index: HybridIndex,
) -> None:
    ada = next(d for d in index.documents if d.doc_id == "contact:p1").attributes
    assert ada["last_email_received_at"] == "2026-05-06"
    assert ada["last_call_at"] == "2026-03-03"
    assert ada["last_activity_at"] == "2026-05-06"
    assert "last_email_sent_at" not in ada
    assert (ada["lead_score"], ada["lead_score_band"]) == (82, "hot")
    cy = next(d for d in index.documents if d.doc_id == "contact:p3").attributes
    assert "last_activity_at" not in cy  # a note is not an indexed activity
    assert "lead_score" not in cy


def test_bands_are_the_platform_thresholds() -> None:
    assert dict(load_score_bands()) == {"hot": 70, "warm": 40, "cold": 0}
    assert [band_of_score(s) for s in (100, 70, 69, 40, 39, 0)] == [
        "hot", "hot", "warm", "warm", "cold", "cold",
    ]  # fmt: skip


def test_negated_filters_are_honoured_and_keep_missing_values(index: HybridIndex) -> None:
    assert _ids(index, "deals that are not closed won") == {"deal:d2", "deal:d3"}
    assert _ids(index, "companies excluding healthcare") == {"company:c2", "company:c3"}
    assert _ids(index, "companies not in fintech or healthcare") == {"company:c3"}
    assert Filter("industry", "!=", "fintech").matches(None)
    assert not Filter("industry", "not in", ("fintech", "healthcare")).matches("FinTech")
    assert Filter("country", "!=", "GB").to_dict() == {"field": "country", "op": "!=",
                                                       "value": "GB"}  # fmt: skip


def test_activity_facts_filter_the_contacts_not_their_creation_date(index: HybridIndex) -> None:
    parsed = index.parse("contacts who replied to an email last week", TODAY)
    assert [f.field for f in parsed.filters] == ["activity.email_received"]
    assert _ids(index, "contacts who replied to an email last week") == {"contact:p1"}
    assert _ids(index, "contacts we emailed last week") == {"contact:p2"}
    assert _ids(index, "contacts we called in March") == {"contact:p1"}
    assert _ids(index, "contacts we have not called since March") == {"contact:p2",
                                                                       "contact:p3"}  # fmt: skip
    assert _ids(index, "contacts we called yesterday") == set()


def test_score_band_and_number_word_queries(index: HybridIndex) -> None:
    assert _ids(index, "hot leads") == {"contact:p1"}
    # A negation keeps records without the value: Cy has no score, so is not known to be cold.
    assert _ids(index, "leads that aren't cold") == {"contact:p1", "contact:p2", "contact:p3"}
    assert _ids(index, "warm or hot leads") == {"contact:p1", "contact:p2"}
    assert _ids(index, "deals over fifteen thousand") == {"deal:d1", "deal:d2"}
    assert _ids(index, "50k+ deals") == {"deal:d1"}


def test_activity_filter_with_a_bad_value_is_refused(index: HybridIndex) -> None:
    with pytest.raises(ValueError, match="compares dates"):
        index.search("x", filters=[{"field": "activity.call", "op": ">", "value": 3}])
    with pytest.raises(ValueError, match="unknown activity kind"):
        index.search("x", filters=[{"field": "activity.fax", "op": ">=", "value": "2026-01-01"}])


def test_bm25s_scores_equal_the_textbook_formula() -> None:
    texts = ["pricing pricing renewal", "renewal contract signed", "pricing call", ""]
    scores = BM25().fit(texts).scores("pricing renewal")
    docs = [tokenize(t) for t in texts]
    avg = sum(map(len, docs)) / len(docs)
    expected = []
    for terms in docs:
        total = 0.0
        for term in ("pricing", "renewal"):
            df = sum(term in d for d in docs)
            idf = math.log1p((len(docs) - df + 0.5) / (df + 0.5))
            tf = terms.count(term)
            total += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(terms) / avg))
        expected.append(total)
    assert np.allclose(scores, expected, rtol=1e-5)
    assert BM25().fit([]).scores("anything").shape == (0,)
    assert not BM25().fit(["a b"]).scores("zzz").any()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deals over fifty thousand", "deals over 50k"),
        ("deals worth one point five million or more", "deals worth at least 1.5m"),
        ("deals between five and fifteen thousand", "deals between 5k and 15k"),
        ("deals between 5 and fifteen thousand", "deals between 5 and 15k"),
        ("50k+ deals", "at least 50k deals"),
        ("20k-40k deals", "between 20k and 40k deals"),
        ("Five Star Labs", "Five Star Labs"),
        ("one of our deals", "one of our deals"),
        ("calls in the last two weeks", "calls in the last 2 weeks"),
    ],
)
def test_number_words_and_shorthands(text: str, expected: str) -> None:
    assert normalise_numbers(text) == expected
