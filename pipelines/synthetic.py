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

import numpy as np
import pandas as pd

from pipelines.synthetic_base import (
    TARGET_CONVERSION_RATE,
    _calibrate_intercept,
    _sigmoid,
    _ts,
    _uuids,
)
from pipelines.synthetic_draws import (
    make_companies,
    make_email,
    make_org,
    make_people,
    make_stream,
)
from pipelines.synthetic_frames import (
    _activities_frame,
    _contacts_frame,
    _deals_accounts,
    _email_frame,
    _event_state,
    _social_frame,
    _web_frame,
    _web_high_prob,
)
from pipelines.synthetic_store import SyntheticCRM


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

    org = make_org(r_org, ids, n, t0)
    comp = make_companies(r_comp, ids, max(5, n // 4), t0)
    people = make_people(r_people, n, comp, days)
    intent = people.intent

    # Behaviour, as candidates whose acceptance depends on (possibly boosted) intent.
    email = make_email(r_email, people, days, t0)
    web = make_stream(r_web, people, days, np.full(n, 0.12), 0.8)
    web_u = r_web.random((5, len(web.t)))  # high page?, page, customer page?, 2 x duration
    form = make_stream(r_form, people, days, np.full(n, 0.012), 1.0)
    form_u = r_form.random((3, len(form.t)))  # sales form?, page, duration noise
    has_social = r_social.random(n) < 0.6
    social = make_stream(r_social, people, days, 0.05 * has_social, 0.7)
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
