"""The Feast feature store: configuration, offline feature files, materialisation, retrieval.

Typical use (what :func:`flows.features.feature_pipeline` runs)::

    frames = compute_offline_features(crm)           # weekly point-in-time snapshots
    check_offline_features(frames)                   # raises FeatureValidationError
    save_offline_frames(frames, offline_dir)
    store = get_store(settings)                      # SQLite or Redis online store
    apply_definitions(store, build_definitions(offline_dir))
    materialize(store)                               # full on the first run, then incremental
    online_features(store, ["<contact uuid>"])       # serving
    training_frame(store, entity_df)                 # point-in-time correct training rows

Snapshots. Each batch view's offline file has one row per entity and weekly snapshot time
``s`` (``event_timestamp``) for the entities that exist at ``s``; the row aggregates only
events strictly before ``s`` (the extractors' cut-off), so ``get_historical_features`` at an
entity timestamp ``T`` returns the latest snapshot at or before ``T`` and never sees the
future. Materialisation copies each entity's latest snapshot to the online store.

Local state: the registry and the SQLite online store live under ``settings.home / "feast"``
(``registry.db`` / ``online_store.db``; the Redis online store gets its own registry file,
``registry_redis.db``, because the registry records how far each view was materialised).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
from feast import FeatureStore, RepoConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.types import Float64, Int64

from features.definitions import (
    ENTITY_KEYS,
    TIMESTAMP_COLUMN,
    VIEW_SPECS,
    FeastDefinitions,
    offline_path,
)
from features.extractors import (
    extract_company_data,
    extract_email_engagement,
    extract_social_signals,
    extract_web_activity,
)
from pipelines.time_columns import utc_naive

if TYPE_CHECKING:
    from haste.settings import Settings
    from pipelines.synthetic_store import SyntheticCRM

logger = logging.getLogger(__name__)

OnlineStoreKind = Literal["sqlite", "redis"]

#: Feast project of the platform (tests and benchmarks use unique names).
DEFAULT_PROJECT = "hastecrm"
#: Default feature service of :func:`online_features` and :func:`training_frame`.
LEAD_SCORING_SERVICE = "lead_scoring_v1"
#: Start of the first materialisation of a view (everything in the offline file).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Days between snapshots.
SNAPSHOT_DAYS = 7
#: Trailing window of the account usage counts.
_ACCOUNT_WINDOW_DAYS = 30
_DEAL_RECENT_DAYS = 14
#: Pages only customers see (product usage).
_PRODUCT_PAGES = r"^/(?:app|docs)/|^/billing"
#: Float features that may legitimately be negative (everything else must be >= 0).
SIGNED_FEATURES: frozenset[str] = frozenset({"deal_days_to_expected_close"})
_NS_PER_DAY = 86_400 * 10**9


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def feast_dir(settings: Settings) -> Path:
    """Return the folder of the Feast registry and SQLite online store."""
    return settings.home / "feast"


def default_offline_dir(settings: Settings) -> Path:
    """Return the folder of the offline feature files (``<view>.parquet``)."""
    return settings.data_dir / "features" / "feast"


def redis_connection_string(url: str) -> str:
    """Turn a ``redis://[:password@]host:port/db`` URL into Feast's connection string.

    Args:
        url: A ``redis://`` or ``rediss://`` URL (``settings.redis_url``).

    Returns:
        ``host:port[,db=N][,password=...][,ssl=true]``.

    Raises:
        ValueError: When the URL's scheme is not ``redis`` / ``rediss``.

    """
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        raise ValueError(f"expected a redis:// URL, got {url!r}")
    parts = [f"{parsed.hostname or 'localhost'}:{parsed.port or 6379}"]
    db = parsed.path.lstrip("/")
    if db:
        parts.append(f"db={int(db)}")
    if parsed.password:
        parts.append(f"password={unquote(parsed.password)}")
    if parsed.username:
        parts.append(f"username={unquote(parsed.username)}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def repo_config(
    settings: Settings,
    online: OnlineStoreKind | None = None,
    *,
    project: str = DEFAULT_PROJECT,
) -> RepoConfig:
    """Return the Feast configuration: local provider, file offline store, chosen online store.

    Args:
        settings: Platform settings (``home`` for local state, ``redis_url``).
        online: ``"sqlite"`` or ``"redis"``; defaults to ``settings.online_store``.
        project: Feast project name (online keys / tables are namespaced by it).

    Returns:
        The :class:`feast.RepoConfig`.

    Raises:
        ValueError: When ``online`` is neither ``sqlite`` nor ``redis``.

    """
    online = online or settings.online_store
    folder = feast_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    if online == "sqlite":
        online_store: object = SqliteOnlineStoreConfig(path=str(folder / "online_store.db"))
        registry = folder / "registry.db"
    elif online == "redis":
        from feast.infra.online_stores.redis import RedisOnlineStoreConfig

        online_store = RedisOnlineStoreConfig(
            connection_string=redis_connection_string(settings.redis_url)
        )
        registry = folder / "registry_redis.db"
    else:
        raise ValueError(f"online store must be 'sqlite' or 'redis', got {online!r}")
    return RepoConfig(
        project=project,
        registry=str(registry),
        provider="local",
        online_store=online_store,
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=folder,
    )


def get_store(
    settings: Settings,
    online: OnlineStoreKind | None = None,
    *,
    project: str = DEFAULT_PROJECT,
) -> FeatureStore:
    """Return a :class:`feast.FeatureStore` configured by :func:`repo_config`."""
    return FeatureStore(config=repo_config(settings, online, project=project))


def purge_redis_project(redis_url: str, project: str) -> int:
    """Delete the Redis keys of one Feast project (never anything else) and return how many.

    Feast's Redis keys end with the project name, so ``SCAN`` with ``*<project>`` finds them;
    give the project a name that is not the suffix of another project's name.
    """
    import redis

    client = redis.Redis.from_url(redis_url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"*{project}", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(client.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(client.delete(*batch))
    finally:
        client.close()
    return deleted


# --------------------------------------------------------------------------------------------
# Offline features (weekly point-in-time snapshots)
# --------------------------------------------------------------------------------------------


def weekly_snapshot_times(crm: SyntheticCRM, days: int = SNAPSHOT_DAYS) -> pd.DatetimeIndex:
    """Return snapshot times every ``days`` days covering the CRM's contacts and events.

    The first snapshot is ``days`` after midnight of the earliest contact creation, the last is
    the first one at or after the latest event (so it counts every event).

    Returns:
        UTC-naive snapshot times.

    """
    start = utc_naive(crm.contacts["created_at"]).min().floor("D")
    ends = [
        utc_naive(frame["occurred_at"]).max()
        for frame in (crm.email_events, crm.web_events, crm.social_events, crm.activities)
        if len(frame)
    ]
    end = max([*ends, utc_naive(crm.contacts["created_at"]).max()])
    step = pd.Timedelta(days=days)
    count = int(np.ceil((end - start) / step))
    return pd.DatetimeIndex([start + step * k for k in range(1, max(count, 1) + 1)])


def _finish(view: str, keys: np.ndarray, stamps: np.ndarray, columns: pd.DataFrame) -> pd.DataFrame:
    """Return a view's offline frame: join key (str), UTC ``event_timestamp``, typed features."""
    spec = VIEW_SPECS[view]
    frame = pd.DataFrame(
        {
            spec.join_key: pd.Series(keys, dtype=object).astype(str).to_numpy(),
            TIMESTAMP_COLUMN: pd.to_datetime(stamps).tz_localize("UTC"),
        }
    )
    for name, dtype in spec.columns.items():
        values = columns[name].to_numpy()
        if dtype == Int64:
            frame[name] = values.astype(np.int64)
        elif dtype == Float64:
            frame[name] = values.astype(np.float64)
        else:
            frame[name] = pd.Series(values, dtype=object).where(pd.notna(values), None).to_numpy()
    return frame.sort_values([TIMESTAMP_COLUMN, spec.join_key], ignore_index=True)


def _empty(view: str) -> pd.DataFrame:
    """Return an empty, correctly typed offline frame of ``view``."""
    spec = VIEW_SPECS[view]
    columns = pd.DataFrame({name: pd.Series([], dtype=object) for name in spec.columns})
    return _finish(view, np.array([], dtype=object), np.array([], dtype="datetime64[ns]"), columns)


def _stack(view: str, parts: list[tuple[pd.Timestamp, pd.DataFrame]]) -> pd.DataFrame:
    """Stack per-snapshot frames (indexed by entity id) into the view's offline frame."""
    parts = [(stamp, part) for stamp, part in parts if len(part)]
    if not parts:
        return _empty(view)
    keys = np.concatenate([part.index.to_numpy(dtype=object) for _, part in parts])
    stamps = np.concatenate([np.full(len(part), stamp.to_datetime64()) for stamp, part in parts])
    columns = pd.concat([part.reset_index(drop=True) for _, part in parts], ignore_index=True)
    return _finish(view, keys, stamps.astype("datetime64[ns]"), columns)


def _contact_views(
    crm: SyntheticCRM, times: pd.DatetimeIndex
) -> dict[str, list[tuple[pd.Timestamp, pd.DataFrame]]]:
    """Per snapshot: the contact extractors over the contacts created at or before it."""
    contacts = crm.contacts
    created = utc_naive(contacts["created_at"]).to_numpy()
    ids = contacts["id"].to_numpy(dtype=object)
    company = extract_company_data(contacts, crm.companies)
    out: dict[str, list[tuple[pd.Timestamp, pd.DataFrame]]] = {
        "email_engagement": [],
        "web_activity": [],
        "social_signals": [],
        "company_enrichment": [],
    }
    for stamp in times:
        alive = created <= stamp.to_datetime64()
        as_of = pd.Series(stamp, index=pd.Index(ids[alive]))
        out["email_engagement"].append((stamp, extract_email_engagement(crm.email_events, as_of)))
        out["web_activity"].append((stamp, extract_web_activity(crm.web_events, as_of)))
        out["social_signals"].append((stamp, extract_social_signals(crm.social_events, as_of)))
        out["company_enrichment"].append((stamp, company[alive]))
    return out


def _firmographics(crm: SyntheticCRM, times: pd.DatetimeIndex) -> list[tuple]:
    """Per snapshot: the firmographics of the companies added at or before it."""
    companies = crm.companies
    as_contacts = pd.DataFrame(
        {
            "id": companies["id"],
            "company_id": companies["id"],
            "job_title": pd.Series([None] * len(companies), dtype=object),
            "lead_source": pd.Series([None] * len(companies), dtype=object),
        }
    )
    firmographics = extract_company_data(as_contacts, companies)
    created = utc_naive(companies["created_at"]).to_numpy()
    return [(stamp, firmographics[created <= stamp.to_datetime64()]) for stamp in times]


def _days_before(times_ns: np.ndarray, cutoff: pd.Timestamp) -> np.ndarray:
    """Return days from each event to ``cutoff`` (negative or zero: at / after the cut-off)."""
    return (cutoff.to_datetime64().astype("datetime64[ns]").view(np.int64) - times_ns) / _NS_PER_DAY


def _latest_age(codes: np.ndarray, ages: np.ndarray, n: int) -> np.ndarray:
    """Return per code the smallest positive age (days since the latest event), NaN if none."""
    out = np.full(n, np.inf)
    np.minimum.at(out, codes, ages)
    out[np.isinf(out)] = np.nan
    return out


def _account_health(crm: SyntheticCRM, times: pd.DatetimeIndex) -> list[tuple]:
    """Per snapshot: tenure, plan, MRR and trailing usage of the accounts created before it."""
    accounts = crm.accounts
    account_company = pd.Index(accounts["company_id"].astype(str))
    n = len(accounts)
    contact_company = pd.Series(
        crm.contacts["company_id"].astype(str).to_numpy(), index=crm.contacts["id"].astype(str)
    )

    def account_codes(contact_ids: pd.Series) -> np.ndarray:
        companies = contact_company.reindex(contact_ids.astype(str).to_numpy()).to_numpy()
        return account_company.get_indexer(companies)

    web = crm.web_events
    web_code = account_codes(web["contact_id"])
    web_ns = utc_naive(web["occurred_at"]).to_numpy().view(np.int64)
    web_view = (web["event_type"] == "page_view").to_numpy()
    web_product = web["page"].astype("string").str.match(_PRODUCT_PAGES).fillna(False).to_numpy()
    email = crm.email_events
    email_code = account_codes(email["contact_id"])
    email_ns = utc_naive(email["occurred_at"]).to_numpy().view(np.int64)
    email_open = (email["event_type"] == "open").to_numpy()
    acts = crm.activities
    act_code = account_codes(acts["contact_id"])
    act_ns = utc_naive(acts["occurred_at"]).to_numpy().view(np.int64)
    contact_code = account_codes(crm.contacts["id"])
    contact_created = utc_naive(crm.contacts["created_at"]).to_numpy()
    created = utc_naive(accounts["created_at"]).to_numpy()

    def window(codes: np.ndarray, ages: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        keep = (codes >= 0) & (ages > 0) & (ages <= _ACCOUNT_WINDOW_DAYS)
        if mask is not None:
            keep &= mask
        return np.bincount(codes[keep], minlength=n)

    parts = []
    for stamp in times:
        web_age = _days_before(web_ns, stamp)
        seen = (web_code >= 0) & (web_age > 0)
        known = (contact_code >= 0) & (contact_created <= stamp.to_datetime64())
        columns = pd.DataFrame(
            {
                "account_plan": accounts["plan"].to_numpy(dtype=object),
                "account_mrr": accounts["mrr"].to_numpy(dtype=float),
                "account_tenure_days": (stamp.to_datetime64() - created) / np.timedelta64(1, "D"),
                "account_contacts": np.bincount(contact_code[known], minlength=n),
                "account_web_views_30d": window(web_code, web_age, web_view),
                "account_app_views_30d": window(web_code, web_age, web_view & web_product),
                "account_email_opens_30d": window(
                    email_code, _days_before(email_ns, stamp), email_open
                ),
                "account_activities_30d": window(act_code, _days_before(act_ns, stamp)),
                "account_days_since_last_visit": _latest_age(web_code[seen], web_age[seen], n),
            },
            index=pd.Index(accounts["id"].to_numpy(dtype=object)),
        )
        parts.append((stamp, columns[created <= stamp.to_datetime64()]))
    return parts


def _deal_activity(crm: SyntheticCRM, times: pd.DatetimeIndex) -> list[tuple]:
    """Per snapshot: age, amount and rep activity of the deals open at it."""
    deals = crm.deals
    n = len(deals)
    created = utc_naive(deals["created_at"]).to_numpy()
    closed = utc_naive(deals["closed_at"]).to_numpy()
    expected = utc_naive(pd.to_datetime(deals["expected_close_date"])).to_numpy()
    acts = crm.activities
    deal_ids = pd.Index(deals["id"].astype(str))
    with_deal = acts["deal_id"].notna().to_numpy()
    codes = np.full(len(acts), -1)
    codes[with_deal] = deal_ids.get_indexer(acts["deal_id"][with_deal].astype(str))
    act_ns = utc_naive(acts["occurred_at"]).to_numpy().view(np.int64)
    meeting = (acts["type"] == "meeting").to_numpy()
    amount = np.log1p(np.clip(deals["amount"].to_numpy(dtype=float), 0.0, None))
    parts = []
    for stamp in times:
        now = stamp.to_datetime64()
        age = _days_before(act_ns, stamp)
        seen = (codes >= 0) & (age > 0)
        columns = pd.DataFrame(
            {
                "deal_age_days": (now - created) / np.timedelta64(1, "D"),
                "deal_log_amount": amount,
                "deal_activities": np.bincount(codes[seen], minlength=n),
                "deal_activities_14d": np.bincount(
                    codes[seen & (age <= _DEAL_RECENT_DAYS)], minlength=n
                ),
                "deal_meetings": np.bincount(codes[seen & meeting], minlength=n),
                "deal_days_since_last_activity": _latest_age(codes[seen], age[seen], n),
                "deal_days_to_expected_close": (expected - now) / np.timedelta64(1, "D"),
            },
            index=pd.Index(deals["id"].to_numpy(dtype=object)),
        )
        still_open = (created <= now) & (np.isnat(closed) | (closed > now))
        parts.append((stamp, columns[still_open]))
    return parts


def compute_offline_features(
    crm: SyntheticCRM, snapshot_times: Sequence[datetime] | pd.DatetimeIndex | None = None
) -> dict[str, pd.DataFrame]:
    """Compute every batch view's point-in-time features at each snapshot time.

    Args:
        crm: The synthetic CRM.
        snapshot_times: Snapshot times (UTC; naive means UTC); defaults to
            :func:`weekly_snapshot_times`.

    Returns:
        View name -> frame with the join key (str), ``event_timestamp`` (UTC) and the view's
        columns, one row per entity existing at each snapshot (contacts created, companies
        added, accounts opened at or before it; deals open at it).

    """
    if snapshot_times is None:
        times = weekly_snapshot_times(crm)
    else:
        times = pd.DatetimeIndex(utc_naive(pd.Index(snapshot_times)).drop_duplicates())
        times = times.sort_values()
    parts = _contact_views(crm, times)
    parts["company_firmographics"] = _firmographics(crm, times)
    parts["account_health"] = _account_health(crm, times)
    parts["deal_activity"] = _deal_activity(crm, times)
    return {view: _stack(view, parts[view]) for view in VIEW_SPECS}


class FeatureValidationError(ValueError):
    """Offline feature frames failed :func:`check_offline_features` (message lists why)."""

    def __init__(self, problems: list[str]) -> None:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} feature check(s) failed:\n{lines}")
        self.problems = problems


def feature_problems(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Return readable problems of the offline frames (empty when they are fine).

    Checks: every view present with its columns; join keys and timestamps not null; one row
    per (entity, timestamp); counts not null and non-negative; numeric features non-negative
    (except :data:`SIGNED_FEATURES`).
    """
    problems: list[str] = []
    for view, spec in VIEW_SPECS.items():
        if view not in frames:
            problems.append(f"{view}: missing view")
            continue
        frame = frames[view]
        absent = [c for c in (spec.join_key, TIMESTAMP_COLUMN, *spec.columns) if c not in frame]
        if absent:
            problems.append(f"{view}: missing columns {absent}")
            continue
        for column in (spec.join_key, TIMESTAMP_COLUMN):
            nulls = int(frame[column].isna().sum())
            if nulls:
                problems.append(f"{view}.{column}: {nulls} null value(s)")
        duplicated = int(frame.duplicated([spec.join_key, TIMESTAMP_COLUMN]).sum())
        if duplicated:
            problems.append(f"{view}: {duplicated} duplicated ({spec.join_key}, timestamp) rows")
        for name, dtype in spec.columns.items():
            if dtype not in (Int64, Float64):
                continue
            values = pd.to_numeric(frame[name], errors="coerce")
            if dtype == Int64 and values.isna().any():
                problems.append(f"{view}.{name}: {int(values.isna().sum())} null count(s)")
            negative = frame.loc[values < 0, spec.join_key]
            if name not in SIGNED_FEATURES and len(negative):
                sample = ", ".join(map(str, negative.head(3)))
                problems.append(
                    f"{view}.{name}: {len(negative)} negative value(s) "
                    f"(min {values.min():g}; e.g. {spec.join_key} {sample})"
                )
    return problems


def check_offline_features(frames: dict[str, pd.DataFrame]) -> None:
    """Raise :class:`FeatureValidationError` when :func:`feature_problems` finds any."""
    problems = feature_problems(frames)
    if problems:
        raise FeatureValidationError(problems)


def save_offline_frames(frames: dict[str, pd.DataFrame], offline_dir: Path) -> dict[str, Path]:
    """Write each frame to ``offline_dir/<view>.parquet`` and return the paths."""
    Path(offline_dir).mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for view, frame in frames.items():
        path = offline_path(offline_dir, view)
        frame.to_parquet(path, index=False)
        paths[view] = path
    return paths


def write_offline_features(
    crm: SyntheticCRM,
    offline_dir: Path,
    snapshot_times: Sequence[datetime] | pd.DatetimeIndex | None = None,
) -> dict[str, Path]:
    """Compute (:func:`compute_offline_features`), check and write the offline feature files.

    Returns:
        View name -> written parquet file.

    Raises:
        FeatureValidationError: When the features fail :func:`check_offline_features`.

    """
    frames = compute_offline_features(crm, snapshot_times)
    check_offline_features(frames)
    return save_offline_frames(frames, offline_dir)


# --------------------------------------------------------------------------------------------
# Registry, materialisation and retrieval
# --------------------------------------------------------------------------------------------


def apply_definitions(store: FeatureStore, defs: FeastDefinitions) -> None:
    """Register (or update) every entity, source, view and service in the store's registry."""
    store.apply(defs.objects())


def materialize(
    store: FeatureStore,
    end_date: datetime | None = None,
    *,
    start_date: datetime = EPOCH,
) -> dict[str, list[str]]:
    """Copy the latest offline snapshot per entity to the online store.

    Views never materialised before are loaded from ``start_date`` (default: everything),
    because Feast's own first incremental run only looks back one TTL from *now* and would
    miss older snapshots; the others are materialised incrementally from where they stopped.

    Args:
        store: The feature store (definitions applied).
        end_date: Materialise snapshots up to this time (default: now, UTC).
        start_date: Start of a first materialisation.

    Returns:
        ``{"full": [views], "incremental": [views]}``.

    """
    end = end_date or datetime.now(UTC)
    views = store.list_feature_views()
    fresh = [view.name for view in views if view.most_recent_end_time is None]
    seen = [view.name for view in views if view.most_recent_end_time is not None]
    if fresh:
        store.materialize(start_date=start_date, end_date=end, feature_views=fresh)
    if seen:
        store.materialize_incremental(end_date=end, feature_views=seen)
    return {"full": fresh, "incremental": seen}


def _entity_rows(
    entities: Sequence[str] | pd.DataFrame, join_key: str
) -> tuple[list[dict[str, str]], list[str]]:
    if isinstance(entities, pd.DataFrame):
        rows = [{k: str(v) for k, v in row.items()} for row in entities.to_dict("records")]
        return rows, list(entities.columns)
    return [{join_key: str(value)} for value in entities], [join_key]


def online_features(
    store: FeatureStore,
    entities: Sequence[str] | pd.DataFrame,
    *,
    service: str = LEAD_SCORING_SERVICE,
    join_key: str = "contact_id",
) -> pd.DataFrame:
    """Look up a feature service's online features.

    Args:
        store: The feature store (materialised).
        entities: Entity ids (of ``join_key``), or a frame of entity rows (one column per join
            key, e.g. ``account_id`` and ``company_id`` for ``churn_v1``).
        service: Feature service name.
        join_key: Join key of the ids when ``entities`` is a sequence.

    Returns:
        One row per requested entity, in request order: the join key(s) and the features.
        Unknown entities come back with every feature missing (see :func:`missing_entities`).

    """
    rows, keys = _entity_rows(entities, join_key)
    if not rows:
        raise ValueError("online_features needs at least one entity")
    response = store.get_online_features(
        features=store.get_feature_service(service), entity_rows=rows
    ).to_dict()
    frame = pd.DataFrame(response)
    return frame[[*keys, *[c for c in frame.columns if c not in keys]]]


def missing_entities(frame: pd.DataFrame) -> list[str]:
    """Return the entity ids of an :func:`online_features` frame that have no features.

    A row is missing when every feature (all columns but the join keys) is null: the online
    store has no value for it (never materialised, or unknown id). Counts are never null for a
    known entity, so a real entity is never reported.
    """
    keys = [c for c in frame.columns if c in ENTITY_KEYS.values()]
    features = frame.drop(columns=keys)
    empty = features.isna().all(axis=1) if features.shape[1] else pd.Series(True, frame.index)
    return frame.loc[empty, keys[0]].astype(str).tolist()


def training_frame(
    store: FeatureStore,
    entity_df: pd.DataFrame,
    *,
    service: str = LEAD_SCORING_SERVICE,
) -> pd.DataFrame:
    """Return point-in-time correct features for each entity row (``get_historical_features``).

    Feast's file (Dask) offline store drops an entity row whose entity has snapshots but none
    inside ``[T - ttl, T]``, and collapses rows that repeat (keys, timestamp); so only the
    distinct (keys, timestamp) pairs are sent to Feast and the features are joined back onto
    every row of ``entity_df``: a row without a usable snapshot keeps missing features.

    Args:
        store: The feature store (definitions applied; no materialisation needed).
        entity_df: The join key(s) and ``event_timestamp`` (naive means UTC), plus any extra
            columns (labels...) that are passed through.
        service: Feature service name.

    Returns:
        ``entity_df``'s rows in their original order (fresh index, ``event_timestamp`` in UTC)
        with the service's features: for each row, the latest snapshot at or before its
        timestamp within the view's TTL (missing when there is none), never a later snapshot.

    Raises:
        ValueError: When ``entity_df`` lacks ``event_timestamp`` or a join key.

    """
    if TIMESTAMP_COLUMN not in entity_df:
        raise ValueError(f"entity_df needs an {TIMESTAMP_COLUMN!r} column")
    keys = [key for key in ENTITY_KEYS.values() if key in entity_df]
    if not keys:
        raise ValueError(f"entity_df needs a join key column ({', '.join(ENTITY_KEYS.values())})")
    frame = entity_df.reset_index(drop=True).copy()
    for key in keys:
        frame[key] = frame[key].astype(str)
    frame[TIMESTAMP_COLUMN] = _utc(frame[TIMESTAMP_COLUMN])
    on = [*keys, TIMESTAMP_COLUMN]
    query = frame[on].drop_duplicates(ignore_index=True)
    job = store.get_historical_features(
        entity_df=query, features=store.get_feature_service(service)
    )
    result = job.to_df()
    for key in keys:
        result[key] = result[key].astype(str)
    result[TIMESTAMP_COLUMN] = _utc(result[TIMESTAMP_COLUMN])
    features = [c for c in result.columns if c not in on and c not in frame.columns]
    result = result[[*on, *features]].drop_duplicates(on, keep="last")
    return frame.merge(result, on=on, how="left", validate="many_to_one")


def _utc(values: pd.Series) -> pd.Series:
    """Return timestamps as ``datetime64[ns, UTC]`` (naive values are taken as UTC)."""
    stamps = pd.to_datetime(values)
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
