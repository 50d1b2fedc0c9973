"""Feast definitions: entities, views, TTLs, services, on-demand UDFs, offline feature checks."""

from __future__ import annotations

import inspect
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.definitions import (
    ENTITY_KEYS,
    SERVICE_VIEWS,
    TIMESTAMP_COLUMN,
    VIEW_SPECS,
    build_definitions,
    deal_pace,
    lead_engagement_rates,
)
from features.store import (
    FeatureValidationError,
    check_offline_features,
    compute_offline_features,
    feature_problems,
    redis_connection_string,
    repo_config,
    weekly_snapshot_times,
)
from haste.settings import Settings
from pipelines.synthetic import generate_crm

pytestmark = pytest.mark.filterwarnings("ignore:On demand feature view:RuntimeWarning")


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory):
    return build_definitions(tmp_path_factory.mktemp("offline"))


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return compute_offline_features(generate_crm(60, seed=5, days=60))


def test_definitions_can_be_built_twice(tmp_path: Path) -> None:
    """Feast's ODFV decorator mutates the UDF; a second build (new store, CLI) must still work."""
    first, second = build_definitions(tmp_path / "a"), build_definitions(tmp_path / "b")
    assert first.on_demand.keys() == second.on_demand.keys()
    assert lead_engagement_rates.__module__ == "features.definitions"


def test_entities_have_string_join_keys(defs) -> None:
    assert {name: e.join_key for name, e in defs.entities.items()} == ENTITY_KEYS


def test_views_have_ttls_sources_and_schemas(defs, tmp_path_factory) -> None:
    assert set(defs.views) == set(VIEW_SPECS)
    for name, view in defs.views.items():
        spec = VIEW_SPECS[name]
        assert view.ttl is not None
        # Weekly snapshots: a TTL below 7 days would leave gaps, a huge one would serve stale rows.
        assert timedelta(days=7) <= view.ttl <= timedelta(days=60), name
        assert view.online
        assert {f.name: f.dtype for f in view.features} == spec.columns
        assert view.entities == [spec.entity]
        assert view.batch_source.timestamp_field == TIMESTAMP_COLUMN
        assert Path(view.batch_source.path).name == f"{name}.parquet"
        assert Path(view.batch_source.path).is_absolute()


def test_services_contain_expected_views(defs) -> None:
    assert set(defs.services) == {"lead_scoring_v1", "churn_v1", "deal_velocity_v1"}
    assert defs.service_view_names("lead_scoring_v1") == [
        "email_engagement",
        "web_activity",
        "social_signals",
        "company_enrichment",
        "lead_engagement_rates",
    ]
    for service, views in SERVICE_VIEWS.items():
        assert defs.service_view_names(service) == list(views)
    assert {
        p.name
        for p in defs.on_demand["lead_engagement_rates"].source_feature_view_projections.values()
    } == {
        "email_engagement",
        "web_activity",
        "social_signals",
    }
    # Every object is applied exactly once.
    names = [(type(o).__name__, o.name) for o in defs.objects()]
    assert len(names) == len(set(names))


def _lead_inputs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "email_clicks": [1, 0, None],
            "email_replies": [2, 0, None],
            "email_replies_14d": [1, 0, None],
            "web_high_intent_views": [3, 0, None],
            "web_form_fills": [1, 0, None],
            "web_page_views": [6, 0, None],
            "web_views_7d": [3, 0, None],
            "social_events_30d": [1, 0, None],
            "social_total": [4, 0, None],
        }
    )


def test_lead_engagement_rates_values_and_missing_rows() -> None:
    out = lead_engagement_rates(_lead_inputs())
    assert out.loc[0, "lead_engagement_score"] == pytest.approx(math.log1p(7))
    assert out.loc[0, "web_recent_view_share"] == pytest.approx(0.5)
    assert out.loc[0, "web_high_intent_share"] == pytest.approx(0.5)
    assert out.loc[0, "email_recent_reply_share"] == pytest.approx(0.5)
    assert out.loc[0, "social_recent_share"] == pytest.approx(0.25)
    assert out.loc[1, "lead_engagement_score"] == 0.0
    assert out.loc[1, ["web_recent_view_share", "social_recent_share"]].isna().all()
    assert out.loc[2].isna().all()  # an unknown contact stays unknown


@pytest.mark.parametrize("udf", [lead_engagement_rates, deal_pace])
def test_on_demand_udfs_are_self_contained(udf) -> None:
    """Feast rebuilds a UDF from its source alone: it must run without module globals."""
    namespace: dict = {"pd": pd}  # the annotations only
    exec(inspect.getsource(udf), namespace)
    rebuilt = namespace[udf.__name__]
    if udf is deal_pace:
        frame = pd.DataFrame(
            {"deal_activities": [4, 0], "deal_activities_14d": [1, 0], "deal_age_days": [14.0, 0.2]}
        )
        out = rebuilt(frame)
        assert out["deal_activities_per_week"].tolist() == pytest.approx([2.0, 0.0])
        assert out.loc[0, "deal_recent_activity_share"] == pytest.approx(0.25)
        assert np.isnan(out.loc[1, "deal_recent_activity_share"])
    else:
        pd.testing.assert_frame_equal(
            rebuilt(_lead_inputs()), lead_engagement_rates(_lead_inputs())
        )


def test_offline_frames_match_schemas_and_snapshots(frames) -> None:
    assert set(frames) == set(VIEW_SPECS)
    for view, frame in frames.items():
        spec = VIEW_SPECS[view]
        assert list(frame.columns) == [spec.join_key, TIMESTAMP_COLUMN, *spec.columns], view
        assert str(frame[TIMESTAMP_COLUMN].dt.tz) == "UTC"
        assert not frame.duplicated([spec.join_key, TIMESTAMP_COLUMN]).any()
    assert feature_problems(frames) == []


def test_snapshots_only_hold_existing_contacts_and_past_events() -> None:
    crm = generate_crm(40, seed=8, days=45)
    times = weekly_snapshot_times(crm)
    assert (np.diff(times.asi8) == 7 * 86_400 * 10**9).all()
    email = compute_offline_features(crm, times)["email_engagement"]
    created = crm.contacts.set_index(crm.contacts["id"].astype(str))["created_at"]
    stamps = email[TIMESTAMP_COLUMN].dt.tz_localize(None)
    assert (created.reindex(email["contact_id"]).to_numpy() <= stamps.to_numpy()).all()
    sent = crm.email_events[crm.email_events["event_type"] == "sent"]
    row = email.iloc[len(email) // 2]
    before = sent[
        (sent["contact_id"].astype(str) == row["contact_id"])
        & (sent["occurred_at"] < row[TIMESTAMP_COLUMN].tz_localize(None))
    ]
    assert row["email_sent"] == len(before)


def test_feature_problems_are_readable(frames) -> None:
    bad = {view: frame.copy() for view, frame in frames.items()}
    bad["web_activity"].loc[0, "web_page_views"] = -3
    bad["email_engagement"].loc[1, "contact_id"] = None
    del bad["deal_activity"]
    with pytest.raises(FeatureValidationError) as info:
        check_offline_features(bad)
    message = str(info.value)
    assert "web_activity.web_page_views: 1 negative value(s) (min -3" in message
    assert "email_engagement.contact_id: 1 null value(s)" in message
    assert "deal_activity: missing view" in message
    assert len(info.value.problems) == 3


def test_redis_connection_string() -> None:
    assert redis_connection_string("redis://127.0.0.1:6379/0") == "127.0.0.1:6379,db=0"
    assert (
        redis_connection_string("rediss://:s3cret@cache.internal:6380/2")
        == "cache.internal:6380,db=2,password=s3cret,ssl=true"
    )
    with pytest.raises(ValueError, match="redis://"):
        redis_connection_string("http://localhost")


def test_repo_configs_keep_separate_registries(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", data_dir=tmp_path / "data")
    sqlite = repo_config(settings, "sqlite")
    redis = repo_config(settings, "redis", project="other")
    assert sqlite.online_store.type == "sqlite"
    assert Path(sqlite.online_store.path).parent == settings.home / "feast"
    assert redis.online_store.connection_string == "127.0.0.1:6379,db=0"
    assert redis.project == "other"
    assert sqlite.registry.path != redis.registry.path
    with pytest.raises(ValueError, match="sqlite"):
        repo_config(settings, "memory")  # type: ignore[arg-type]
