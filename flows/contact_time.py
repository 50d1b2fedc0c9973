"""Prefect flow ``contact-time-analysis``: best contact slot per customer segment.

Thin orchestration over :mod:`training.contact_time`: load UCI Bank Marketing, compute the
Beta-Binomial posteriors per segment x slot and the logistic-regression cross-check, log an
MLflow run, and publish the top recommendations as a Markdown artifact. The slot effects are
associations (month is confounded with the 2008-2010 macro context), not causal effects.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from haste.settings import Settings, get_settings
from pipelines.datasets import load_bank_marketing
from training.contact_time import analyze_contact_time
from training.contact_time_data import (
    CAVEAT,
    DEFAULT_SEGMENT_COLUMNS,
    DEFAULT_SLOT_COLUMNS,
    ContactTimeConfig,
)
from training.contact_time_report import ContactTimeReport
from training.contact_time_tracking import log_contact_time


@task(name="load-bank-marketing", cache_policy=NO_CACHE, retries=1)
def load_calls(settings: Settings) -> pd.DataFrame:
    """Read bank-additional-full.csv (41,188 calls in date order)."""
    frame = load_bank_marketing(settings.datasets_dir)
    get_run_logger().info("loaded %d calls, response rate %.4f", len(frame), frame["y"].mean())
    return frame


@task(name="analyze-contact-time", cache_policy=NO_CACHE)
def analyze(frame: pd.DataFrame, config: ContactTimeConfig) -> ContactTimeReport:
    """Compute posterior response rates per segment x slot and the model cross-check."""
    report = analyze_contact_time(frame, config)
    logger = get_run_logger()
    logger.info("prior strengths: %s", report.prior_strengths)
    if report.model_view is not None:
        logger.info(
            "time-ordered ROC AUC %.4f (shuffled reference %.4f)",
            report.model_view.roc_auc,
            report.model_view.roc_auc_shuffled,
        )
    return report


@task(name="log-contact-time", cache_policy=NO_CACHE)
def log_report(report: ContactTimeReport, settings: Settings) -> str:
    """Log the analysis to MLflow and return the run id."""
    run_id = log_contact_time(report, settings)
    get_run_logger().info("MLflow run %s", run_id)
    return run_id


def recommendations_markdown(report: ContactTimeReport, top_n: int) -> str:
    """Return the Markdown artifact: global best slots and the top segment recommendations."""
    best = report.recommend({})
    lines = [
        "# Contact-time recommendations",
        "",
        f"Global: best day **{best['best_day']}**, best month **{best['best_month']}**"
        + (f", channel **{best['channel']}**" if best["channel"] else "")
        + f" (base rate {best['base_rate']:.3f}).",
        "",
        f"> {CAVEAT}",
        "",
    ]
    table = report.top_recommendations(top_n)
    if not table.empty:
        lines += [table.round(4).to_markdown(index=False)]
    return "\n".join(lines)


@flow(name="contact-time-analysis", log_prints=True)
def contact_time_analysis(
    segment_columns: list[str] | None = None,
    include_channel: bool = True,
    credible_level: float = 0.90,
    top_n: int = 10,
) -> dict[str, Any]:
    """Find the best contact slot per customer segment, with uncertainty.

    Args:
        segment_columns: Pre-call columns defining segments (default ``job`` x ``age_band``).
        include_channel: Also rank the contact channel (cellular/telephone).
        credible_level: Mass of the credible intervals.
        top_n: Segments listed in the Markdown artifact.

    Returns:
        MLflow run id, AUCs, prior strengths, the global recommendation and the top segments.

    """
    settings = get_settings()
    slots = tuple(c for c in DEFAULT_SLOT_COLUMNS if include_channel or c != "contact")
    config = ContactTimeConfig(
        segment_columns=tuple(segment_columns or DEFAULT_SEGMENT_COLUMNS),
        slot_columns=slots,
        credible_level=credible_level,
    )
    frame = load_calls(settings)
    report = analyze(frame, config)
    run_id = log_report(report, settings)
    create_markdown_artifact(
        key="contact-time-recommendations",
        markdown=recommendations_markdown(report, top_n),
        description="Best contact slot per segment (Beta-Binomial posteriors; not causal)",
    )
    view = report.model_view
    return {
        "run_id": run_id,
        "n_calls": report.n_calls,
        "n_segments": len(report.segments),
        "roc_auc": view.roc_auc if view else None,
        "roc_auc_shuffled": view.roc_auc_shuffled if view else None,
        "prior_strengths": report.prior_strengths,
        "global": report.recommend({}),
        "top_recommendations": report.top_recommendations(top_n).to_dict(orient="records"),
    }
