"""Champion/challenger judged on the business outcome: exposures, outcomes, the A/B report.

* **Exposure**: a contact's first lead-score decision with a variant, at the time it was made
  (``ai_interactions`` rows of the configured feature whose ``variant`` is ``champion`` or
  ``challenger``; refused calls carry no variant and are not exposures). Read from the plain
  columns only (``contact_id``, ``variant``, ``created_at``, ``model_used``): the encrypted
  documents are never needed. The model is the name in ``model_used`` (``lead_scoring@v3``).
* **Crossover**: a contact exposed to both variants of a model (a changed split moves some
  hash buckets) is counted once under its first exposure (``crossover: first``, intention to
  treat: the later assignment cannot depend on the outcome), or left out (``exclude``).
* **Outcome**: the exposure converted when one of the configured CRM events of the contact
  (a deal won, a deal created, a meeting, an inbound reply) happened within ``window_days``
  after it. Exposures whose window has not closed yet are **censored**: reported as open,
  never counted as failures.

The statistics (posteriors, expected loss, the sequential test, the stop rule) are in
:mod:`training.ab_stats`; the configuration in ``configs/ab.yaml``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from haste.settings import CONFIG_DIR, Settings
from training.ab_stats import (
    StopRule,
    beta_posterior,
    compare_posteriors,
    decide,
    sequential_p_value,
)

VARIANTS = ("champion", "challenger")
Event = Literal["deal_won", "deal_created", "meeting", "reply"]
_CHUNK = 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutcomeConfig(_Strict):
    """What an exposure is and what counts as its conversion."""

    feature: str = Field("lead_score", min_length=1, max_length=50)
    window_days: int = Field(30, ge=1, le=3650)
    events: list[Event] = Field(default_factory=lambda: ["deal_won"], min_length=1)
    crossover: Literal["first", "exclude"] = "first"


class StatsConfig(_Strict):
    """Prior, credible level and stop rule (see :class:`training.ab_stats.StopRule`)."""

    prior: tuple[float, float] = (1.0, 1.0)
    credible_level: float = Field(0.95, gt=0.0, lt=1.0)
    min_exposures: int = Field(200, ge=1)
    prob_threshold: float = Field(0.95, gt=0.5, lt=1.0)
    loss_threshold: float = Field(0.001, gt=0.0, lt=1.0)
    alpha: float = Field(0.05, gt=0.0, lt=0.5)
    tau: float = Field(0.02, gt=0.0, le=1.0)
    burn_in: int = Field(100, ge=1)
    require_sequential: bool = True

    def stop_rule(self) -> StopRule:
        """Return the stop rule of these settings."""
        return StopRule(
            min_exposures=self.min_exposures,
            prob_threshold=self.prob_threshold,
            loss_threshold=self.loss_threshold,
            alpha=self.alpha,
            tau=self.tau,
            burn_in=self.burn_in,
            require_sequential=self.require_sequential,
        )


class ABConfig(_Strict):
    """``configs/ab.yaml``."""

    outcomes: OutcomeConfig = Field(default_factory=OutcomeConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    offline_metric: str = "roc_auc"


def load_ab_config(path: str | Path | None = None) -> ABConfig:
    """Load and validate ``configs/ab.yaml`` (or ``path``).

    Raises:
        FileNotFoundError: When the file does not exist.
        pydantic.ValidationError: When it does not match the schema.
    """
    path = Path(path) if path else CONFIG_DIR / "ab.yaml"
    if not path.exists():
        raise FileNotFoundError(f"A/B config {path} not found")
    with path.open(encoding="utf-8") as handle:
        return ABConfig.model_validate(yaml.safe_load(handle) or {})


def _utc(values: Any) -> Any:
    """Return timestamps as UTC pandas timestamps (naive ones, as SQLite returns, are UTC)."""
    import pandas as pd

    return pd.to_datetime(values, utc=True)


def read_exposure_rows(url: str, feature: str, since: dt.datetime | None = None) -> Any:
    """Return every recorded decision with a variant: model, version, contact, variant, time.

    Args:
        url: Database URL.
        feature: The ``ai_interactions.feature`` of the decisions (``lead_score``).
        since: Only decisions made at or after this time.

    Returns:
        A DataFrame with columns ``model``, ``version``, ``contact_id`` (str), ``variant`` and
        ``exposed_at`` (UTC), oldest first.
    """
    import pandas as pd
    from sqlalchemy import select

    from haste.db.models import AIInteraction
    from haste.db.session import session_scope

    query = select(
        AIInteraction.contact_id,
        AIInteraction.variant,
        AIInteraction.created_at,
        AIInteraction.model_used,
    ).where(
        AIInteraction.feature == feature,
        AIInteraction.variant.in_(VARIANTS),
        AIInteraction.contact_id.is_not(None),
        AIInteraction.error_message.is_(None),
    )
    if since is not None:
        query = query.where(AIInteraction.created_at >= since)
    with session_scope(url) as session:
        rows = session.execute(query).all()
    frame = pd.DataFrame(rows, columns=["contact_id", "variant", "exposed_at", "model_used"])
    model_used = frame["model_used"].fillna("").astype(str)
    frame["model"] = model_used.str.rsplit("@v", n=1).str[0]
    frame["version"] = model_used.str.rsplit("@v", n=1).str[1].fillna("")
    frame["contact_id"] = frame["contact_id"].astype(str)
    frame["exposed_at"] = _utc(frame["exposed_at"])
    frame = frame[frame["model"] != ""]
    columns = ["model", "version", "contact_id", "variant", "exposed_at"]
    return frame[columns].sort_values("exposed_at", kind="stable").reset_index(drop=True)


def first_exposures(rows: Any, crossover: str = "first") -> tuple[Any, dict[str, int]]:
    """Return one exposure per model and contact, and the number of crossovers per model.

    Args:
        rows: :func:`read_exposure_rows` output.
        crossover: ``first`` (a contact exposed to both variants counts under its first) or
            ``exclude`` (such contacts are dropped).

    Returns:
        ``(exposures, crossovers)``: the first decision of each (model, contact), and per model
        how many contacts were exposed to both variants.
    """
    variants = rows.groupby(["model", "contact_id"])["variant"].nunique()
    both = variants[variants > 1]
    crossovers = both.groupby(level="model").size().astype(int).to_dict()
    first = rows.drop_duplicates(["model", "contact_id"], keep="first")
    if crossover == "exclude" and len(both):
        keys = first.set_index(["model", "contact_id"]).index
        first = first[~keys.isin(both.index)]
    return first.reset_index(drop=True), {str(k): int(v) for k, v in crossovers.items()}


def read_outcome_events(url: str, contact_ids: list[str], events: list[str]) -> Any:
    """Return the configured conversion events of these contacts: ``contact_id``, ``occurred_at``.

    ``deal_won``: a won deal's ``closed_at``; ``deal_created``: a deal's ``created_at``;
    ``meeting``: a meeting activity; ``reply``: an email activity whose details say
    ``direction: inbound``.
    """
    import uuid

    import pandas as pd
    from sqlalchemy import select

    from haste.db.models import Activity, Deal
    from haste.db.session import session_scope

    found: list[tuple[Any, Any]] = []
    ids = [uuid.UUID(value) for value in contact_ids]
    with session_scope(url) as session:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            if "deal_won" in events:
                found += session.execute(
                    select(Deal.contact_id, Deal.closed_at).where(
                        Deal.contact_id.in_(chunk),
                        Deal.is_won.is_(True),
                        Deal.closed_at.is_not(None),
                    )
                ).all()
            if "deal_created" in events:
                found += session.execute(
                    select(Deal.contact_id, Deal.created_at).where(Deal.contact_id.in_(chunk))
                ).all()
            kinds = [
                kind
                for kind, event in (("meeting", "meeting"), ("email", "reply"))
                if event in events
            ]
            if kinds:
                for contact, when, kind, details in session.execute(
                    select(
                        Activity.contact_id, Activity.occurred_at, Activity.type, Activity.details
                    ).where(Activity.contact_id.in_(chunk), Activity.type.in_(kinds))
                ):
                    inbound = isinstance(details, dict) and details.get("direction") == "inbound"
                    if kind == "meeting" or inbound:
                        found.append((contact, when))
    frame = pd.DataFrame(found, columns=["contact_id", "occurred_at"])
    frame["contact_id"] = frame["contact_id"].astype(str)
    frame["occurred_at"] = _utc(frame["occurred_at"])
    return frame


def label_outcomes(exposures: Any, events: Any, window_days: int, now: dt.datetime) -> Any:
    """Return the exposures with ``closed`` (window over by ``now``) and ``converted`` columns.

    An exposure converts when an event of its contact falls in
    ``[exposed_at, exposed_at + window_days]``; ``converted`` is only meaningful where
    ``closed`` (an open window may still convert).
    """
    import pandas as pd

    window = pd.Timedelta(days=window_days)
    labelled = exposures.copy()
    labelled["closed"] = labelled["exposed_at"] + window <= pd.Timestamp(now)
    pairs = labelled.reset_index().merge(events, on="contact_id", how="inner")
    hit = (pairs["occurred_at"] >= pairs["exposed_at"]) & (
        pairs["occurred_at"] <= pairs["exposed_at"] + window
    )
    converted = set(pairs.loc[hit, "index"])
    labelled["converted"] = [index in converted for index in labelled.index]
    return labelled


def summarise_variant(group: Any, stats: StatsConfig) -> dict[str, Any]:
    """Return a variant's counts, observed rate and posterior credible interval."""
    closed = group[group["closed"]]
    trials, conversions = len(closed), int(closed["converted"].sum())
    posterior = beta_posterior(conversions, trials, stats.prior)
    low, high = posterior.interval(stats.credible_level)
    return {
        "versions": sorted(set(group["version"]) - {""}, key=lambda v: (len(v), v)),
        "exposures": len(group),
        "open": len(group) - trials,
        "closed": trials,
        "conversions": conversions,
        "rate": conversions / trials if trials else None,
        "posterior_mean": posterior.mean,
        "interval": [low, high],
    }


def summarise_model(labelled: Any, crossovers: int, config: ABConfig) -> dict[str, Any]:
    """Return the A/B report of one model from its labelled exposures."""
    stats = config.stats
    variants = {
        variant: summarise_variant(labelled[labelled["variant"] == variant], stats)
        for variant in VARIANTS
    }
    champion, challenger = variants["champion"], variants["challenger"]
    comparison = compare_posteriors(
        beta_posterior(champion["conversions"], champion["closed"], stats.prior),
        beta_posterior(challenger["conversions"], challenger["closed"], stats.prior),
    )
    closed = labelled[labelled["closed"]]  # in the order outcomes became known
    closed = closed.sort_values("exposed_at", kind="stable")
    p_value = sequential_p_value(
        (closed["variant"] == "challenger").to_numpy(int),
        closed["converted"].to_numpy(int),
        stats.tau,
        stats.burn_in,
    )
    counts = (
        champion["conversions"],
        champion["closed"],
        challenger["conversions"],
        challenger["closed"],
    )
    decision = decide(comparison, counts, p_value, stats.stop_rule())
    lift = relative = None
    if champion["rate"] is not None and challenger["rate"] is not None:
        lift = challenger["rate"] - champion["rate"]
        relative = lift / champion["rate"] if champion["rate"] else None
    return {
        "model": str(labelled["model"].iloc[0]) if len(labelled) else None,
        "window_days": config.outcomes.window_days,
        "events": list(config.outcomes.events),
        "crossover": config.outcomes.crossover,
        "crossovers": crossovers,
        "variants": variants,
        "lift": lift,
        "relative_lift": relative,
        "prob_challenger_better": comparison.prob_challenger_better,
        "expected_loss": {
            "keep_champion": comparison.loss_keep_champion,
            "promote_challenger": comparison.loss_promote_challenger,
        },
        "sequential": {"p_value": p_value, "alpha": stats.alpha, "rejects": p_value <= stats.alpha},
        "decision": {
            "action": decision.action,
            "label": decision.label,
            "reason": decision.reason,
            "more_exposures": decision.more_exposures,
        },
    }


def build_ab_report(
    url: str,
    config: ABConfig | None = None,
    model: str | None = None,
    window_days: int | None = None,
    now: dt.datetime | None = None,
    since: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Return the outcome A/B report of every model with exposures (or of ``model``).

    Args:
        url: Database URL.
        config: The A/B config (``configs/ab.yaml`` when omitted).
        model: Only this model.
        window_days: Conversion window overriding the config's.
        now: The time windows are closed against (now when omitted).
        since: Only exposures at or after this time (e.g. since the challenger was registered).

    Returns:
        One report per model (see :func:`summarise_model`), by model name.
    """
    config = config or load_ab_config()
    if window_days is not None:
        outcomes = config.outcomes.model_copy(update={"window_days": window_days})
        config = config.model_copy(update={"outcomes": outcomes})
    now = now or dt.datetime.now(dt.UTC)
    rows = read_exposure_rows(url, config.outcomes.feature, since)
    if model is not None:
        rows = rows[rows["model"] == model]
    exposures, crossovers = first_exposures(rows, config.outcomes.crossover)
    events = read_outcome_events(
        url, sorted(set(exposures["contact_id"])), list(config.outcomes.events)
    )
    labelled = label_outcomes(exposures, events, config.outcomes.window_days, now)
    reports = []
    for name, group in labelled.groupby("model", sort=True):
        report = summarise_model(group.reset_index(drop=True), crossovers.get(str(name), 0), config)
        reports.append(report)
    return reports


def offline_metrics(
    settings: Settings, model_names: list[str], metric: str = "roc_auc"
) -> dict[str, dict[str, Any]]:
    """Return each model's held-out ``metric`` of its champion and challenger (MLflow runs).

    Returns:
        ``{model: {"metric": metric, "champion": {"version", "value"} | None, "challenger":
        ...}}``; a variant without a version (or a run without the metric) is ``None``.
    """
    from mlflow.exceptions import MlflowException

    from training.registry import (
        CHALLENGER,
        CHAMPION,
        configure_mlflow,
        get_alias_version,
        version_metric,
    )

    client = configure_mlflow(settings)
    found: dict[str, dict[str, Any]] = {}
    for name in model_names:
        entry: dict[str, Any] = {"metric": metric}
        for variant, alias in (("champion", CHAMPION), ("challenger", CHALLENGER)):
            entry[variant] = None
            version = get_alias_version(client, name, alias)
            if version is None:
                continue
            try:
                value = version_metric(client, version, metric)
            except (KeyError, MlflowException):
                value = None
            entry[variant] = {"version": str(version.version), "value": value}
        found[name] = entry
    return found
