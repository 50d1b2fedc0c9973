"""Segments of a send's recipient: industry, seniority and deal stage.

A contact's segment is read from the CRM: ``industry`` of its company, ``seniority`` bucketed
from its job title (:func:`features.extractors.job_seniority`) and ``stage`` of its latest
deal (``no_deal`` without one). Missing values are the segment ``unknown``.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd

#: Segment dimensions of the performance tables and the bandit.
SEGMENTS: tuple[str, ...] = ("industry", "seniority", "stage")

#: Seniority levels of :func:`features.extractors.job_seniority`, by level.
SENIORITY_LABELS: tuple[str, ...] = ("individual", "manager", "director", "executive")

UNKNOWN = "unknown"
NO_DEAL = "no_deal"


def seniority_labels(titles: pd.Series) -> pd.Series:
    """Return the seniority label of each job title (``unknown`` when missing)."""
    from features.extractors import job_seniority

    levels = job_seniority(titles)
    labels = np.array(SENIORITY_LABELS, dtype=object)
    out = np.full(len(levels), UNKNOWN, dtype=object)
    known = levels.notna().to_numpy()
    out[known] = labels[levels[known].astype(int).to_numpy()]
    return pd.Series(out, index=titles.index)


def contexts_from_frames(
    contacts: pd.DataFrame, companies: pd.DataFrame, deals: pd.DataFrame
) -> pd.DataFrame:
    """Return one row per contact: ``contact_id``, ``deal_id`` and the three segments.

    Args:
        contacts: ``id``, ``company_id``, ``job_title``.
        companies: ``id``, ``industry``.
        deals: ``id``, ``contact_id``, ``stage``, ``created_at`` (latest deal per contact wins).
    """
    industry = contacts["company_id"].map(companies.set_index("id")["industry"])
    latest = (
        deals.dropna(subset=["contact_id"])
        .sort_values("created_at")
        .drop_duplicates("contact_id", keep="last")
        .set_index("contact_id")
    )
    frame = pd.DataFrame(
        {
            "contact_id": contacts["id"].to_numpy(),
            "deal_id": contacts["id"].map(latest["id"]).to_numpy(),
            "industry": industry.fillna(UNKNOWN).astype(str).to_numpy(),
            "seniority": seniority_labels(contacts["job_title"]).to_numpy(),
            "stage": contacts["id"].map(latest["stage"]).fillna(NO_DEAL).astype(str).to_numpy(),
        }
    )
    frame["deal_id"] = frame["deal_id"].astype(object).where(frame["deal_id"].notna(), None)
    return frame


def load_contexts(url: str | None = None, synthetic_only: bool = True) -> pd.DataFrame:
    """Return the segment context of the CRM's contacts (see :func:`contexts_from_frames`).

    Args:
        url: Database URL.
        synthetic_only: Keep only contacts with a company and a job title (the synthetic CRM's
            contacts; the real leads loaded as contacts have neither).
    """
    from sqlalchemy import select

    from haste.db import Company, Contact, Deal, session_scope

    with session_scope(url) as session:
        contacts = pd.DataFrame(
            session.execute(select(Contact.id, Contact.company_id, Contact.job_title)).all(),
            columns=["id", "company_id", "job_title"],
        )
        companies = pd.DataFrame(
            session.execute(select(Company.id, Company.industry)).all(), columns=["id", "industry"]
        )
        deals = pd.DataFrame(
            session.execute(select(Deal.id, Deal.contact_id, Deal.stage, Deal.created_at)).all(),
            columns=["id", "contact_id", "stage", "created_at"],
        )
    if synthetic_only:
        contacts = contacts[contacts["company_id"].notna() & contacts["job_title"].notna()]
    return contexts_from_frames(contacts.reset_index(drop=True), companies, deals)


def contact_context(
    url: str | None, contact_id: uuid.UUID | None = None, deal_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """Return the segment context of one contact, or of a deal's contact and stage.

    Raises:
        LookupError: When the contact or deal is not in the CRM.
    """
    from sqlalchemy import select

    from haste.db import Company, Contact, Deal, session_scope

    with session_scope(url) as session:
        deal = None
        if deal_id is not None:
            deal = session.get(Deal, deal_id)
            if deal is None:
                raise LookupError(f"deal {deal_id} not found in the CRM")
            contact_id = contact_id or deal.contact_id
        contact = session.get(Contact, contact_id) if contact_id is not None else None
        if contact is None and deal is None:
            raise LookupError(f"contact {contact_id} not found in the CRM")
        if deal is None and contact is not None:
            deal = session.scalars(
                select(Deal).where(Deal.contact_id == contact.id).order_by(Deal.created_at.desc())
            ).first()
        company = (
            session.get(Company, contact.company_id)
            if contact is not None and contact.company_id
            else None
        )
        title = contact.job_title if contact is not None else None
        return {
            "contact_id": str(contact.id) if contact is not None else None,
            "deal_id": str(deal.id) if deal is not None else None,
            "industry": (company.industry if company is not None else None) or UNKNOWN,
            "seniority": seniority_labels(pd.Series([title], dtype=object)).iloc[0],
            "stage": deal.stage if deal is not None else NO_DEAL,
        }
