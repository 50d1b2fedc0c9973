"""Unit tests of the seeded synthetic CRM generator (pipelines.synthetic)."""

from __future__ import annotations

import datetime
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import ALL_TABLES, DB_TABLES, SyntheticCRM, read_crm, write_crm

START = pd.Timestamp("2026-01-01")
DAYS = 180
END = START + pd.Timedelta(days=DAYS)

COLUMNS: dict[str, list[str]] = {
    "teams": ["id", "name", "created_at"],
    "users": ["id", "team_id", "email", "full_name", "role", "created_at"],
    "companies": [
        "id",
        "name",
        "domain",
        "industry",
        "employee_count",
        "annual_revenue",
        "country",
        "created_at",
    ],
    "contacts": [
        "id",
        "company_id",
        "owner_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "job_title",
        "lead_source",
        "lifecycle_stage",
        "gender",
        "ai_consent",
        "created_at",
    ],
    "accounts": ["id", "company_id", "name", "plan", "mrr", "status", "created_at"],
    "deals": [
        "id",
        "account_id",
        "contact_id",
        "owner_id",
        "name",
        "stage",
        "amount",
        "currency",
        "created_at",
        "expected_close_date",
        "closed_at",
        "is_won",
    ],
    "activities": [
        "id",
        "contact_id",
        "deal_id",
        "user_id",
        "type",
        "subject",
        "body",
        "occurred_at",
        "details",
    ],
    "email_events": ["event_id", "contact_id", "event_type", "campaign", "occurred_at"],
    "web_events": ["event_id", "contact_id", "event_type", "page", "duration_s", "occurred_at"],
    "social_events": ["event_id", "contact_id", "platform", "event_type", "occurred_at"],
    "labels": ["contact_id", "converted", "converted_at", "label_time"],
}
EVENT_TABLES = ("email_events", "web_events", "social_events")


@pytest.fixture(scope="module")
def crm() -> SyntheticCRM:
    return generate_crm(n_contacts=2000, seed=42, start="2026-01-01", days=DAYS)


def _with_labels(events: pd.DataFrame, crm: SyntheticCRM) -> pd.DataFrame:
    return events.join(crm.labels.set_index("contact_id"), on="contact_id")


def _count_before_label(
    events: pd.DataFrame, crm: SyntheticCRM, lookback_days: float | None = None
) -> pd.Series:
    """Per-contact event counts strictly before label_time (optionally in a lookback window)."""
    joined = _with_labels(events, crm)
    keep = joined["occurred_at"] < joined["label_time"]
    if lookback_days is not None:
        keep &= joined["occurred_at"] >= joined["label_time"] - pd.Timedelta(days=lookback_days)
    counts = joined[keep].groupby("contact_id").size()
    return counts.reindex(crm.labels["contact_id"], fill_value=0)


def _engagement(crm: SyntheticCRM, lookback_days: float | None = 30.0) -> pd.Series:
    web, email = crm.web_events, crm.email_events
    pricing = _count_before_label(web[web["page"].isin(["/pricing", "/demo"])], crm, lookback_days)
    replies = _count_before_label(email[email["event_type"] == "reply"], crm, lookback_days)
    return pricing + replies


# ------------------------------------------------------------------------------------------
# Determinism and shape
# ------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames() -> None:
    first = generate_crm(n_contacts=300, seed=7)
    second = generate_crm(n_contacts=300, seed=7)
    for name in ALL_TABLES:
        pd.testing.assert_frame_equal(first.tables()[name], second.tables()[name])


def test_different_seed_gives_different_frames() -> None:
    first = generate_crm(n_contacts=300, seed=1)
    second = generate_crm(n_contacts=300, seed=2)
    assert set(first.contacts["id"]).isdisjoint(second.contacts["id"])
    assert not first.companies["name"].equals(second.companies["name"])
    assert not first.labels["converted"].equals(second.labels["converted"])


def test_tables_order_and_exact_columns(crm: SyntheticCRM) -> None:
    tables = crm.tables()
    assert tuple(tables) == ALL_TABLES
    assert tuple(tables)[: len(DB_TABLES)] == (
        "teams",
        "users",
        "companies",
        "contacts",
        "accounts",
        "deals",
        "activities",
    )
    for name, frame in tables.items():
        assert list(frame.columns) == COLUMNS[name], name
        assert len(frame) > 0, name
    assert len(crm.contacts) == len(crm.labels) == 2000
    assert crm.labels["contact_id"].tolist() == crm.contacts["id"].tolist()


def test_dtypes(crm: SyntheticCRM) -> None:
    for name, frame in crm.tables().items():
        for col in frame.columns:
            if col.endswith("_at") or col == "label_time":
                assert frame[col].dtype == np.dtype("datetime64[ns]"), (name, col)
    assert crm.companies["employee_count"].dtype == np.int64
    assert crm.companies["annual_revenue"].dtype == np.float64
    assert crm.accounts["mrr"].dtype == np.float64
    assert crm.deals["amount"].dtype == np.float64
    assert crm.web_events["duration_s"].dtype == np.float64
    assert crm.contacts["ai_consent"].dtype == bool
    assert all(isinstance(d, datetime.date) for d in crm.deals["expected_close_date"])
    details = crm.activities["details"]
    assert all(d is None or isinstance(d, dict) for d in details)
    assert details.map(lambda d: isinstance(d, dict)).any()


def test_generation_is_fast() -> None:
    began = time.perf_counter()
    generate_crm(n_contacts=2000, seed=3)
    assert time.perf_counter() - began < 5.0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        generate_crm(n_contacts=0)
    with pytest.raises(ValueError):
        generate_crm(days=5)


# ------------------------------------------------------------------------------------------
# Keys and categorical domains
# ------------------------------------------------------------------------------------------


def test_ids_are_unique_uuids(crm: SyntheticCRM) -> None:
    all_ids: list[uuid.UUID] = []
    for name in DB_TABLES:
        ids = crm.tables()[name]["id"]
        assert ids.is_unique, name
        assert all(isinstance(i, uuid.UUID) for i in ids), name
        all_ids.extend(ids)
    for name in EVENT_TABLES:
        ids = crm.tables()[name]["event_id"]
        assert ids.is_unique, name
        assert all(isinstance(i, uuid.UUID) for i in ids.head(100)), name
        all_ids.extend(ids)
    assert len(set(all_ids)) == len(all_ids)
    assert crm.contacts["email"].is_unique
    assert crm.users["email"].is_unique
    assert crm.companies["domain"].is_unique
    assert crm.accounts["company_id"].is_unique


def test_foreign_keys(crm: SyntheticCRM) -> None:
    teams = set(crm.teams["id"])
    users = set(crm.users["id"])
    companies = set(crm.companies["id"])
    contacts = set(crm.contacts["id"])
    accounts = set(crm.accounts["id"])
    deals = set(crm.deals["id"])
    assert set(crm.users["team_id"]) <= teams
    assert set(crm.contacts["company_id"]) <= companies
    assert set(crm.contacts["owner_id"]) <= users
    assert set(crm.accounts["company_id"]) <= companies
    assert set(crm.deals["contact_id"]) <= contacts
    assert set(crm.deals["owner_id"]) <= users
    assert set(crm.deals["account_id"].dropna()) <= accounts
    assert set(crm.activities["contact_id"]) <= contacts
    assert set(crm.activities["user_id"]) <= users
    assert set(crm.activities["deal_id"].dropna()) <= deals
    for name in (*EVENT_TABLES, "labels"):
        assert set(crm.tables()[name]["contact_id"]) <= contacts, name
    # An activity's deal belongs to the same contact.
    linked = crm.activities.dropna(subset=["deal_id"])
    deal_contact = crm.deals.set_index("id")["contact_id"]
    assert (linked["deal_id"].map(deal_contact) == linked["contact_id"]).all()
    # A deal's account belongs to the contact's company.
    with_acc = crm.deals.dropna(subset=["account_id"])
    acc_company = crm.accounts.set_index("id")["company_id"]
    contact_company = crm.contacts.set_index("id")["company_id"]
    assert (
        with_acc["account_id"].map(acc_company).to_numpy()
        == with_acc["contact_id"].map(contact_company).to_numpy()
    ).all()


def test_categorical_domains(crm: SyntheticCRM) -> None:
    assert set(crm.users["role"]) == {"admin", "manager", "rep"}
    assert set(crm.accounts["status"]) <= {"active", "churned", "trial"}
    assert set(crm.deals["stage"]) <= {
        "prospecting",
        "qualification",
        "proposal",
        "negotiation",
        "closed_won",
        "closed_lost",
    }
    assert set(crm.deals["currency"]) == {"USD"}
    assert set(crm.activities["type"]) == {"email", "call", "meeting", "note", "task"}
    assert set(crm.email_events["event_type"]) == {"sent", "open", "click", "reply"}
    assert set(crm.web_events["event_type"]) == {"page_view", "form_fill"}
    assert {"/pricing", "/demo"} <= set(crm.web_events["page"])
    assert crm.web_events["page"].str.startswith("/blog/").any()
    assert (crm.web_events["duration_s"] > 0).all()
    assert set(crm.social_events["platform"]) == {"linkedin", "twitter"}
    assert set(crm.social_events["event_type"]) == {"mention", "follow", "share"}
    assert set(crm.labels["converted"]) == {0, 1}
    gender_share = crm.contacts["gender"].value_counts(normalize=True)
    assert set(gender_share.index) == {"female", "male", "nonbinary"}
    assert 0.01 < gender_share["nonbinary"] < 0.08
    assert 0.92 < crm.contacts["ai_consent"].mean() < 0.98
    assert (crm.companies["employee_count"] >= 1).all()


def test_deals_and_stages_match_labels(crm: SyntheticCRM) -> None:
    labels = crm.labels.set_index("contact_id")
    deals = crm.deals
    won = deals[deals["stage"] == "closed_won"]
    converted = labels.index[labels["converted"] == 1]
    assert won["contact_id"].is_unique
    assert set(won["contact_id"]) == set(converted)
    assert (won["closed_at"].to_numpy() == won["contact_id"].map(labels["converted_at"])).all()
    assert won["account_id"].notna().all()
    assert (won["is_won"] == True).all()  # noqa: E712
    lost = deals[deals["stage"] == "closed_lost"]
    assert (lost["is_won"] == False).all()  # noqa: E712
    assert lost["closed_at"].notna().all()
    open_deals = deals[~deals["stage"].isin(["closed_won", "closed_lost"])]
    assert open_deals["is_won"].isna().all()
    assert open_deals["closed_at"].isna().all()
    closed = deals.dropna(subset=["closed_at"])
    assert (closed["closed_at"] >= closed["created_at"]).all()
    stage = crm.contacts.set_index("id")["lifecycle_stage"]
    assert (stage.loc[converted] == "customer").all()
    assert (stage.drop(converted) != "customer").all()


# ------------------------------------------------------------------------------------------
# Time and leakage
# ------------------------------------------------------------------------------------------


def test_event_times_inside_window(crm: SyntheticCRM) -> None:
    for name in (*EVENT_TABLES, "activities"):
        times = crm.tables()[name]["occurred_at"]
        assert times.min() >= START, name
        assert times.max() < END, name
        assert times.is_monotonic_increasing, name
    assert crm.contacts["created_at"].between(START, END).all()
    assert (crm.labels["label_time"] <= END).all()
    for name in EVENT_TABLES:
        joined = crm.tables()[name].join(
            crm.contacts.set_index("id")["created_at"].rename("contact_created"), on="contact_id"
        )
        assert (joined["occurred_at"] >= joined["contact_created"]).all(), name


def test_opens_clicks_replies_follow_their_send(crm: SyntheticCRM) -> None:
    email = crm.email_events
    sends = email[email["event_type"] == "sent"]
    assert not sends.duplicated(["contact_id", "campaign"]).any()
    sent_at = sends.set_index(["contact_id", "campaign"])["occurred_at"].rename("sent_at")
    opens = email[email["event_type"] == "open"]
    opened_at = opens.set_index(["contact_id", "campaign"])["occurred_at"].rename("opened_at")
    reactions = email[email["event_type"] != "sent"].join(sent_at, on=["contact_id", "campaign"])
    assert reactions["sent_at"].notna().all()
    assert (reactions["occurred_at"] > reactions["sent_at"]).all()
    follow_ups = email[email["event_type"].isin(["click", "reply"])].join(
        opened_at, on=["contact_id", "campaign"]
    )
    assert follow_ups["opened_at"].notna().all()
    assert (follow_ups["occurred_at"] >= follow_ups["opened_at"]).all()


def test_labels_and_no_future_leakage(crm: SyntheticCRM) -> None:
    labels = crm.labels
    converted = labels["converted"] == 1
    assert (labels.loc[converted, "converted_at"] == labels.loc[converted, "label_time"]).all()
    assert labels.loc[~converted, "converted_at"].isna().all()
    assert (labels.loc[~converted, "label_time"] == END).all()
    created = crm.contacts["created_at"].to_numpy()
    assert (labels["label_time"].to_numpy() > created).all()
    post_conversion = 0
    for name in EVENT_TABLES:
        joined = _with_labels(crm.tables()[name], crm)
        after = joined["occurred_at"] > joined["label_time"]
        # Only converters have events after their label time ...
        assert (joined.loc[after, "converted"] == 1).all(), name
        post_conversion += int(after.sum())
    # ... and they do have some, so leakage is testable.
    assert post_conversion > 100


def test_unfiltered_events_leak_the_label(crm: SyntheticCRM) -> None:
    y = crm.labels["converted"].to_numpy()
    all_views = (
        crm.web_events.groupby("contact_id").size().reindex(crm.labels["contact_id"], fill_value=0)
    )
    pre_views = _count_before_label(crm.web_events, crm)
    assert roc_auc_score(y, all_views) > roc_auc_score(y, pre_views) + 0.1


# ------------------------------------------------------------------------------------------
# Causal signal and fairness
# ------------------------------------------------------------------------------------------


def test_conversion_rate_in_target_range(crm: SyntheticCRM) -> None:
    assert 0.25 <= crm.labels["converted"].mean() <= 0.35


def test_engagement_before_label_time_predicts_conversion(crm: SyntheticCRM) -> None:
    y = crm.labels["converted"].to_numpy()
    recent = _engagement(crm, lookback_days=30.0)
    assert roc_auc_score(y, recent) > 0.7
    # Whole pre-label history still carries signal despite unequal exposure times.
    assert roc_auc_score(y, _engagement(crm, lookback_days=None)) > 0.6
    quartile = pd.qcut(recent.rank(method="first"), 4, labels=False).to_numpy()
    rate_top = y[quartile == 3].mean()
    rate_bottom = y[quartile == 0].mean()
    assert rate_top > 2.5 * rate_bottom
    assert rate_top - rate_bottom > 0.3


def test_latent_drivers_shift_conversion(crm: SyntheticCRM) -> None:
    frame = crm.contacts.assign(converted=crm.labels["converted"].to_numpy())
    by_source = frame.groupby("lead_source")["converted"].mean()
    assert by_source["referral"] > by_source["outbound"] + 0.1
    senior = frame["job_title"].str.contains("VP|Chief|CEO|Founder")
    assert frame.loc[senior, "converted"].mean() > frame.loc[~senior, "converted"].mean()


def test_gender_has_no_large_direct_effect(crm: SyntheticCRM) -> None:
    rates = crm.labels["converted"].groupby(crm.contacts["gender"].to_numpy()).mean()
    assert abs(rates["female"] - rates["male"]) < 0.08
    # Gender is a weak proxy through lead source, not an independent one.
    mix = pd.crosstab(crm.contacts["gender"], crm.contacts["lead_source"], normalize="index")
    assert (mix.loc["female"] - mix.loc["male"]).abs().max() < 0.15


# ------------------------------------------------------------------------------------------
# Parquet round trip
# ------------------------------------------------------------------------------------------


def test_write_read_round_trip(tmp_path: Path) -> None:
    original = generate_crm(n_contacts=300, seed=11)
    paths = write_crm(original, tmp_path / "crm")
    assert list(paths) == list(ALL_TABLES)
    assert all(path.exists() and path.suffix == ".parquet" for path in paths.values())
    loaded = read_crm(tmp_path / "crm")
    for name in ALL_TABLES:
        pd.testing.assert_frame_equal(loaded.tables()[name], original.tables()[name])


def test_read_missing_table_raises(tmp_path: Path) -> None:
    paths = write_crm(generate_crm(n_contacts=50, seed=5), tmp_path)
    paths["deals"].unlink()
    with pytest.raises(FileNotFoundError):
        read_crm(tmp_path)
