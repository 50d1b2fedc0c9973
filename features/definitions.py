"""Feast definitions of the platform's features: entities, views, on-demand views, services.

Every batch view reads one parquet file under ``offline_dir`` (``<view>.parquet``) written by
:func:`features.store.write_offline_features`: one row per entity and weekly snapshot time
(``event_timestamp``), each row aggregating only what happened strictly before its snapshot.
A point-in-time join (``get_historical_features``) therefore returns, for an entity timestamp
``T``, the latest snapshot at or before ``T`` (and no older than the view's TTL), never a later
one; materialisation copies each entity's latest snapshot to the online store.

Views (entity, source of the columns):

* ``email_engagement``, ``web_activity``, ``social_signals`` (contact): the point-in-time
  extractors of :mod:`features.extractors`.
* ``company_enrichment`` (contact): :func:`features.extractors.extract_company_data`, i.e. the
  firmographics of the contact's company plus job seniority and lead source.
* ``company_firmographics`` (company): the same firmographics keyed by company.
* ``account_health`` (account): tenure, plan, MRR and the trailing-30-day web / product usage,
  email opens and rep activities of the account's company's contacts.
* ``deal_activity`` (deal): age, amount, rep activity and time to the expected close of deals
  open at the snapshot.

On-demand views: ``lead_engagement_rates`` (engagement score, recency and intent shares) and
``deal_pace`` (activities per week, recent share). Feature services: ``lead_scoring_v1``,
``churn_v1`` (entity rows need ``account_id`` and ``company_id``) and ``deal_velocity_v1``.

The column lists below are the single source of truth for the schemas: the offline writer
selects exactly these columns, so training and serving see the same features.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.on_demand_feature_view import OnDemandFeatureView, on_demand_feature_view
from feast.types import FeastType, Float64, Int64, String

#: Feast timestamp column of every offline file.
TIMESTAMP_COLUMN = "event_timestamp"

#: Entity name -> join key.
ENTITY_KEYS: dict[str, str] = {
    "contact": "contact_id",
    "company": "company_id",
    "account": "account_id",
    "deal": "deal_id",
}

_EMAIL: dict[str, FeastType] = {
    "email_sent": Int64,
    "email_opens": Int64,
    "email_clicks": Int64,
    "email_replies": Int64,
    "email_open_rate": Float64,
    "email_click_rate": Float64,
    "email_reply_rate": Float64,
    "email_days_since_last_open": Float64,
    "email_days_since_last_reply": Float64,
    "email_replies_14d": Int64,
    "email_replies_30d": Int64,
}
_WEB: dict[str, FeastType] = {
    "web_page_views": Int64,
    "web_total_duration_s": Float64,
    "web_avg_duration_s": Float64,
    "web_pricing_views": Int64,
    "web_demo_views": Int64,
    "web_high_intent_views": Int64,
    "web_form_fills": Int64,
    "web_sales_form_fills": Int64,
    "web_distinct_pages": Int64,
    "web_days_since_last_visit": Float64,
    "web_views_7d": Int64,
    "web_views_30d": Int64,
}
_SOCIAL: dict[str, FeastType] = {
    **{
        f"social_{platform}_{kind}s": Int64
        for platform in ("linkedin", "twitter")
        for kind in ("mention", "follow", "share")
    },
    "social_mentions": Int64,
    "social_follows": Int64,
    "social_shares": Int64,
    "social_total": Int64,
    "social_days_since_last": Float64,
    "social_events_30d": Int64,
}
_FIRMOGRAPHICS: dict[str, FeastType] = {
    "company_industry": String,
    "company_log_employees": Float64,
    "company_log_revenue": Float64,
    "company_country": String,
}
_COMPANY_ENRICHMENT: dict[str, FeastType] = {
    **_FIRMOGRAPHICS,
    "job_seniority": Float64,
    "lead_source": String,
}
_ACCOUNT: dict[str, FeastType] = {
    "account_plan": String,
    "account_mrr": Float64,
    "account_tenure_days": Float64,
    "account_contacts": Int64,
    "account_web_views_30d": Int64,
    "account_app_views_30d": Int64,
    "account_email_opens_30d": Int64,
    "account_activities_30d": Int64,
    "account_days_since_last_visit": Float64,
}
_DEAL: dict[str, FeastType] = {
    "deal_age_days": Float64,
    "deal_log_amount": Float64,
    "deal_activities": Int64,
    "deal_activities_14d": Int64,
    "deal_meetings": Int64,
    "deal_days_since_last_activity": Float64,
    "deal_days_to_expected_close": Float64,
}


@dataclass(frozen=True)
class ViewSpec:
    """A batch feature view as plain data: its entity, columns and TTL.

    Attributes:
        entity: Entity name (a key of :data:`ENTITY_KEYS`).
        columns: Feature name -> Feast type, in file order.
        ttl: How far back a point-in-time join looks for a snapshot.
        description: One line for the registry / UI.

    """

    entity: str
    columns: dict[str, FeastType]
    ttl: timedelta
    description: str

    @property
    def join_key(self) -> str:
        """Return the entity's join key column."""
        return ENTITY_KEYS[self.entity]


#: Weekly snapshots: a 14-day TTL tolerates one missed snapshot, and never serves older data.
SNAPSHOT_TTL = timedelta(days=14)
#: Batch view name -> spec (also the offline file name, ``<name>.parquet``).
VIEW_SPECS: dict[str, ViewSpec] = {
    "email_engagement": ViewSpec(
        "contact", _EMAIL, SNAPSHOT_TTL, "Marketing email engagement before the snapshot"
    ),
    "web_activity": ViewSpec(
        "contact", _WEB, SNAPSHOT_TTL, "Website behaviour before the snapshot"
    ),
    "social_signals": ViewSpec(
        "contact", _SOCIAL, SNAPSHOT_TTL, "Social mentions / follows / shares before the snapshot"
    ),
    "company_enrichment": ViewSpec(
        "contact",
        _COMPANY_ENRICHMENT,
        timedelta(days=30),
        "Contact's company firmographics, job seniority and lead source",
    ),
    "company_firmographics": ViewSpec(
        "company", _FIRMOGRAPHICS, timedelta(days=30), "Company firmographics"
    ),
    "account_health": ViewSpec(
        "account", _ACCOUNT, SNAPSHOT_TTL, "Account tenure, plan and trailing-30-day usage"
    ),
    "deal_activity": ViewSpec(
        "deal", _DEAL, SNAPSHOT_TTL, "Open deal age, amount and rep activity before the snapshot"
    ),
}

_LEAD_RATES: dict[str, FeastType] = {
    "lead_engagement_score": Float64,
    "web_recent_view_share": Float64,
    "web_high_intent_share": Float64,
    "email_recent_reply_share": Float64,
    "social_recent_share": Float64,
}
_DEAL_PACE: dict[str, FeastType] = {
    "deal_activities_per_week": Float64,
    "deal_recent_activity_share": Float64,
}

#: Feature service -> the views (batch and on-demand) it serves.
SERVICE_VIEWS: dict[str, tuple[str, ...]] = {
    "lead_scoring_v1": (
        "email_engagement",
        "web_activity",
        "social_signals",
        "company_enrichment",
        "lead_engagement_rates",
    ),
    "churn_v1": ("account_health", "company_firmographics"),
    "deal_velocity_v1": ("deal_activity", "deal_pace"),
}


# --------------------------------------------------------------------------------------------
# On-demand transformations
# --------------------------------------------------------------------------------------------
# Feast rebuilds a pandas UDF from its source text, so each one must be self-contained: its
# imports and helpers live inside the function body.


def lead_engagement_rates(inputs: pd.DataFrame) -> pd.DataFrame:
    """Engagement score and recency / intent shares of a contact's activity.

    ``lead_engagement_score`` is ``log1p(clicks + replies + high-intent views + form fills)``;
    the shares are NaN when their denominator is 0 (an undefined share is not a zero share).
    Missing inputs (an unknown contact online) give NaN outputs.
    """
    import numpy as np
    import pandas as pd

    def num(column: str) -> pd.Series:
        return pd.to_numeric(inputs[column], errors="coerce").astype(float)

    def share(numerator: str, denominator: str) -> pd.Series:
        below = num(denominator)
        return num(numerator).div(below.where(below > 0))

    engagement = (
        num("email_clicks")
        + num("email_replies")
        + num("web_high_intent_views")
        + num("web_form_fills")
    )
    out = pd.DataFrame(index=inputs.index)
    out["lead_engagement_score"] = np.log1p(engagement)
    out["web_recent_view_share"] = share("web_views_7d", "web_page_views")
    out["web_high_intent_share"] = share("web_high_intent_views", "web_page_views")
    out["email_recent_reply_share"] = share("email_replies_14d", "email_replies")
    out["social_recent_share"] = share("social_events_30d", "social_total")
    return out


def deal_pace(inputs: pd.DataFrame) -> pd.DataFrame:
    """Rep activities per week of deal age (at least one day) and their recent share."""
    import pandas as pd

    def num(column: str) -> pd.Series:
        return pd.to_numeric(inputs[column], errors="coerce").astype(float)

    activities = num("deal_activities")
    out = pd.DataFrame(index=inputs.index)
    out["deal_activities_per_week"] = activities / (num("deal_age_days").clip(lower=1.0) / 7.0)
    out["deal_recent_activity_share"] = num("deal_activities_14d").div(
        activities.where(activities > 0)
    )
    return out


# --------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------


FeastObject = Entity | FileSource | FeatureView | OnDemandFeatureView | FeatureService


@dataclass(frozen=True)
class FeastDefinitions:
    """Every Feast object of the repository.

    Attributes:
        entities: Entity name -> entity.
        sources: View name -> file source.
        views: Batch view name -> feature view.
        on_demand: On-demand view name -> view.
        services: Service name -> feature service.

    """

    entities: dict[str, Entity]
    sources: dict[str, FileSource]
    views: dict[str, FeatureView]
    on_demand: dict[str, OnDemandFeatureView]
    services: dict[str, FeatureService] = field(default_factory=dict)

    def objects(self) -> list[FeastObject]:
        """Return every object, in the order :meth:`feast.FeatureStore.apply` takes them."""
        return [
            *self.entities.values(),
            *self.sources.values(),
            *self.views.values(),
            *self.on_demand.values(),
            *self.services.values(),
        ]

    def service_view_names(self, service: str) -> list[str]:
        """Return the names of the views a service projects."""
        return [projection.name for projection in self.services[service].feature_view_projections]


def _fresh(function: Callable[..., Any]) -> Callable[..., Any]:
    """Return a copy of a module-level UDF for Feast's ``on_demand_feature_view`` decorator.

    The decorator sets the function's ``__module__`` to ``"__main__"`` (so dill pickles it by
    value), after which ``dill.source.getsource`` looks for its source in the wrong file and a
    second :func:`build_definitions` call in the same process fails; a copy keeps the module's
    function intact.
    """
    copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    functools.update_wrapper(copy, function, updated=())
    del copy.__wrapped__
    return copy


def _fields(columns: dict[str, FeastType]) -> list[Field]:
    return [Field(name=name, dtype=dtype) for name, dtype in columns.items()]


def offline_path(offline_dir: Path, view: str) -> Path:
    """Return the parquet file backing a batch view."""
    return Path(offline_dir).resolve() / f"{view}.parquet"


def build_definitions(offline_dir: Path) -> FeastDefinitions:
    """Build the entities, sources, views and services over parquet files in ``offline_dir``.

    Args:
        offline_dir: Folder of the offline feature files (``<view>.parquet``); the files need
            not exist yet (Feast only reads them at materialisation / retrieval time).

    Returns:
        The :class:`FeastDefinitions`.

    """
    entities = {
        name: Entity(
            name=name,
            join_keys=[key],
            value_type=ValueType.STRING,
            description=f"CRM {name} (UUID string)",
        )
        for name, key in ENTITY_KEYS.items()
    }
    sources: dict[str, FileSource] = {}
    views: dict[str, FeatureView] = {}
    for name, spec in VIEW_SPECS.items():
        sources[name] = FileSource(
            name=f"{name}_source",
            path=str(offline_path(offline_dir, name)),
            timestamp_field=TIMESTAMP_COLUMN,
        )
        views[name] = FeatureView(
            name=name,
            entities=[entities[spec.entity]],
            ttl=spec.ttl,
            schema=_fields(spec.columns),
            source=sources[name],
            online=True,
            description=spec.description,
            tags={"entity": spec.entity, "team": "ai-platform"},
        )
    on_demand = {
        "lead_engagement_rates": on_demand_feature_view(
            sources=[views["email_engagement"], views["web_activity"], views["social_signals"]],
            schema=_fields(_LEAD_RATES),
            mode="pandas",
            description="Engagement score and recency / intent shares",
        )(_fresh(lead_engagement_rates)),
        "deal_pace": on_demand_feature_view(
            sources=[views["deal_activity"]],
            schema=_fields(_DEAL_PACE),
            mode="pandas",
            description="Deal activities per week and their recent share",
        )(_fresh(deal_pace)),
    }
    every_view = {**views, **on_demand}
    services = {
        name: FeatureService(
            name=name,
            features=[every_view[view] for view in members],
            description=f"Features of the {name.rsplit('_', 1)[0]} model",
        )
        for name, members in SERVICE_VIEWS.items()
    }
    return FeastDefinitions(
        entities=entities, sources=sources, views=views, on_demand=on_demand, services=services
    )
