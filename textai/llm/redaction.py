"""PII redaction before external LLM providers, restoration in their answers, AI consent.

:class:`PIIRedactor` replaces personal data with stable placeholders:

- names of CRM contacts (and names passed explicitly): the full name becomes ``[PERSON_1]``,
  the first name alone ``[PERSON_1_FIRST]`` and the last name alone ``[PERSON_1_LAST]``, so
  the model still knows they are one person; matching is case-insensitive on whole words with
  any whitespace between the parts (a first name that is also a common English word, such as
  *Will* or *May*, is matched only when capitalised);
- company names of those contacts: ``[COMPANY_1]`` (also without a legal suffix such as
  *Inc* or *GmbH*);
- every email address: ``[EMAIL_1]`` (same address in any case -> same placeholder);
- every phone number in international or national formats (7 to 15 digits; dates, IP addresses
  and decimals are left alone): ``[PHONE_1]`` (numbers sharing their last 9 digits are one
  number: ``+44 20 7946 0958`` and ``020 7946 0958``).

Numbers follow the order of first appearance; the same value always gets the same placeholder
within one :class:`RedactedText` (pass it as ``previous`` to redact a second text, e.g. the user
message after the system prompt). :func:`restore` puts the originals back into the provider's
answer, tolerating placeholders echoed with other spacing, case or separators (``[ person 1 ]``,
``[PERSON-1]``, ``PERSON_1``). Known names are restored with the CRM's spelling.

:func:`ensure_ai_consent` refuses contacts whose ``ai_consent`` is false
(:class:`ConsentError`) and contacts the CRM does not hold (:class:`ContactNotFoundError`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from haste.db.models import Company, Contact
from haste.db.session import session_scope
from haste.records import contact_consents

KINDS = ("PERSON", "EMAIL", "PHONE", "COMPANY")
PRIORITY = {"EMAIL": 0, "PHONE": 1, "PERSON": 2, "COMPANY": 3}
"""Tie-break between matches starting at the same place with the same length."""
EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?![\w-])"
)
PHONE_RE = re.compile(
    r"(?<![\w+@])(?:(?:\+|00)\d{1,3}[ \u00a0.-]?)?(?:\(\d{1,5}\)[ \u00a0.-]?)?"
    r"\d(?:[ \u00a0.-]?\d){5,14}(?![\w@:])"
)
"""A phone-like run: optional +CC, optional (area), digits with single separators."""
PHONE_MIN_DIGITS, PHONE_MAX_DIGITS = 7, 15
PHONE_KEY_DIGITS = 9
"""Phones sharing their last 9 digits are one number (country code or trunk 0 or not)."""
_DATE_LIKE = re.compile(
    r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}(?!\d)|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$)"
)
_IP_LIKE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_DECIMAL_LIKE = re.compile(r"^\d+\.\d+$")
PLACEHOLDER_RE = re.compile(
    r"(?i:\[\s*(PERSON|EMAIL|PHONE|COMPANY)\s*[_\- ]?\s*(\d+)(?:\s*[_\- ]\s*(FIRST|LAST))?\s*\])"
    r"|(?<![\w\[])(PERSON|EMAIL|PHONE|COMPANY)_(\d+)(?:_(FIRST|LAST))?(?![\w\]])"
)
"""A placeholder as echoed by a model: bracketed in any case/spacing, or bare in upper case."""
LEGAL_SUFFIXES = re.compile(
    r"[\s,]+(?:inc|inc\.|incorporated|llc|l\.l\.c\.|ltd|ltd\.|limited|corp|corp\.|corporation|"
    r"co|co\.|company|gmbh|ag|sa|s\.a\.|sas|sarl|bv|b\.v\.|nv|plc|pty|oy|ab|srl|spa|kk)$",
    re.IGNORECASE,
)
COMMON_WORD_NAMES = frozenset(
    {
        "will",
        "may",
        "june",
        "april",
        "august",
        "grace",
        "hope",
        "faith",
        "joy",
        "bill",
        "mark",
        "rose",
        "summer",
        "dawn",
        "art",
        "pat",
        "sue",
        "max",
        "frank",
        "rich",
        "bob",
        "jack",
        "king",
        "young",
        "long",
        "white",
        "black",
        "brown",
        "green",
        "hill",
        "wood",
        "page",
        "cook",
        "price",
        "day",
        "hall",
        "don",
        "guy",
        "ray",
        "sky",
        "ivy",
        "rob",
        "sunny",
        "chance",
        "lance",
        "bishop",
        "mason",
        "carter",
        "hunter",
    }
)
"""Names matched only when capitalised (they are also common English words)."""


class ConsentError(PermissionError):
    """A contact has not consented to AI processing.

    Attributes:
        contact_ids: The contacts without consent.
    """

    def __init__(self, contact_ids: Sequence[uuid.UUID]) -> None:
        self.contact_ids = list(contact_ids)
        super().__init__(
            "; ".join(
                f"contact {contact_id} has not consented to AI processing (ai_consent is false)"
                for contact_id in self.contact_ids
            )
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with the contact ids."""
        return (type(self), (self.contact_ids,))


class ContactNotFoundError(LookupError):
    """Contacts named in a request are not in the CRM.

    Attributes:
        contact_ids: The unknown ids.
    """

    def __init__(self, contact_ids: Sequence[uuid.UUID | str]) -> None:
        self.contact_ids = list(contact_ids)
        listed = ", ".join(str(c) for c in self.contact_ids)
        super().__init__(f"unknown contact(s): {listed} (not in the CRM)")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with the contact ids."""
        return (type(self), (self.contact_ids,))


def to_contact_ids(contact_ids: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
    """Return the ids as UUIDs, in order, without duplicates.

    Raises:
        ContactNotFoundError: When an id is not a UUID (no such contact can exist).
    """
    result: list[uuid.UUID] = []
    invalid: list[str] = []
    for raw in contact_ids:
        try:
            value = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        except ValueError:
            invalid.append(str(raw))
            continue
        if value not in result:
            result.append(value)
    if invalid:
        raise ContactNotFoundError(invalid)
    return result


def ensure_ai_consent(url: str, contact_ids: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
    """Check that every contact exists and consented to AI processing (one query).

    Args:
        url: Database URL.
        contact_ids: Contacts whose data a call would use.

    Returns:
        The contact ids as UUIDs.

    Raises:
        ContactNotFoundError: When a contact is not in the CRM.
        ConsentError: When a contact's ``ai_consent`` is false (the message names it).
    """
    ids = to_contact_ids(contact_ids)
    consents = contact_consents(url, ids)
    missing = [contact_id for contact_id in ids if contact_id not in consents]
    if missing:
        raise ContactNotFoundError(missing)
    refused = [contact_id for contact_id in ids if not consents[contact_id]]
    if refused:
        raise ConsentError(refused)
    return ids


@dataclass
class RedactedText:
    """A text with its PII replaced by placeholders.

    Attributes:
        text: The redacted text.
        mapping: Placeholder (``[PERSON_1]``) -> original value, for :func:`restore`.
        count: Occurrences replaced (in this text and the ``previous`` ones it extends).
    """

    text: str
    mapping: dict[str, str] = field(default_factory=dict)
    count: int = 0
    _numbers: dict[tuple[str, str], int] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class _Pattern:
    """A literal PII value to find: its regex and what it stands for."""

    regex: re.Pattern[str]
    kind: str
    entity: str
    part: str
    canonical: str
    needs_capital: bool = False


@dataclass(frozen=True)
class _Match:
    """One PII occurrence in a text."""

    start: int
    end: int
    kind: str
    entity: str
    part: str
    canonical: str


def _normalize(text: str) -> str:
    """Return text lower-cased with whitespace collapsed (the identity of a literal value)."""
    return " ".join(text.split()).casefold()


def _phrase_regex(phrase: str) -> re.Pattern[str]:
    """Return a case-insensitive whole-word regex of a phrase, any whitespace between words."""
    words = [re.escape(word) for word in phrase.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def phone_key(phone: str) -> str:
    """Return the identity of a phone number: its last 9 digits (all of them when fewer)."""
    digits = re.sub(r"\D", "", phone)
    return digits[-PHONE_KEY_DIGITS:]


def is_phone_number(candidate: str) -> bool:
    """Return whether a :data:`PHONE_RE` match is plausibly a phone number.

    Requires 7 to 15 digits and rejects dates (and runs starting with an ISO date), IPv4
    addresses and decimals.
    """
    digits = sum(ch.isdigit() for ch in candidate)
    if not PHONE_MIN_DIGITS <= digits <= PHONE_MAX_DIGITS:
        return False
    compact = candidate.replace("\u00a0", " ")
    if re.search(r"[ .-]{2,}", compact):
        return False
    return not (
        _DATE_LIKE.match(compact) or _IP_LIKE.match(compact) or _DECIMAL_LIKE.match(compact)
    )


def strip_legal_suffix(name: str) -> str:
    """Return a company name without a trailing legal form (``Acme Corp`` -> ``Acme``)."""
    return LEGAL_SUFFIXES.sub("", name.strip()).strip()


class PIIRedactor:
    """Replace PII with placeholders, and put it back.

    Args:
        persons: (first name, last name) pairs, either may be ``None``.
        companies: Company names.
        emails: Known email addresses (every address is redacted anyway).
        phones: Known phone numbers (redacted in their stored format too).
        names: Extra person names, e.g. ``"Grace Hopper"`` (first word = first name).
        detect_emails: Redact every email address, known or not.
        detect_phones: Redact every phone number, known or not.
    """

    def __init__(
        self,
        persons: Iterable[tuple[str | None, str | None]] = (),
        companies: Iterable[str] = (),
        emails: Iterable[str] = (),
        phones: Iterable[str] = (),
        names: Iterable[str] = (),
        *,
        detect_emails: bool = True,
        detect_phones: bool = True,
    ) -> None:
        self.detect_emails = detect_emails
        self.detect_phones = detect_phones
        people = [(self._clean(first), self._clean(last)) for first, last in persons]
        for name in names:
            words = (name or "").split()
            if words:
                people.append((words[0], " ".join(words[1:]) or None))
        self._patterns: list[_Pattern] = []
        seen: set[str] = set()
        for index, (first, last) in enumerate(people):
            full = " ".join(part for part in (first, last) if part)
            self._add(seen, full, "PERSON", f"p{index}", "", full)
            if first and last:
                self._add(seen, first, "PERSON", f"p{index}", "FIRST", first)
                self._add(seen, last, "PERSON", f"p{index}", "LAST", last)
        for index, company in enumerate(self._clean(c) for c in companies):
            if not company:
                continue
            self._add(seen, company, "COMPANY", f"c{index}", "", company)
            short = strip_legal_suffix(company)
            if short and short != company:
                self._add(seen, short, "COMPANY", f"c{index}", "", company)
        for email in emails:
            if email and email.strip():
                value = email.strip()
                self._add(seen, value, "EMAIL", value.casefold(), "", value)
        for phone in phones:
            if phone and phone.strip() and len(re.sub(r"\D", "", phone)) >= PHONE_MIN_DIGITS:
                value = phone.strip()
                self._add(seen, value, "PHONE", phone_key(value), "", value)

    @staticmethod
    def _clean(value: str | None) -> str | None:
        """Return a stripped value with collapsed whitespace, or ``None`` when empty."""
        if value is None:
            return None
        cleaned = " ".join(str(value).split())
        return cleaned or None

    def _add(
        self, seen: set[str], phrase: str, kind: str, entity: str, part: str, canonical: str
    ) -> None:
        """Register a literal value (the first registration of a phrase wins)."""
        key = _normalize(phrase)
        if len(key) < 2 or key in seen:
            return
        seen.add(key)
        needs_capital = kind == "PERSON" and " " not in key and key in COMMON_WORD_NAMES
        self._patterns.append(
            _Pattern(_phrase_regex(phrase), kind, entity, part, canonical, needs_capital)
        )

    @classmethod
    def from_contacts(
        cls,
        url: str,
        contact_ids: Iterable[uuid.UUID | str],
        *,
        names: Iterable[str] = (),
        detect_emails: bool = True,
        detect_phones: bool = True,
    ) -> PIIRedactor:
        """Build a redactor from CRM contacts: their names, emails, phones and companies.

        Args:
            url: Database URL.
            contact_ids: The contacts whose data a text may contain.
            names: Extra person names to redact.
            detect_emails: Redact every email address, known or not.
            detect_phones: Redact every phone number, known or not.

        Raises:
            ContactNotFoundError: When a contact is not in the CRM.
        """
        ids = to_contact_ids(contact_ids)
        persons: list[tuple[str | None, str | None]] = []
        emails: list[str] = []
        phones: list[str] = []
        companies: list[str] = []
        if ids:
            query = (
                select(Contact.id, Contact.first_name, Contact.last_name, Contact.email)
                .add_columns(Contact.phone, Company.name)
                .outerjoin(Company, Contact.company_id == Company.id)
                .where(Contact.id.in_(ids))
            )
            with session_scope(url) as session:
                rows = {row[0]: row for row in session.execute(query)}
            missing = [contact_id for contact_id in ids if contact_id not in rows]
            if missing:
                raise ContactNotFoundError(missing)
            for contact_id in ids:
                _, first, last, email, phone, company = rows[contact_id]
                persons.append((first, last))
                emails.extend([email] if email else [])
                phones.extend([phone] if phone else [])
                companies.extend([company] if company else [])
        return cls(
            persons,
            companies,
            emails,
            phones,
            names,
            detect_emails=detect_emails,
            detect_phones=detect_phones,
        )

    def find(self, text: str) -> list[_Match]:
        """Return the PII occurrences of ``text``: non-overlapping, leftmost-longest first."""
        candidates: list[_Match] = []
        if self.detect_emails:
            for found in EMAIL_RE.finditer(text):
                value = found.group(0)
                candidates.append(
                    _Match(found.start(), found.end(), "EMAIL", value.casefold(), "", value)
                )
        if self.detect_phones:
            for found in PHONE_RE.finditer(text):
                value = found.group(0)
                if is_phone_number(value):
                    candidates.append(
                        _Match(found.start(), found.end(), "PHONE", phone_key(value), "", value)
                    )
        for pattern in self._patterns:
            for found in pattern.regex.finditer(text):
                if pattern.needs_capital and not found.group(0)[:1].isupper():
                    continue
                canonical = pattern.canonical
                if pattern.kind in ("EMAIL", "PHONE"):
                    canonical = found.group(0)
                candidates.append(
                    _Match(
                        found.start(),
                        found.end(),
                        pattern.kind,
                        pattern.entity,
                        pattern.part,
                        canonical,
                    )
                )
        candidates.sort(key=lambda m: (m.start, -(m.end - m.start), PRIORITY[m.kind]))
        chosen: list[_Match] = []
        end = 0
        for match in candidates:
            if match.start >= end:
                chosen.append(match)
                end = match.end
        return chosen

    def redact(self, text: str, *, previous: RedactedText | None = None) -> RedactedText:
        """Replace every PII occurrence of ``text`` with its placeholder.

        Args:
            text: The text to send to a provider.
            previous: A result to extend: its placeholders keep their numbers and the
                returned mapping (and count) includes its entries.

        Returns:
            The redacted text and the placeholder -> original mapping.
        """
        mapping = dict(previous.mapping) if previous else {}
        numbers = dict(previous._numbers) if previous else {}
        count = previous.count if previous else 0
        pieces: list[str] = []
        cursor = 0
        for match in self.find(text):
            key = (match.kind, match.entity)
            if key not in numbers:
                numbers[key] = 1 + sum(1 for kind, _ in numbers if kind == match.kind)
            suffix = f"_{match.part}" if match.part else ""
            placeholder = f"[{match.kind}_{numbers[key]}{suffix}]"
            mapping.setdefault(placeholder, match.canonical)
            pieces.append(text[cursor : match.start])
            pieces.append(placeholder)
            cursor = match.end
            count += 1
        pieces.append(text[cursor:])
        return RedactedText("".join(pieces), mapping, count, numbers)

    def restore(self, text: str, mapping: Mapping[str, str]) -> str:
        """Put the original values back (see :func:`restore`)."""
        return restore(text, mapping)


def _lookup(mapping: Mapping[str, str], kind: str, number: str, part: str | None) -> str | None:
    """Return the original of a placeholder, falling back between full name and parts."""
    kind, part = kind.upper(), (part or "").upper()
    number = str(int(number))
    exact = mapping.get(f"[{kind}_{number}{'_' + part if part else ''}]")
    if exact is not None:
        return exact
    if part:
        return mapping.get(f"[{kind}_{number}]")
    pieces = [mapping.get(f"[{kind}_{number}_{p}]") for p in ("FIRST", "LAST")]
    joined = " ".join(p for p in pieces if p)
    return joined or None


def restore(text: str, mapping: Mapping[str, str]) -> str:
    """Put the originals back into a provider's answer.

    Placeholders are recognised in any case and with spaces, ``-`` or ``_`` as separators
    (``[person 1]``, ``[ PERSON_1 ]``, ``[Person-1-first]``) and unbracketed in upper case
    (``PERSON_1``). A part missing from the mapping falls back to the full name and vice
    versa; unknown placeholders are left as they are.

    Args:
        text: The answer.
        mapping: ``RedactedText.mapping``.
    """

    def replace(found: re.Match[str]) -> str:
        kind, number, part = found.group(1, 2, 3) if found.group(1) else found.group(4, 5, 6)
        original = _lookup(mapping, kind, number, part)
        return original if original is not None else found.group(0)

    return PLACEHOLDER_RE.sub(replace, text)
