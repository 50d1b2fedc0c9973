"""Feast end to end: offline files -> registry -> SQLite / Redis online store, PIT retrieval."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pandas as pd
import pytest
import redis

from features.definitions import TIMESTAMP_COLUMN, VIEW_SPECS, build_definitions
from features.store import (
    apply_definitions,
    compute_offline_features,
    default_offline_dir,
    get_store,
    materialize,
    missing_entities,
    online_features,
    purge_redis_project,
    save_offline_frames,
    training_frame,
)
from haste.settings import Settings
from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import SyntheticCRM

pytestmark = pytest.mark.filterwarnings("ignore:On demand feature view:RuntimeWarning")

CONTACT_VIEWS = ("email_engagement", "web_activity", "social_signals", "company_enrichment")


@pytest.fixture(scope="module")
def crm() -> SyntheticCRM:
    return generate_crm(300, seed=3)


@pytest.fixture(scope="module")
def frames(crm: SyntheticCRM) -> dict[str, pd.DataFrame]:
    return compute_offline_features(crm)


def _publish(settings: Settings, frames: dict[str, pd.DataFrame], online: str, project: str):
    offline_dir = default_offline_dir(settings)
    save_offline_frames(frames, offline_dir)
    store = get_store(settings, online, project=project)  # type: ignore[arg-type]
    apply_definitions(store, build_definitions(offline_dir))
    done = materialize(store)
    assert sorted(done["full"]) == sorted(VIEW_SPECS)
    return store


def _latest(frame: pd.DataFrame, key: str, entity_id: str) -> pd.Series:
    rows = frame[frame[key] == entity_id]
    return rows.loc[rows[TIMESTAMP_COLUMN].idxmax()]


def _same(a: object, b: object) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _assert_online_is_latest(
    online: pd.DataFrame, frames: dict[str, pd.DataFrame], views: tuple[str, ...], key: str
) -> None:
    for _, row in online.iterrows():
        for view in views:
            latest = _latest(frames[view], key, row[key])
            for column in VIEW_SPECS[view].columns:
                assert _same(row[column], latest[column]), (view, column, row[key])


def _check_lead_online(store, frames: dict[str, pd.DataFrame]) -> None:
    email = frames["email_engagement"]
    # Contacts from early and late in the window (late ones have fewer snapshots).
    ids = [*email["contact_id"].iloc[[0, 5]], email["contact_id"].iloc[-1]]
    unknown = str(uuid.uuid4())
    online = online_features(store, [*ids, unknown])
    assert online["contact_id"].tolist() == [*ids, unknown]
    _assert_online_is_latest(online.iloc[:3], frames, CONTACT_VIEWS, "contact_id")
    assert missing_entities(online) == [unknown]
    # The on-demand view is computed on the online values.
    first = online.iloc[0]
    expected = math.log1p(
        first["email_clicks"]
        + first["email_replies"]
        + first["web_high_intent_views"]
        + first["web_form_fills"]
    )
    assert first["lead_engagement_score"] == pytest.approx(expected)


def test_sqlite_online_matches_latest_snapshot(
    isolated_settings: Settings, crm: SyntheticCRM, frames: dict[str, pd.DataFrame]
) -> None:
    store = _publish(isolated_settings, frames, "sqlite", "haste_it_sqlite")
    _check_lead_online(store, frames)

    # churn_v1 joins an account and its company; deal_velocity_v1 a deal.
    account = frames["account_health"].iloc[-1]
    accounts = crm.accounts
    company_id = str(
        accounts.loc[accounts["id"].astype(str) == account["account_id"], "company_id"].iloc[0]
    )
    churn = online_features(
        store,
        pd.DataFrame({"account_id": [account["account_id"]], "company_id": [company_id]}),
        service="churn_v1",
    )
    _assert_online_is_latest(churn, frames, ("account_health",), "account_id")
    _assert_online_is_latest(churn, frames, ("company_firmographics",), "company_id")
    deal_id = frames["deal_activity"]["deal_id"].iloc[-1]
    deals = online_features(store, [deal_id], service="deal_velocity_v1", join_key="deal_id")
    _assert_online_is_latest(deals, frames, ("deal_activity",), "deal_id")
    assert deals.loc[0, "deal_activities_per_week"] >= 0

    # A second run only materialises what is new.
    assert sorted(materialize(store)["incremental"]) == sorted(VIEW_SPECS)


def _changing_contact(web: pd.DataFrame) -> tuple[str, pd.Series, pd.Series, pd.Series]:
    """Return a contact with three consecutive snapshots whose page views differ."""
    for contact_id, rows in web.sort_values(TIMESTAMP_COLUMN).groupby("contact_id"):
        views = rows["web_page_views"].to_numpy()
        for k in range(1, len(rows) - 1):
            if views[k - 1] < views[k] < views[k + 1]:
                return str(contact_id), rows.iloc[k - 1], rows.iloc[k], rows.iloc[k + 1]
    raise AssertionError("no contact with three growing snapshots")


def test_historical_retrieval_has_no_future_leakage(
    isolated_settings: Settings, frames: dict[str, pd.DataFrame]
) -> None:
    offline_dir = default_offline_dir(isolated_settings)
    save_offline_frames(frames, offline_dir)
    store = get_store(isolated_settings, "sqlite", project="haste_it_pit")
    apply_definitions(store, build_definitions(offline_dir))  # no materialisation needed

    contact_id, before, snap, after = _changing_contact(frames["web_activity"])
    s = snap[TIMESTAMP_COLUMN]
    first = (
        frames["web_activity"]
        .loc[frames["web_activity"]["contact_id"] == contact_id, TIMESTAMP_COLUMN]
        .min()
    )
    stamps = [
        s - timedelta(seconds=1),  # just before the snapshot -> the previous one
        s,  # exactly at it -> it (at or before T)
        s + timedelta(days=6, hours=23),  # just before the next one -> still it, not the later
        first - timedelta(seconds=1),  # before the contact's first snapshot -> nothing
        frames["web_activity"][TIMESTAMP_COLUMN].max() + timedelta(days=30),  # beyond the TTL
    ]
    entity_df = pd.DataFrame(
        {
            "contact_id": [contact_id] * len(stamps),
            TIMESTAMP_COLUMN: stamps,
            "label": range(len(stamps)),
        }
    )
    result = training_frame(store, entity_df)
    assert result["label"].tolist() == list(range(len(stamps)))  # order and extras kept
    views = result["web_page_views"].tolist()
    assert views[0] == before["web_page_views"]
    assert views[1] == snap["web_page_views"]
    assert views[2] == snap["web_page_views"] != after["web_page_views"]
    assert pd.isna(views[3])
    assert pd.isna(views[4])
    # Every feature of the in-between row is the snapshot's (all four views joined).
    row = result.iloc[2]
    for view in CONTACT_VIEWS:
        match = frames[view]
        match = match[(match["contact_id"] == contact_id) & (match[TIMESTAMP_COLUMN] == s)]
        for column in VIEW_SPECS[view].columns:
            assert _same(row[column], match.iloc[0][column]), (view, column)


@pytest.fixture()
def redis_project(isolated_settings: Settings) -> Iterator[str]:
    client = redis.Redis.from_url(isolated_settings.redis_url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"Redis unreachable at {isolated_settings.redis_url}: {exc}")
        pytest.skip(f"Redis unreachable at {isolated_settings.redis_url}: {exc}")
    finally:
        client.close()
    project = f"haste_it_{uuid.uuid4().hex[:12]}"
    try:
        yield project
    finally:
        purge_redis_project(isolated_settings.redis_url, project)


def test_redis_online_matches_latest_snapshot(
    isolated_settings: Settings, frames: dict[str, pd.DataFrame], redis_project: str
) -> None:
    store = _publish(isolated_settings, frames, "redis", redis_project)
    _check_lead_online(store, frames)
    client = redis.Redis.from_url(isolated_settings.redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{redis_project}", count=1000))
        assert len(keys) > 0
        assert purge_redis_project(isolated_settings.redis_url, redis_project) == len(keys)
        assert not list(client.scan_iter(match=f"*{redis_project}", count=1000))
    finally:
        client.close()
