"""Seeded synthetic CRM generator with a real, documented causal signal.

The generator produces the seven hasteCRM database tables (``teams``, ``users``, ``companies``,
``contacts``, ``accounts``, ``deals``, ``activities``), three raw event streams consumed by the
feature extractors (``email_events``, ``web_events``, ``social_events``) and a ``labels`` frame.
Everything is drawn from :class:`numpy.random.Generator` streams spawned from one seed, ids
included, so the same arguments always give identical frames.

Causal story (all effects are on the log-odds / log-rate scale):

1. **Latent intent.** Each contact gets a latent buying intent
   ``intent = industry effect + 0.3 * z(log employee_count) + 0.3 * job seniority
   + lead-source effect + N(0, 0.75)``. Software and fintech companies, larger companies,
   senior titles and referral / partner / webinar leads have more intent; outbound-sourced
   leads, non-profits and government have less.
2. **Engagement.** Intent drives every behavioural stream: email open, click and reply
   probabilities (weekly campaign sends themselves go to ~80% of contacts existing at send
   time, regardless of intent), the rate of web page views and the share of high-intent pages
   among them (``/pricing``, ``/demo``, ``/case-studies``, ``/security``), the rate of form
   fills and the share of sales forms (``/demo``, ``/contact-sales``, ``/trial``), and the rate
   of social mentions / follows / shares. Leads also go cold: an *interest* factor decays from
   1 to 0.15 (time constant 40 days after ``created_at``) and multiplies open probabilities and
   event rates, so recent engagement matters more than old engagement.
3. **Conversion.** Each contact has a candidate decision time ``created_at + 10 d + Gamma``
   (sooner for higher intent). Conversion is Bernoulli with probability
   ``sigmoid(b + 1.2 * intent + 0.8 * log1p(engagement before the decision time) + N(0, 0.5))``
   where engagement counts clicks, replies, high-intent page views and form fills, and the
   intercept ``b`` is solved numerically so the expected conversion rate is
   :data:`TARGET_CONVERSION_RATE`. Only decision times inside the window can convert.
   Converted contacts get a ``closed_won`` deal closed at the conversion time, an account for
   their company and ``lifecycle_stage == 'customer'``.
4. **Protected attribute.** ``gender`` has **no direct effect** on intent, engagement or
   conversion. It only shifts the lead-source mix slightly (women a little more often come from
   webinars and content downloads, men from trade shows and outbound), so lead source is a
   realistic weak proxy and a fair model is achievable.
5. **Label time and leakage.** ``labels.label_time`` is the conversion time for converters and
   the end of the window for everyone else. Every event of a non-converter lies before its
   label time. Converters keep generating events *after* conversion (interest reset to 0.5,
   intent boosted by 1) including customer-only pages (``/docs/...``, ``/app/...``,
   ``/billing``); their deals, accounts, lifecycle stage and rep activities also reflect the
   outcome. A feature pipeline that forgets to cut events at ``label_time`` leaks the label.
   Nothing in the event tables flags those rows: filter on ``occurred_at < label_time``.
   Non-event tables are an end-of-window snapshot (``lifecycle_stage``, deal ``stage``, account
   ``status``) and must not be used as features as they are.

All timestamps are UTC-naive ``datetime64[ns]`` floored to whole seconds; event timestamps lie in
``[start, start + days)``. Company, team and user records may predate the window.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pyarrow (pandas' parquet engine) is only imported by write_crm / read_crm
    import pyarrow as pa

#: Database tables in foreign-key order (parents first).
DB_TABLES: tuple[str, ...] = (
    "teams",
    "users",
    "companies",
    "contacts",
    "accounts",
    "deals",
    "activities",
)
#: Raw behavioural event streams (not database tables).
EVENT_TABLES: tuple[str, ...] = ("email_events", "web_events", "social_events")
#: Every frame of a :class:`SyntheticCRM`, in :meth:`SyntheticCRM.tables` order.
ALL_TABLES: tuple[str, ...] = (*DB_TABLES, *EVENT_TABLES, "labels")
#: Expected share of converted contacts (the generator calibrates its intercept to it).
TARGET_CONVERSION_RATE = 0.30

_DAY_S = 86_400
_POST_CONVERSION_BOOST = 1.0
#: Interest decays from 1 to this floor with time constant ``_INTEREST_TAU`` days after creation.
_INTEREST_FLOOR = 0.15
_INTEREST_TAU = 40.0
#: Interest of a converted contact after conversion (customers keep using the site).
_CUSTOMER_INTEREST = 0.5

_UUID_COLUMNS: dict[str, tuple[str, ...]] = {
    "teams": ("id",),
    "users": ("id", "team_id"),
    "companies": ("id",),
    "contacts": ("id", "company_id", "owner_id"),
    "accounts": ("id", "company_id"),
    "deals": ("id", "account_id", "contact_id", "owner_id"),
    "activities": ("id", "contact_id", "deal_id", "user_id"),
    "email_events": ("event_id", "contact_id"),
    "web_events": ("event_id", "contact_id"),
    "social_events": ("event_id", "contact_id"),
    "labels": ("contact_id",),
}
_JSON_COLUMNS: dict[str, tuple[str, ...]] = {"activities": ("details",)}
_SAFE_UNKNOWN = uuid.SafeUUID.unknown
_DTYPES_KEY = "haste.synthetic.dtypes"

_FEMALE_NAMES: tuple[str, ...] = (
    "Olivia", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Amelia", "Harper", "Evelyn", "Abigail",
    "Emily", "Ella", "Grace", "Chloe", "Nora", "Lily", "Hannah", "Zoe", "Leah", "Priya", "Aisha",
    "Mei", "Sofia", "Ingrid", "Fatima", "Yuki", "Elena", "Clara", "Maya", "Rosa",
)  # fmt: skip
_MALE_NAMES: tuple[str, ...] = (
    "Liam", "Noah", "Oliver", "Elijah", "James", "William", "Benjamin", "Lucas", "Henry", "Theo",
    "Jack", "Owen", "Samuel", "Daniel", "Leo", "Mateo", "Ethan", "David", "Arjun", "Omar", "Kenji",
    "Lars", "Tomas", "Ahmed", "Felix", "Marco", "Hugo", "Ivan", "Ravi", "Diego",
)  # fmt: skip
_NEUTRAL_NAMES: tuple[str, ...] = (
    "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Avery", "Quinn", "Rowan", "Sage",
    "Jamie", "Robin",
)  # fmt: skip
_LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez",
    "Lopez", "Wilson", "Anderson", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Nguyen", "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Patel", "Khan",
    "Kim", "Chen", "Muller", "Schmidt", "Rossi", "Dubois", "Silva", "Sato", "Novak", "Berg",
    "Okafor", "Haddad",
)  # fmt: skip
_COMPANY_ADJ: tuple[str, ...] = (
    "Blue", "Bright", "North", "Silver", "Rapid", "Clear", "Iron", "Golden", "Quiet", "Bold",
    "Green", "Swift", "Prime", "Lunar", "Solar", "Crimson", "Urban", "Summit", "Coastal", "Vivid",
)  # fmt: skip
_COMPANY_NOUN: tuple[str, ...] = (
    "Harbor", "Peak", "Forge", "Leaf", "River", "Stone", "Pixel", "Bridge", "Falcon", "Orbit",
    "Cedar", "Beacon", "Arrow", "Vertex", "Meadow", "Signal", "Anchor", "Quartz", "Canyon", "Wave",
)  # fmt: skip
_COMPANY_SUFFIX: tuple[str, ...] = (
    "Labs", "Systems", "Group", "Analytics", "Health", "Logistics", "Partners", "Works", "Software",
    "Capital",
)  # fmt: skip
_INDUSTRIES: tuple[str, ...] = (
    "software", "fintech", "healthcare", "retail", "manufacturing", "education", "logistics",
    "media", "nonprofit", "government",
)  # fmt: skip
_INDUSTRY_WEIGHTS = np.array([0.20, 0.10, 0.12, 0.12, 0.12, 0.08, 0.08, 0.08, 0.05, 0.05])
_INDUSTRY_EFFECT = np.array([0.5, 0.35, 0.1, -0.1, -0.2, -0.3, 0.0, 0.05, -0.5, -0.6])
_COUNTRIES = ("US", "GB", "DE", "CA", "FR", "AU", "NL", "IN")
_COUNTRY_WEIGHTS = np.array([0.50, 0.12, 0.10, 0.08, 0.06, 0.05, 0.04, 0.05])
_TITLES: tuple[tuple[str, int, float], ...] = (
    ("Marketing Analyst", 0, 0.08),
    ("Sales Development Rep", 0, 0.08),
    ("Operations Specialist", 0, 0.07),
    ("Software Engineer", 0, 0.07),
    ("Marketing Manager", 1, 0.09),
    ("Sales Manager", 1, 0.09),
    ("Product Manager", 1, 0.07),
    ("Senior Account Manager", 1, 0.06),
    ("Director of Marketing", 2, 0.06),
    ("Director of Sales", 2, 0.06),
    ("Head of Revenue Operations", 2, 0.05),
    ("VP of Sales", 3, 0.05),
    ("VP of Marketing", 3, 0.04),
    ("Chief Revenue Officer", 3, 0.03),
    ("CEO", 3, 0.03),
    ("Founder", 3, 0.03),
)
_LEAD_SOURCES: tuple[str, ...] = (
    "organic_search", "paid_ads", "referral", "webinar", "trade_show", "outbound", "partner",
    "content_download",
)  # fmt: skip
_LEAD_SOURCE_EFFECT = np.array([0.25, 0.0, 0.8, 0.45, -0.1, -0.45, 0.5, 0.1])
_LEAD_SOURCE_BASE = np.array([0.22, 0.16, 0.10, 0.12, 0.10, 0.18, 0.06, 0.06])
#: Mild gender -> lead source association (female, male, nonbinary); no direct outcome effect.
_LEAD_SOURCE_SHIFT = np.array(
    [
        [0.0, 0.0, 0.0, 0.03, -0.03, -0.02, 0.0, 0.02],
        [0.0, 0.0, 0.0, -0.03, 0.03, 0.02, 0.0, -0.02],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)
_GENDERS = ("female", "male", "nonbinary")
_GENDER_WEIGHTS = np.array([0.48, 0.48, 0.04])
_TEAM_NAMES = (
    "Enterprise East",
    "Enterprise West",
    "Mid-Market",
    "SMB North",
    "SMB South",
    "EMEA",
    "APAC",
    "Strategic Accounts",
    "Inbound",
    "Partnerships",
)
_CAMPAIGN_THEMES: tuple[str, ...] = (
    "newsletter", "product-update", "webinar-invite", "case-study", "promo", "event-recap",
)  # fmt: skip
_HIGH_PAGES = ("/pricing", "/demo", "/case-studies", "/security")
_HIGH_PAGE_WEIGHTS = np.array([0.45, 0.20, 0.20, 0.15])
_LOW_PAGES: tuple[str, ...] = (
    "/", "/features", "/integrations", "/about", "/careers", "/blog/crm-automation-guide",
    "/blog/lead-scoring-101", "/blog/sales-pipeline-metrics", "/blog/email-deliverability",
    "/blog/ai-in-sales", "/blog/customer-success-playbook",
)  # fmt: skip
_LOW_PAGE_WEIGHTS = np.array([0.14, 0.12, 0.08, 0.05, 0.04, 0.11, 0.11, 0.1, 0.09, 0.1, 0.06])
_CUSTOMER_PAGES = ("/docs/getting-started", "/docs/api", "/app/settings", "/billing")
_HIGH_FORMS = ("/demo", "/contact-sales", "/trial")
_LOW_FORMS = ("/ebook", "/webinar", "/newsletter")
_PLATFORMS = ("linkedin", "twitter")
_SOCIAL_TYPES = ("mention", "follow", "share")
_PLANS = ("starter", "growth", "enterprise")
_PLAN_MRR = np.array([99.0, 499.0, 2500.0])
_OPEN_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
_ACTIVITY_TYPES = ("email", "call", "meeting", "note", "task")
_ACTIVITY_WEIGHTS = np.array([0.35, 0.25, 0.12, 0.15, 0.13])
_ACTIVITY_SUBJECTS: dict[str, tuple[str, ...]] = {
    "email": ("Following up", "Resources you asked for", "Quick question", "Intro to hasteCRM"),
    "call": ("Discovery call", "Check-in call", "Pricing discussion", "Left voicemail"),
    "meeting": ("Product demo", "Technical deep dive", "Stakeholder meeting", "QBR"),
    "note": ("Call notes", "Account research", "Competitor mentioned", "Budget update"),
    "task": ("Send proposal", "Schedule demo", "Follow up next week", "Update CRM record"),
}
_ACTIVITY_BODIES: dict[str, str] = {
    "email": "Sent a follow-up email to ",
    "call": "Spoke on the phone with ",
    "meeting": "Met with ",
    "note": "Internal note about ",
    "task": "Reminder to reach out to ",
}
_CALL_OUTCOMES = ("connected", "voicemail", "no_answer")
_MEETING_LOCATIONS = ("zoom", "google_meet", "onsite")


@dataclass(frozen=True)
class SyntheticCRM:
    """All frames of one synthetic CRM snapshot.

    Attributes:
        teams: Sales teams.
        users: CRM users (sales staff) with their team and role.
        companies: Companies the contacts work for.
        contacts: People in the CRM, with the protected ``gender`` attribute and ``ai_consent``.
        accounts: Customer and trial accounts, one per company at most.
        deals: Sales opportunities; converted contacts have a ``closed_won`` one.
        activities: Rep activities (emails, calls, meetings, notes, tasks).
        email_events: Marketing email sends and the opens, clicks and replies they cause.
        web_events: Website page views and form fills.
        social_events: Social media mentions, follows and shares.
        labels: One row per contact: ``converted``, ``converted_at`` and ``label_time``.

    """

    teams: pd.DataFrame
    users: pd.DataFrame
    companies: pd.DataFrame
    contacts: pd.DataFrame
    accounts: pd.DataFrame
    deals: pd.DataFrame
    activities: pd.DataFrame
    email_events: pd.DataFrame
    web_events: pd.DataFrame
    social_events: pd.DataFrame
    labels: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return every frame by name, database tables first in foreign-key order.

        Returns:
            Mapping of table name to frame, in :data:`ALL_TABLES` order.

        """
        return {name: getattr(self, name) for name in ALL_TABLES}


# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Return the logistic function of ``x``."""
    return 1.0 / (1.0 + np.exp(-x))


def _uuid_from_int(value: int) -> uuid.UUID:
    """Build ``uuid.UUID(int=value)`` without its argument checks.

    The two slots are set directly, as ``UUID`` unpickling does; this is about three times
    faster, which matters for millions of event ids. ``value`` must be in ``[0, 2**128)``.
    """
    out = object.__new__(uuid.UUID)
    object.__setattr__(out, "int", value)
    object.__setattr__(out, "is_safe", _SAFE_UNKNOWN)
    return out


def _uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw ``n`` version-4 UUIDs from ``rng`` as an object array of :class:`uuid.UUID`."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    blob = raw.tobytes()
    from_bytes = int.from_bytes
    out = np.empty(n, dtype=object)
    out[:] = [_uuid_from_int(from_bytes(blob[i : i + 16], "big")) for i in range(0, 16 * n, 16)]
    return out


def _ts(t0: np.datetime64, offset_days: np.ndarray) -> np.ndarray:
    """Convert day offsets from ``t0`` to ``datetime64[ns]``, floored to seconds (NaN -> NaT)."""
    offsets = np.asarray(offset_days, dtype=np.float64)
    missing = np.isnan(offsets)
    # The epsilon keeps offsets built as whole seconds (k / 86400) on their own second.
    secs = np.floor(np.where(missing, 0.0, offsets) * _DAY_S + 1e-6).astype(np.int64)
    out = (t0 + secs.astype("timedelta64[s]")).astype("datetime64[ns]")
    out[missing] = np.datetime64("NaT")
    return out


def _pick(options: tuple[str, ...], idx: np.ndarray) -> np.ndarray:
    """Map integer codes to an object array of strings."""
    return np.asarray(options, dtype=object)[idx]


def _cat(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Turn uniforms into categorical codes with the given (unnormalised) weights."""
    cum = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(cum, u, side="right"), len(weights) - 1)


def _dedupe(values: pd.Series, key: pd.Series | None = None) -> pd.Series:
    """Append a counter to ``values`` repeated within ``key`` (default: the values themselves).

    The inputs never end in digits, so the counted values cannot collide with other values.
    """
    key = values if key is None else key
    rank = key.groupby(key, sort=False).cumcount()
    return values.where(rank == 0, values + (rank + 1).astype(str))


def _slug(values: pd.Series) -> pd.Series:
    """Lower-case and strip everything but letters and digits."""
    return values.str.lower().str.replace(r"[^a-z0-9]", "", regex=True)


def _people(rng: np.random.Generator, gender: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw first names matching ``gender`` codes and last names."""
    n = len(gender)
    pools = (_FEMALE_NAMES, _MALE_NAMES, _NEUTRAL_NAMES)
    u = rng.random(n)
    first = np.empty(n, dtype=object)
    for code, pool in enumerate(pools):
        mask = gender == code
        first[mask] = _pick(pool, (u[mask] * len(pool)).astype(np.int64))
    last = _pick(_LAST_NAMES, rng.integers(0, len(_LAST_NAMES), n))
    return first, last


def _calibrate_intercept(score: np.ndarray, eligible: np.ndarray, target: float) -> float:
    """Solve ``mean(eligible * sigmoid(b + score)) == target`` for ``b`` by bisection."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.mean(eligible * _sigmoid(mid + score)) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------------
# Generation steps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Org:
    teams: pd.DataFrame
    users: pd.DataFrame
    rep_idx: np.ndarray


def _make_org(
    rng: np.random.Generator, ids: np.random.Generator, n_contacts: int, t0: np.datetime64
) -> _Org:
    """Build teams and users (one admin, one manager per team, the rest reps)."""
    n_users = int(np.clip(n_contacts // 60, 6, 500))
    n_teams = max(2, n_users // 8)
    k = len(_TEAM_NAMES)
    team_names = [_TEAM_NAMES[i % k] + (f" {i // k + 1}" if i >= k else "") for i in range(n_teams)]
    teams = pd.DataFrame(
        {
            "id": _uuids(ids, n_teams),
            "name": team_names,
            "created_at": _ts(t0, -rng.uniform(400.0, 1000.0, n_teams)),
        }
    )
    team_of = np.arange(n_users) % n_teams
    role = np.full(n_users, "rep", dtype=object)
    role[:n_teams] = "manager"
    role[n_teams] = "admin"
    first, last = _people(rng, rng.choice(2, size=n_users))
    full_name = pd.Series(first) + " " + pd.Series(last)
    local = _dedupe(_slug(pd.Series(first)) + "." + _slug(pd.Series(last)))
    users = pd.DataFrame(
        {
            "id": _uuids(ids, n_users),
            "team_id": teams["id"].to_numpy()[team_of],
            "email": (local + "@hastecrm.example").to_numpy(),
            "full_name": full_name.to_numpy(),
            "role": role,
            "created_at": _ts(t0, -rng.uniform(30.0, 400.0, n_users)),
        }
    )
    return _Org(teams=teams, users=users, rep_idx=np.flatnonzero(role == "rep"))


@dataclass(frozen=True)
class _Companies:
    frame: pd.DataFrame
    employees: np.ndarray
    industry: np.ndarray
    plan: np.ndarray


def _make_companies(
    rng: np.random.Generator, ids: np.random.Generator, n: int, t0: np.datetime64
) -> _Companies:
    """Build companies with size, revenue, industry and country."""
    name = (
        pd.Series(_pick(_COMPANY_ADJ, rng.integers(0, len(_COMPANY_ADJ), n)))
        + " "
        + _pick(_COMPANY_NOUN, rng.integers(0, len(_COMPANY_NOUN), n))
        + " "
        + _pick(_COMPANY_SUFFIX, rng.integers(0, len(_COMPANY_SUFFIX), n))
    )
    tld_code = _cat(rng.random(n), np.array([0.6, 0.2, 0.1, 0.1]))
    tld = pd.Series(_pick((".com", ".io", ".co", ".net"), tld_code))
    domain = _dedupe(_slug(name)) + tld
    employees = np.clip(np.rint(np.exp(rng.normal(4.2, 1.4, n))), 1, 200_000).astype(np.int64)
    revenue = np.round(employees * np.exp(rng.normal(np.log(150_000.0), 0.6, n)), 2)
    industry = _cat(rng.random(n), _INDUSTRY_WEIGHTS)
    plan = np.where(employees < 50, 0, np.where(employees < 500, 1, 2))
    frame = pd.DataFrame(
        {
            "id": _uuids(ids, n),
            "name": name.to_numpy(),
            "domain": domain.to_numpy(),
            "industry": _pick(_INDUSTRIES, industry),
            "employee_count": employees,
            "annual_revenue": revenue.astype(np.float64),
            "country": _pick(_COUNTRIES, _cat(rng.random(n), _COUNTRY_WEIGHTS)),
            "created_at": _ts(t0, -rng.uniform(1.0, 730.0, n)),
        }
    )
    return _Companies(frame=frame, employees=employees, industry=industry, plan=plan)


@dataclass(frozen=True)
class _People:
    company: np.ndarray
    gender: np.ndarray
    source: np.ndarray
    title: np.ndarray
    intent: np.ndarray
    created: np.ndarray
    decision: np.ndarray


def _make_people(rng: np.random.Generator, n: int, comp: _Companies, days: int) -> _People:
    """Draw contact attributes, latent intent, creation and candidate decision times."""
    weights = 1.0 + np.log1p(comp.employees)
    company = rng.choice(len(weights), size=n, p=weights / weights.sum())
    gender = _cat(rng.random(n), _GENDER_WEIGHTS)
    source = np.empty(n, dtype=np.int64)
    u_src = rng.random(n)
    for code in range(len(_GENDERS)):
        mask = gender == code
        source[mask] = _cat(u_src[mask], _LEAD_SOURCE_BASE + _LEAD_SOURCE_SHIFT[code])
    title = _cat(rng.random(n), np.array([t[2] for t in _TITLES]))
    seniority = np.array([t[1] for t in _TITLES], dtype=np.float64)[title]
    size_z = (np.log(comp.employees[company]) - 4.2) / 1.4
    intent = (
        -0.2
        + _INDUSTRY_EFFECT[comp.industry[company]]
        + 0.3 * size_z
        + 0.3 * (seniority - 1.2)
        + _LEAD_SOURCE_EFFECT[source]
        + rng.normal(0.0, 0.75, n)
    )
    created = np.floor(rng.uniform(0.0, 0.6 * days, n) * _DAY_S) / _DAY_S
    delay = 10.0 + rng.gamma(2.0, 15.0, n) * np.exp(-0.2 * intent)
    decision = np.floor((created + delay) * _DAY_S) / _DAY_S
    return _People(company, gender, source, title, intent, created, decision)


@dataclass(frozen=True)
class _Email:
    """Campaign sends plus the uniforms that decide their outcomes."""

    contact: np.ndarray
    campaign: np.ndarray
    t_send: np.ndarray
    names: np.ndarray
    effect: np.ndarray
    u: np.ndarray  # (3, m): open, click, reply
    delay: np.ndarray  # (3, m): open after send, click after open, reply after open

    def outcomes(
        self, intent: np.ndarray, interest: np.ndarray, days: float
    ) -> dict[str, np.ndarray]:
        """Return open / click / reply masks and times for per-send intents and interests."""
        t_open = self.t_send + self.delay[0]
        p_open = interest * _sigmoid(-0.2 + 0.9 * intent + self.effect[self.campaign])
        opened = (self.u[0] < p_open) & (t_open < days)
        t_click = t_open + self.delay[1]
        t_reply = t_open + self.delay[2]
        clicked = opened & (self.u[1] < _sigmoid(-1.4 + 0.8 * intent)) & (t_click < days)
        replied = opened & (self.u[2] < _sigmoid(-2.6 + 1.0 * intent)) & (t_reply < days)
        return {
            "open": opened,
            "click": clicked,
            "reply": replied,
            "t_open": t_open,
            "t_click": t_click,
            "t_reply": t_reply,
        }


def _make_email(rng: np.random.Generator, people: _People, days: int, t0: np.datetime64) -> _Email:
    """Schedule weekly campaigns and send each to ~80% of contacts existing at send time."""
    camp_t = np.arange(2.0, days - 1.0, 7.0)
    camp_t = camp_t + 0.375 + rng.random(len(camp_t)) * 0.125
    dates = np.datetime_as_string(t0.astype("datetime64[D]") + camp_t.astype(np.int64))
    names = np.array(
        [f"{_CAMPAIGN_THEMES[i % len(_CAMPAIGN_THEMES)]}-{d}" for i, d in enumerate(dates)],
        dtype=object,
    )
    effect = rng.normal(0.0, 0.3, len(camp_t))
    n = len(people.created)
    send = (people.created[:, None] < camp_t[None, :]) & (rng.random((n, len(camp_t))) < 0.8)
    contact, campaign = np.nonzero(send)
    m = len(contact)
    u = rng.random((3, m))
    delay = np.stack(
        [
            60.0 / _DAY_S + rng.exponential(0.35, m),
            5.0 / _DAY_S + rng.exponential(0.003, m),
            120.0 / _DAY_S + rng.exponential(0.3, m),
        ]
    )
    return _Email(contact, campaign, camp_t[campaign], names, effect, u, delay)


@dataclass(frozen=True)
class _Stream:
    """Candidate events of a thinned Poisson process (rate at the boosted maximum)."""

    contact: np.ndarray
    t: np.ndarray
    u_accept: np.ndarray
    base_intent: np.ndarray
    k: float

    def accepted(self, intent: np.ndarray, interest: np.ndarray) -> np.ndarray:
        """Return which candidates are real events given per-candidate intents and interests."""
        ratio = interest * np.exp(self.k * (intent - self.base_intent - _POST_CONVERSION_BOOST))
        return self.u_accept < ratio


def _make_stream(
    rng: np.random.Generator, people: _People, days: int, base_rate: np.ndarray, k: float
) -> _Stream:
    """Draw candidate event times for per-contact daily rates ``base_rate * exp(k * intent)``."""
    active = days - people.created
    lam = active * base_rate * np.exp(k * (people.intent + _POST_CONVERSION_BOOST))
    counts = rng.poisson(lam)
    contact = np.repeat(np.arange(len(counts)), counts)
    t = people.created[contact] + rng.random(len(contact)) * active[contact]
    t = np.minimum(t, days - 1.0 / _DAY_S)  # stay strictly inside the window after rounding
    return _Stream(contact, t, rng.random(len(contact)), people.intent[contact], k)


def _event_state(
    people: _People, converted: np.ndarray, contact: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-event ``(intent, interest)``.

    Before conversion (and for non-converters) intent is the contact's base intent and interest
    decays from 1 towards :data:`_INTEREST_FLOOR` as the lead goes cold. After conversion a
    customer's intent is boosted and interest is reset to :data:`_CUSTOMER_INTEREST`.
    """
    post = converted[contact] & (t >= people.decision[contact])
    age = t - people.created[contact]
    cold = _INTEREST_FLOOR + (1.0 - _INTEREST_FLOOR) * np.exp(-age / _INTEREST_TAU)
    intent = people.intent[contact] + _POST_CONVERSION_BOOST * post
    return intent, np.where(post, _CUSTOMER_INTEREST, cold)


def generate_crm(
    n_contacts: int = 2000, seed: int = 42, start: str = "2026-01-01", days: int = 180
) -> SyntheticCRM:
    """Generate a seeded synthetic CRM whose conversions follow the module's causal story.

    Args:
        n_contacts: Number of contacts (and label rows).
        seed: Seed of every random draw, ids included.
        start: First day of the observation window (parsed by :class:`pandas.Timestamp`).
        days: Length of the observation window in days.

    Returns:
        The generated :class:`SyntheticCRM`.

    Raises:
        ValueError: When ``n_contacts < 1`` or ``days < 30``.

    """
    if n_contacts < 1:
        raise ValueError(f"n_contacts must be positive, got {n_contacts}")
    if days < 30:
        raise ValueError(f"days must be at least 30, got {days}")
    t0 = np.datetime64(pd.Timestamp(start).to_datetime64(), "s")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(10)]
    ids, r_org, r_comp, r_people, r_email, r_web, r_form, r_social, r_conv, r_crm = streams
    n = n_contacts

    org = _make_org(r_org, ids, n, t0)
    comp = _make_companies(r_comp, ids, max(5, n // 4), t0)
    people = _make_people(r_people, n, comp, days)
    intent = people.intent

    # Behaviour, as candidates whose acceptance depends on (possibly boosted) intent.
    email = _make_email(r_email, people, days, t0)
    web = _make_stream(r_web, people, days, np.full(n, 0.12), 0.8)
    web_u = r_web.random((5, len(web.t)))  # high page?, page, customer page?, 2 x duration
    form = _make_stream(r_form, people, days, np.full(n, 0.012), 1.0)
    form_u = r_form.random((3, len(form.t)))  # sales form?, page, duration noise
    has_social = r_social.random(n) < 0.6
    social = _make_stream(r_social, people, days, 0.05 * has_social, 0.7)
    social_u = r_social.random((2, len(social.t)))  # platform, event type

    # Engagement before each contact's decision time. Before that time every event's state is
    # the contact's base one, so this does not depend on the conversion outcome drawn from it.
    cut = np.minimum(people.decision, float(days))
    never = np.zeros(n, dtype=bool)
    pre = email.outcomes(*_event_state(people, never, email.contact, email.t_send), days)
    cut_e = cut[email.contact]
    eng = np.bincount(email.contact[pre["click"] & (pre["t_click"] < cut_e)], minlength=n)
    eng += 2 * np.bincount(email.contact[pre["reply"] & (pre["t_reply"] < cut_e)], minlength=n)
    web_ie, web_interest = _event_state(people, never, web.contact, web.t)
    web_hi = (
        web.accepted(web_ie, web_interest)
        & (web_u[0] < _web_high_prob(web_ie))
        & (web.t < cut[web.contact])
    )
    eng += np.bincount(web.contact[web_hi], minlength=n)
    form_pre = form.accepted(*_event_state(people, never, form.contact, form.t)) & (
        form.t < cut[form.contact]
    )
    eng += 2 * np.bincount(form.contact[form_pre], minlength=n)

    # Conversion: logistic in intent + engagement + noise. Gender never enters.
    score = 1.2 * intent + 0.8 * np.log1p(eng) + r_conv.normal(0.0, 0.5, n)
    eligible = people.decision < days
    intercept = _calibrate_intercept(score, eligible, TARGET_CONVERSION_RATE)
    converted = eligible & (r_conv.random(n) < _sigmoid(intercept + score))
    label_days = np.where(converted, people.decision, float(days))

    contact_ids = _uuids(ids, n)
    email_events, n_opens = _email_frame(email, people, converted, contact_ids, days, t0, ids)
    web_events, n_forms = _web_frame(
        web, form, web_u, form_u, people, converted, contact_ids, t0, ids
    )
    social_events = _social_frame(social, social_u, people, converted, contact_ids, t0, ids)

    owner = org.rep_idx[r_crm.integers(0, len(org.rep_idx), n)]
    accounts, deals, deal_of, deal_span = _deals_accounts(
        r_crm, ids, people, comp, org, owner, converted, contact_ids, days, t0
    )
    open_deal = np.zeros(n, dtype=bool)
    open_deal[deal_of[deals["is_won"].isna().to_numpy()]] = True
    stage = np.select(
        [converted, open_deal, eng >= 3, n_forms > 0, n_opens > 0],
        ["customer", "opportunity", "sales_qualified_lead", "marketing_qualified_lead", "lead"],
        "subscriber",
    ).astype(object)
    contacts = _contacts_frame(r_crm, people, comp, org, owner, stage, contact_ids, t0)
    activities = _activities_frame(
        r_crm, ids, people, contacts, org, owner, deals, deal_of, deal_span, days, t0
    )
    labels = pd.DataFrame(
        {
            "contact_id": contact_ids,
            "converted": converted.astype(np.int64),
            "converted_at": _ts(t0, np.where(converted, people.decision, np.nan)),
            "label_time": _ts(t0, label_days),
        }
    )
    return SyntheticCRM(
        teams=org.teams,
        users=org.users,
        companies=comp.frame,
        contacts=contacts,
        accounts=accounts,
        deals=deals,
        activities=activities,
        email_events=email_events,
        web_events=web_events,
        social_events=social_events,
        labels=labels,
    )


def _web_high_prob(intent: np.ndarray) -> np.ndarray:
    """Probability that a page view is a high-intent page (pricing, demo, ...)."""
    return _sigmoid(-1.5 + 1.1 * intent)


def _sorted_events(
    columns: dict[str, np.ndarray], t: np.ndarray, t0: np.datetime64, ids: np.random.Generator
) -> pd.DataFrame:
    """Build an event frame sorted (stably) by time ``t`` with fresh leading ``event_id`` values.

    Args:
        columns: Event columns other than ``event_id`` and ``occurred_at``, in output order.
        t: Event times in days since ``t0``.
        t0: Window start.
        ids: Generator for the event ids.

    Returns:
        The frame, ``occurred_at`` last.

    """
    order = np.argsort(t, kind="stable")
    data: dict[str, np.ndarray] = {"event_id": _uuids(ids, len(t))}
    data.update({name: values[order] for name, values in columns.items()})
    data["occurred_at"] = _ts(t0, t[order])
    return pd.DataFrame(data)


def _email_frame(
    email: _Email,
    people: _People,
    converted: np.ndarray,
    contact_ids: np.ndarray,
    days: int,
    t0: np.datetime64,
    ids: np.random.Generator,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Build ``email_events`` and return it with the number of opens per contact."""
    out = email.outcomes(*_event_state(people, converted, email.contact, email.t_send), days)
    parts = (
        (np.ones(len(email.t_send), dtype=bool), email.t_send, "sent"),
        (out["open"], out["t_open"], "open"),
        (out["click"], out["t_click"], "click"),
        (out["reply"], out["t_reply"], "reply"),
    )
    contact = np.concatenate([email.contact[m] for m, _, _ in parts])
    columns = {
        "contact_id": contact_ids[contact],
        "event_type": np.concatenate(
            [np.full(int(m.sum()), name, dtype=object) for m, _, name in parts]
        ),
        "campaign": email.names[np.concatenate([email.campaign[m] for m, _, _ in parts])],
    }
    t = np.concatenate([times[m] for m, times, _ in parts])
    n_opens = np.bincount(email.contact[out["open"]], minlength=len(people.created))
    return _sorted_events(columns, t, t0, ids), n_opens


def _web_frame(
    web: _Stream,
    form: _Stream,
    web_u: np.ndarray,
    form_u: np.ndarray,
    people: _People,
    converted: np.ndarray,
    contact_ids: np.ndarray,
    t0: np.datetime64,
    ids: np.random.Generator,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Build ``web_events`` and return it with the number of form fills per contact."""
    ie, interest = _event_state(people, converted, web.contact, web.t)
    keep = web.accepted(ie, interest)
    high = web_u[0] < _web_high_prob(ie)
    customer = converted[web.contact] & (web.t >= people.decision[web.contact]) & (web_u[2] < 0.3)
    page = np.where(
        customer,
        _pick(_CUSTOMER_PAGES, (web_u[1] * len(_CUSTOMER_PAGES)).astype(np.int64)),
        np.where(
            high,
            _pick(_HIGH_PAGES, _cat(web_u[1], _HIGH_PAGE_WEIGHTS)),
            _pick(_LOW_PAGES, _cat(web_u[1], _LOW_PAGE_WEIGHTS)),
        ),
    )
    # Log-normal dwell time: exp(N(3.6 + 0.2 * intent + 0.4 * high, 0.8)) seconds.
    noise = np.sqrt(-2.0 * np.log(1.0 - web_u[3])) * 0.8 * np.cos(2.0 * np.pi * web_u[4])
    view_dur = np.exp(3.6 + 0.2 * ie + 0.4 * high + noise)

    f_ie, f_interest = _event_state(people, converted, form.contact, form.t)
    f_keep = form.accepted(f_ie, f_interest)
    f_high = form_u[0] < _sigmoid(-0.5 + 0.9 * f_ie)
    f_page = np.where(
        f_high,
        _pick(_HIGH_FORMS, (form_u[1] * len(_HIGH_FORMS)).astype(np.int64)),
        _pick(_LOW_FORMS, (form_u[1] * len(_LOW_FORMS)).astype(np.int64)),
    )
    f_dur = 15.0 + 120.0 * form_u[2]

    contact = np.concatenate([web.contact[keep], form.contact[f_keep]])
    columns = {
        "contact_id": contact_ids[contact],
        "event_type": np.concatenate(
            [
                np.full(int(keep.sum()), "page_view", dtype=object),
                np.full(int(f_keep.sum()), "form_fill", dtype=object),
            ]
        ),
        "page": np.concatenate([page[keep], f_page[f_keep]]),
        "duration_s": np.round(np.concatenate([view_dur[keep], f_dur[f_keep]]), 1),
    }
    t = np.concatenate([web.t[keep], form.t[f_keep]])
    n_forms = np.bincount(form.contact[f_keep], minlength=len(people.created))
    return _sorted_events(columns, t, t0, ids), n_forms


def _social_frame(
    social: _Stream,
    social_u: np.ndarray,
    people: _People,
    converted: np.ndarray,
    contact_ids: np.ndarray,
    t0: np.datetime64,
    ids: np.random.Generator,
) -> pd.DataFrame:
    """Build ``social_events``."""
    keep = social.accepted(*_event_state(people, converted, social.contact, social.t))
    columns = {
        "contact_id": contact_ids[social.contact[keep]],
        "platform": _pick(_PLATFORMS, _cat(social_u[0][keep], np.array([0.7, 0.3]))),
        "event_type": _pick(_SOCIAL_TYPES, _cat(social_u[1][keep], np.array([0.3, 0.35, 0.35]))),
    }
    return _sorted_events(columns, social.t[keep], t0, ids)


def _to_dates(t0: np.datetime64, offset_days: np.ndarray) -> np.ndarray:
    """Convert day offsets from ``t0`` to an object array of :class:`datetime.date`."""
    day0 = t0.astype("datetime64[D]")
    return (day0 + np.floor(offset_days).astype(np.int64)).astype(object)


def _deals_accounts(
    rng: np.random.Generator,
    ids: np.random.Generator,
    people: _People,
    comp: _Companies,
    org: _Org,
    owner: np.ndarray,
    converted: np.ndarray,
    contact_ids: np.ndarray,
    days: int,
    t0: np.datetime64,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Build accounts and deals.

    Returns:
        ``(accounts, deals, deal_contact_idx, deal_span)`` where ``deal_span`` is a ``(2, k)``
        array of deal start / end day offsets (end is the window end for open deals).

    """
    n = len(converted)
    n_comp = len(comp.frame)
    company = people.company

    # Customer accounts: companies with at least one converter, created at the first conversion.
    first_conv = np.full(n_comp, np.inf)
    np.minimum.at(first_conv, company[converted], people.decision[converted])
    cust_comp = np.flatnonzero(np.isfinite(first_conv))

    # Deals of non-converters: more likely with more intent, opened after creation.
    room = days - people.created
    wants = ~converted & (room > 14.0) & (rng.random(n) < _sigmoid(-1.6 + 0.9 * people.intent))
    start_nc = people.created + 3.0 + rng.random(n) * np.minimum(60.0, room - 10.0)
    age = days - start_nc
    lost = wants & (age > 30.0) & (rng.random(n) < 0.55)
    lost_at = start_nc + 14.0 + rng.random(n) * np.maximum(age - 15.0, 0.0)
    open_stage = np.minimum((rng.random(n) * 4.0 * np.minimum(1.0, age / 60.0)).astype(np.int64), 3)
    start_won = np.maximum(people.created, people.decision - rng.uniform(5.0, 45.0, n))

    # Trial accounts: half of the non-customer companies with an open deal.
    open_nc = wants & ~lost
    first_open = np.full(n_comp, np.inf)
    np.minimum.at(first_open, company[open_nc], start_nc[open_nc])
    trial_comp = np.flatnonzero(
        np.isfinite(first_open) & ~np.isfinite(first_conv) & (rng.random(n_comp) < 0.5)
    )

    acc_comp = np.concatenate([cust_comp, trial_comp])
    n_cust = len(cust_comp)
    acc_ids = _uuids(ids, len(acc_comp))
    status = np.where(rng.random(len(acc_comp)) < 0.12, "churned", "active").astype(object)
    status[n_cust:] = "trial"
    mrr = np.round(_PLAN_MRR[comp.plan[acc_comp]] * np.exp(rng.normal(0.0, 0.3, len(acc_comp))), 2)
    mrr[n_cust:] = 0.0
    accounts = pd.DataFrame(
        {
            "id": acc_ids,
            "company_id": comp.frame["id"].to_numpy()[acc_comp],
            "name": comp.frame["name"].to_numpy()[acc_comp],
            "plan": _pick(_PLANS, comp.plan[acc_comp]),
            "mrr": mrr,
            "status": status,
            "created_at": _ts(t0, np.concatenate([first_conv[cust_comp], first_open[trial_comp]])),
        }
    )
    account_of_company = np.full(n_comp, -1, dtype=np.int64)
    account_of_company[acc_comp] = np.arange(len(acc_comp))

    won_idx = np.flatnonzero(converted)
    nc_idx = np.flatnonzero(wants)
    deal_of = np.concatenate([won_idx, nc_idx])
    k = len(deal_of)
    is_won_deal = np.arange(k) < len(won_idx)
    is_lost = np.concatenate([np.zeros(len(won_idx), dtype=bool), lost[nc_idx]])
    start = np.concatenate([start_won[won_idx], start_nc[nc_idx]])
    closed = np.where(
        is_won_deal,
        people.decision[deal_of],
        np.where(is_lost, lost_at[deal_of], np.nan),
    )
    stage = np.where(
        is_won_deal,
        "closed_won",
        np.where(is_lost, "closed_lost", _pick(_OPEN_STAGES, open_stage[deal_of])),
    ).astype(object)
    is_won = np.full(k, None, dtype=object)
    is_won[is_won_deal] = True
    is_won[is_lost] = False
    acc_row = account_of_company[company[deal_of]]
    has_account = (acc_row >= 0) & ~is_lost
    account_id = np.full(k, None, dtype=object)
    account_id[has_account] = acc_ids[acc_row[has_account]]
    employees = comp.employees[company[deal_of]]
    amount = np.round(
        np.exp(rng.normal(np.log(4000.0) + 0.35 * np.log(employees / 50.0), 0.5, k)), 2
    )
    plan_name = pd.Series(_pick(_PLANS, comp.plan[company[deal_of]])).str.capitalize()
    deals = pd.DataFrame(
        {
            "id": _uuids(ids, k),
            "account_id": account_id,
            "contact_id": contact_ids[deal_of],
            "owner_id": org.users["id"].to_numpy()[owner[deal_of]],
            "name": (
                pd.Series(comp.frame["name"].to_numpy()[company[deal_of]]) + " - " + plan_name
            ).to_numpy(),
            "stage": stage,
            "amount": amount,
            "currency": np.full(k, "USD", dtype=object),
            "created_at": _ts(t0, start),
            "expected_close_date": _to_dates(t0, start + rng.uniform(30.0, 90.0, k)),
            "closed_at": _ts(t0, closed),
            "is_won": is_won,
        }
    )
    span = np.stack([start, np.where(np.isnan(closed), float(days), closed)])
    return accounts, deals, deal_of, span


def _contacts_frame(
    rng: np.random.Generator,
    people: _People,
    comp: _Companies,
    org: _Org,
    owner: np.ndarray,
    stage: np.ndarray,
    contact_ids: np.ndarray,
    t0: np.datetime64,
) -> pd.DataFrame:
    """Build the ``contacts`` table."""
    n = len(contact_ids)
    first, last = _people(rng, people.gender)
    domain = comp.frame["domain"].to_numpy()[people.company]
    local = _slug(pd.Series(first)) + "." + _slug(pd.Series(last))
    at_domain = "@" + pd.Series(domain)
    email = _dedupe(local, key=local + at_domain) + at_domain
    phone = (
        "+1-"
        + pd.Series(rng.integers(200, 1000, n)).astype(str)
        + "-555-"
        + pd.Series(rng.integers(0, 10_000, n)).astype(str).str.zfill(4)
    )
    return pd.DataFrame(
        {
            "id": contact_ids,
            "company_id": comp.frame["id"].to_numpy()[people.company],
            "owner_id": org.users["id"].to_numpy()[owner],
            "first_name": first,
            "last_name": last,
            "email": email.to_numpy(),
            "phone": phone.to_numpy(),
            "job_title": _pick(tuple(t[0] for t in _TITLES), people.title),
            "lead_source": _pick(_LEAD_SOURCES, people.source),
            "lifecycle_stage": stage,
            "gender": _pick(_GENDERS, people.gender),
            "ai_consent": rng.random(n) < 0.95,
            "created_at": _ts(t0, people.created),
        }
    )


def _objects(values: list[Any]) -> np.ndarray:
    """Wrap a list (of dicts, say) in a 1-D object array without numpy unpacking it."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _activities_frame(
    rng: np.random.Generator,
    ids: np.random.Generator,
    people: _People,
    contacts: pd.DataFrame,
    org: _Org,
    owner: np.ndarray,
    deals: pd.DataFrame,
    deal_of: np.ndarray,
    deal_span: np.ndarray,
    days: int,
    t0: np.datetime64,
) -> pd.DataFrame:
    """Build rep activities: background touches plus extra ones during each deal."""
    n = len(people.created)
    deal_row = np.full(n, -1, dtype=np.int64)
    deal_row[deal_of] = np.arange(len(deal_of))

    # Background touches over the contact's whole life, more for higher intent.
    active = days - people.created
    base_n = rng.poisson(active * 0.02 * np.exp(0.3 * people.intent))
    base_c = np.repeat(np.arange(n), base_n)
    base_t = people.created[base_c] + rng.random(len(base_c)) * active[base_c]
    base_type = _cat(rng.random(len(base_c)), _ACTIVITY_WEIGHTS)
    # Deal work: calls and meetings while the deal is open.
    extra_n = rng.poisson(3.0, len(deal_of))
    extra_d = np.repeat(np.arange(len(deal_of)), extra_n)
    extra_c = deal_of[extra_d]
    lo, hi = deal_span[0][extra_d], deal_span[1][extra_d]
    extra_t = lo + rng.random(len(extra_d)) * (hi - lo)
    extra_type = _cat(rng.random(len(extra_d)), np.array([0.25, 0.3, 0.25, 0.1, 0.1]))

    contact = np.concatenate([base_c, extra_c])
    t = np.concatenate([base_t, extra_t])
    t = np.minimum(t, days - 1.0 / _DAY_S)
    kind = np.concatenate([base_type, extra_type])
    m = len(contact)
    row = deal_row[contact]
    # Row -1 (no deal) picks the appended sentinel, which no time can satisfy.
    span_lo = np.append(deal_span[0], np.inf)[row]
    span_hi = np.append(deal_span[1], -np.inf)[row]
    in_deal = (t >= span_lo) & (t <= span_hi)
    deal_id = np.full(m, None, dtype=object)
    deal_id[in_deal] = deals["id"].to_numpy()[row[in_deal]]

    subjects = np.array([_ACTIVITY_SUBJECTS[a] for a in _ACTIVITY_TYPES], dtype=object)
    subject = subjects[kind, rng.integers(0, subjects.shape[1], m)]
    bodies = np.array([_ACTIVITY_BODIES[a] for a in _ACTIVITY_TYPES], dtype=object)
    full_name = (contacts["first_name"] + " " + contacts["last_name"]).to_numpy()
    body = bodies[kind] + full_name[contact] + "."

    u = rng.random((3, m))
    ints = rng.integers(1, 60, (2, m))
    details = np.full(m, None, dtype=object)
    sel = kind == 0
    details[sel] = _objects(
        [{"direction": d} for d in np.where(u[0][sel] < 0.7, "outbound", "inbound").tolist()]
    )
    sel = kind == 1
    details[sel] = _objects(
        [
            {"duration_s": d, "outcome": o}
            for d, o in zip(
                (30 + u[0][sel] * 1800).astype(np.int64).tolist(),
                _pick(_CALL_OUTCOMES, _cat(u[1][sel], np.array([0.5, 0.3, 0.2]))).tolist(),
                strict=True,
            )
        ]
    )
    sel = kind == 2
    details[sel] = _objects(
        [
            {"duration_min": d, "attendees": a, "location": loc}
            for d, a, loc in zip(
                (15 * (1 + u[0][sel] * 4).astype(np.int64)).tolist(),
                (ints[0][sel] % 6 + 2).tolist(),
                _pick(_MEETING_LOCATIONS, (u[1][sel] * 3).astype(np.int64)).tolist(),
                strict=True,
            )
        ]
    )
    sel = kind == 4
    details[sel] = _objects(
        [
            {"due_in_days": d, "completed": c}
            for d, c in zip(
                (ints[1][sel] % 14 + 1).tolist(), (u[2][sel] < 0.6).tolist(), strict=True
            )
        ]
    )

    order = np.argsort(t, kind="stable")
    return pd.DataFrame(
        {
            "id": _uuids(ids, m),
            "contact_id": contacts["id"].to_numpy()[contact[order]],
            "deal_id": deal_id[order],
            "user_id": org.users["id"].to_numpy()[owner[contact[order]]],
            "type": _pick(_ACTIVITY_TYPES, kind[order]),
            "subject": subject[order],
            "body": body[order],
            "occurred_at": _ts(t0, t[order]),
            "details": details[order],
        }
    )


# --------------------------------------------------------------------------------------------
# Parquet round trip
# --------------------------------------------------------------------------------------------


def _uuid_column(values: pd.Series) -> pa.ExtensionArray:
    """Convert a column of :class:`uuid.UUID` (or ``None``) to an Arrow ``uuid`` array."""
    import pyarrow as pa

    return pa.array([None if v is None else v.bytes for v in values.tolist()], type=pa.uuid())


def _uuid_objects(column: pa.ChunkedArray) -> np.ndarray:
    """Convert an Arrow ``uuid`` (or 16-byte binary) column back to :class:`uuid.UUID` objects.

    Repeated ids (``contact_id`` in event tables) are converted once each via a dictionary
    encoding.
    """
    import pyarrow as pa

    combined = column.combine_chunks()
    if isinstance(combined, pa.ExtensionArray):
        combined = combined.storage
    encoded = combined.dictionary_encode()
    from_bytes = int.from_bytes
    uniques = [_uuid_from_int(from_bytes(b, "big")) for b in encoded.dictionary.to_pylist()]
    lookup = _objects([*uniques, None])
    codes = encoded.indices.fill_null(len(uniques)).to_numpy(zero_copy_only=False)
    return lookup[codes]


def _to_arrow(name: str, frame: pd.DataFrame) -> pa.Table:
    """Convert a frame to Arrow: UUIDs as the ``uuid`` type, ``details`` dicts as JSON text."""
    import pyarrow as pa

    uuid_cols = _UUID_COLUMNS.get(name, ())
    plain = frame.drop(columns=list(uuid_cols))
    for col in _JSON_COLUMNS.get(name, ()):
        plain[col] = _objects([None if v is None else json.dumps(v) for v in plain[col].tolist()])
    table = pa.Table.from_pandas(plain, preserve_index=False)
    for col in uuid_cols:
        table = table.add_column(frame.columns.get_loc(col), col, _uuid_column(frame[col]))
    # Keep only the pandas dtypes (Arrow can't tell an all-True object column from a bool one).
    dtypes = {col: str(dtype) for col, dtype in frame.dtypes.items()}
    return table.replace_schema_metadata({_DTYPES_KEY: json.dumps(dtypes)})


def _from_arrow(name: str, table: pa.Table) -> pd.DataFrame:
    """Invert :func:`_to_arrow`."""
    uuid_cols = _UUID_COLUMNS.get(name, ())
    frame = table.drop_columns(list(uuid_cols)).to_pandas()
    metadata = table.schema.metadata or {}
    dtypes = json.loads(metadata.get(_DTYPES_KEY.encode(), b"{}"))
    for col, dtype in dtypes.items():
        if col in frame.columns and dtype == "object" and frame[col].dtype != object:
            frame[col] = frame[col].astype(object)
    for col in uuid_cols:
        frame.insert(table.column_names.index(col), col, _uuid_objects(table.column(col)))
    for col in _JSON_COLUMNS.get(name, ()):
        frame[col] = _objects([None if v is None else json.loads(v) for v in frame[col].tolist()])
    return frame


def write_crm(crm: SyntheticCRM, out_dir: Path) -> dict[str, Path]:
    """Write every frame of ``crm`` to ``out_dir/<name>.parquet``.

    UUID columns are stored with the Parquet ``UUID`` logical type (Arrow ``uuid`` extension)
    and ``activities.details`` as JSON text; :func:`read_crm` restores both.

    Args:
        crm: The synthetic CRM to write.
        out_dir: Destination folder (created when missing).

    Returns:
        Mapping of table name to the written parquet file.

    """
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in crm.tables().items():
        path = out_dir / f"{name}.parquet"
        pq.write_table(_to_arrow(name, frame), path)
        paths[name] = path
    return paths


def read_crm(out_dir: Path) -> SyntheticCRM:
    """Read a CRM written by :func:`write_crm`.

    Args:
        out_dir: Folder holding one ``<name>.parquet`` per table.

    Returns:
        The :class:`SyntheticCRM`, with UUID and ``details`` columns restored.

    Raises:
        FileNotFoundError: When a table's parquet file is missing.

    """
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    frames: dict[str, pd.DataFrame] = {}
    for field in fields(SyntheticCRM):
        path = out_dir / f"{field.name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"missing synthetic CRM table {path}")
        frames[field.name] = _from_arrow(field.name, pq.read_table(path))
    return SyntheticCRM(**frames)
