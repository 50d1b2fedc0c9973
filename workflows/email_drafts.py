"""The compose request of a held ``send_email`` action (composed when a manager approves).

The workflow engine never writes the email itself: on approval the gateway sends this
request through the LLM layer (``compose_email``, the offline provider by default) and passes
the draft to :func:`workflows.reviews.decide_review`, which records it as sent.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from haste.db.models import Company, Contact, User
from haste.db.session import session_scope
from haste.db.workflow_tables import ReviewItem
from workflows.reviews import parse_review_id

DEFAULT_SENDER = "The hasteCRM team"


def compose_request_for_review(url: str, review_id: str) -> dict[str, Any] | None:
    """Return the ``compose_email`` body of a pending ``send_email`` item (``None``: not one).

    Args:
        url: Database URL.
        review_id: The review item.
    """
    key = parse_review_id(review_id)
    with session_scope(url) as session:
        item = session.get(ReviewItem, key)
        if item is None or item.status != "pending":
            return None
        payload = item.payload or {}
        if payload.get("action_type") != "send_email" or item.contact_id is None:
            return None
        row = session.execute(
            select(Contact, Company.name, Company.industry, User.full_name)
            .outerjoin(Company, Company.id == Contact.company_id)
            .outerjoin(User, User.id == Contact.owner_id)
            .where(Contact.id == item.contact_id)
        ).first()
        if row is None:
            return None
        contact, company, industry, sender = row
        params = payload.get("params", {})
        return {
            "context": {
                "recipient": {
                    "contact_id": str(uuid.UUID(str(contact.id))),
                    "first_name": (contact.first_name or "there").strip() or "there",
                    "last_name": contact.last_name,
                    "email": contact.email,
                    "title": contact.job_title,
                    "company": company,
                    "industry": industry,
                },
                "purpose": params.get("purpose", "follow_up"),
                "tone": params.get("tone", "friendly"),
                "sender_name": (sender or DEFAULT_SENDER).strip() or DEFAULT_SENDER,
            }
        }
