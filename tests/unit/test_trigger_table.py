"""The trigger-prediction table: snapshot grid, point-in-time features, horizon labels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.trigger_table import (
    LABEL_COLUMNS,
    build_trigger_table,
    extract_trigger_features,
    trigger_snapshot_times,
)
from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import SyntheticCRM

T = pd.Timestamp


def _frame(columns: list[str], *rows: tuple) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=columns)
    for column in ("occurred_at", "created_at", "closed_at"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    return frame


def _tiny_crm() -> SyntheticCRM:
    """Three contacts over January 2026 (see the expectations in the tests)."""
    contacts = _frame(
        ["id", "company_id", "job_title", "lead_source", "gender", "created_at"],
        ("a", "co", "VP Sales", "webinar", "female", "2026-01-01 10:00"),
        ("b", "co", "Analyst", "referral", "male", "2026-01-03"),
        ("c", "co", "Director", "outbound", "nonbinary", "2026-01-16"),
    )
    companies = pd.DataFrame(
        {
            "id": ["co"],
            "industry": ["software"],
            "employee_count": [120],
            "annual_revenue": [5e6],
            "country": ["US"],
        }
    )
    email = _frame(
        ["contact_id", "event_type", "occurred_at"],
        ("a", "sent", "2026-01-02"),
        ("a", "open", "2026-01-03"),
        ("a", "reply", "2026-01-04"),
        ("a", "sent", "2026-01-09"),
        ("a", "sent", "2026-01-14"),
        ("a", "reply", "2026-01-15"),  # exactly at a snapshot: a label then, a feature after
        ("b", "reply", "2026-01-20"),  # after b's conversion: never counts
    )
    web = _frame(
        ["contact_id", "event_type", "page", "duration_s", "occurred_at"],
        ("a", "page_view", "/pricing", 30.0, "2026-01-07"),
    )
    social = _frame(["contact_id", "platform", "event_type", "occurred_at"])
    activities = _frame(
        ["contact_id", "type", "occurred_at"],
        ("b", "meeting", "2026-01-12"),
    )
    deals = _frame(
        ["contact_id", "stage", "created_at", "closed_at", "is_won"],
        ("a", "closed_lost", "2026-01-05", "2026-01-12", False),
        ("b", "closed_won", "2026-01-10", "2026-01-18", True),
    )
    empty = pd.DataFrame()
    return SyntheticCRM(
        teams=empty,
        users=empty,
        companies=companies,
        contacts=contacts,
        accounts=empty,
        deals=deals,
        activities=activities,
        email_events=email,
        web_events=web,
        social_events=social,
        labels=empty,
    )


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    table = build_trigger_table(_tiny_crm(), 7, 7, start="2026-01-01", end="2026-01-31")
    return table.set_index(["contact_id", "snapshot_at"])


def test_snapshot_grid_keeps_only_complete_horizons() -> None:
    grid = trigger_snapshot_times(_tiny_crm(), 7, 7, start="2026-01-01", end="2026-01-31")
    assert list(grid) == [T("2026-01-08"), T("2026-01-15"), T("2026-01-22")]
    with pytest.raises(ValueError, match="positive"):
        trigger_snapshot_times(_tiny_crm(), 0, 7)


def test_rows_are_live_unconverted_contacts(tiny: pd.DataFrame) -> None:
    assert sorted(tiny.index) == [
        ("a", T("2026-01-08")),
        ("a", T("2026-01-15")),
        ("a", T("2026-01-22")),
        ("b", T("2026-01-08")),
        ("b", T("2026-01-15")),  # converts on the 18th: no row on the 22nd
        ("c", T("2026-01-22")),  # created on the 16th
    ]


def test_known_features_of_the_tiny_crm(tiny: pd.DataFrame) -> None:
    a8, a15, a22 = (tiny.loc[("a", T(f"2026-01-{d}"))] for d in (8, 15, 22))
    assert a8["email_sent"] == 1 and a8["email_replies"] == 1
    assert a8["email_days_since_last_reply"] == pytest.approx(4.0)
    assert a8["email_sent_since_last_reply"] == 0
    assert a8["engagement_days_since_last"] == pytest.approx(1.0)  # the page view on the 7th
    assert a8["engagement_events_30d"] == 3  # open, reply, page view
    assert a8["deal_open"] == 1 and a8["deal_days_open"] == pytest.approx(3.0)
    # The reply at 00:00 on the 15th is not before the 15th's snapshot.
    assert a15["email_replies"] == 1 and a15["email_sent"] == 3
    assert a15["email_sent_since_last_reply"] == 2
    assert a15["deal_open"] == 0 and a15["deals_lost"] == 1
    assert a22["email_replies"] == 2 and a22["email_sent_since_last_reply"] == 0
    b15 = tiny.loc[("b", T("2026-01-15"))]
    assert b15["deal_open"] == 1 and b15["deal_days_open"] == pytest.approx(5.0)
    assert b15["activity_meetings_30d"] == 1
    assert b15["activity_days_since_last_meeting"] == pytest.approx(3.0)
    c22 = tiny.loc[("c", T("2026-01-22"))]
    assert c22["engagement_days_since_last"] == pytest.approx(6.0)  # no engagement: its age
    assert c22["engagement_events_30d"] == 0 and c22["days_since_created"] == pytest.approx(6.0)
    assert c22["company_industry"] == "software" and c22["job_seniority"] == 2


def test_known_labels_of_the_tiny_crm(tiny: pd.DataFrame) -> None:
    labels = tiny[list(LABEL_COLUMNS)]
    expected = {
        ("a", T("2026-01-08")): (0, 0, 1, 1),  # lost deal closed on the 12th
        ("a", T("2026-01-15")): (1, 0, 0, 1),  # reply at the snapshot's first instant
        ("a", T("2026-01-22")): (0, 0, 0, 0),
        ("b", T("2026-01-08")): (0, 1, 1, 1),  # meeting on the 12th, deal opened on the 10th
        ("b", T("2026-01-15")): (0, 0, 1, 1),  # won on the 18th; the reply after it is ignored
        ("c", T("2026-01-22")): (0, 0, 0, 0),
    }
    for key, values in expected.items():
        assert tuple(labels.loc[key]) == values, key


# --- generated CRM -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crm() -> SyntheticCRM:
    return generate_crm(400, seed=3, start="2026-01-01", days=120)


@pytest.fixture(scope="module")
def table(crm: SyntheticCRM) -> pd.DataFrame:
    return build_trigger_table(crm, horizon_days=14, every_days=14)


def _known_before(crm: SyntheticCRM, cutoff: pd.Timestamp) -> SyntheticCRM:
    """What a CRM export taken at ``cutoff`` would hold: nothing at or after it."""
    events = {
        name: getattr(crm, name)[getattr(crm, name)["occurred_at"] < cutoff]
        for name in ("email_events", "web_events", "social_events", "activities")
    }
    deals = crm.deals[crm.deals["created_at"] < cutoff].copy()
    still_open = ~(deals["closed_at"] < cutoff)
    deals.loc[still_open, "closed_at"] = pd.NaT
    deals["is_won"] = deals["is_won"].astype(object).where(~still_open, None)
    return dataclasses.replace(crm, deals=deals, **events)


def test_features_only_see_events_before_the_snapshot(crm: SyntheticCRM) -> None:
    snapshot = T("2026-02-26")
    full = extract_trigger_features(crm, snapshot)
    truncated = extract_trigger_features(_known_before(crm, snapshot), snapshot)
    assert len(full) > 100
    pd.testing.assert_frame_equal(full, truncated)


def test_labels_match_a_brute_force_count(crm: SyntheticCRM, table: pd.DataFrame) -> None:
    snapshot, horizon = T("2026-02-26"), pd.Timedelta(days=14)
    rows = table[table["snapshot_at"] == snapshot].set_index("contact_id")
    converted_at = crm.labels.set_index(crm.labels["contact_id"].astype(str))["converted_at"]
    cap = converted_at.reindex(rows.index).fillna(T("2100-01-01"))

    def hit(events: pd.DataFrame, time: str) -> pd.Series:
        events = events.assign(contact_id=events["contact_id"].astype(str))
        events = events[events["contact_id"].isin(rows.index)]
        times, limit = events[time], cap.reindex(events["contact_id"]).to_numpy()
        inside = (times >= snapshot) & (times < snapshot + horizon) & (times <= limit)
        found = set(events.loc[inside, "contact_id"])
        return pd.Series(rows.index.isin(list(found)).astype(int), index=rows.index)

    email, activities, deals = crm.email_events, crm.activities, crm.deals
    reply = hit(email[email["event_type"] == "reply"], "occurred_at")
    meet = hit(activities[activities["type"] == "meeting"], "occurred_at")
    moved = hit(deals, "created_at") | hit(deals.dropna(subset=["closed_at"]), "closed_at")
    pd.testing.assert_series_equal(rows["will_reply"], reply, check_names=False)
    pd.testing.assert_series_equal(rows["will_meet"], meet, check_names=False)
    pd.testing.assert_series_equal(rows["will_move_stage"], moved, check_names=False)
    assert (rows["triggered"] == (reply | meet | moved)).all()
    assert 0.02 < rows["triggered"].mean() < 0.6


def test_no_row_after_conversion_or_before_creation(crm: SyntheticCRM, table: pd.DataFrame) -> None:
    labels = crm.labels.set_index(crm.labels["contact_id"].astype(str))
    created = crm.contacts.set_index(crm.contacts["id"].astype(str))["created_at"]
    converted_at = labels["converted_at"].reindex(table["contact_id"]).to_numpy()
    snapshot = table["snapshot_at"].to_numpy()
    assert (created.reindex(table["contact_id"]).to_numpy() < snapshot).all()
    assert not (converted_at <= snapshot).any()
    assert (table["snapshot_at"] + pd.Timedelta(days=14) <= T("2026-05-01")).all()


def test_recencies_are_strictly_positive_and_labels_binary(table: pd.DataFrame) -> None:
    recencies = [c for c in table.columns if "days_since" in c or c == "deal_days_open"]
    assert len(recencies) >= 10
    values = table[recencies].to_numpy(dtype=float)
    assert (values[~np.isnan(values)] > 0).all()
    for column in LABEL_COLUMNS:
        assert set(table[column].unique()) <= {0, 1}
    assert 0.05 < table["triggered"].mean() < 0.5
    assert {"gender", "contact_id", "snapshot_at"} <= set(table.columns)
    assert not {"lifecycle_stage", "stage", "is_won", "converted", "label_time"} & set(
        table.columns
    )
