"""Seeded draws of the synthetic CRM: the org, companies, contacts and behaviour candidates.

Each function draws from the stream it is given (see :func:`pipelines.synthetic.generate_crm`,
which spawns them from one seed and calls them in a fixed order): teams and users, companies,
the contacts' attributes and latent intent, the weekly email campaigns and the candidate event
times of a behavioural stream. Turning them into output tables is
:mod:`pipelines.synthetic_frames`' job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.synthetic_base import (
    _CAMPAIGN_THEMES,
    _COMPANY_ADJ,
    _COMPANY_NOUN,
    _COMPANY_SUFFIX,
    _COUNTRIES,
    _COUNTRY_WEIGHTS,
    _DAY_S,
    _GENDER_WEIGHTS,
    _GENDERS,
    _INDUSTRIES,
    _INDUSTRY_EFFECT,
    _INDUSTRY_WEIGHTS,
    _LEAD_SOURCE_BASE,
    _LEAD_SOURCE_EFFECT,
    _LEAD_SOURCE_SHIFT,
    _POST_CONVERSION_BOOST,
    _TEAM_NAMES,
    _TITLES,
    _cat,
    _dedupe,
    _people,
    _pick,
    _slug,
    _ts,
    _uuids,
)
from pipelines.synthetic_frames import (
    _Companies,
    _Email,
    _Org,
    _People,
    _Stream,
)


def make_org(
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


def make_companies(
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


def make_people(rng: np.random.Generator, n: int, comp: _Companies, days: int) -> _People:
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


def make_email(rng: np.random.Generator, people: _People, days: int, t0: np.datetime64) -> _Email:
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


def make_stream(
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
