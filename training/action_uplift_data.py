"""Historical action table of the action-uplift model: decision points, treatments, confounders.

Each row is a contact at a *decision point* ``t`` (``created_at`` + each of
:attr:`ActionUpliftConfig.decision_offsets_days`) that had not converted before ``t`` and whose
outcome window ends inside the CRM's window:

* ``treatment``: the candidate action a rep took in ``[t, t + 7 d)`` before any conversion;
  with several, the most intensive (:data:`ACTION_PRECEDENCE`); ``none`` without any. Only
  outbound emails count; notes and inbound emails are not actions.
* ``outcome``: 1 when the contact converted in ``[t, t + outcome_horizon_days)``.
* confounders, all strictly before ``t`` (:func:`action_features`): email and web engagement
  (the :mod:`features.extractors`), firmographics, seniority, lead source, the contact's age,
  the rep's past touches and the pipeline state (open deal, its age, lost deals).

Reps did not pick actions at random: in the synthetic CRM they touch high-intent contacts more
and call and meet while a deal is open, and the actions never cause a conversion. Every lift
estimated from this table is an association adjusted for these confounders (:data:`CAVEAT`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.extractors import extract_company_data, extract_email_engagement, extract_web_activity
from pipelines.time_columns import utc_naive

if TYPE_CHECKING:
    from pipelines.synthetic_store import SyntheticCRM

#: Candidate actions; each is also its NextAction channel.
ACTIONS: tuple[str, ...] = ("call", "meeting", "email", "task")
#: The arm of rows without any candidate action.
CONTROL = "none"
#: Which action a window with several counts as (most intensive first).
ACTION_PRECEDENCE: tuple[str, ...] = ("meeting", "call", "email", "task")
ID_COLUMN, DECISION_COLUMN = "contact_id", "decision_at"
TREATMENT_COLUMN, OUTCOME_COLUMN = "treatment", "outcome"
#: Extractor columns computed from the email and web event streams (not in the database).
ENGAGEMENT_COLUMNS: tuple[str, ...] = (
    "email_sent",
    "email_opens",
    "email_clicks",
    "email_replies",
    "email_open_rate",
    "web_page_views",
    "web_high_intent_views",
    "web_form_fills",
    "web_sales_form_fills",
    "web_views_7d",
    "web_days_since_last_visit",
)
PROFILE_COLUMNS = ("company_industry", "company_log_employees", "job_seniority", "lead_source")
CRM_COLUMNS: tuple[str, ...] = (
    "contact_age_days",
    "rep_calls_30d",
    "rep_meetings_30d",
    "rep_emails_30d",
    "rep_tasks_30d",
    "rep_touches",
    "rep_days_since_last_touch",
    "deal_open",
    "deal_age_days",
    "deals_lost",
)
FEATURE_COLUMNS: tuple[str, ...] = (*ENGAGEMENT_COLUMNS, *PROFILE_COLUMNS, *CRM_COLUMNS)
CATEGORICAL_COLUMNS: tuple[str, ...] = ("company_industry", "lead_source")
CAVEAT = (
    "Associational, not causal: reps chose whom to call, meet or email (more often high-intent "
    "contacts and contacts with an open deal), so a lift is what was observed in history after "
    "adjusting for pre-decision engagement, firmographics and pipeline state; confounders that "
    "were not recorded remain. Only randomised holdouts (the A/B exposure log) measure causal "
    "lift."
)

_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class ActionUpliftConfig:
    """Settings of the action-uplift table, learner and bootstrap.

    Attributes:
        actions: Candidate actions (a subset of :data:`ACTIONS`).
        decision_offsets_days: Decision points, days after each contact's creation.
        treatment_window_days: Days after a decision point in which an action counts.
        outcome_horizon_days: Days after a decision point in which a conversion counts.
        regularization: Inverse L2 strength ``C`` of the logistic regression.
        n_bootstrap: Contact-level bootstrap refits behind the intervals.
        ci_level: Mass of the percentile intervals.
        min_arm_rows: Actions with fewer rows are not fitted (reported as skipped).
        test_fraction: Share of contacts held out by :func:`split_action_table`.
        seed: Seed of the bootstrap and the split.

    """

    actions: tuple[str, ...] = ACTIONS
    decision_offsets_days: tuple[float, ...] = (14.0, 28.0, 42.0, 56.0)
    treatment_window_days: float = 7.0
    outcome_horizon_days: float = 60.0
    regularization: float = 0.5
    n_bootstrap: int = 30
    ci_level: float = 0.90
    min_arm_rows: int = 30
    test_fraction: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if not check_actions(self.actions):
            raise ValueError("actions must name at least one action")
        if not self.decision_offsets_days or min(self.decision_offsets_days) < 0:
            raise ValueError("decision_offsets_days must be non-negative and not empty")
        if not 0 < self.treatment_window_days < self.outcome_horizon_days:
            raise ValueError("need 0 < treatment_window_days < outcome_horizon_days")
        if self.n_bootstrap < 2 or not 0.0 < self.ci_level < 1.0:
            raise ValueError("need n_bootstrap >= 2 and 0 < ci_level < 1")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError("test_fraction must lie in (0, 1)")


def check_actions(actions: str | Any) -> tuple[str, ...]:
    """Return ``actions`` as a tuple; raise ValueError for a name not in :data:`ACTIONS`."""
    names = (actions,) if isinstance(actions, str) else tuple(actions)
    unknown = [name for name in names if name not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown actions {unknown}; the candidate actions are {list(ACTIONS)}")
    return names


def _days(delta: np.ndarray) -> np.ndarray:
    """Return timedeltas in (float) days."""
    return (pd.Series(delta) / _DAY).to_numpy(dtype=float)


def _str_ids(values: pd.Series) -> pd.Series:
    """Return ids as strings (UUID objects included), missing ids as None."""
    return values.map(lambda v: None if v is None or v is pd.NA else str(v)).astype(object)


def rep_actions(activities: pd.DataFrame) -> pd.DataFrame:
    """Return the activities that are candidate actions: ``contact_id``, ``action``, ``at``.

    Calls, meetings and tasks count as they are; emails unless recorded as inbound.
    """
    kind = activities["type"].astype(str).str.lower()
    details = activities["details"] if "details" in activities else pd.Series(None, kind.index)
    inbound = details.map(lambda d: isinstance(d, Mapping) and d.get("direction") == "inbound")
    keep = kind.isin(ACTIONS) & ~((kind == "email") & inbound.astype(bool))
    return pd.DataFrame(
        {
            ID_COLUMN: _str_ids(activities.loc[keep, "contact_id"]).to_numpy(),
            "action": kind[keep].to_numpy(),
            "at": utc_naive(activities.loc[keep, "occurred_at"]).to_numpy(),
        }
    )


def _crm_features(
    ids: pd.Index, cut: np.ndarray, actions: pd.DataFrame, deals: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Rep touches and pipeline state strictly before each cut-off (positions align with ids)."""
    n = len(ids)
    code = ids.get_indexer(actions[ID_COLUMN])
    age = np.where(code >= 0, _days(cut[code] - actions["at"].to_numpy()), np.nan)
    before = (code >= 0) & (age > 0)
    columns: dict[str, np.ndarray] = {}
    for action in ACTIONS:
        mask = before & (actions["action"].to_numpy() == action) & (age <= 30)
        columns[f"rep_{action}s_30d"] = np.bincount(code[mask], minlength=n).astype(float)
    columns["rep_touches"] = np.bincount(code[before], minlength=n).astype(float)
    last = np.full(n, np.inf)
    np.minimum.at(last, code[before], age[before])
    columns["rep_days_since_last_touch"] = np.where(np.isinf(last), np.nan, last)

    d_code = ids.get_indexer(_str_ids(deals["contact_id"]))
    at = cut[d_code]
    created, closed = (
        utc_naive(deals["created_at"]).to_numpy(),
        utc_naive(deals["closed_at"]).to_numpy(),
    )
    opened = (d_code >= 0) & (created < at)
    is_closed = ~pd.isna(closed) & (closed < at)
    open_now = opened & ~is_closed
    lost = opened & is_closed & deals["is_won"].astype(object).eq(False).to_numpy()
    deal_age = np.full(n, -np.inf)
    np.maximum.at(deal_age, d_code[open_now], _days(at - created)[open_now])
    columns["deal_open"] = np.bincount(d_code[open_now], minlength=n).clip(0, 1).astype(float)
    columns["deal_age_days"] = np.where(np.isinf(deal_age), np.nan, deal_age)
    columns["deals_lost"] = np.bincount(d_code[lost], minlength=n).astype(float)
    return columns


def action_features(frames: Mapping[str, pd.DataFrame], as_of: pd.Series) -> pd.DataFrame:
    """Build the confounders of each contact strictly before its decision time.

    Args:
        frames: CRM frames by table name (:meth:`SyntheticCRM.tables` or rows read from the
            database): ``contacts`` (``id``, ``company_id``, ``job_title``, ``lead_source``,
            ``created_at``), ``companies`` (``id``, ``industry``, ``employee_count``,
            ``annual_revenue``, ``country``), ``activities`` (``contact_id``, ``type``,
            ``occurred_at``, ``details``), ``deals`` (``contact_id``, ``created_at``,
            ``closed_at``, ``is_won``) and, optionally, ``email_events`` and ``web_events``
            (without them the engagement columns are missing, NaN).
        as_of: Decision time per contact, indexed by contact id (unique, all in ``contacts``).

    Returns:
        :data:`FEATURE_COLUMNS` indexed by ``as_of``'s ids as strings (named ``contact_id``).

    Raises:
        ValueError: When ``as_of`` names a contact that ``contacts`` lacks.

    """
    ids = pd.Index(_str_ids(as_of.index.to_series()), name=ID_COLUMN)
    cut = pd.Series(utc_naive(as_of).to_numpy(), index=ids)
    frame = pd.DataFrame(index=ids)
    for name, extract in (
        ("email_events", extract_email_engagement),
        ("web_events", extract_web_activity),
    ):
        events = frames.get(name)
        if events is not None:
            frame = frame.join(
                extract(events.assign(contact_id=_str_ids(events["contact_id"])), cut)
            )
    contacts, companies = frames["contacts"], frames["companies"]
    people = contacts.assign(
        id=_str_ids(contacts["id"]), company_id=_str_ids(contacts["company_id"])
    )
    people = people.set_index("id", drop=False).reindex(ids)
    if people["id"].isna().any():
        raise ValueError("as_of names contacts that are not in contacts")
    firm = extract_company_data(people, companies.assign(id=_str_ids(companies["id"])))
    frame = frame.join(firm.set_index(ids))
    age = _days(cut.to_numpy() - utc_naive(people["created_at"]).to_numpy())
    frame["contact_age_days"] = np.clip(age, 0.0, None)
    actions = rep_actions(frames["activities"])
    for name, values in _crm_features(ids, cut.to_numpy(), actions, frames["deals"]).items():
        frame[name] = values
    return frame.reindex(columns=list(FEATURE_COLUMNS))


def _treatments(rows: pd.DataFrame, actions: pd.DataFrame, window: pd.Timedelta) -> np.ndarray:
    """Return each row's arm: its most intensive action in ``[t, min(t + window, stop))``."""
    merged = rows.reset_index(names="row").merge(actions, on=ID_COLUMN)
    end = np.minimum(merged[DECISION_COLUMN] + window, merged["stop"])
    hit = merged[(merged["at"] >= merged[DECISION_COLUMN]) & (merged["at"] < end)]
    rank = {action: i for i, action in enumerate(ACTION_PRECEDENCE)}
    best = hit.assign(rank=hit["action"].map(rank)).groupby("row")["rank"].min()
    out = np.full(len(rows), CONTROL, dtype=object)
    out[best.index.to_numpy()] = np.asarray(ACTION_PRECEDENCE, dtype=object)[best.to_numpy()]
    return out


def build_action_table(crm: SyntheticCRM, config: ActionUpliftConfig | None = None) -> pd.DataFrame:
    """Build the historical treatment table of a CRM (see the module docstring).

    Args:
        crm: The synthetic CRM (``labels`` give the conversion times and the window end).
        config: Decision offsets, treatment window and outcome horizon.

    Returns:
        ``contact_id``, ``decision_at``, ``treatment`` (an action or ``none``), ``outcome``
        (0/1) and :data:`FEATURE_COLUMNS`, one row per contact and decision point.

    Raises:
        ValueError: When no contact is at risk at any decision point.

    """
    config = config or ActionUpliftConfig()
    labels = crm.labels.set_index(_str_ids(crm.labels["contact_id"]))
    converted_at = utc_naive(labels["converted_at"]).set_axis(labels.index)
    window_end = utc_naive(labels["label_time"]).max()
    created = utc_naive(crm.contacts["created_at"]).set_axis(_str_ids(crm.contacts["id"]))
    horizon = pd.Timedelta(days=config.outcome_horizon_days)
    parts = []
    for offset in config.decision_offsets_days:
        t = created + pd.Timedelta(days=offset)
        conv = converted_at.reindex(t.index)
        at_risk = (t + horizon <= window_end) & ~(conv < t)
        if at_risk.any():
            cut, conv = t[at_risk], conv[at_risk]
            head = pd.DataFrame(
                {
                    ID_COLUMN: cut.index,
                    DECISION_COLUMN: cut.to_numpy(),
                    "stop": conv.fillna(pd.Timestamp.max).to_numpy(),
                    OUTCOME_COLUMN: ((conv >= cut) & (conv < cut + horizon)).to_numpy(np.int64),
                }
            )
            features = action_features(crm.tables(), cut)
            parts.append(pd.concat([head, features.reset_index(drop=True)], axis=1))
    if not parts:
        raise ValueError("no contact is at risk at any decision point inside the window")
    table = pd.concat(parts, ignore_index=True)
    window = pd.Timedelta(days=config.treatment_window_days)
    table.insert(2, TREATMENT_COLUMN, _treatments(table, rep_actions(crm.activities), window))
    table = table.drop(columns="stop")
    return table.sort_values([DECISION_COLUMN, ID_COLUMN], ignore_index=True)


def split_action_table(
    table: pd.DataFrame, test_fraction: float = 0.3, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a treatment table by contact (all rows of a contact on one side): ``(train, test)``."""
    contacts = table[ID_COLUMN].unique()
    n_test = max(1, round(len(contacts) * test_fraction))
    test_ids = np.random.default_rng(seed).choice(contacts, size=n_test, replace=False)
    is_test = table[ID_COLUMN].isin(test_ids)
    return table[~is_test].reset_index(drop=True), table[is_test].reset_index(drop=True)


def build_contact_action_features(
    crm: SyntheticCRM, contact_id: str, now: dt.datetime | pd.Timestamp | str
) -> pd.DataFrame | None:
    """Build one contact's features at ``now`` from a CRM's frames (events included).

    Returns:
        A one-row :data:`FEATURE_COLUMNS` frame, or ``None`` when the CRM lacks the contact.

    """
    if str(contact_id) not in set(_str_ids(crm.contacts["id"])):
        return None
    return action_features(crm.tables(), pd.Series([now], index=[str(contact_id)]))


def _rows(records: list[Any], columns: str) -> pd.DataFrame:
    """Return ORM objects as a frame of the given (space-separated) attributes."""
    names = columns.split()
    return pd.DataFrame([{c: getattr(r, c) for c in names} for r in records], columns=names)


def contact_features_from_db(
    database_url: str,
    contact_id: str,
    now: dt.datetime | pd.Timestamp | str,
    engagement: Mapping[str, Any] | None = None,
) -> pd.DataFrame | None:
    """Read one contact's CRM rows from the database and build its features at ``now``.

    The database holds contacts, companies, activities and deals but not the marketing email
    and web events: :data:`ENGAGEMENT_COLUMNS` are taken from ``engagement`` (for example the
    contact's Feast online row, which uses the same extractor names) and are NaN (imputed by
    the model) otherwise.

    Args:
        database_url: SQLAlchemy URL of the CRM database.
        contact_id: The contact's UUID.
        now: The decision time (aware times are converted to UTC).
        engagement: Optional engagement values by column name.

    Returns:
        A one-row :data:`FEATURE_COLUMNS` frame, or ``None`` for an unknown or malformed id.

    """
    from sqlalchemy import select

    from haste.db.models import Activity, Company, Contact, Deal
    from haste.db.session import session_scope

    try:
        key = uuid.UUID(str(contact_id))
    except ValueError:
        return None
    with session_scope(database_url) as session:
        contact = session.get(Contact, key)
        if contact is None:
            return None
        company = session.get(Company, contact.company_id) if contact.company_id else None
        frames = {
            "contacts": _rows([contact], "id company_id job_title lead_source created_at"),
            "companies": _rows(
                [company] if company else [], "id industry employee_count annual_revenue country"
            ),
            "activities": _rows(
                session.scalars(select(Activity).where(Activity.contact_id == key)).all(),
                "contact_id type occurred_at details",
            ),
            "deals": _rows(
                session.scalars(select(Deal).where(Deal.contact_id == key)).all(),
                "contact_id created_at closed_at is_won",
            ),
        }
    features = action_features(frames, pd.Series([now], index=[str(key)]))
    for column in ENGAGEMENT_COLUMNS:
        value = (engagement or {}).get(column)
        features[column] = np.nan if value is None else float(value)
    return features
