"""A small CRM with known anomalies for the CRM anomaly tests (SQLite and PostgreSQL alike).

:func:`seed_anomaly_crm` writes, over the ``DAYS`` days before ``END`` (a fixed date, so the
tests pass :data:`END` as the window's end):

* two teams (``Enterprise Sales``, ``SMB Growth``) with two reps each, and one rep without a team;
* activities every day: Poisson(20) for Enterprise Sales, Poisson(8) for SMB Growth, Poisson(2)
  for the rep without a team, and **a spike of 90 Enterprise Sales activities on SPIKE_DAY**;
* deals created every day (amounts around 10,000), about half closed later (60 % won);
* lead scores every day (mean around 50);
* AI calls every day for both teams: SMB Growth's cost **doubles from SHIFT_DAY on** (a level
  shift); Enterprise Sales' stays flat.

It returns the exact figures the tests compare with (daily counts per team...).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import insert

from haste.db import (
    Activity,
    AIInteraction,
    Contact,
    Deal,
    LeadScore,
    Team,
    User,
    session_scope,
    upgrade_database,
)

END = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAYS = 60
SPIKE_DAY = dt.date(2026, 5, 10)
SHIFT_DAY = dt.date(2026, 5, 15)
TEAMS = ("Enterprise Sales", "SMB Growth")
ACTIVITY_RATES = {"Enterprise Sales": 20, "SMB Growth": 8, None: 2}


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def seed_anomaly_crm(url: str, seed: int = 3) -> dict[str, Any]:
    """Migrate ``url`` and write the CRM described in the module docstring.

    Returns:
        ``activities`` ({team or None: {date: count}}), ``ai_cost`` ({team: {date: cost}}),
        ``teams`` ({name: id}), ``days`` (the dates written, oldest first).
    """
    upgrade_database(url)
    rng = np.random.default_rng(seed)
    first = (END - dt.timedelta(days=DAYS)).date()
    days = [first + dt.timedelta(days=i) for i in range(DAYS)]
    teams = {name: uuid.uuid4() for name in TEAMS}
    users: dict[str | None, list[uuid.UUID]] = {
        name: [uuid.uuid4(), uuid.uuid4()] for name in TEAMS
    }
    users[None] = [uuid.uuid4()]
    contact_id = uuid.uuid4()
    activities: dict[str | None, dict[dt.date, int]] = {team: {} for team in ACTIVITY_RATES}
    ai_cost: dict[str, dict[dt.date, Decimal]] = {team: {} for team in TEAMS}
    activity_rows: list[dict[str, Any]] = []
    deal_rows: list[dict[str, Any]] = []
    score_rows: list[dict[str, Any]] = []
    ai_rows: list[dict[str, Any]] = []
    for day in days:
        start = _day_start(day)
        for team, rate in ACTIVITY_RATES.items():
            count = int(rng.poisson(rate))
            if team == "Enterprise Sales" and day == SPIKE_DAY:
                count = 90
            activities[team][day] = count
            for _ in range(count):
                activity_rows.append(
                    {
                        "id": uuid.uuid4(),
                        "user_id": users[team][int(rng.integers(len(users[team])))],
                        "type": "call",
                        "occurred_at": start + dt.timedelta(seconds=int(rng.integers(86_400))),
                    }
                )
        for _ in range(int(rng.poisson(4))):
            created = start + dt.timedelta(seconds=int(rng.integers(86_400)))
            closed = None
            is_won = None
            if rng.random() < 0.5:
                closed = created + dt.timedelta(days=float(rng.uniform(3, 30)))
                closed = closed if closed < END else None
                is_won = None if closed is None else bool(rng.random() < 0.6)
            deal_rows.append(
                {
                    "id": uuid.uuid4(),
                    "name": "Deal",
                    "stage": "open" if closed is None else ("won" if is_won else "lost"),
                    "amount": float(rng.normal(10_000, 1_500)),
                    "created_at": created,
                    "closed_at": closed,
                    "is_won": is_won,
                }
            )
        for _ in range(6):
            score_rows.append(
                {
                    "id": uuid.uuid4(),
                    "contact_id": contact_id,
                    "score": int(np.clip(rng.normal(50, 8), 0, 100)),
                    "calculated_at": start + dt.timedelta(seconds=int(rng.integers(86_400))),
                }
            )
        for team in TEAMS:
            level = 2.0 if team == "SMB Growth" and day >= SHIFT_DAY else 1.0
            total = Decimal(0)
            for _ in range(5):
                cost = Decimal(str(round(level * float(rng.uniform(0.15, 0.25)), 6)))
                total += cost
                ai_rows.append(
                    {
                        "id": uuid.uuid4(),
                        "team_id": teams[team],
                        "user_id": users[team][0],
                        "interaction_type": "llm",
                        "cost_usd": cost,
                        "created_at": start + dt.timedelta(seconds=int(rng.integers(86_400))),
                    }
                )
            ai_cost[team][day] = total
    with session_scope(url) as session:
        session.add_all(Team(id=team_id, name=name) for name, team_id in teams.items())
        session.flush()
        for team, ids in users.items():
            for i, user_id in enumerate(ids):
                slug = (team or "none").split()[0].lower()
                session.add(
                    User(
                        id=user_id,
                        team_id=None if team is None else teams[team],
                        email=f"{slug}{i}@anomaly.example",
                        role="rep",
                    )
                )
        session.add(Contact(id=contact_id, first_name="Ada"))
        session.flush()
        session.execute(insert(Activity), activity_rows)
        session.execute(insert(Deal), deal_rows)
        session.execute(insert(LeadScore), score_rows)
        session.execute(insert(AIInteraction), ai_rows)
    return {"activities": activities, "ai_cost": ai_cost, "teams": teams, "days": days}
