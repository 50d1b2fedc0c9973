"""How the offline provider writes from the corpus: emails and subject lines from templates.

:func:`write_email` fills the caller's few-shot example, or the nearest successful email of
the corpus (:class:`~textai.llm.email_index.EmailIndex`), with the recipient, company, sender,
product and pain point, weaves in the personalisation sentences and the call to action and
applies the tone's greeting and sign-off. :func:`write_subject_variants` lists rule-based
rewrites (:mod:`textai.llm.subject_rewrites`), topped up with corpus subjects of the same
purpose.

The index is passed as a zero-argument callable so it is only built when a template has to be
retrieved (a caller's example needs none).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipelines.corpora.emails import (
    PLACEHOLDER_DEFAULTS,
    PLACEHOLDER_PATTERN,
    PURPOSES,
    TONES,
    fill_placeholders,
    infer_purpose,
    normalise_purpose,
)
from textai.llm.email_index import EmailIndex
from textai.llm.email_tone import apply_tone
from textai.llm.offline_reading import as_list, recipient_first_name
from textai.llm.subject_rewrites import generate_subject_variants

MISSING_PLACEHOLDER_PENALTY = 0.03
"""Score lost by a retrieved template for each of its placeholders the request cannot fill."""
TONE_MISMATCH_PENALTY = 0.1
"""Score lost by a retrieved template written in another tone than the one requested."""

IndexSource = Callable[[], EmailIndex]
"""Returns the retrieval index (built on first use by the provider)."""


def placeholder_values(variables: Mapping[str, Any]) -> dict[str, str]:
    """Return the corpus placeholder values known from the variables.

    Args:
        variables: Email variables (structured or parsed from the prompt).

    Returns:
        Placeholder name -> non-empty value.
    """
    keys = ("last_name", "company", "sender_name", "product", "pain_point", "industry")
    values = {key: str(variables.get(key) or "") for key in keys}
    values["title"] = str(variables.get("title") or variables.get("recipient_title") or "")
    values["first_name"] = recipient_first_name(variables)
    values["date"] = str(variables.get("date") or "")
    values["amount"] = str(variables.get("amount") or "")
    return {key: value for key, value in values.items() if value.strip()}


def purpose_and_tone(variables: Mapping[str, Any], prompt_text: str) -> tuple[str, str]:
    """Return the normalised purpose and tone of a compose request.

    Args:
        variables: Email variables (``purpose``, ``tone``).
        prompt_text: The prompt (used to infer the purpose when none is given).

    Returns:
        ``(purpose, tone)``, each one of the corpus's values (``intro``/``friendly`` default).
    """
    purpose_raw = str(variables.get("purpose") or "")
    if purpose_raw:
        purpose = normalise_purpose(purpose_raw)
    else:
        purpose = infer_purpose("", prompt_text, default="intro")
    tone = str(variables.get("tone") or "friendly").lower()
    return (
        purpose if purpose in PURPOSES else "intro",
        tone if tone in TONES else "friendly",
    )


def select_template(
    variables: Mapping[str, Any], prompt_text: str, index: IndexSource
) -> dict[str, str]:
    """Return the example to fill: the caller's first example, else the nearest email.

    Args:
        variables: Email variables (``examples``, ``purpose``, ``tone``, context).
        prompt_text: The prompt (used to infer the purpose when none is given).
        index: Returns the retrieval index over the corpus.

    Returns:
        A dict with ``id``, ``subject`` and ``body``.
    """
    for example in as_list(variables.get("examples")):
        if isinstance(example, Mapping) and str(example.get("body") or "").strip():
            return {
                "id": str(example.get("id") or ""),
                "subject": str(example.get("subject") or ""),
                "body": str(example["body"]),
            }
    purpose, tone = purpose_and_tone(variables, prompt_text)
    query = ". ".join(
        part
        for part in (
            f"{purpose.replace('_', ' ')} email, {tone} tone",
            str(variables.get("pain_point") or ""),
            str(variables.get("industry") or ""),
            str(variables.get("notes") or ""),
        )
        if part
    )
    known = placeholder_values(variables)
    hits = index().search(query, k=6, purpose=purpose, tone=tone)

    def _rank(hit: Any) -> tuple[float, str]:
        names = set(PLACEHOLDER_PATTERN.findall(f"{hit.email.subject}\n{hit.email.body}"))
        missing = len(names - set(known) - {"last_name"})
        penalty = MISSING_PLACEHOLDER_PENALTY * missing
        if hit.email.tone != tone:
            penalty += TONE_MISMATCH_PENALTY
        return (-(hit.score - penalty), hit.email.id)

    best = min(hits, key=_rank).email
    return {"id": best.id, "subject": best.subject, "body": best.body}


def write_email(variables: Mapping[str, Any], prompt_text: str, index: IndexSource) -> str:
    """Write an email from the best template: ``Subject: ...`` then the body.

    Args:
        variables: Email variables (structured or parsed from the prompt).
        prompt_text: The full prompt.
        index: Returns the retrieval index over the corpus.

    Returns:
        The email.
    """
    _, tone = purpose_and_tone(variables, prompt_text)
    template = select_template(variables, prompt_text, index)
    values = placeholder_values(variables)
    subject, _ = fill_placeholders(template["subject"] or "Following up", values)
    body, _ = fill_placeholders(template["body"], values)
    first_name = values.get("first_name") or PLACEHOLDER_DEFAULTS["first_name"]
    sender = values.get("sender_name") or PLACEHOLDER_DEFAULTS["sender_name"]
    body = apply_tone(body, tone, first_name, sender)
    subject = subject.strip()
    if tone != "casual":
        subject = subject[:1].upper() + subject[1:]
    sentences = [str(s).strip() for s in as_list(variables.get("personalisation"))]
    body = weave_personalisation(body, [s for s in sentences if s][:2])
    body = apply_call_to_action(body, str(variables.get("call_to_action") or ""))
    return f"Subject: {subject.strip()}\n\n{body.strip()}"


def weave_personalisation(body: str, sentences: Sequence[str]) -> str:
    """Insert personalisation sentences as a paragraph after the greeting (and opener).

    Args:
        body: The email body (greeting first).
        sentences: The sentences to insert (none: the body is returned as is).

    Returns:
        The body.
    """
    if not sentences:
        return body
    paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    position = 1
    if len(paragraphs) > 2 and re.match(r"^(I )?hope\b", paragraphs[1], re.IGNORECASE):
        position = 2
    paragraphs.insert(min(position, len(paragraphs)), " ".join(sentences))
    return "\n\n".join(paragraphs)


def apply_call_to_action(body: str, call_to_action: str) -> str:
    """Replace the closing question with the call to action (or add it before sign-off).

    Args:
        body: The email body (sign-off last).
        call_to_action: The sentence to use (empty, or already present: no change).

    Returns:
        The body.
    """
    if not call_to_action.strip() or call_to_action.lower() in body.lower():
        return body
    paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    if len(paragraphs) < 3:
        return body
    sign_off = paragraphs[-1]
    last = len(paragraphs) - 2
    if paragraphs[last].rstrip().endswith("?") and last > 1:
        paragraphs[last] = call_to_action.strip()
    else:
        paragraphs.insert(len(paragraphs) - 1, call_to_action.strip())
    paragraphs[-1] = sign_off
    return "\n\n".join(paragraphs)


def write_subject_variants(variables: Mapping[str, Any], index: IndexSource) -> str:
    """Write subject line variants, one per line (rules first, then corpus subjects).

    Args:
        variables: ``subject``, ``first_name``/``recipient_name``, ``company``,
            ``product``, ``purpose``, ``pain_point``, ``n``.
        index: Returns the retrieval index over the corpus (used when the rules give fewer
            than ``n`` variants).

    Returns:
        One subject per line.
    """
    try:
        n = max(1, min(20, int(variables.get("n") or 5)))
    except (TypeError, ValueError):
        n = 5
    purpose = normalise_purpose(str(variables.get("purpose") or ""), default="")
    context = {
        "first_name": recipient_first_name(variables) or None,
        "company": variables.get("company") or None,
        "product": variables.get("product") or None,
        "purpose": purpose or None,
        "pain_point": variables.get("pain_point") or None,
    }
    subject = str(variables.get("subject") or "")
    lines = [v.text for v in generate_subject_variants(subject, context, n=n)]
    if len(lines) < n:
        values = placeholder_values(variables)
        query = f"{purpose.replace('_', ' ')} email. Subject: {subject}"
        for hit in index().search(query, k=2 * n, purpose=purpose or None):
            filled, _ = fill_placeholders(hit.email.subject, values)
            filled = filled[:1].upper() + filled[1:]
            if filled.lower() not in {line.lower() for line in lines} | {subject.lower()}:
                lines.append(filled)
            if len(lines) >= n:
                break
    return "\n".join(lines[:n])
