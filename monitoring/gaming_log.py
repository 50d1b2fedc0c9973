"""The engagement log the gaming detectors read: CRM event streams plus streamed events.

Two sources, merged per contact:

* the synthetic CRM's ``email_events`` (sends, opens, clicks, replies, with their campaign) and
  ``web_events`` (page views with ``duration_s``, form fills), written by the pipeline to
  ``data/raw/crm`` (:func:`pipelines.synthetic_store.read_crm`); ``social_events`` are kept for
  the lead model's features but never flagged;
* the ``stream_events`` table of the real-time engine (``POST /api/ai/events``): type and time
  only (the table keeps no page or duration, so a streamed page view's time on page is
  unknown, not zero).

Event ids follow the replay's form (``email:<uuid>``, ``web:<uuid>``), so a CRM event that was
also replayed through the stream is counted once. Neither source records an IP address or a
user agent: an email event's source is its campaign. Times are UTC-naive, as the lead feature
extractors (:mod:`features.extractors`) expect.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring.gaming_rules import LOG_COLUMNS

#: Stream event type -> (frame, CRM event type).
STREAM_TYPES: dict[str, tuple[str, str]] = {
    "email_sent": ("email", "sent"),
    "email_opened": ("email", "open"),
    "email_clicked": ("email", "click"),
    "email_replied": ("email", "reply"),
    "page_view": ("web", "page_view"),
    "form_submitted": ("web", "form_fill"),
}
_EMAIL_COLUMNS = ("event_id", "contact_id", "event_type", "campaign", "occurred_at")
_WEB_COLUMNS = ("event_id", "contact_id", "event_type", "page", "duration_s", "occurred_at")
_SOCIAL_COLUMNS = ("event_id", "contact_id", "platform", "event_type", "occurred_at")
_CONTACT_COLUMNS = ("id", "company_id", "job_title", "lead_source", "created_at")


@dataclass(frozen=True)
class EngagementData:
    """Everything the detectors and the lead features need, contact ids as lower-case text.

    Attributes:
        email: ``event_id``, ``contact_id``, ``event_type``, ``campaign``, ``occurred_at``
            (plus ``duration_recorded`` unused).
        web: ``event_id``, ``contact_id``, ``event_type``, ``page``, ``duration_s``,
            ``occurred_at`` and ``duration_recorded`` (False for streamed page views).
        social: Social events (lead features only).
        contacts: ``id``, ``company_id``, ``job_title``, ``lead_source``, ``created_at``.
        companies: The companies (firmographic features).
    """

    email: pd.DataFrame
    web: pd.DataFrame
    social: pd.DataFrame
    contacts: pd.DataFrame
    companies: pd.DataFrame

    def restrict(self, contact_ids: Sequence[str]) -> EngagementData:
        """Return the data of these contacts only (companies kept whole)."""
        keep = {str(c).lower() for c in contact_ids}
        return replace(
            self,
            email=self.email[self.email["contact_id"].isin(keep)],
            web=self.web[self.web["contact_id"].isin(keep)],
            social=self.social[self.social["contact_id"].isin(keep)],
            contacts=self.contacts[self.contacts["id"].isin(keep)],
        )

    def without(self, event_ids: Sequence[str]) -> EngagementData:
        """Return the data minus the given events (the suspicious ones)."""
        drop = set(event_ids)
        return replace(
            self,
            email=self.email[~self.email["event_id"].isin(drop)],
            web=self.web[~self.web["event_id"].isin(drop)],
        )


def _naive_utc(values: pd.Series) -> pd.Series:
    """Return times as UTC-naive ``datetime64[ns]``."""
    stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.tz_localize(None).astype("datetime64[ns]")


def _ids(values: pd.Series) -> pd.Series:
    """Return ids as lower-case text."""
    return values.astype(str).str.lower()


def engagement_data(
    email_events: pd.DataFrame,
    web_events: pd.DataFrame,
    social_events: pd.DataFrame,
    contacts: pd.DataFrame,
    companies: pd.DataFrame,
) -> EngagementData:
    """Normalise CRM frames (as :class:`~pipelines.synthetic_store.SyntheticCRM` holds them).

    Args:
        email_events: The CRM's email events.
        web_events: The CRM's web events.
        social_events: The CRM's social events.
        contacts: The CRM's contacts.
        companies: The CRM's companies.

    Returns:
        The data with replay-form event ids, text contact ids and UTC-naive times.
    """
    email = email_events.loc[:, list(_EMAIL_COLUMNS)].copy()
    email["event_id"] = "email:" + _ids(email["event_id"])
    web = web_events.loc[:, list(_WEB_COLUMNS)].copy()
    web["event_id"] = "web:" + _ids(web["event_id"])
    web["duration_recorded"] = True
    social = social_events.loc[:, list(_SOCIAL_COLUMNS)].copy()
    social["event_id"] = "social:" + _ids(social["event_id"])
    for frame in (email, web, social):
        frame["contact_id"] = _ids(frame["contact_id"])
        frame["occurred_at"] = _naive_utc(frame["occurred_at"])
    people = contacts.loc[:, list(_CONTACT_COLUMNS)].copy()
    people["id"] = _ids(people["id"])
    return EngagementData(email, web, social, people.reset_index(drop=True), companies)


def with_stream_events(data: EngagementData, stream: pd.DataFrame) -> EngagementData:
    """Add streamed events (``stream_events`` rows) not already in the CRM frames.

    Args:
        data: The CRM data.
        stream: ``event_id``, ``contact_id``, ``event_type``, ``occurred_at``.

    Returns:
        The data with the new events appended (campaign, page and duration unknown).
    """
    if stream.empty:
        return data
    stream = stream[stream["event_type"].isin(list(STREAM_TYPES))]
    known = set(data.email["event_id"]) | set(data.web["event_id"])
    stream = stream[~stream["event_id"].astype(str).isin(known)]
    if stream.empty:
        return data
    target = stream["event_type"].map(lambda kind: STREAM_TYPES[kind][0])
    base = pd.DataFrame(
        {
            "event_id": stream["event_id"].astype(str).to_numpy(),
            "contact_id": _ids(stream["contact_id"]).to_numpy(),
            "event_type": stream["event_type"].map(lambda kind: STREAM_TYPES[kind][1]).to_numpy(),
            "occurred_at": _naive_utc(stream["occurred_at"]).to_numpy(),
        }
    )
    is_email = (target == "email").to_numpy()
    email = base[is_email].assign(campaign=None)[list(_EMAIL_COLUMNS)]
    web = base[~is_email].assign(page=None, duration_s=np.nan, duration_recorded=False)
    return replace(
        data,
        email=pd.concat([data.email, email], ignore_index=True),
        web=pd.concat([data.web, web[[*_WEB_COLUMNS, "duration_recorded"]]], ignore_index=True),
    )


def engagement_log(data: EngagementData) -> pd.DataFrame:
    """Return the detectors' log (:data:`~monitoring.gaming_rules.LOG_COLUMNS`), oldest first."""
    email = pd.DataFrame(
        {
            "event_id": data.email["event_id"].to_numpy(),
            "contact_id": data.email["contact_id"].to_numpy(),
            "kind": data.email["event_type"].to_numpy(),
            "occurred_at": data.email["occurred_at"].to_numpy(),
            "source": data.email["campaign"].astype(object).to_numpy(),
            "page": None,
            "duration_s": np.nan,
            "duration_recorded": False,
        }
    )
    web = pd.DataFrame(
        {
            "event_id": data.web["event_id"].to_numpy(),
            "contact_id": data.web["contact_id"].to_numpy(),
            "kind": data.web["event_type"].to_numpy(),
            "occurred_at": data.web["occurred_at"].to_numpy(),
            "source": None,
            "page": data.web["page"].astype(object).to_numpy(),
            "duration_s": pd.to_numeric(data.web["duration_s"], errors="coerce").to_numpy(),
            "duration_recorded": data.web["duration_recorded"].fillna(False).to_numpy(dtype=bool),
        }
    )
    log = pd.concat([email, web], ignore_index=True)[list(LOG_COLUMNS)]
    return log.sort_values(["occurred_at", "event_id"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Reading the platform's sources
# ---------------------------------------------------------------------------------------------

_CACHE: dict[Path, tuple[tuple[float, ...], EngagementData]] = {}
_CACHE_LOCK = threading.Lock()
_TABLES = ("email_events", "web_events", "social_events", "contacts", "companies")


def default_crm_dir(data_dir: Path) -> Path:
    """Return where the pipeline stores the CRM (``pipelines.stages.PipelinePaths.crm_dir``)."""
    return Path(data_dir) / "raw" / "crm"


def read_crm_data(crm_dir: Path) -> EngagementData | None:
    """Read the stored CRM's event streams, contacts and companies (cached per file times).

    Args:
        crm_dir: The pipeline's CRM folder (``data/raw/crm``).

    Returns:
        The data, or None when the folder holds no CRM.
    """
    import pyarrow.parquet as pq

    from pipelines.synthetic_store import _from_arrow

    paths = [Path(crm_dir) / f"{name}.parquet" for name in _TABLES]
    if not all(path.exists() for path in paths):
        return None
    stamp = tuple(path.stat().st_mtime for path in paths)
    with _CACHE_LOCK:
        cached = _CACHE.get(Path(crm_dir))
        if cached is not None and cached[0] == stamp:
            return cached[1]
    frames = {
        name: _from_arrow(name, pq.read_table(path))
        for name, path in zip(_TABLES, paths, strict=True)
    }
    data = engagement_data(**frames)
    with _CACHE_LOCK:
        _CACHE[Path(crm_dir)] = (stamp, data)
    return data


def empty_data() -> EngagementData:
    """Return data without any event or contact (a platform without a stored CRM)."""
    email = pd.DataFrame({column: [] for column in _EMAIL_COLUMNS})
    web = pd.DataFrame({column: [] for column in (*_WEB_COLUMNS, "duration_recorded")})
    social = pd.DataFrame({column: [] for column in _SOCIAL_COLUMNS})
    for frame in (email, web, social):
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
    contacts = pd.DataFrame({column: [] for column in _CONTACT_COLUMNS})
    companies = pd.DataFrame(
        {c: [] for c in ("id", "industry", "employee_count", "annual_revenue", "country")}
    )
    return EngagementData(email, web, social, contacts, companies)


def read_stream_events(url: str, contact_ids: Sequence[uuid.UUID] | None = None) -> pd.DataFrame:
    """Return the streamed engagement events (all contacts, or those given).

    Args:
        url: Database URL.
        contact_ids: Contacts to read (None: every contact).

    Returns:
        ``event_id``, ``contact_id``, ``event_type``, ``occurred_at``.
    """
    from sqlalchemy import select

    from haste.db.session import session_scope
    from haste.db.stream_tables import StreamEvent

    query = select(
        StreamEvent.event_id,
        StreamEvent.contact_id,
        StreamEvent.event_type,
        StreamEvent.occurred_at,
    ).where(StreamEvent.event_type.in_(list(STREAM_TYPES)))
    if contact_ids is not None:
        query = query.where(StreamEvent.contact_id.in_(list(contact_ids)))
    with session_scope(url) as session:
        rows = session.execute(query).all()
    return pd.DataFrame(rows, columns=["event_id", "contact_id", "event_type", "occurred_at"])


def read_db_contacts(url: str, contact_ids: Sequence[uuid.UUID] | None = None) -> pd.DataFrame:
    """Return the CRM database's contacts (those given), in the :class:`EngagementData` form."""
    from sqlalchemy import select

    from haste.db.models import Contact
    from haste.db.session import session_scope

    query = select(
        Contact.id, Contact.company_id, Contact.job_title, Contact.lead_source, Contact.created_at
    )
    if contact_ids is not None:
        query = query.where(Contact.id.in_(list(contact_ids)))
    with session_scope(url) as session:
        rows = session.execute(query).all()
    frame = pd.DataFrame(rows, columns=list(_CONTACT_COLUMNS))
    frame["id"] = _ids(frame["id"]) if len(frame) else frame["id"]
    return frame


def platform_data(
    url: str, crm_dir: Path, contact_ids: Sequence[uuid.UUID] | None = None
) -> EngagementData:
    """Return the stored CRM's data merged with the streamed events (and DB-only contacts).

    Args:
        url: Database URL.
        crm_dir: The pipeline's CRM folder.
        contact_ids: Contacts to read (None: every contact).

    Returns:
        The merged data, restricted to ``contact_ids`` when given.
    """
    data = read_crm_data(crm_dir) or empty_data()
    if contact_ids is not None:
        data = data.restrict([str(c) for c in contact_ids])
    db_contacts = read_db_contacts(url, contact_ids)
    extra = db_contacts[~db_contacts["id"].isin(set(data.contacts["id"]))]
    if len(extra):
        data = replace(data, contacts=pd.concat([data.contacts, extra], ignore_index=True))
    return with_stream_events(data, read_stream_events(url, contact_ids))


__all__ = [
    "STREAM_TYPES",
    "EngagementData",
    "default_crm_dir",
    "empty_data",
    "engagement_data",
    "engagement_log",
    "platform_data",
    "read_crm_data",
    "read_db_contacts",
    "read_stream_events",
    "with_stream_events",
]
