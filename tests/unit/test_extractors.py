"""Point-in-time lead-scoring feature extractors on hand-made event frames."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from features.extractors import (
    build_lead_table,
    extract_company_data,
    extract_email_engagement,
    extract_social_signals,
    extract_web_activity,
    job_seniority,
    lead_snapshot_times,
)
from pipelines.synthetic import generate_crm

T = pd.Timestamp


def _as_of(**cutoffs: str) -> pd.Series:
    return pd.Series({k: T(v) for k, v in cutoffs.items()}, name="as_of")


def _email(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "contact_id": [r[0] for r in rows],
            "event_type": [r[1] for r in rows],
            "campaign": "newsletter",
            "occurred_at": pd.to_datetime([r[2] for r in rows], format="ISO8601"),
        }
    )


def _web(*rows: tuple[str, str, str, float, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"w{i}" for i in range(len(rows))],
            "contact_id": [r[0] for r in rows],
            "event_type": [r[1] for r in rows],
            "page": [r[2] for r in rows],
            "duration_s": [r[3] for r in rows],
            "occurred_at": pd.to_datetime([r[4] for r in rows], format="ISO8601"),
        }
    )


def _social(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"s{i}" for i in range(len(rows))],
            "contact_id": [r[0] for r in rows],
            "platform": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "occurred_at": pd.to_datetime([r[3] for r in rows], format="ISO8601"),
        }
    )


EMAIL = _email(
    ("a", "sent", "2026-01-01 09:00"),
    ("a", "open", "2026-01-02 00:00"),
    ("a", "click", "2026-01-02 12:00"),
    ("a", "reply", "2026-01-03 00:00"),
    ("a", "sent", "2026-01-08 09:00"),
    ("a", "open", "2026-01-09 00:00"),
    ("a", "sent", "2026-01-10 00:00"),  # exactly at the cut-off: ignored
    ("a", "reply", "2026-01-11 00:00"),  # after the cut-off: ignored
    ("b", "sent", "2026-01-01 09:00"),
    ("z", "open", "2026-01-01 09:00"),  # contact not asked for: ignored
)
AS_OF = _as_of(a="2026-01-10", b="2026-01-10", c="2026-01-05")


# --- email -------------------------------------------------------------------------------------


def test_email_counts_rates_and_recency() -> None:
    out = extract_email_engagement(EMAIL, AS_OF)
    a = out.loc["a"]
    assert (a["email_sent"], a["email_opens"], a["email_clicks"], a["email_replies"]) == (
        2,
        2,
        1,
        1,
    )
    assert a["email_open_rate"] == pytest.approx(1.0)
    assert a["email_click_rate"] == pytest.approx(0.5)
    assert a["email_reply_rate"] == pytest.approx(0.5)
    assert a["email_days_since_last_open"] == pytest.approx(1.0)
    assert a["email_days_since_last_reply"] == pytest.approx(7.0)
    assert (a["email_replies_14d"], a["email_replies_30d"]) == (1, 1)
    b = out.loc["b"]
    assert (b["email_sent"], b["email_opens"]) == (1, 0)
    assert b["email_open_rate"] == 0.0
    assert np.isnan(b["email_days_since_last_open"])


def test_email_contact_without_events_gets_zero_counts_and_nan_recency() -> None:
    c = extract_email_engagement(EMAIL, AS_OF).loc["c"]
    for column in ("email_sent", "email_opens", "email_clicks", "email_replies"):
        assert c[column] == 0
    for column in ("email_open_rate", "email_days_since_last_open", "email_days_since_last_reply"):
        assert np.isnan(c[column])
    assert c["email_replies_14d"] == 0


def test_recent_windows_count_only_their_days() -> None:
    events = _email(
        ("a", "reply", "2026-02-25"),  # 4 days before
        ("a", "reply", "2026-02-10"),  # 19 days before
        ("a", "reply", "2026-01-01"),  # 58 days before
    )
    out = extract_email_engagement(events, _as_of(a="2026-03-01")).loc["a"]
    assert (out["email_replies"], out["email_replies_14d"], out["email_replies_30d"]) == (3, 1, 2)
    assert out["email_days_since_last_reply"] == pytest.approx(4.0)


def test_future_event_is_ignored_until_moved_before_the_cutoff() -> None:
    base = extract_email_engagement(EMAIL, AS_OF)
    reply_after = EMAIL.index[
        (EMAIL["event_type"] == "reply") & (EMAIL["occurred_at"] > T("2026-01-10"))
    ]
    later = EMAIL.copy()
    later.loc[reply_after, "occurred_at"] = T("2026-03-01")
    pd.testing.assert_frame_equal(extract_email_engagement(later, AS_OF), base)
    earlier = EMAIL.copy()
    earlier.loc[reply_after, "occurred_at"] = T("2026-01-09 12:00")
    moved = extract_email_engagement(earlier, AS_OF).loc["a"]
    assert moved["email_replies"] == 2
    assert moved["email_days_since_last_reply"] == pytest.approx(0.5)
    assert not moved.equals(base.loc["a"])


def test_event_exactly_at_the_cutoff_is_ignored() -> None:
    events = _email(("a", "sent", "2026-01-10"))
    assert extract_email_engagement(events, _as_of(a="2026-01-10")).loc["a", "email_sent"] == 0
    later = _as_of(a="2026-01-10 00:00:01")
    assert extract_email_engagement(events, later).loc["a", "email_sent"] == 1


def test_features_equal_those_of_the_events_before_the_cutoff() -> None:
    rng = np.random.default_rng(0)
    ids = [f"c{i}" for i in range(30)]
    n = 2000
    events = pd.DataFrame(
        {
            "contact_id": rng.choice(ids, n),
            "event_type": rng.choice(["sent", "open", "click", "reply"], n),
            "occurred_at": T("2026-01-01") + pd.to_timedelta(rng.uniform(0, 90, n), unit="D"),
        }
    )
    as_of = pd.Series(
        T("2026-01-01") + pd.to_timedelta(rng.uniform(0, 90, len(ids)), unit="D"), index=ids
    )
    before = events[events["occurred_at"] < events["contact_id"].map(as_of)]
    pd.testing.assert_frame_equal(
        extract_email_engagement(events, as_of), extract_email_engagement(before, as_of)
    )


def test_output_index_is_the_given_contacts_in_order() -> None:
    as_of = _as_of(c="2026-01-05", z0="2026-01-05", b="2026-01-10", a="2026-01-10")
    for out in (
        extract_email_engagement(EMAIL, as_of),
        extract_web_activity(WEB, as_of),
        extract_social_signals(SOCIAL, as_of),
    ):
        assert list(out.index) == ["c", "z0", "b", "a"]
        assert out.index.name == "contact_id"
        assert out.notna().all().any()
    empty = extract_email_engagement(EMAIL.iloc[:0], as_of)
    assert list(empty.index) == list(as_of.index)
    assert (empty["email_sent"] == 0).all()


def test_columns_do_not_depend_on_the_data() -> None:
    full = extract_web_activity(WEB, AS_OF)
    empty = extract_web_activity(WEB.iloc[:0], AS_OF)
    assert list(full.columns) == list(empty.columns)
    social = extract_social_signals(SOCIAL.iloc[:0], AS_OF)
    assert "social_twitter_shares" in social.columns


def test_uuid_event_ids_match_string_cutoffs() -> None:
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    events = _email((a, "sent", "2026-01-01"), (b, "sent", "2026-01-01"))  # type: ignore[arg-type]
    by_uuid = extract_email_engagement(events, pd.Series([T("2026-02-01")] * 2, index=[a, b]))
    by_str = extract_email_engagement(
        events, pd.Series([T("2026-02-01")] * 2, index=[str(a), str(b)])
    )
    assert list(by_uuid["email_sent"]) == list(by_str["email_sent"]) == [1, 1]


def test_bad_cutoffs_are_refused() -> None:
    with pytest.raises(ValueError, match="one cut-off per contact"):
        extract_email_engagement(EMAIL, pd.Series([T("2026-01-01")] * 2, index=["a", "a"]))
    with pytest.raises(ValueError, match="missing cut-off"):
        extract_email_engagement(EMAIL, pd.Series([T("2026-01-01"), pd.NaT], index=["a", "b"]))


# --- web ---------------------------------------------------------------------------------------

WEB = _web(
    ("a", "page_view", "/pricing", 60.0, "2026-01-01"),
    ("a", "page_view", "/pricing", 30.0, "2026-01-05"),
    ("a", "page_view", "/demo", 90.0, "2026-01-08"),
    ("a", "page_view", "/blog/ai-in-sales", 20.0, "2026-01-09"),
    ("a", "form_fill", "/contact-sales", 40.0, "2026-01-09 12:00"),
    ("a", "form_fill", "/ebook", 40.0, "2026-01-02"),
    ("a", "page_view", "/billing", 500.0, "2026-01-10"),  # at the cut-off: ignored
    ("b", "form_fill", "/newsletter", 10.0, "2026-01-03"),
)


def test_web_activity() -> None:
    out = extract_web_activity(WEB, AS_OF)
    a = out.loc["a"]
    assert a["web_page_views"] == 4
    assert a["web_total_duration_s"] == pytest.approx(200.0)
    assert a["web_avg_duration_s"] == pytest.approx(50.0)
    assert (a["web_pricing_views"], a["web_demo_views"], a["web_high_intent_views"]) == (2, 1, 3)
    assert (a["web_form_fills"], a["web_sales_form_fills"]) == (2, 1)
    assert a["web_distinct_pages"] == 3
    assert a["web_days_since_last_visit"] == pytest.approx(0.5)
    assert (a["web_views_7d"], a["web_views_30d"]) == (3, 4)
    b = out.loc["b"]
    assert (b["web_page_views"], b["web_form_fills"], b["web_distinct_pages"]) == (0, 1, 0)
    assert np.isnan(b["web_avg_duration_s"])
    assert b["web_days_since_last_visit"] == pytest.approx(7.0)
    c = out.loc["c"]
    assert c["web_page_views"] == 0
    assert c["web_total_duration_s"] == 0.0
    assert np.isnan(c["web_days_since_last_visit"])


def test_web_future_page_view_changes_features_only_before_the_cutoff() -> None:
    base = extract_web_activity(WEB, AS_OF)
    billing = WEB.index[WEB["page"] == "/billing"]
    moved = WEB.copy()
    moved.loc[billing, "occurred_at"] = T("2026-02-01")
    pd.testing.assert_frame_equal(extract_web_activity(moved, AS_OF), base)
    moved.loc[billing, "occurred_at"] = T("2026-01-09 18:00")
    a = extract_web_activity(moved, AS_OF).loc["a"]
    assert (a["web_page_views"], a["web_distinct_pages"]) == (5, 4)
    assert a["web_days_since_last_visit"] == pytest.approx(0.25)


# --- social ------------------------------------------------------------------------------------

SOCIAL = _social(
    ("a", "linkedin", "mention", "2026-01-01"),
    ("a", "linkedin", "follow", "2026-01-02"),
    ("a", "twitter", "share", "2026-01-08"),
    ("a", "twitter", "share", "2026-01-09"),
    ("a", "twitter", "share", "2026-01-12"),  # after the cut-off: ignored
    ("b", "mastodon", "mention", "2026-01-03"),  # unknown platform: totals only
)


def test_social_signals() -> None:
    out = extract_social_signals(SOCIAL, AS_OF)
    a = out.loc["a"]
    assert (a["social_linkedin_mentions"], a["social_linkedin_follows"]) == (1, 1)
    assert (a["social_twitter_shares"], a["social_linkedin_shares"]) == (2, 0)
    assert (a["social_mentions"], a["social_follows"], a["social_shares"]) == (1, 1, 2)
    assert a["social_total"] == 4
    assert a["social_days_since_last"] == pytest.approx(1.0)
    assert a["social_events_30d"] == 4
    b = out.loc["b"]
    assert (b["social_total"], b["social_mentions"], b["social_linkedin_mentions"]) == (1, 1, 0)
    c = out.loc["c"]
    assert c["social_total"] == 0
    assert np.isnan(c["social_days_since_last"])


# --- company / contact -------------------------------------------------------------------------


def test_job_seniority_buckets() -> None:
    titles = pd.Series(
        ["CEO", "VP of Sales", "Director of Marketing", "Head of Revenue Operations",
         "Sales Manager", "Software Engineer", None, "Co-Founder"]
    )  # fmt: skip
    assert job_seniority(titles).tolist()[:6] == [3.0, 3.0, 2.0, 2.0, 1.0, 0.0]
    assert np.isnan(job_seniority(titles).iloc[6])
    assert job_seniority(titles).iloc[7] == 3.0


def test_company_data() -> None:
    companies = pd.DataFrame(
        {
            "id": ["k1", "k2"],
            "industry": ["software", "retail"],
            "employee_count": [99, 0],
            "annual_revenue": [np.e**10 - 1, 1000.0],
            "country": ["US", "DE"],
            "created_at": pd.to_datetime(["2024-01-01", "2025-01-01"]),
        }
    )
    contacts = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "company_id": ["k2", "k1", "missing"],
            "job_title": ["VP of Marketing", "Marketing Analyst", "Sales Manager"],
            "lead_source": ["referral", "outbound", "webinar"],
            "lifecycle_stage": ["customer", "lead", "lead"],
            "gender": ["female", "male", "nonbinary"],
        }
    )
    out = extract_company_data(contacts, companies)
    assert list(out.index) == ["a", "b", "c"]
    assert out.loc["a", "company_industry"] == "retail"
    assert out.loc["b", "company_log_employees"] == pytest.approx(np.log(100.0))
    assert out.loc["b", "company_log_revenue"] == pytest.approx(10.0)
    assert out.loc["a", "company_log_employees"] == 0.0
    assert out.loc["b", "company_country"] == "US"
    assert out.loc["c", "company_industry"] is None
    assert np.isnan(out.loc["c", "company_log_employees"])
    assert out["job_seniority"].tolist() == [3.0, 0.0, 1.0]
    assert out["lead_source"].tolist() == ["referral", "outbound", "webinar"]
    assert not {"lifecycle_stage", "gender", "company_age_years"} & set(out.columns)
    companies = companies.assign(founded_year=[2000, 2020])
    assert extract_company_data(contacts, companies)["company_age_years"].isna().all()
    contacts["created_at"] = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"])
    ages = extract_company_data(contacts, companies)["company_age_years"]
    assert ages.tolist()[:2] == [6.0, 26.0]
    assert np.isnan(ages.iloc[2])


# --- lead table --------------------------------------------------------------------------------

FORBIDDEN = {"lifecycle_stage", "stage", "status", "is_won", "closed_at", "mrr", "plan", "deal_id",
             "converted_at", "label_time", "ai_consent", "owner_id", "company_id"}  # fmt: skip


@pytest.fixture(scope="module")
def crm():
    return generate_crm(300, seed=0)


def test_lead_table_shape_and_columns(crm) -> None:
    table = build_lead_table(crm)
    assert len(table) == len(crm.contacts)
    assert table["contact_id"].tolist() == [str(i) for i in crm.contacts["id"]]
    assert table["contact_id"].is_unique
    assert table.columns[0] == "contact_id"
    assert list(table.columns[-2:]) == ["gender", "converted"]
    labels = crm.labels.set_index(crm.labels["contact_id"].astype(str))["converted"]
    assert (table["converted"].to_numpy() == labels.loc[table["contact_id"]].to_numpy()).all()
    assert not FORBIDDEN & set(table.columns)
    assert not any(column.startswith(("deal", "account", "activit")) for column in table.columns)
    assert set(table["gender"]) <= {"female", "male", "nonbinary"}


def test_default_snapshot_is_label_independent_and_before_the_label(crm) -> None:
    as_of = lead_snapshot_times(crm)
    created = crm.contacts.set_index("id")["created_at"]
    label_time = crm.labels.set_index("contact_id")["label_time"]
    assert (as_of <= label_time.loc[as_of.index]).all()
    assert (as_of == created.loc[as_of.index] + pd.Timedelta(days=10)).all()
    with pytest.raises(ValueError):
        lead_snapshot_times(crm, observation_days=0)


def test_lead_table_matches_a_per_contact_reference(crm) -> None:
    as_of = crm.labels.set_index("contact_id")["label_time"]
    table = build_lead_table(crm, "label_time").set_index("contact_id")
    web = crm.web_events
    for contact_id in crm.contacts["id"].iloc[:40]:
        cut = as_of[contact_id]
        mine = web[(web["contact_id"] == contact_id) & (web["occurred_at"] < cut)]
        views = mine[mine["event_type"] == "page_view"]
        row = table.loc[str(contact_id)]
        assert row["web_page_views"] == len(views)
        assert row["web_pricing_views"] == (views["page"] == "/pricing").sum()
        assert row["web_total_duration_s"] == pytest.approx(views["duration_s"].sum())
        assert row["web_distinct_pages"] == views["page"].nunique()
        expected = (cut - mine["occurred_at"].max()) / pd.Timedelta(days=1)
        assert row["web_days_since_last_visit"] == pytest.approx(expected, nan_ok=True)


def test_no_post_conversion_page_reaches_the_table(crm) -> None:
    # Customer-only pages only exist after conversion; none may be counted before label time.
    customer = crm.web_events["page"].str.startswith(("/docs", "/app", "/billing"))
    customers = crm.web_events.loc[customer, "contact_id"].unique()
    assert len(customers) > 0
    table = build_lead_table(crm, "label_time").set_index("contact_id")
    as_of = crm.labels.set_index("contact_id")["label_time"]
    fresh = crm.web_events[~customer]
    reference = extract_web_activity(fresh, as_of)
    reference.index = reference.index.astype(str)
    pd.testing.assert_series_equal(
        table["web_distinct_pages"], reference["web_distinct_pages"], check_names=False
    )


def test_explicit_as_of_must_cover_every_contact(crm) -> None:
    as_of = lead_snapshot_times(crm)
    by_str = as_of.copy()
    by_str.index = by_str.index.astype(str)
    pd.testing.assert_frame_equal(build_lead_table(crm, by_str), build_lead_table(crm, as_of))
    with pytest.raises(ValueError, match="lacks a cut-off"):
        build_lead_table(crm, as_of.iloc[1:])
    with pytest.raises(ValueError):
        build_lead_table(crm, "end_of_window")  # type: ignore[arg-type]
