"""How the offline provider reads a request: tokens, task, variables, examples, sentences."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from textai.llm.email_index import Embedder
from textai.llm.providers import LLMRequest

#: A person's name in a prompt: one or two capitalised words.
NAME_PATTERN = r"[A-Z][a-zA-Z'-]+(?:\s[A-Z][a-zA-Z'-]+)?"
#: An organisation's name in a prompt: up to four capitalised words.
ORG_PATTERN = r"[A-Z][\w&.'-]*(?:\s[A-Z][\w&.'-]*){0,3}"

TASKS: tuple[str, ...] = ("email_compose", "email_reply", "subject_variants", "summary", "generic")


TASK_ALIASES: dict[str, str] = {
    "email_compose": "email_compose",
    "compose": "email_compose",
    "compose_email": "email_compose",
    "email": "email_compose",
    "email_reply": "email_reply",
    "reply": "email_reply",
    "reply_suggestions": "email_reply",
    "reply_suggestion": "email_reply",
    "subject_variants": "subject_variants",
    "subjects": "subject_variants",
    "subject_lines": "subject_variants",
    "optimize_subject": "subject_variants",
    "summary": "summary",
    "summarize": "summary",
    "summarise": "summary",
    "conversation_summary": "summary",
    "meeting_summary": "summary",
    "generic": "generic",
}


_KEY_ALIASES: dict[str, str] = {
    "recipient": "recipient_name",
    "recipient_name": "recipient_name",
    "to": "recipient_name",
    "name": "recipient_name",
    "contact": "recipient_name",
    "first_name": "first_name",
    "last_name": "last_name",
    "recipient_last_name": "last_name",
    "company": "company",
    "organisation": "company",
    "organization": "company",
    "account": "company",
    "industry": "industry",
    "title": "title",
    "job_title": "title",
    "recipient_title": "title",
    "role": "title",
    "purpose": "purpose",
    "goal": "purpose",
    "email_type": "purpose",
    "tone": "tone",
    "style": "tone",
    "sender": "sender_name",
    "sender_name": "sender_name",
    "from": "sender_name",
    "signed_by": "sender_name",
    "product": "product",
    "pain_point": "pain_point",
    "problem": "pain_point",
    "challenge": "pain_point",
    "subject": "subject",
    "current_subject": "subject",
    "intent": "intent",
    "sentiment": "sentiment",
    "call_to_action": "call_to_action",
    "date": "date",
    "amount": "amount",
    "n": "n",
    "count": "n",
    "number_of_variants": "n",
    "n_suggestions": "n",
    "recipient_first_name": "first_name",
    "acknowledge": "acknowledge",
}


_KEY_VALUE_LINE = re.compile(r"^\s*[-*]?\s*([A-Za-z][A-Za-z _-]{0,30}?)\s*:\s*(\S.*?)\s*$")


def count_tokens(text: str) -> int:
    """Return the number of whitespace-separated tokens in ``text``."""
    return len(text.split())


def truncate_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """Cut ``text`` after ``max_tokens`` whitespace tokens, keeping its line breaks.

    Args:
        text: The text.
        max_tokens: Token budget (>= 1).

    Returns:
        The text and whether it was cut.
    """
    matches = list(re.finditer(r"\S+", text))
    if len(matches) <= max_tokens:
        return text, False
    return text[: matches[max_tokens - 1].end()], True


def render_request_text(request: LLMRequest) -> str:
    """Return the whole prompt as text: the system prompt then every message, in order."""
    parts = [request.system] if request.system else []
    parts.extend(message.content for message in request.messages)
    return "\n\n".join(part for part in parts if part)


def user_text(request: LLMRequest) -> str:
    """Return the user messages only (the system prompt carries instructions, not data)."""
    users = [m.content for m in request.messages if m.role == "user"]
    return "\n\n".join(users) if users else render_request_text(request)


def detect_task(request: LLMRequest) -> str:
    """Return the task of a request (one of :data:`TASKS`).

    Args:
        request: The request.

    Returns:
        ``metadata["task"]``, ``metadata["prompt"]`` (the ``name@vN`` variant the LLM service
        sends), ``metadata["prompt_name"]`` or ``metadata["feature"]`` mapped through
        :data:`TASK_ALIASES` when recognised, else the task suggested by the prompt's words.
    """
    for key in ("task", "prompt", "prompt_name", "feature"):
        value = request.metadata.get(key)
        if isinstance(value, str):
            name = re.sub(r"@v\d+$", "", value.strip().lower()).replace("-", "_")
            task = TASK_ALIASES.get(name)
            if task:
                return task
    return detect_task_from_text(render_request_text(request))


def detect_task_from_text(text: str) -> str:
    """Guess the task from the prompt text (subject variants, reply, summary, compose)."""
    lower = text.lower()
    if re.search(r"\b(reply|replies|respond|response)\s+to\b|\bincoming email\b", lower):
        return "email_reply"
    if re.search(r"subject[ -]lines\b|subject[ -]line (variants|alternatives|options)", lower):
        return "subject_variants"
    if re.search(r"\bsummar(y|ies|ise|ize|ising|izing)\b|\btl;?dr\b", lower):
        return "summary"
    if re.search(r"\b(write|compose|draft|prepare)\b[^\n]{0,80}\b(e-?mail|message|note)\b", lower):
        return "email_compose"
    return "generic"


def parse_prompt_variables(text: str) -> dict[str, str]:
    """Extract email variables from a prompt's ``Key: value`` lines and phrasing.

    Args:
        text: The prompt.

    Returns:
        Variables by canonical name (``recipient_name``, ``company``, ``purpose``, ``tone``,
        ``sender_name``, ``product``, ``pain_point``, ``subject``, ``intent``, ...); lines
        whose key is unknown are ignored.
    """
    variables: dict[str, str] = {}
    for line in text.splitlines():
        match = _KEY_VALUE_LINE.match(line)
        if not match:
            continue
        key = re.sub(r"[\s-]+", "_", match.group(1).strip().lower())
        name = _KEY_ALIASES.get(key)
        value = match.group(2).strip().strip("\"'")
        if name and value and name not in variables and value.lower() not in {"none", "n/a"}:
            variables[name] = value
    if "subject" not in variables:
        for line in text.splitlines():
            if re.search(r"subject", line, re.IGNORECASE) and ":" in line:
                candidate = line.rsplit(":", 1)[1].strip().strip("\"'")
                if candidate:
                    variables["subject"] = candidate
                    break
    if "tone" not in variables:
        tone = re.search(r"\b(formal|casual|friendly)\b", text, re.IGNORECASE)
        if tone:
            variables["tone"] = tone.group(1).lower()
    if "recipient_name" not in variables:
        to = re.search(rf"\b(?:to|for)\s+({NAME_PATTERN})(?=\s+(?:at|from|of)\b|[,.]|\s*$)", text)
        if to:
            variables["recipient_name"] = to.group(1)
    if "company" not in variables:
        at = re.search(rf"\b(?:at|of)\s+({ORG_PATTERN})(?=[\s,.;]|$)", text)
        if at and at.group(1).split()[0] not in {"The", "A", "An", "This", "Our", "Your"}:
            variables["company"] = at.group(1).rstrip(".")
    if "sender_name" not in variables:
        sender = re.search(rf"\bfrom\s+({NAME_PATTERN})(?=[\s,.;]|$)", text)
        if sender:
            variables["sender_name"] = sender.group(1)
    return variables


_EXAMPLE_BLOCK = re.compile(
    r"<example(?:\s+id=[\"']?(?P<id>[^\"'>\s]*)[\"']?)?\s*>\s*\n(?P<content>.*?)\n?\s*</example>",
    re.DOTALL | re.IGNORECASE,
)


_INCOMING_HEADER = re.compile(
    r"^\s*(incoming email|last message from [^\n:]{1,80}|email to answer|message)\s*:\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def extract_example_blocks(text: str) -> tuple[list[dict[str, str]], str]:
    """Pull ``<example id="...">`` blocks (``Subject:`` line, then body) out of a prompt.

    Args:
        text: The prompt.

    Returns:
        The examples (``id``, ``subject``, ``body``) and the prompt without them.
    """
    examples: list[dict[str, str]] = []
    for match in _EXAMPLE_BLOCK.finditer(text):
        content = match.group("content").strip()
        subject = ""
        first, _, rest = content.partition("\n")
        if first.lower().startswith("subject:"):
            subject, content = first.split(":", 1)[1].strip(), rest.strip()
        examples.append({"id": match.group("id") or "", "subject": subject, "body": content})
    return examples, _EXAMPLE_BLOCK.sub("", text)


def split_incoming_block(text: str) -> tuple[str, str]:
    """Split a reply prompt into its instructions and the message to answer.

    Args:
        text: The prompt.

    Returns:
        ``(instructions, message)``: the message is everything after the last
        ``Incoming email:`` / ``Last message from X:`` line (empty when there is none).
    """
    matches = list(_INCOMING_HEADER.finditer(text))
    if not matches:
        return text, ""
    last = matches[-1]
    return text[: last.start()] + last.group(0), text[last.end() :].strip()


def parse_list_block(text: str, header: str) -> list[str]:
    """Return the ``- item`` lines under a ``<header> ...:`` line (until a non-item line).

    Args:
        text: The prompt.
        header: Regex of the header's first word(s), e.g. ``personali[sz]ation``.

    Returns:
        The items, in order.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(rf"^\s*{header}\b[^\n]*:\s*$", line, re.IGNORECASE):
            items = []
            for item in lines[index + 1 :]:
                bullet = re.match(r"^\s*[-*•]\s+(.*\S)\s*$", item)
                if not bullet:
                    break
                items.append(bullet.group(1))
            return items
    return []


def split_sentences(text: str) -> list[str]:
    """Split text into sentences on line breaks and terminal punctuation."""
    sentences: list[str] = []
    for block in re.split(r"\n+", text or ""):
        block = block.strip()
        if not block:
            continue
        sentences.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])", block))
    return [s for s in sentences if s]


def select_central_sentences(sentences: Sequence[str], embed: Embedder, k: int) -> list[int]:
    """Return the indices of the ``k`` most central sentences, in their original order.

    Centrality is a sentence's mean cosine similarity to every other sentence; ties go to
    the earlier sentence.

    Args:
        sentences: The candidate sentences.
        embed: Embedder returning L2-normalised rows.
        k: How many to keep.

    Returns:
        Sorted indices.
    """
    if len(sentences) <= k:
        return list(range(len(sentences)))
    vectors = np.asarray(embed(list(sentences)), dtype=np.float64)
    similarity = vectors @ vectors.T
    centrality = (similarity.sum(axis=1) - np.diag(similarity)) / (len(sentences) - 1)
    order = sorted(range(len(sentences)), key=lambda i: (-round(float(centrality[i]), 6), i))
    return sorted(order[:k])


_WHEN = re.compile(
    r"\b((?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
    r"(?:\s+(?:morning|afternoon|evening))?|tomorrow(?:\s+(?:morning|afternoon))?|next week)\b",
    re.IGNORECASE,
)


def reply_specifics(incoming: str) -> dict[str, str]:
    """Return what a reply can echo: the first day/time proposed and the first question."""
    specifics: dict[str, str] = {}
    when = _WHEN.search(incoming)
    if when:
        text = when.group(1)
        specifics["when"] = text[:1].upper() + text[1:]
    question = next((s for s in split_sentences(incoming) if s.endswith("?")), None)
    if question:
        words = question.rstrip("?").split()
        specifics["question"] = " ".join(words[:25]) + "?"
    return specifics


def recipient_first_name(variables: Mapping[str, Any]) -> str:
    """Return the recipient's first name from ``first_name`` or ``recipient_name``."""
    first = str(variables.get("first_name") or "").strip()
    if first:
        return first
    full = str(variables.get("recipient_name") or "").strip()
    return full.split()[0] if full else ""


def as_list(value: Any) -> list[Any]:
    """Return ``value`` as a list (``None`` -> empty, a string -> one item)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return list(value)
    return [value]
