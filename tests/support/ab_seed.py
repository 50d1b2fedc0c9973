"""A CRM with a known A/B lift on outcomes (tests of ``training.ab_outcomes``).

Seeded, for ``lead_scoring`` (champion v3, challenger v4; window 30 days at ``NOW``):

* champion: 300 contacts exposed 60 days ago (closed); 60 won a deal 10 days after their
  exposure; 20 more won one 40 days after (outside the window); 10 won one before it;
* challenger: 300 closed exposures, 90 converted (20 % vs 30 %: a 10-point lift);
* open windows: 50 champion (15 of them already converted) and 30 challenger exposures from
  10 days ago, never counted;
* 5 contacts first exposed to the champion, then to the challenger (crossovers; 2 converted);
* noise that is not an exposure: a refused call (no variant), a second decision of a contact,
  a ``next_actions`` call with a variant; and 20 + 20 closed ``lead_scoring_crm`` exposures
  (4 and 8 conversions).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from haste.db import Contact, Deal, session_scope
from haste.records import InteractionRecord

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
CLOSED_AT = NOW - dt.timedelta(days=60)
OPEN_AT = NOW - dt.timedelta(days=10)


@dataclass
class Seeder:
    """Builds contacts, exposures and outcomes (rows added by :func:`seed_ab_crm`)."""

    rows: list[object] = field(default_factory=list)

    def contact(self) -> uuid.UUID:
        contact = Contact(id=uuid.uuid4(), first_name="Test", lifecycle_stage="lead")
        self.rows.append(contact)
        return contact.id

    def expose(
        self,
        contact_id: uuid.UUID,
        variant: str | None,
        when: dt.datetime,
        model: str = "lead_scoring",
        version: str = "3",
        feature: str = "lead_score",
        error: str | None = None,
    ) -> None:
        record = InteractionRecord(
            interaction_type=feature,
            feature=feature,
            input_data={"contact_id": str(contact_id), "variant": variant},
            output_data={"score": 50.0, "variant": variant},
            model_used=None if error else f"{model}@v{version}",
            variant=variant,
            error_message=error,
        )
        row = record.to_row()
        row.created_at = when
        self.rows.append(row)

    def win(self, contact_id: uuid.UUID, when: dt.datetime) -> None:
        self.rows.append(
            Deal(
                contact_id=contact_id,
                name="deal",
                stage="closed_won",
                is_won=True,
                closed_at=when,
                created_at=when - dt.timedelta(days=3),
            )
        )

    def population(
        self, variant: str, exposed: int, converted: int, when: dt.datetime, **kwargs: str
    ) -> list[uuid.UUID]:
        ids = []
        for index in range(exposed):
            contact = self.contact()
            self.expose(contact, variant, when + dt.timedelta(minutes=index), **kwargs)
            if index < converted:
                self.win(contact, when + dt.timedelta(days=10))
            ids.append(contact)
        return ids


def seed_ab_crm(url: str) -> str:
    """Seed the CRM described in the module docstring into ``url`` and return ``url``."""
    with session_scope(url) as session:
        seed = Seeder()
        champions = seed.population("champion", 300, 60, CLOSED_AT)
        for contact in champions[100:120]:  # won, but 40 days after exposure: not converted
            seed.win(contact, CLOSED_AT + dt.timedelta(days=40))
        for contact in champions[200:210]:  # won before the exposure: not converted
            seed.win(contact, CLOSED_AT - dt.timedelta(days=5))
        for contact in champions[:3]:  # a later decision of the same contact: one exposure
            seed.expose(contact, "champion", CLOSED_AT + dt.timedelta(days=2))
        seed.population("challenger", 300, 90, CLOSED_AT + dt.timedelta(hours=1), version="4")
        seed.population("champion", 50, 15, OPEN_AT)  # windows still open
        seed.population("challenger", 30, 9, OPEN_AT, version="4")
        crossed = seed.population("champion", 5, 2, CLOSED_AT + dt.timedelta(hours=2))
        for contact in crossed:  # the split changed: later exposed to the challenger
            seed.expose(contact, "challenger", CLOSED_AT + dt.timedelta(days=1), version="4")
        refused = seed.contact()
        seed.expose(refused, None, CLOSED_AT, error="403: no consent")
        seed.win(refused, CLOSED_AT + dt.timedelta(days=1))
        other = seed.contact()
        seed.expose(other, "challenger", CLOSED_AT, feature="next_actions")
        seed.win(other, CLOSED_AT + dt.timedelta(days=1))
        seed.population("champion", 20, 4, CLOSED_AT, model="lead_scoring_crm", version="1")
        seed.population("challenger", 20, 8, CLOSED_AT, model="lead_scoring_crm", version="2")
        session.add_all([row for row in seed.rows if isinstance(row, Contact)])
        session.flush()
        session.add_all([row for row in seed.rows if not isinstance(row, Contact)])
    return url
