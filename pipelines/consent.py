"""AI-processing consent: contacts without ``ai_consent`` never reach features or training."""

from __future__ import annotations

import dataclasses
import logging

from pipelines.synthetic_store import SyntheticCRM

logger = logging.getLogger(__name__)

#: Per-contact frames of the synthetic CRM and their contact-id column.
_CONTACT_FRAMES: dict[str, str] = {
    "contacts": "id",
    "email_events": "contact_id",
    "web_events": "contact_id",
    "social_events": "contact_id",
    "labels": "contact_id",
}


def consenting_crm(crm: SyntheticCRM) -> SyntheticCRM:
    """Return the CRM restricted to contacts who consented to AI processing.

    The contact's own rows and event streams are dropped; shared records (companies, accounts,
    deals, activities) stay, as the CRM itself keeps them.

    Args:
        crm: The full CRM.

    Returns:
        A copy whose per-contact frames hold only consenting contacts.
    """
    allowed = set(crm.contacts.loc[crm.contacts["ai_consent"].astype(bool), "id"])
    changes = {
        name: getattr(crm, name)[getattr(crm, name)[column].isin(allowed)].reset_index(drop=True)
        for name, column in _CONTACT_FRAMES.items()
    }
    dropped = len(crm.contacts) - len(allowed)
    logger.info(
        "consent: %d of %d contacts excluded from AI processing", dropped, len(crm.contacts)
    )
    return dataclasses.replace(crm, **changes)
