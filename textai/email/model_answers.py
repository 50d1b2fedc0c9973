"""Reading a model's email answer: subject and body apart, leftover placeholders resolved.

Models (and corpus templates) leave placeholders such as ``{first_name}``, ``{{company}}``,
``[PERSON_1]``, ``[Your Name]`` or ``<company>``: :func:`resolve_placeholders` fills them from
the context, or uses neutral wording
(:data:`~pipelines.corpora.emails.PLACEHOLDER_DEFAULTS`), and reports each one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipelines.corpora.emails import (
    MISSING_VALUE_REWRITES,
    PLACEHOLDER_DEFAULTS,
)

_BRACKET_TOKEN = re.compile(
    r"\{\{?\s*([A-Za-z_][\w ]*?)\s*\}?\}"
    r"|\[([A-Z][A-Za-z_ ]{0,30}?)(?:[_\- ]?(\d+))?(?:_(FIRST|LAST))?\](?!\()"
    r"|<([a-z_]{2,30})>"
)
_TOKEN_ALIASES: dict[str, str] = {
    "first_name": "first_name",
    "firstname": "first_name",
    "name": "first_name",
    "recipient": "first_name",
    "recipient_name": "first_name",
    "recipient_first_name": "first_name",
    "contact": "first_name",
    "contact_name": "first_name",
    "person": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "company": "company",
    "company_name": "company",
    "org": "company",
    "organization": "company",
    "organisation": "company",
    "account": "company",
    "your_name": "sender_name",
    "my_name": "sender_name",
    "sender": "sender_name",
    "sender_name": "sender_name",
    "product": "product",
    "product_name": "product",
    "email": "email",
    "email_address": "email",
    "title": "title",
    "job_title": "title",
    "industry": "industry",
    "pain_point": "pain_point",
    "date": "date",
    "amount": "amount",
    "price": "amount",
}


def parse_email_text(text: str) -> tuple[str | None, str]:
    """Split a model answer into subject and body.

    The subject is the first line starting with ``Subject:`` (markdown emphasis allowed); a
    leading ``Body:`` label and surrounding code fences are removed.

    Args:
        text: The model's answer.

    Returns:
        ``(subject or None, body)``.
    """
    cleaned = re.sub(r"^```\w*\s*|\s*```\s*$", "", (text or "").strip())
    lines = cleaned.splitlines()
    subject = None
    for index, line in enumerate(lines[:5]):
        match = re.match(r"^\s*\**\s*subject\s*\**\s*:\s*\**\s*(.*?)\**\s*$", line, re.IGNORECASE)
        if match:
            subject = match.group(1).strip() or None
            lines = lines[:index] + lines[index + 1 :]
            break
    body = "\n".join(lines).strip()
    body = re.sub(r"^\s*\**\s*body\s*\**\s*:\s*", "", body, flags=re.IGNORECASE)
    return subject, body.strip()


def resolve_placeholders(
    text: str, values: Mapping[str, str | None], *, label: str = "text"
) -> tuple[str, list[str]]:
    """Fill placeholders the model left (``{x}``, ``{{x}}``, ``[PERSON_1]``, ``<company>``).

    Known names are filled from ``values``; names without a value get neutral wording
    (:data:`~pipelines.corpora.emails.PLACEHOLDER_DEFAULTS`); unknown tokens are removed.

    Args:
        text: Text that may contain placeholders.
        values: Values by placeholder name (``first_name``, ``company``, ``sender_name``...).
        label: Where the text comes from (``subject``/``body``), for the warnings.

    Returns:
        The resolved text and one warning per placeholder found.
    """
    warnings: list[str] = []

    def _replace(match: re.Match[str]) -> str:
        raw = next(g for g in (match.group(1), match.group(2), match.group(5)) if g)
        index, part = match.group(3), match.group(4)
        key = re.sub(r"[\s\-]+", "_", raw.strip().lower()).strip("_")
        name = _TOKEN_ALIASES.get(key)
        if key == "person":
            name = None if index not in (None, "1") else ("last_name" if part == "LAST" else name)
        value = values.get(name) if name else None
        if value:
            replacement = str(value)
            how = "filled from the context"
        elif name and name in PLACEHOLDER_DEFAULTS:
            replacement = PLACEHOLDER_DEFAULTS[name]
            how = "no value: neutral wording used"
        elif key == "person":
            replacement = "a colleague"
            how = "unknown person: neutral wording used"
        else:
            replacement = ""
            how = "unknown: removed"
        before = match.string[: match.start()].rstrip(" \t")
        if replacement and (not before or before[-1] in ".!?\n"):
            replacement = replacement[:1].upper() + replacement[1:]
        warnings.append(f"unresolved placeholder {match.group(0)} in {label} ({how})")
        return replacement

    for name, rewrites in MISSING_VALUE_REWRITES.items():
        if not values.get(name) and re.search(r"\{\{?\s*" + name + r"\s*\}?\}", text):
            for pattern, replacement in rewrites:
                text, count = re.subn(pattern, replacement, text)
                if count:
                    warnings.append(
                        f"unresolved placeholder {{{name}}} in {label} (no value: rephrased)"
                    )
    resolved = _BRACKET_TOKEN.sub(_replace, text)
    if warnings:
        resolved = re.sub(r"[ \t]+([,.;:!?])", r"\1", resolved)
        resolved = re.sub(r"[ \t]{2,}", " ", resolved)
    return resolved, warnings
