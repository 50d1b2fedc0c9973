"""Vocabularies, effect sizes and sampling helpers of the seeded synthetic CRM."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd

#: Expected share of converted contacts (the generator calibrates its intercept to it).
TARGET_CONVERSION_RATE = 0.30


_SAFE_UNKNOWN = uuid.SafeUUID.unknown

_DAY_S = 86_400


_POST_CONVERSION_BOOST = 1.0


#: Interest decays from 1 to this floor with time constant ``_INTEREST_TAU`` days after creation.
_INTEREST_FLOOR = 0.15


_INTEREST_TAU = 40.0


#: Interest of a converted contact after conversion (customers keep using the site).
_CUSTOMER_INTEREST = 0.5


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


def _objects(values: list[Any]) -> np.ndarray:
    """Wrap a list (of dicts, say) in a 1-D object array without numpy unpacking it."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
