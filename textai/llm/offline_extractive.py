"""How the offline provider answers without a template: extractive summaries, generic answers.

:func:`summarize` keeps the most central sentences (MiniLM embedding centrality) in their
original order; :func:`write_generic` says that the answer comes from local retrieval and
quotes the parts of the request most related to its question and the closest successful email.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from pipelines.corpora.emails import fill_placeholders
from textai.llm.email_index import EmailIndex, Embedder
from textai.llm.offline_reading import select_central_sentences, split_sentences

_INSTRUCTION_LINE = re.compile(
    r"^\s*(please\s+)?(summari[sz]e|write|give|provide|produce|create|return|extract|list)\b"
    r"[^\n]*[:.]?\s*$",
    re.IGNORECASE,
)
_SOURCE_HEADER = re.compile(
    r"^\s*(transcript|conversation|text|document|meeting|dialogue|email)\s*:\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_ACTION_CUES = re.compile(
    r"\b(I will|I'll|we will|we'll|will send|will book|needs?|must|by (?:monday|tuesday|"
    r"wednesday|thursday|friday|tomorrow|next week|the end of)|send|book|schedule|follow up)\b",
    re.IGNORECASE,
)


def summarize(
    variables: Mapping[str, Any],
    prompt_text: str,
    max_tokens: int,
    embed: Embedder,
    model: str,
) -> str:
    """Return an extractive summary: the most central sentences, in order.

    Args:
        variables: ``text``/``transcript``/``content``/``conversation``/``document`` (the
            text to summarise) and ``max_sentences`` (default 3), when given.
        prompt_text: The prompt (summarised, minus its instruction lines, otherwise).
        max_tokens: Word budget of the answer.
        embed: Embedder returning L2-normalised rows.
        model: Model name quoted when there is nothing to summarise.

    Returns:
        The summary.
    """
    source = next(
        (
            str(variables[key])
            for key in ("text", "transcript", "content", "conversation", "document", "email")
            if isinstance(variables.get(key), str) and variables[key].strip()
        ),
        None,
    )
    if source is None:
        header = list(_SOURCE_HEADER.finditer(prompt_text))
        if header:
            source = prompt_text[header[-1].end() :]
        else:
            lines = [line for line in prompt_text.splitlines() if not _INSTRUCTION_LINE.match(line)]
            source = "\n".join(lines)
    sentences = [s for s in split_sentences(source) if len(s.split()) >= 3]
    if not sentences:
        sentences = split_sentences(source)
    if not sentences:
        return f"[offline model {model}] Nothing to summarise."
    try:
        k = max(1, int(variables.get("max_sentences") or 3))
    except (TypeError, ValueError):
        k = 3
    chosen = [sentences[i] for i in select_central_sentences(sentences, embed, k)]
    words: list[str] = []
    for sentence in chosen:
        if words and len(words) + len(sentence.split()) > max_tokens:
            break
        words.extend(sentence.split())
    summary = " ".join(words[:max_tokens])
    if re.search(r"next steps", prompt_text, re.IGNORECASE):
        actions = [s for s in sentences if _ACTION_CUES.search(s)][:3]
        steps = "; ".join(a.rstrip(".") for a in actions) if actions else "none stated"
        summary += f"\nNext steps: {steps}."
    return summary


def write_generic(
    prompt_text: str, embed: Embedder, index: Callable[[], EmailIndex], model: str
) -> str:
    """Answer any other request with a retrieval-backed template that names the model.

    Args:
        prompt_text: The user's prompt.
        embed: Embedder returning L2-normalised rows.
        index: Returns the retrieval index over the corpus (used for sales requests).
        model: Model name the answer names.

    Returns:
        The answer.
    """
    lines = [
        f"[offline model {model}] No hosted LLM is available, so this answer comes "
        "from local retrieval, not from text generation."
    ]
    sentences = [s for s in split_sentences(prompt_text) if len(s.split()) >= 3]
    if len(sentences) >= 3:
        question = next((s for s in reversed(sentences) if s.endswith("?")), sentences[-1])
        others = [s for s in sentences if s != question]
        vectors = np.asarray(embed([question, *others]), dtype=np.float64)
        scores = vectors[1:] @ vectors[0]
        order = sorted(range(len(others)), key=lambda i: (-round(float(scores[i]), 6), i))
        lines.append("The parts of your request most related to your question:")
        lines.extend(f"- {others[i]}" for i in sorted(order[:2]))
    if re.search(
        r"\b(e-?mail|customer|prospect|lead|deal|client|follow[- ]up)\b", prompt_text, re.I
    ):
        hit = index().search(prompt_text[:2000], k=1)[0].email
        subject, _ = fill_placeholders(hit.subject, {})
        lines.append(
            f'Closest successful email in the corpus: "{subject}" '
            f"({hit.purpose.replace('_', ' ')}, {hit.tone}, id {hit.id})."
        )
    lines.append("Configure an API key for a hosted provider to get generated answers.")
    return "\n".join(lines)
