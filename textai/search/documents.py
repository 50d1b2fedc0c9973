"""Searchable documents built from the CRM: contacts, companies, deals, emails, transcripts.

One :class:`SearchDocument` is built per contact, company, deal, email activity and call or
meeting activity (the activity body is the transcript). ``attributes`` holds the exact,
filterable fields; dates are ISO ``YYYY-MM-DD`` strings:

========== ===================================================================================
entity     attributes
========== ===================================================================================
company    industry, country, employee_count, annual_revenue, domain, plan, account_status,
           created_at
contact    job_title, lifecycle_stage, lead_source, email, company_id, company_name, industry,
           country, employee_count, owner_name, created_at, last_activity_at,
           last_email_(received_/sent_)at, last_call_at, last_meeting_at, lead_score,
           lead_score_band (:mod:`textai.search.contact_facts`)
deal       amount, currency, stage, is_won, expected_close_date, closed_at, created_at,
           company_id, company_name, industry, country, employee_count, contact_id,
           contact_name, owner_name
email      activity_type (email), occurred_at, created_at, direction, contact_id, contact_name,
           company_id, company_name, industry, country, deal_id, source
transcript activity_type (call / meeting), occurred_at, created_at, outcome, duration_s /
           duration_min, location, contact_id, contact_name, company_id, company_name,
           industry, country, deal_id, source
========== ===================================================================================

AI-processing consent is honoured: contacts without ``ai_consent`` get no document, their
emails and transcripts are left out and their name is not written into deal documents.

The synthetic CRM's activity bodies are one templated sentence ("Sent a follow-up email to Ada
Lopez."). :func:`attach_public_texts` replaces them, deterministically, with real public text:
sentences of real emails (Parakweet / Enron email-intent set) as email bodies and DialogSum
dialogues as call and meeting transcripts (see each dataset's ``PROVENANCE.md``; DialogSum is
CC BY-NC-SA 4.0, for internal evaluation only).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textai.search.contact_facts import contact_facts

#: Searchable entity types.
ENTITY_TYPES: tuple[str, ...] = ("contact", "company", "deal", "email", "transcript")
#: Activity types indexed as transcripts.
TRANSCRIPT_ACTIVITY_TYPES: tuple[str, ...] = ("call", "meeting")
#: Sentences per email body built by :func:`attach_public_texts`.
SENTENCES_PER_EMAIL = 3

_COUNTRY_NAMES: dict[str, str] = {
    "US": "United States", "GB": "United Kingdom", "DE": "Germany", "CA": "Canada",
    "FR": "France", "AU": "Australia", "NL": "Netherlands", "IN": "India",
}  # fmt: skip
_STAGE_LABELS: dict[str, str] = {
    "closed_won": "Closed won",
    "closed_lost": "Closed lost",
    "prospecting": "Prospecting",
    "qualification": "Qualification",
    "proposal": "Proposal",
    "negotiation": "Negotiation",
}


@dataclass(frozen=True)
class SearchDocument:
    """One searchable CRM record.

    Attributes:
        doc_id: Unique id, ``"<entity_type>:<entity_id>"``.
        entity_type: One of :data:`ENTITY_TYPES`.
        entity_id: Primary key of the CRM row (company, contact, deal or activity id).
        title: Display title (company / person / deal name, email subject...).
        text: Searchable text.
        attributes: Exact filterable fields (JSON-serialisable; dates as ISO strings).

    """

    doc_id: str
    entity_type: str
    entity_id: str
    title: str
    text: str
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def __post_init__(self) -> None:
        """Validate the entity type.

        Raises:
            ValueError: When ``entity_type`` is not one of :data:`ENTITY_TYPES`.

        """
        if self.entity_type not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {self.entity_type!r}")

    @property
    def search_text(self) -> str:
        """Text that is embedded and keyword-indexed: the title followed by the text."""
        if self.title and not self.text.startswith(self.title):
            return f"{self.title}. {self.text}"
        return self.text

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping of the document.

        Returns:
            The document's fields.

        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchDocument:
        """Rebuild a document from :meth:`to_dict` output.

        Args:
            data: Mapping with the document's fields.

        Returns:
            The document.

        """
        return cls(
            doc_id=str(data["doc_id"]),
            entity_type=str(data["entity_type"]),
            entity_id=str(data["entity_id"]),
            title=str(data["title"]),
            text=str(data["text"]),
            attributes=dict(data.get("attributes") or {}),
        )


# --------------------------------------------------------------------------------------------
# Value helpers
# --------------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    """Return whether a frame value is missing (None, NaN, NaT)."""
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return False


def _str(value: Any) -> str | None:
    """Return ``str(value)`` or ``None`` for a missing value."""
    return None if _missing(value) else str(value)


def _float(value: Any) -> float | None:
    """Return ``float(value)`` or ``None``."""
    if _missing(value):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _iso_date(value: Any) -> str | None:
    """Return the ISO date (``YYYY-MM-DD``) of a timestamp / date / string, or ``None``."""
    if _missing(value):
        return None
    if isinstance(value, str):
        return value[:10] or None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if pd.isna(stamp) else stamp.date().isoformat()


def _money(value: float | None) -> str:
    """Format an amount as "$48,200" (or "an undisclosed amount")."""
    return "an undisclosed amount" if value is None else f"${value:,.0f}"


def _label(value: str | None) -> str:
    """Turn ``sales_qualified_lead`` into "sales qualified lead"."""
    return (value or "").replace("_", " ")


def _details(value: Any) -> dict[str, Any]:
    """Return an activity's ``details`` as a dict (JSON text, dict or missing)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Return a frame's rows as dicts (an empty list for a missing frame)."""
    if frame is None or frame.empty:
        return []
    return frame.to_dict(orient="records")


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    """Drop missing attribute values and convert numpy scalars to Python ones."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if _missing(value):
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, uuid.UUID):
            value = str(value)
        out[key] = value
    return out


# --------------------------------------------------------------------------------------------
# Documents from frames / the database
# --------------------------------------------------------------------------------------------


def documents_from_frames(
    tables: Mapping[str, pd.DataFrame], *, respect_consent: bool = True
) -> list[SearchDocument]:
    """Build search documents from CRM frames (pure: no I/O).

    Args:
        tables: Frames named like the database tables: ``companies``, ``contacts``, ``deals``,
            ``activities`` (required) and optionally ``accounts``, ``users`` and
            ``lead_scores``. Columns follow
            :mod:`haste.db.models`; ``activities`` may carry a ``text_source`` column (see
            :func:`attach_public_texts`).
        respect_consent: Leave out contacts without ``ai_consent`` and their activities.

    Returns:
        Documents in the order companies, contacts, deals, emails / transcripts.

    Raises:
        KeyError: When a required table is missing.

    """
    for name in ("companies", "contacts", "deals", "activities"):
        if name not in tables:
            raise KeyError(f"missing CRM table {name!r}")
    users = {str(u["id"]): _str(u.get("full_name")) for u in _records(tables.get("users"))}
    accounts = _records(tables.get("accounts"))
    account_company = {str(a["id"]): str(a["company_id"]) for a in accounts}
    account_of_company = {str(a["company_id"]): a for a in accounts}

    companies: dict[str, dict[str, Any]] = {}
    docs: list[SearchDocument] = []
    for row in _records(tables["companies"]):
        cid = str(row["id"])
        companies[cid] = row
        account = account_of_company.get(cid) or {}
        name = _str(row.get("name")) or "Unnamed company"
        industry, country = _str(row.get("industry")), _str(row.get("country"))
        employees, revenue = _float(row.get("employee_count")), _float(row.get("annual_revenue"))
        parts = [f"{name} is a {industry or 'unknown-industry'} company"]
        if country:
            parts.append(f" based in {_COUNTRY_NAMES.get(country, country)} ({country})")
        if employees is not None:
            parts.append(f" with {employees:,.0f} employees")
        if revenue is not None:
            parts.append(f" and about {_money(revenue)} annual revenue")
        text = "".join(parts) + "."
        if _str(row.get("domain")):
            text += f" Website {row['domain']}."
        if account:
            text += f" {str(account.get('plan') or '').capitalize()} plan account"
            text += f" ({account.get('status') or 'unknown status'})."
        docs.append(
            SearchDocument(
                doc_id=f"company:{cid}",
                entity_type="company",
                entity_id=cid,
                title=name,
                text=text,
                attributes=_clean(
                    {
                        "industry": industry,
                        "country": country,
                        "employee_count": employees,
                        "annual_revenue": revenue,
                        "domain": _str(row.get("domain")),
                        "plan": _str(account.get("plan")),
                        "account_status": _str(account.get("status")),
                        "created_at": _iso_date(row.get("created_at")),
                    }
                ),
            )
        )

    def company_attrs(company_id: str | None) -> dict[str, Any]:
        company = companies.get(company_id or "", {})
        return {
            "company_id": company_id if company else None,
            "company_name": _str(company.get("name")),
            "industry": _str(company.get("industry")),
            "country": _str(company.get("country")),
            "employee_count": _float(company.get("employee_count")),
        }

    contacts: dict[str, dict[str, Any]] = {}
    facts = contact_facts(tables)
    for row in _records(tables["contacts"]):
        if respect_consent and "ai_consent" in row and not bool(row["ai_consent"]):
            continue
        pid = str(row["id"])
        contacts[pid] = row
        name = " ".join(p for p in (_str(row.get("first_name")), _str(row.get("last_name"))) if p)
        name = name or _str(row.get("email")) or "Unnamed contact"
        attrs = company_attrs(_str(row.get("company_id")))
        title_text = _str(row.get("job_title"))
        text = f"{name}"
        text += f", {title_text}" if title_text else ""
        if attrs["company_name"]:
            text += f" at {attrs['company_name']}"
            where = ", ".join(
                x for x in (attrs["industry"], _COUNTRY_NAMES.get(attrs["country"] or "")) if x
            )
            text += f" ({where})" if where else ""
        text += "."
        if _str(row.get("lifecycle_stage")):
            text += f" Lifecycle stage: {_label(row['lifecycle_stage'])}."
        if _str(row.get("lead_source")):
            text += f" Lead source: {_label(row['lead_source'])}."
        if _str(row.get("email")):
            text += f" Email {row['email']}."
        docs.append(
            SearchDocument(
                doc_id=f"contact:{pid}",
                entity_type="contact",
                entity_id=pid,
                title=name,
                text=text,
                attributes=_clean(
                    {
                        "job_title": title_text,
                        "lifecycle_stage": _str(row.get("lifecycle_stage")),
                        "lead_source": _str(row.get("lead_source")),
                        "email": _str(row.get("email")),
                        **attrs,
                        "owner_name": users.get(str(row.get("owner_id"))),
                        "created_at": _iso_date(row.get("created_at")),
                        **facts.get(pid, {}),
                    }
                ),
            )
        )

    def contact_name(contact_id: str | None) -> str | None:
        row = contacts.get(contact_id or "")
        if row is None:
            return None
        return " ".join(p for p in (_str(row.get("first_name")), _str(row.get("last_name"))) if p)

    raw_contacts = tables["contacts"]
    every_company = dict(
        zip(
            raw_contacts["id"].astype(str),
            (_str(v) for v in raw_contacts["company_id"]),
            strict=True,
        )
    )
    deal_names: dict[str, str] = {}
    for row in _records(tables["deals"]):
        did = str(row["id"])
        name = _str(row.get("name")) or "Unnamed deal"
        deal_names[did] = name
        contact_id = _str(row.get("contact_id"))
        company_id = None
        if contact_id and contact_id in contacts:
            company_id = _str(contacts[contact_id].get("company_id"))
        elif contact_id:
            # Non-consenting contact: still find the company, never print the person.
            company_id = every_company.get(contact_id)
        if company_id is None and _str(row.get("account_id")):
            company_id = account_company.get(str(row["account_id"]))
        attrs = company_attrs(company_id)
        amount = _float(row.get("amount"))
        stage = _str(row.get("stage")) or "unknown"
        person = contact_name(contact_id)
        text = f"{name}: {_STAGE_LABELS.get(stage, _label(stage)).lower()} deal worth "
        text += f"{_money(amount)} {_str(row.get('currency')) or 'USD'}"
        if attrs["company_name"]:
            text += f" with {attrs['company_name']}"
            text += f" ({attrs['industry']})" if attrs["industry"] else ""
        text += f", main contact {person}" if person else ""
        close = _iso_date(row.get("expected_close_date"))
        closed = _iso_date(row.get("closed_at"))
        text += f". Expected to close on {close}" if close else ""
        text += f", closed on {closed}" if closed else ""
        text += "."
        is_won = row.get("is_won")
        docs.append(
            SearchDocument(
                doc_id=f"deal:{did}",
                entity_type="deal",
                entity_id=did,
                title=name,
                text=text,
                attributes=_clean(
                    {
                        "amount": amount,
                        "currency": _str(row.get("currency")),
                        "stage": stage,
                        "is_won": None if _missing(is_won) else bool(is_won),
                        "expected_close_date": close,
                        "closed_at": closed,
                        "created_at": _iso_date(row.get("created_at")),
                        **attrs,
                        "contact_id": contact_id if person else None,
                        "contact_name": person,
                        "owner_name": users.get(str(row.get("owner_id"))),
                    }
                ),
            )
        )

    activities = tables["activities"]
    keep = activities["type"].isin(("email", *TRANSCRIPT_ACTIVITY_TYPES))
    for row in _records(activities[keep]):
        contact_id = _str(row.get("contact_id"))
        if respect_consent and contact_id and contact_id not in contacts:
            continue
        aid = str(row["id"])
        kind = str(row["type"])
        entity = "email" if kind == "email" else "transcript"
        person = contact_name(contact_id)
        attrs = company_attrs(
            _str(contacts[contact_id].get("company_id")) if contact_id in contacts else None
        )
        subject = _str(row.get("subject")) or kind.capitalize()
        title = subject + (f" with {person}" if person else "")
        title += f" ({attrs['company_name']})" if attrs["company_name"] else ""
        body = _str(row.get("body")) or ""
        details = _details(row.get("details"))
        occurred = _iso_date(row.get("occurred_at"))
        deal_id = _str(row.get("deal_id"))
        docs.append(
            SearchDocument(
                doc_id=f"{entity}:{aid}",
                entity_type=entity,
                entity_id=aid,
                title=title,
                text=body,
                attributes=_clean(
                    {
                        "activity_type": kind,
                        "occurred_at": occurred,
                        "created_at": occurred,
                        "subject": subject,
                        "contact_id": contact_id if person else None,
                        "contact_name": person,
                        **attrs,
                        "deal_id": deal_id,
                        "deal_name": deal_names.get(deal_id or ""),
                        "direction": details.get("direction"),
                        "outcome": details.get("outcome"),
                        "duration_s": details.get("duration_s"),
                        "duration_min": details.get("duration_min"),
                        "location": details.get("location"),
                        "source": _str(row.get("text_source")),
                    }
                ),
            )
        )
    return docs


def read_tables(database_url: str | None = None) -> dict[str, pd.DataFrame]:
    """Read the CRM tables needed for search from the platform database.

    Args:
        database_url: SQLAlchemy URL (default: the configured ``database_url``).

    Returns:
        Frames ``users``, ``companies``, ``contacts``, ``accounts``, ``deals``,
        ``activities`` (emails, calls and meetings only) and ``lead_scores``, with the models'
        column names.

    """
    from sqlalchemy import select

    from haste.db.models import Account, Activity, Company, Contact, Deal, LeadScore, User
    from haste.db.session import session_scope

    tables: dict[str, pd.DataFrame] = {}
    with session_scope(database_url) as session:
        for name, model in (
            ("users", User),
            ("companies", Company),
            ("contacts", Contact),
            ("accounts", Account),
            ("deals", Deal),
            ("activities", Activity),
            ("lead_scores", LeadScore),
        ):
            table = model.__table__
            statement = select(table)
            if model is Activity:
                statement = statement.where(table.c.type.in_(("email", *TRANSCRIPT_ACTIVITY_TYPES)))
            rows = session.execute(statement).mappings().all()
            tables[name] = pd.DataFrame(
                [dict(r) for r in rows], columns=[c.name for c in table.columns]
            )
    return tables


def load_documents(
    database_url: str | None = None, *, respect_consent: bool = True
) -> list[SearchDocument]:
    """Build search documents from the CRM tables of the platform database.

    Args:
        database_url: SQLAlchemy URL (default: the configured ``database_url``).
        respect_consent: Leave out contacts without ``ai_consent`` and their activities.

    Returns:
        The documents (see :func:`documents_from_frames`).

    """
    return documents_from_frames(read_tables(database_url), respect_consent=respect_consent)


# --------------------------------------------------------------------------------------------
# Real public texts for emails and transcripts
# --------------------------------------------------------------------------------------------


def load_email_sentences(datasets_dir: Path) -> list[tuple[str, str]]:
    """Read the real email sentences of the email-intent (Enron) set.

    Test-file sentences come first, then the training file's; lines with mojibake, fewer than
    20 or more than 300 characters and duplicates are dropped.

    Args:
        datasets_dir: The real datasets folder (``../shared/datasets``).

    Returns:
        ``(source, sentence)`` pairs; ``source`` is ``"enron:<file>:<line>"``.

    Raises:
        FileNotFoundError: When the dataset folder is missing.

    """
    folder = Path(datasets_dir) / "email_intent_enron"
    files = ("testSet-qualifiedBatch-fixed.txt", "Ask0729-fixed.txt")
    if not (folder / files[0]).exists():
        raise FileNotFoundError(f"email intent dataset not found in {folder}")
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for name in files:
        lines = (folder / name).read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, start=1):
            _, _, sentence = line.partition("\t")
            sentence = " ".join(sentence.split())
            bad = "\ufffd" in sentence or "ï¿½" in sentence or "$LINK" in sentence
            if bad or not 20 <= len(sentence) <= 300 or sentence.lower() in seen:
                continue
            seen.add(sentence.lower())
            out.append((f"enron:{name}:{number}", sentence))
    return out


def load_dialogues(datasets_dir: Path) -> list[dict[str, Any]]:
    """Read the DialogSum dialogues (dev then test) with their reference summaries.

    Args:
        datasets_dir: The real datasets folder.

    Returns:
        Dicts ``{"fname", "dialogue", "summaries", "topic"}``.

    Raises:
        FileNotFoundError: When the dataset folder is missing.

    """
    folder = Path(datasets_dir) / "dialogsum"
    out: list[dict[str, Any]] = []
    for name in ("dialogsum.dev.jsonl", "dialogsum.test.jsonl"):
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"DialogSum file not found: {path}")
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            summaries = [
                row[k] for k in ("summary", "summary1", "summary2", "summary3") if k in row
            ]
            topic = row.get("topic") or row.get("topic1") or ""
            out.append(
                {
                    "fname": row["fname"],
                    "dialogue": row["dialogue"],
                    "summaries": summaries,
                    "topic": topic,
                }
            )
    return out


def _speaker_names(dialogue: str, rep: str, contact: str) -> str:
    """Replace DialogSum's ``#Person1#`` / ``#Person2#`` tags with the rep's / contact's names."""
    names = {"#Person1#": rep, "#Person2#": contact}
    for number in range(3, 10):
        names[f"#Person{number}#"] = f"Participant {number}"
    for tag, name in names.items():
        dialogue = dialogue.replace(tag, name)
    return dialogue


def attach_public_texts(
    tables: Mapping[str, pd.DataFrame],
    datasets_dir: Path,
    seed: int = 0,
    *,
    max_emails: int | None = None,
    max_transcripts: int | None = None,
    pinned_sentences: Sequence[str] = (),
) -> dict[str, pd.DataFrame]:
    """Give synthetic emails and calls/meetings real text bodies, deterministically.

    Email activities get :data:`SENTENCES_PER_EMAIL` real email sentences each (email-intent /
    Enron set, test file first) framed by a greeting to the contact and the rep's sign-off;
    calls and meetings get a DialogSum dialogue whose speakers are renamed to the rep and the
    contact. Each public text is used at most once; activities beyond the supply (or the caps)
    keep their templated body. Which activity gets which text depends only on ``seed``, the
    frames and the arguments.

    Args:
        tables: CRM frames (``activities``, ``contacts`` and optionally ``users``).
        datasets_dir: The real datasets folder (``../shared/datasets``).
        seed: Seed of the assignment.
        max_emails: Most emails to rewrite (``None``: as many as the sentences allow).
        max_transcripts: Most calls / meetings to rewrite (``None``: up to 1,000 dialogues).
        pinned_sentences: Sentences of the email set that must be used (each opens its own
            email, in order), e.g. the anchors of a labelled query set.

    Returns:
        A shallow copy of ``tables`` whose ``activities`` frame has new ``body`` values and a
        ``text_source`` column (``"enron:<file>:<line>|..."``, ``"dialogsum:<fname>"`` or
        ``None``).

    Raises:
        FileNotFoundError: When a dataset is missing.

    """
    rng = np.random.default_rng(seed)
    out = dict(tables)
    activities = tables["activities"].copy()
    contacts = tables["contacts"]
    first_names = dict(
        zip(contacts["id"].astype(str), contacts["first_name"].astype(str), strict=True)
    )
    full_names = dict(
        zip(
            contacts["id"].astype(str),
            (contacts["first_name"].astype(str) + " " + contacts["last_name"].astype(str)),
            strict=True,
        )
    )
    users = tables.get("users")
    rep_names: dict[str, str] = (
        dict(zip(users["id"].astype(str), users["full_name"].astype(str), strict=True))
        if users is not None
        else {}
    )
    bodies = activities["body"].astype(object).to_numpy().copy()
    sources = np.full(len(activities), None, dtype=object)
    contact_ids = activities["contact_id"].astype(str).to_numpy()
    user_ids = activities["user_id"].astype(str).to_numpy()
    kinds = activities["type"].to_numpy()

    sentences = load_email_sentences(datasets_dir)
    n_test = sum(1 for s, _ in sentences if "testSet" in s)
    order = [
        int(i)
        for i in np.concatenate(
            [rng.permutation(n_test), n_test + rng.permutation(len(sentences) - n_test)]
        )
    ]
    position = {" ".join(text.split()).lower(): i for i, (_, text) in enumerate(sentences)}
    pinned = [position[k] for k in (" ".join(p.split()).lower() for p in pinned_sentences)
              if k in position]  # fmt: skip
    pinned_set = set(pinned)
    rest = [i for i in order if i not in pinned_set]
    per_email = SENTENCES_PER_EMAIL
    chunks = [
        [p, *rest[k * (per_email - 1) : (k + 1) * (per_email - 1)]] for k, p in enumerate(pinned)
    ]
    rest = rest[len(pinned) * (per_email - 1) :]
    chunks += [rest[k : k + per_email] for k in range(0, len(rest) - per_email + 1, per_email)]
    email_rows = rng.permutation(np.flatnonzero(kinds == "email"))
    if max_emails is not None:
        email_rows = email_rows[:max_emails]
    for row, chunk in zip(email_rows, chunks, strict=False):
        picked = [sentences[i] for i in chunk]
        rep = rep_names.get(user_ids[row], "the team").split(" ")[0]
        greeting = f"Hi {first_names.get(contact_ids[row], 'there')},"
        bodies[row] = "\n".join([greeting, " ".join(s for _, s in picked), f"Best, {rep}"])
        sources[row] = "|".join(s for s, _ in picked)

    dialogues = load_dialogues(datasets_dir)
    d_order = rng.permutation(len(dialogues))
    call_rows = rng.permutation(np.flatnonzero(np.isin(kinds, TRANSCRIPT_ACTIVITY_TYPES)))
    limit = len(dialogues) if max_transcripts is None else min(max_transcripts, len(dialogues))
    for slot, row in enumerate(call_rows[:limit]):
        dialogue = dialogues[d_order[slot]]
        rep = rep_names.get(user_ids[row], "Sales rep")
        contact = full_names.get(contact_ids[row], "Customer")
        bodies[row] = _speaker_names(dialogue["dialogue"], rep, contact)
        sources[row] = f"dialogsum:{dialogue['fname']}"

    activities["body"] = bodies
    activities["text_source"] = sources
    out["activities"] = activities
    return out


def documents_by_entity(documents: Iterable[SearchDocument]) -> dict[str, SearchDocument]:
    """Index documents by ``doc_id``.

    Args:
        documents: Search documents.

    Returns:
        ``doc_id`` -> document.

    """
    return {doc.doc_id: doc for doc in documents}
