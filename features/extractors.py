"""Point-in-time lead-scoring feature extractors and the per-contact training table.

The product spec's ``LeadScoringModel`` combines four extractors (``EmailEngagementExtractor``,
``WebActivityExtractor``, ``CompanyDataExtractor``, ``SocialSignalsExtractor``) that each turn one
contact's raw data into numbers. Here they are framework-free, vectorised pandas / numpy
functions over *all* contacts at once:

* :func:`extract_email_engagement`, :func:`extract_web_activity` and
  :func:`extract_social_signals` take an event stream and a cut-off time per contact
  (``as_of``: a :class:`pandas.Series` of timestamps indexed by contact id) and aggregate only
  the events that happened **strictly before** the contact's cut-off. An event at or after it is
  ignored, so a feature can never see the future of its row (point-in-time correctness).
  Contacts without events get ``0`` for counts and ``NaN`` for recencies, averages and rates.
  The output is indexed exactly like ``as_of``, and its columns do not depend on the data (the
  same schema at training and scoring time).
* :func:`extract_company_data` reads the slowly changing company firmographics and the contact's
  pre-contact attributes (seniority of the job title, lead source).
* :func:`build_lead_table` joins the four on a :class:`~pipelines.synthetic.SyntheticCRM` into one
  row per contact with the protected ``gender`` (for the fairness audit only) and the
  ``converted`` label.

Choosing the cut-off (see :func:`lead_snapshot_times`). The synthetic CRM's ``labels.label_time``
is the conversion time for converters and the end of the window for everyone else; cutting at it
removes post-conversion events, but it still leaks the label through *when* the snapshot is taken:
converters would be observed young and hot (interest decays with lead age), non-converters old,
cold and after ~4 times more weekly campaign sends. Counts, recencies and "last N days" windows
then separate the classes by snapshot timing alone, a signal that does not exist when an open lead
is scored. The default cut-off is therefore label-independent: every contact is scored
``observation_days`` (default 10) after its creation, as a real lead would be, clipped to the
label time so no post-conversion event is ever counted. ``as_of="label_time"`` reproduces the
label-time snapshot for comparison.

Never used as features: ``contacts.lifecycle_stage``, ``deals``, ``accounts`` and
``activities`` (the generator writes them as an end-of-window snapshot that reflects the
outcome), ``ai_consent`` (a processing flag, not a buying signal) and ``gender`` (protected).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pipelines.synthetic_store import SyntheticCRM

#: Marketing email event types counted by :func:`extract_email_engagement`.
EMAIL_EVENT_TYPES: tuple[str, ...] = ("sent", "open", "click", "reply")
#: Pages whose views signal buying intent (besides the explicit pricing / demo counts).
HIGH_INTENT_PAGES: tuple[str, ...] = ("/pricing", "/demo", "/case-studies", "/security")
#: Forms that ask for sales contact (as opposed to content downloads and newsletters).
SALES_FORMS: tuple[str, ...] = ("/demo", "/contact-sales", "/trial")
#: Social platforms and event types with their own count columns.
SOCIAL_PLATFORMS: tuple[str, ...] = ("linkedin", "twitter")
SOCIAL_EVENT_TYPES: tuple[str, ...] = ("mention", "follow", "share")
#: Default days between a contact's creation and its scoring snapshot.
DEFAULT_OBSERVATION_DAYS = 10.0
#: Columns of the lead table that are not model inputs.
ID_COLUMN = "contact_id"
TARGET_COLUMN = "converted"
SENSITIVE_COLUMNS: tuple[str, ...] = ("gender",)

_NS_PER_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min
#: Seniority buckets by title keywords, checked in order (first match wins).
_SENIORITY_RULES: tuple[tuple[int, str], ...] = (
    (3, r"\b(?:chief|ceo|cto|cfo|coo|cmo|cro|founder|co-founder|owner|president|vp|vice)\b"),
    (2, r"\b(?:director|head)\b"),
    (1, r"\b(?:manager|lead|senior|sr|principal)\b"),
)


# --------------------------------------------------------------------------------------------
# Point-in-time cut
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cut:
    """Events strictly before their contact's cut-off.

    Attributes:
        n: Number of contacts (rows of ``as_of``).
        rows: Positions of the kept events in the event frame.
        codes: Contact position (in ``as_of``) of each kept event.
        age_days: Days from each kept event to its contact's cut-off (always > 0).

    """

    n: int
    rows: np.ndarray
    codes: np.ndarray
    age_days: np.ndarray

    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Return the number of kept events per contact (those where ``mask`` holds)."""
        codes = self.codes if mask is None else self.codes[mask]
        return np.bincount(codes, minlength=self.n).astype(np.int64)

    def total(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Return the per-contact sum of ``values`` (aligned with the kept events)."""
        if mask is None:
            return np.bincount(self.codes, weights=values, minlength=self.n)
        return np.bincount(self.codes[mask], weights=values[mask], minlength=self.n)

    def days_since_last(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Return days from the latest kept event to the cut-off, NaN for contacts without one."""
        codes = self.codes if mask is None else self.codes[mask]
        ages = self.age_days if mask is None else self.age_days[mask]
        out = np.full(self.n, np.inf)
        np.minimum.at(out, codes, ages)
        out[np.isinf(out)] = np.nan
        return out

    def recent(self, days: float, mask: np.ndarray | None = None) -> np.ndarray:
        """Return the number of kept events in the ``days`` before the cut-off."""
        within = self.age_days <= days
        return self.count(within if mask is None else within & mask)


def _cutoff_ns(as_of: pd.Series) -> np.ndarray:
    """Return the cut-offs as UTC-naive int64 nanoseconds, refusing missing ones."""
    values = pd.to_datetime(as_of)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    ns = values.to_numpy(dtype="datetime64[ns]").view(np.int64)
    if (ns == _NAT).any():
        raise ValueError("as_of has missing cut-off times; give every contact one")
    return ns


def _event_ns(times: pd.Series) -> np.ndarray:
    """Return event times as UTC-naive int64 nanoseconds (NaT stays the int64 minimum)."""
    values = pd.to_datetime(times)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _contact_codes(index: pd.Index, keys: pd.Series) -> np.ndarray:
    """Return each event's contact position in ``index`` (-1 for contacts not in it).

    Ids are matched as they are (``uuid.UUID`` objects, strings, ...). When nothing matches but
    both sides are non-empty, the ids are compared as strings instead, so ``as_of`` indexed by
    ``str(uuid)`` still finds events keyed by :class:`uuid.UUID`.
    """
    codes = index.get_indexer(keys)
    if len(keys) and len(index) and not (codes >= 0).any():
        codes = index.astype(str).get_indexer(keys.astype(str))
    return codes


def _cut(events: pd.DataFrame, as_of: pd.Series, time_column: str = "occurred_at") -> _Cut:
    """Keep the events of ``as_of``'s contacts that happened strictly before their cut-off.

    Args:
        events: Events with ``contact_id`` and ``time_column``.
        as_of: Cut-off time per contact, indexed by contact id (unique).
        time_column: The event time column.

    Returns:
        The kept events' positions, contacts and ages.

    Raises:
        ValueError: When ``as_of``'s index repeats a contact or a cut-off is missing.

    """
    index = pd.Index(as_of.index)
    if not index.is_unique:
        raise ValueError("as_of must have one cut-off per contact (its index repeats ids)")
    cutoff = _cutoff_ns(as_of)
    codes = _contact_codes(index, events["contact_id"])
    times = _event_ns(events[time_column])
    known = (codes >= 0) & (times != _NAT)
    limit = np.where(known, cutoff[np.where(known, codes, 0)], _NAT)
    rows = np.flatnonzero(known & (times < limit))
    age_ns = cutoff[codes[rows]] - times[rows]
    return _Cut(n=len(index), rows=rows, codes=codes[rows], age_days=age_ns / _NS_PER_DAY)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Return ``numerator / denominator`` with NaN where the denominator is 0."""
    out = np.full(len(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _frame(columns: dict[str, np.ndarray], as_of: pd.Series) -> pd.DataFrame:
    """Wrap per-contact columns in a frame indexed like ``as_of`` (index named contact_id)."""
    index = pd.Index(as_of.index, name=ID_COLUMN)
    return pd.DataFrame(columns, index=index)


def _values(events: pd.DataFrame, column: str, cut: _Cut) -> np.ndarray:
    """Return ``column`` of the kept events as an object array (missing values stay as they are)."""
    return events[column].to_numpy(dtype=object)[cut.rows]


# --------------------------------------------------------------------------------------------
# Extractors
# --------------------------------------------------------------------------------------------


def extract_email_engagement(
    email_events: pd.DataFrame,
    as_of: pd.Series,
    recent_days: Sequence[int] = (14, 30),
) -> pd.DataFrame:
    """Aggregate marketing email engagement strictly before each contact's cut-off.

    Rates are per email sent (opens / sends, clicks / sends, replies / sends) and are ``NaN``
    when no email was sent before the cut-off: an undefined rate is not a zero rate (XGBoost
    routes missing values on its own; the baseline imputes them).

    Args:
        email_events: Events with ``contact_id``, ``event_type`` (``sent``, ``open``,
            ``click``, ``reply``; others are ignored) and ``occurred_at``.
        as_of: Cut-off time per contact, indexed by contact id.
        recent_days: Windows (days before the cut-off) for the recent-reply counts.

    Returns:
        One row per ``as_of`` entry (same index, named ``contact_id``) with ``email_sent``,
        ``email_opens``, ``email_clicks``, ``email_replies``, ``email_open_rate``,
        ``email_click_rate``, ``email_reply_rate``, ``email_days_since_last_open``,
        ``email_days_since_last_reply`` and ``email_replies_<N>d`` per window.

    """
    cut = _cut(email_events, as_of)
    kind = _values(email_events, "event_type", cut)
    is_open, is_reply = kind == "open", kind == "reply"
    sent = cut.count(kind == "sent")
    opens, clicks, replies = cut.count(is_open), cut.count(kind == "click"), cut.count(is_reply)
    columns = {
        "email_sent": sent,
        "email_opens": opens,
        "email_clicks": clicks,
        "email_replies": replies,
        "email_open_rate": _ratio(opens, sent),
        "email_click_rate": _ratio(clicks, sent),
        "email_reply_rate": _ratio(replies, sent),
        "email_days_since_last_open": cut.days_since_last(is_open),
        "email_days_since_last_reply": cut.days_since_last(is_reply),
    }
    for days in recent_days:
        columns[f"email_replies_{days}d"] = cut.recent(days, is_reply)
    return _frame(columns, as_of)


def extract_web_activity(
    web_events: pd.DataFrame,
    as_of: pd.Series,
    recent_days: Sequence[int] = (7, 30),
) -> pd.DataFrame:
    """Aggregate website behaviour strictly before each contact's cut-off.

    Args:
        web_events: Events with ``contact_id``, ``event_type`` (``page_view`` or
            ``form_fill``), ``page``, ``duration_s`` and ``occurred_at``.
        as_of: Cut-off time per contact, indexed by contact id.
        recent_days: Windows (days before the cut-off) for the recent page-view counts.

    Returns:
        One row per ``as_of`` entry with ``web_page_views``, ``web_total_duration_s`` (seconds
        on page views), ``web_avg_duration_s`` (per page view, NaN without one),
        ``web_pricing_views``, ``web_demo_views``, ``web_high_intent_views`` (any of
        :data:`HIGH_INTENT_PAGES`), ``web_form_fills``, ``web_sales_form_fills`` (any of
        :data:`SALES_FORMS`), ``web_distinct_pages`` (distinct pages viewed),
        ``web_days_since_last_visit`` (any web event) and ``web_views_<N>d`` per window.

    """
    cut = _cut(web_events, as_of)
    kind = _values(web_events, "event_type", cut)
    page = _values(web_events, "page", cut)
    duration = pd.to_numeric(web_events["duration_s"], errors="coerce").to_numpy(float)[cut.rows]
    view, form = kind == "page_view", kind == "form_fill"
    views = cut.count(view)
    total = cut.total(np.nan_to_num(duration), view)
    # Distinct (contact, page) pairs among page views.
    page_codes, _ = pd.factorize(page[view])  # -1 for a missing page
    named = page_codes >= 0
    base = int(page_codes.max(initial=0)) + 1
    pairs = np.unique(cut.codes[view][named].astype(np.int64) * base + page_codes[named])
    distinct = np.bincount(pairs // base, minlength=cut.n)
    columns = {
        "web_page_views": views,
        "web_total_duration_s": total,
        "web_avg_duration_s": _ratio(total, views),
        "web_pricing_views": cut.count(view & (page == "/pricing")),
        "web_demo_views": cut.count(view & (page == "/demo")),
        "web_high_intent_views": cut.count(view & np.isin(page, HIGH_INTENT_PAGES)),
        "web_form_fills": cut.count(form),
        "web_sales_form_fills": cut.count(form & np.isin(page, SALES_FORMS)),
        "web_distinct_pages": distinct.astype(np.int64),
        "web_days_since_last_visit": cut.days_since_last(),
    }
    for days in recent_days:
        columns[f"web_views_{days}d"] = cut.recent(days, view)
    return _frame(columns, as_of)


def extract_social_signals(
    social_events: pd.DataFrame,
    as_of: pd.Series,
    platforms: Sequence[str] = SOCIAL_PLATFORMS,
    event_types: Sequence[str] = SOCIAL_EVENT_TYPES,
    recent_days: int = 30,
) -> pd.DataFrame:
    """Aggregate social media signals strictly before each contact's cut-off.

    Args:
        social_events: Events with ``contact_id``, ``platform``, ``event_type`` and
            ``occurred_at``.
        as_of: Cut-off time per contact, indexed by contact id.
        platforms: Platforms with their own columns (others only count in the totals).
        event_types: Event types with their own columns (others only count in the totals).
        recent_days: Window (days before the cut-off) of ``social_events_<N>d``.

    Returns:
        One row per ``as_of`` entry with ``social_<platform>_<type>s`` per platform and type,
        ``social_<type>s`` over platforms, ``social_total``, ``social_days_since_last`` and
        ``social_events_<N>d``.

    """
    cut = _cut(social_events, as_of)
    platform = _values(social_events, "platform", cut)
    kind = _values(social_events, "event_type", cut)
    columns: dict[str, np.ndarray] = {}
    for name in platforms:
        for event_type in event_types:
            columns[f"social_{name}_{event_type}s"] = cut.count(
                (platform == name) & (kind == event_type)
            )
    for event_type in event_types:
        columns[f"social_{event_type}s"] = cut.count(kind == event_type)
    columns["social_total"] = cut.count()
    columns["social_days_since_last"] = cut.days_since_last()
    columns[f"social_events_{recent_days}d"] = cut.recent(recent_days)
    return _frame(columns, as_of)


def job_seniority(titles: pd.Series) -> pd.Series:
    """Bucket job titles into seniority levels by keyword.

    Args:
        titles: Free-text job titles.

    Returns:
        ``3`` executive (C-level, founder, VP), ``2`` director / head of, ``1`` manager / lead /
        senior, ``0`` anyone else; ``NaN`` for a missing title.

    """
    text = titles.astype("string").str.lower()
    out = pd.Series(np.where(text.isna(), np.nan, 0.0), index=titles.index)
    for level, pattern in reversed(_SENIORITY_RULES):  # highest level applied last, so it wins
        out = out.mask(text.str.contains(pattern, regex=True).fillna(False).astype(bool), level)
    return out.astype(float)


def extract_company_data(contacts: pd.DataFrame, companies: pd.DataFrame) -> pd.DataFrame:
    """Firmographics of each contact's company and the contact's pre-contact attributes.

    Company attributes are taken as slowly changing facts known when the lead arrives. The
    company record's ``created_at`` is *when it was added to the CRM*, not the company's age,
    so it is not used; ``company_age_years`` (years from ``founded_year`` to the contact's
    ``created_at`` year) appears only when ``companies`` has a ``founded_year`` column.

    Args:
        contacts: Contacts with ``id``, ``company_id``, ``job_title`` and ``lead_source``.
        companies: Companies with ``id``, ``industry``, ``employee_count``,
            ``annual_revenue`` and ``country`` (and optionally ``founded_year``).

    Returns:
        One row per contact (index ``contact_id`` = ``contacts.id``, same order) with
        ``company_industry``, ``company_log_employees`` (``log1p``), ``company_log_revenue``
        (``log1p``), ``company_country``, optionally ``company_age_years``, ``job_seniority``
        (see :func:`job_seniority`) and ``lead_source``. Contacts without a known company get
        missing firmographics.

    Raises:
        ValueError: When ``companies.id`` repeats an id.

    """
    company = companies.set_index("id")
    if not company.index.is_unique:
        raise ValueError("companies.id repeats ids")
    position = company.index.get_indexer(contacts["company_id"])
    found = position >= 0

    def pick(column: str, numeric: bool) -> np.ndarray:
        source = company[column].to_numpy(dtype=float if numeric else object)
        out = np.full(
            len(contacts), np.nan if numeric else None, dtype=float if numeric else object
        )
        out[found] = source[position[found]]
        return out

    employees = np.clip(pick("employee_count", numeric=True), 0.0, None)
    revenue = np.clip(pick("annual_revenue", numeric=True), 0.0, None)
    columns: dict[str, np.ndarray] = {
        "company_industry": pick("industry", numeric=False),
        "company_log_employees": np.log1p(employees),
        "company_log_revenue": np.log1p(revenue),
        "company_country": pick("country", numeric=False),
    }
    if "founded_year" in company.columns:
        # Age when the lead arrived (deterministic and point-in-time, unlike "today").
        arrived = np.full(len(contacts), np.nan)
        if "created_at" in contacts.columns:
            arrived = pd.to_datetime(contacts["created_at"]).dt.year.to_numpy(dtype=float)
        columns["company_age_years"] = np.clip(
            arrived - pick("founded_year", numeric=True), 0.0, None
        )
    columns["job_seniority"] = job_seniority(contacts["job_title"]).to_numpy()
    columns["lead_source"] = contacts["lead_source"].to_numpy(dtype=object)
    index = pd.Index(contacts["id"], name=ID_COLUMN)
    return pd.DataFrame(columns, index=index)


# --------------------------------------------------------------------------------------------
# Training table
# --------------------------------------------------------------------------------------------


def lead_snapshot_times(
    crm: SyntheticCRM, observation_days: float = DEFAULT_OBSERVATION_DAYS
) -> pd.Series:
    """Return the default, label-independent scoring time of each contact.

    ``min(created_at + observation_days, label_time)``: every lead is scored the same time
    after it entered the CRM, whatever its outcome. The clip to ``label_time`` only matters for
    contacts that convert within ``observation_days`` (none with the generator's 10-day minimum
    decision delay at the default); it keeps post-conversion events out of their features.

    Args:
        crm: The synthetic CRM.
        observation_days: Days between a contact's creation and its snapshot.

    Returns:
        Cut-off per contact, indexed by ``contacts.id`` in ``contacts`` order.

    Raises:
        ValueError: When ``observation_days`` is not positive.

    """
    if observation_days <= 0:
        raise ValueError(f"observation_days must be positive, got {observation_days}")
    created = pd.Series(crm.contacts["created_at"].to_numpy(), index=crm.contacts["id"])
    label_time = pd.Series(crm.labels["label_time"].to_numpy(), index=crm.labels["contact_id"])
    snapshot = created + pd.Timedelta(days=observation_days)
    return np.minimum(snapshot, label_time.reindex(created.index)).rename("as_of")


def build_lead_table(
    crm: SyntheticCRM,
    as_of: pd.Series | Literal["label_time"] | None = None,
    *,
    observation_days: float = DEFAULT_OBSERVATION_DAYS,
) -> pd.DataFrame:
    """Build the point-in-time lead-scoring table: one row per contact.

    Args:
        crm: The synthetic CRM (``contacts``, ``companies``, the three event streams and
            ``labels``; ``deals``, ``accounts``, ``activities`` and ``lifecycle_stage`` are
            never read).
        as_of: Cut-off per contact indexed by contact id (every contact needs one); ``None``
            for :func:`lead_snapshot_times` (the default, see the module docstring);
            ``"label_time"`` for ``labels.label_time`` (conversion time or end of window: no
            post-conversion event, but the snapshot time itself depends on the label).
        observation_days: Snapshot delay after creation when ``as_of`` is ``None``.

    Returns:
        ``contact_id`` (str), the email, web, social and company / contact feature columns,
        ``gender`` (protected: for the fairness audit only, never a model input) and
        ``converted`` (0/1), in ``contacts`` order with a fresh ``RangeIndex``.

    Raises:
        ValueError: When ``as_of`` lacks a contact or a contact has no label.

    """
    contacts = crm.contacts
    ids = pd.Index(contacts["id"])
    labels = crm.labels.set_index("contact_id")
    missing_labels = ids.difference(labels.index)
    if len(missing_labels):
        raise ValueError(f"{len(missing_labels)} contacts have no label")
    if as_of is None:
        cutoff = lead_snapshot_times(crm, observation_days)
    elif isinstance(as_of, str):
        if as_of != "label_time":
            raise ValueError(f"as_of must be a Series, None or 'label_time', got {as_of!r}")
        cutoff = labels["label_time"].reindex(ids)
    else:
        cutoff = _align_as_of(as_of, ids)
    parts = [
        extract_email_engagement(crm.email_events, cutoff),
        extract_web_activity(crm.web_events, cutoff),
        extract_social_signals(crm.social_events, cutoff),
        extract_company_data(contacts, crm.companies),
    ]
    features = pd.concat([part.reset_index(drop=True) for part in parts], axis=1)
    table = pd.concat(
        [
            pd.DataFrame({ID_COLUMN: ids.astype(str)}),
            features,
            pd.DataFrame(
                {
                    "gender": contacts["gender"].to_numpy(dtype=object),
                    TARGET_COLUMN: labels[TARGET_COLUMN].reindex(ids).to_numpy(dtype=np.int64),
                }
            ),
        ],
        axis=1,
    )
    return table


def _align_as_of(as_of: pd.Series, ids: pd.Index) -> pd.Series:
    """Return ``as_of`` reordered to ``ids`` (matching ids as-is or as strings)."""
    if not as_of.index.is_unique:
        raise ValueError("as_of must have one cut-off per contact (its index repeats ids)")
    position = _contact_codes(pd.Index(as_of.index), pd.Series(ids))
    if (position < 0).any():
        raise ValueError(f"as_of lacks a cut-off for {int((position < 0).sum())} contacts")
    return pd.Series(as_of.to_numpy()[position], index=ids, name="as_of")
