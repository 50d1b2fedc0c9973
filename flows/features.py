"""Prefect flow ``feature-pipeline``: CRM -> point-in-time features -> checks -> Feast.

Thin orchestration only: every task calls a framework-free function of :mod:`features.store`.
The synthetic CRM is read from ``PipelinePaths(settings.data_dir).crm_dir`` (the ``ingest``
stage's output); when it is absent it is generated from ``configs/pipeline.yaml`` in memory
(not written, so the DVC-tracked folder stays the ingest stage's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from feast.types import Float64, Int64
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from features.definitions import TIMESTAMP_COLUMN, VIEW_SPECS, build_definitions
from features.store import (
    DEFAULT_PROJECT,
    SIGNED_FEATURES,
    OnlineStoreKind,
    apply_definitions,
    check_offline_features,
    compute_offline_features,
    default_offline_dir,
    get_store,
    materialize,
    save_offline_frames,
)
from haste.settings import Settings, get_settings
from pipelines.consent import consenting_crm
from pipelines.synthetic import generate_crm
from pipelines.synthetic_store import SyntheticCRM, read_crm
from pipelines.validation import (
    feature_view_expectations,
    register_suite,
    validate_or_raise,
)


def _crm_dir(settings: Settings) -> Path:
    from pipelines.stages import PipelinePaths

    return PipelinePaths(settings.data_dir).crm_dir


@task(name="load-crm", cache_policy=NO_CACHE)
def load_crm(settings: Settings, generate_if_missing: bool = True) -> SyntheticCRM:
    """Read the synthetic CRM, or generate it (pipeline params) when it was not ingested."""
    logger = get_run_logger()
    crm_dir = _crm_dir(settings)
    if (crm_dir / "contacts.parquet").exists():
        crm = read_crm(crm_dir)
        logger.info("read synthetic CRM (%d contacts) from %s", len(crm.contacts), crm_dir)
        return crm
    if not generate_if_missing:
        raise FileNotFoundError(f"no synthetic CRM under {crm_dir}; run the ingest stage first")
    from pipelines.stages import load_pipeline_params

    params = load_pipeline_params()["ingest"]["synthetic"]
    crm = generate_crm(
        n_contacts=int(params["n_contacts"]),
        seed=int(params["seed"]),
        start=str(params["start"]),
        days=int(params["days"]),
    )
    logger.warning("%s is absent: generated %d contacts in memory", crm_dir, len(crm.contacts))
    return crm


@task(name="compute-features", cache_policy=NO_CACHE)
def compute_features(crm: SyntheticCRM) -> dict[str, pd.DataFrame]:
    """Compute every view's features at weekly point-in-time snapshots."""
    frames = compute_offline_features(crm)
    get_run_logger().info(
        "computed %s", ", ".join(f"{view}={len(frame)}" for view, frame in frames.items())
    )
    return frames


@task(name="validate-features", cache_policy=NO_CACHE)
def validate_features(frames: dict[str, pd.DataFrame]) -> None:
    """Refuse features with null ids / timestamps, duplicate snapshots or negative counts.

    Each view is checked by a Great Expectations suite built from its definition (a readable
    report on failure), after the structural checks of :func:`check_offline_features`.
    """
    check_offline_features(frames)  # FeatureValidationError lists every problem
    rows = []
    for view, spec in VIEW_SPECS.items():
        non_negative = [
            name
            for name, dtype in spec.columns.items()
            if dtype in (Int64, Float64) and name not in SIGNED_FEATURES
        ]
        suite = f"feast_{view}"
        register_suite(
            suite,
            feature_view_expectations(
                spec.join_key, TIMESTAMP_COLUMN, list(spec.columns), non_negative
            ),
        )
        report = validate_or_raise(frames[view], suite)
        rows.append({"view": view, "rows": len(frames[view]), "expectations": report.evaluated})
    create_table_artifact(
        key="feature-validation", table=rows, description="Great Expectations, per feature view"
    )


@task(name="write-offline-store", cache_policy=NO_CACHE)
def write_offline(frames: dict[str, pd.DataFrame], offline_dir: Path) -> dict[str, str]:
    """Write one parquet file per view (the Feast file sources)."""
    return {view: str(path) for view, path in save_offline_frames(frames, offline_dir).items()}


@task(name="apply-feast-definitions", cache_policy=NO_CACHE)
def apply_feast(
    settings: Settings, offline_dir: Path, online: OnlineStoreKind, project: str
) -> list[str]:
    """Register entities, views and services in the Feast registry."""
    defs = build_definitions(offline_dir)
    apply_definitions(get_store(settings, online, project=project), defs)
    return sorted(defs.services)


@task(name="materialize-online-store", cache_policy=NO_CACHE)
def materialize_online(
    settings: Settings, online: OnlineStoreKind, project: str
) -> dict[str, list[str]]:
    """Copy the latest snapshots to the online store (full first time, then incremental)."""
    done = materialize(get_store(settings, online, project=project))
    get_run_logger().info("materialised: full=%s incremental=%s", done["full"], done["incremental"])
    return done


def rows_table(frames: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Return one summary row per view: entity, rows, entities, snapshots and time range."""
    table = []
    for view, frame in frames.items():
        spec = VIEW_SPECS[view]
        stamps = frame["event_timestamp"]
        table.append(
            {
                "view": view,
                "entity": spec.entity,
                "rows": len(frame),
                "entities": int(frame[spec.join_key].nunique()),
                "snapshots": int(stamps.nunique()),
                "first": str(stamps.min()) if len(frame) else "",
                "last": str(stamps.max()) if len(frame) else "",
                "ttl_days": spec.ttl.days,
            }
        )
    return table


# log_prints stays off: under it Feast's apply logs the on-demand UDFs' bytecode line by line.
@flow(name="feature-pipeline")
def feature_pipeline(
    online_store: OnlineStoreKind | None = None,
    project: str = DEFAULT_PROJECT,
    generate_if_missing: bool = True,
) -> dict[str, Any]:
    """Compute, check and publish the CRM features to Feast's offline and online stores.

    Args:
        online_store: ``"sqlite"`` or ``"redis"``; defaults to ``settings.online_store``.
        project: Feast project name.
        generate_if_missing: Generate the synthetic CRM when it was not ingested.

    Returns:
        Offline files, feature services, materialised views and rows per view.

    """
    settings = get_settings()
    online: OnlineStoreKind = online_store or settings.online_store
    offline_dir = default_offline_dir(settings)
    crm = consenting_crm(load_crm(settings, generate_if_missing))
    frames = compute_features(crm)
    validate_features(frames)
    files = write_offline(frames, offline_dir)
    services = apply_feast(settings, offline_dir, online, project)
    materialised = materialize_online(settings, online, project)
    table = rows_table(frames)
    create_table_artifact(
        key="feature-store-rows",
        table=table,
        description=f"Offline feature rows per view (Feast project {project}, {online} online)",
    )
    return {
        "offline_files": files,
        "services": services,
        "materialized": materialised,
        "online_store": online,
        "rows": {row["view"]: row["rows"] for row in table},
    }


if __name__ == "__main__":
    feature_pipeline()
