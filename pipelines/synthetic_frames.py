"""Table builders of the synthetic CRM: events, deals and accounts, contacts, activities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.synthetic_base import (
    _ACTIVITY_BODIES,
    _ACTIVITY_SUBJECTS,
    _ACTIVITY_TYPES,
    _ACTIVITY_WEIGHTS,
    _CALL_OUTCOMES,
    _CUSTOMER_INTEREST,
    _CUSTOMER_PAGES,
    _DAY_S,
    _GENDERS,
    _HIGH_FORMS,
    _HIGH_PAGE_WEIGHTS,
    _HIGH_PAGES,
    _INTEREST_FLOOR,
    _INTEREST_TAU,
    _LEAD_SOURCES,
    _LOW_FORMS,
    _LOW_PAGE_WEIGHTS,
    _LOW_PAGES,
    _MEETING_LOCATIONS,
    _OPEN_STAGES,
    _PLAN_MRR,
    _PLANS,
    _PLATFORMS,
    _POST_CONVERSION_BOOST,
    _SOCIAL_TYPES,
    _TITLES,
    _cat,
    _dedupe,
    _objects,
    _people,
    _pick,
    _sigmoid,
    _slug,
    _ts,
    _uuids,
)


@dataclass(frozen=True)
class _Org:
    teams: pd.DataFrame
    users: pd.DataFrame
    rep_idx: np.ndarray


@dataclass(frozen=True)
class _Companies:
    frame: pd.DataFrame
    employees: np.ndarray
    industry: np.ndarray
    plan: np.ndarray


@dataclass(frozen=True)
class _People:
    company: np.ndarray
    gender: np.ndarray
    source: np.ndarray
    title: np.ndarray
    intent: np.ndarray
    created: np.ndarray
    decision: np.ndarray


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
