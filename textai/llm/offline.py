"""The offline default provider: MiniLM retrieval over successful emails, templates, extraction.

No network and no generative model: :class:`OfflineProvider` answers every request locally,
deterministically and at zero cost, so the platform works with no API key.

1. **Task detection**: ``request.metadata["task"]`` (or ``metadata["prompt_name"]``) when
   given, else keywords in the prompt: ``subject_variants`` (subject line alternatives),
   ``email_reply`` (reply to an incoming email), ``summary`` (summarise ...),
   ``email_compose`` (write/compose/draft an email) or ``generic``.
2. **Variables**: ``request.metadata["variables"]`` (the prompt's structured variables) win;
   otherwise ``Key: value`` lines of the prompt (``Recipient:``, ``Company:``, ``Tone:``, ...)
   and phrases such as "a formal renewal email to Ada Lovelace at Acme from Bob" are parsed.
3. **Answers**

   * ``email_compose``: the few-shot example the caller sent (``variables["examples"]``) or
     the nearest successful email of the corpus (all-MiniLM-L6-v2 similarity to purpose + tone
     + context, boosted for the same purpose and tone) is filled with the recipient, company,
     sender, product and pain point; the personalisation sentences and the call to action are
     woven in and the tone's greeting/sign-off are applied. Output: ``Subject: ...`` + body.
   * ``email_reply``: an intent-specific reply (accept / decline / ask_info / schedule) that
     opens with an acknowledgement when the incoming email is negative.
   * ``subject_variants``: rule-based rewrites (``textai.email.subjects``) plus
     corpus subjects of the same purpose, one per line.
   * ``summary``: extractive, the most central sentences by MiniLM embedding centrality, in
     their original order.
   * ``generic``: a template answer that says it comes from the offline model, quoting the
     parts of the request most similar to its question and the closest successful email.

Token counts are whitespace tokens of the prompt (system + messages) and of the answer. The
provider never raises for ordinary text: an internal failure returns a short offline notice
(logged as a warning).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.corpora.emails import (
    PLACEHOLDER_DEFAULTS,
    PLACEHOLDER_PATTERN,
    PURPOSES,
    TONES,
    EmailIndex,
    SuccessfulEmail,
    fill_placeholders,
    get_default_email_index,
    infer_purpose,
    load_email_corpus,
    load_seed_corpus,
    normalise_purpose,
)
from textai.llm.offline_reading import (
    _NAME,
    Embedder,
    _as_list,
    _first_name,
    _reply_specifics,
    _user_text,
    count_tokens,
    detect_task,
    extract_example_blocks,
    parse_list_block,
    parse_prompt_variables,
    render_request_text,
    select_central_sentences,
    split_incoming_block,
    split_sentences,
    truncate_tokens,
)
from textai.llm.providers import LLMRequest, LLMResponse, Provider

logger = logging.getLogger(__name__)

_ACK_OPENERS: dict[str, str] = {
    "formal": "I am sorry to hear about this, and thank you for bringing it to my attention.",
    "casual": "Sorry about this, and thanks for telling me straight.",
    "friendly": "I'm really sorry to hear about this, and thank you for letting me know.",
}
_REPLY_BODIES: dict[str, dict[str, str]] = {
    "accept": {
        "negative": "You are right to expect better. I have taken this on personally and will "
        "make sure it is resolved, and I will confirm once it is done.",
        "default": "Thank you for your note. That works for us, and I will take care of the "
        "next steps on our side and confirm shortly.",
    },
    "decline": {
        "negative": "I understand why you are asking. Unfortunately we cannot do exactly that, "
        "but I would like to propose an alternative that addresses the problem.",
        "default": "Thank you for thinking of us. Unfortunately we are not able to do that at "
        "the moment, but I would be glad to suggest an alternative that could work.",
    },
    "ask_info": {
        "negative": "So that I can fix this quickly, could you share a few details: when the "
        "problem started, which users are affected and any error messages you saw?",
        "default": "Before I come back to you properly, could you share a little more detail "
        "on what you need and your timeline, so I can give you an accurate answer?",
    },
    "schedule": {
        "negative": "I would like to talk this through properly. Could we have a 15-minute call "
        "today or tomorrow, at a time that suits you?",
        "default": "Would a short call help? I am free on Tuesday at 10:00 or Thursday at "
        "15:00, and happy to work around your calendar.",
    },
}
_INSTRUCTION_LINE = re.compile(
    r"^\s*(please\s+)?(summari[sz]e|write|give|provide|produce|create|return|extract|list)\b"
    r"[^\n]*[:.]?\s*$",
    re.IGNORECASE,
)

MISSING_PLACEHOLDER_PENALTY = 0.03
"""Score lost by a retrieved template for each of its placeholders the request cannot fill."""
TONE_MISMATCH_PENALTY = 0.1
"""Score lost by a retrieved template written in another tone than the one requested."""

_SOURCE_HEADER = re.compile(
    r"^\s*(transcript|conversation|text|document|meeting|dialogue|email)\s*:\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_ACTION_CUES = re.compile(
    r"\b(I will|I'll|we will|we'll|will send|will book|needs?|must|by (?:monday|tuesday|"
    r"wednesday|thursday|friday|tomorrow|next week|the end of)|send|book|schedule|follow up)\b",
    re.IGNORECASE,
)


class OfflineProvider(Provider):
    """Local, deterministic, zero-cost provider (kind ``offline``).

    Args:
        model: Model name reported in responses.
        corpus: The successful emails: ``None`` (the seed corpus, shared index), an
            :class:`EmailIndex`, a list of :class:`SuccessfulEmail`/dicts, or a JSONL path.
        name: Provider name (``build_provider`` overwrites it with the config key).
        embed: Text embedder (defaults to MiniLM).
        cache_dir: Embedding cache folder of a non-default corpus (``False``: no cache).
        include_crm: Also harvest successful emails from the CRM database.
        database_url: CRM database for ``include_crm``.
    """

    def __init__(
        self,
        model: str = "minilm-retrieval",
        corpus: EmailIndex
        | Sequence[SuccessfulEmail | Mapping[str, Any]]
        | str
        | Path
        | None = None,
        *,
        name: str = "offline",
        embed: Embedder | None = None,
        cache_dir: str | Path | bool | None = None,
        include_crm: bool = False,
        database_url: str | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self._corpus = corpus
        self._embed = embed
        self._cache_dir = cache_dir
        self._include_crm = include_crm
        self._database_url = database_url
        self._index: EmailIndex | None = corpus if isinstance(corpus, EmailIndex) else None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OfflineProvider(name={self.name!r}, model={self.model!r})"

    @property
    def embed(self) -> Embedder:
        """The embedding function (MiniLM unless one was injected)."""
        if self._embed is None:
            from features.text_embeddings import embed_texts

            self._embed = embed_texts
        return self._embed

    @property
    def index(self) -> EmailIndex:
        """The retrieval index over the corpus, built on first use."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._build_index()
        return self._index

    def _build_index(self) -> EmailIndex:
        """Build the index from the configured corpus."""
        corpus = self._corpus
        uses_defaults = corpus is None and self._embed is None and self._cache_dir is None
        if uses_defaults and self._database_url is None:
            return get_default_email_index(self._include_crm)
        if corpus is None:
            emails = load_email_corpus(
                include_crm=self._include_crm, database_url=self._database_url
            )
        elif isinstance(corpus, str | Path):
            emails = load_seed_corpus(corpus)
        else:
            emails = [
                e if isinstance(e, SuccessfulEmail) else SuccessfulEmail.model_validate(e)
                for e in corpus
            ]
        return EmailIndex(emails, embed=self._embed, cache_dir=self._cache_dir)

    # -- the Provider interface ------------------------------------------------------------

    def generate(self, request: LLMRequest) -> LLMResponse:
        """Answer a request locally (see the module docstring); never raises for text input.

        Args:
            request: The request; ``metadata["task"]`` and ``metadata["variables"]`` are used
                when present.

        Returns:
            The response: zero cost, whitespace token counts, ``finish_reason="stop"``.
        """
        start = time.perf_counter()
        prompt = render_request_text(request)
        task = "generic"
        try:
            task = detect_task(request)
            text = self.answer(task, request)
        except Exception as exc:  # the last provider of every chain must always answer
            logger.warning("offline provider failed on task %s: %s", task, exc, exc_info=True)
            text = (
                f"[offline model {self.model}] This request could not be processed locally "
                f"({type(exc).__name__}). No hosted LLM is configured, so no generated answer "
                "is available."
            )
        text = text.strip() or f"[offline model {self.model}] (empty answer)"
        text, truncated = truncate_tokens(text, request.max_tokens)
        latency_ms = (time.perf_counter() - start) * 1000.0
        return LLMResponse(
            text=text,
            provider=self.name,
            model=self.model,
            input_tokens=count_tokens(prompt),
            output_tokens=count_tokens(text),
            latency_ms=round(latency_ms, 3),
            cost_usd=0.0,
            finish_reason="length" if truncated else "stop",
        )

    def answer(self, task: str, request: LLMRequest) -> str:
        """Return the answer text for a task.

        Args:
            task: One of :data:`TASKS`.
            request: The request.

        Returns:
            The text.
        """
        user_text = _user_text(request)
        examples, remaining = extract_example_blocks(user_text)
        instructions, incoming = split_incoming_block(remaining)
        prompt_vars: dict[str, Any] = parse_prompt_variables(instructions)
        if examples:
            prompt_vars["examples"] = examples
        personalisation = parse_list_block(instructions, r"personali[sz]ation")
        if personalisation:
            prompt_vars["personalisation"] = personalisation
        if incoming:
            prompt_vars["incoming_email"] = incoming
            sender = re.search(rf"last message from ({_NAME})", instructions, re.IGNORECASE)
            if sender:
                prompt_vars.setdefault("recipient_name", sender.group(1))
        structured = request.metadata.get("variables")
        if isinstance(structured, Mapping):
            prompt_vars.update({k: v for k, v in structured.items() if v not in (None, "")})
        if task == "email_compose":
            return self.compose(prompt_vars, render_request_text(request))
        if task == "email_reply":
            return self.write_reply(prompt_vars, instructions)
        if task == "subject_variants":
            return self.write_subject_variants(prompt_vars)
        if task == "summary":
            return self.summarize(prompt_vars, _user_text(request), request.max_tokens)
        return self.write_generic(_user_text(request))

    # -- tasks -----------------------------------------------------------------------------

    def _placeholder_values(self, variables: Mapping[str, Any]) -> dict[str, str]:
        """Return the corpus placeholder values known from the variables."""
        keys = ("last_name", "company", "sender_name", "product", "pain_point", "industry")
        values = {key: str(variables.get(key) or "") for key in keys}
        values["title"] = str(variables.get("title") or variables.get("recipient_title") or "")
        values["first_name"] = _first_name(variables)
        values["date"] = str(variables.get("date") or "")
        values["amount"] = str(variables.get("amount") or "")
        return {key: value for key, value in values.items() if value.strip()}

    def select_template(self, variables: Mapping[str, Any], prompt_text: str) -> dict[str, str]:
        """Return the example to fill: the caller's first example, else the nearest email.

        Args:
            variables: Email variables (``examples``, ``purpose``, ``tone``, context).
            prompt_text: The prompt (used to infer the purpose when none is given).

        Returns:
            A dict with ``id``, ``subject`` and ``body``.
        """
        for example in _as_list(variables.get("examples")):
            if isinstance(example, Mapping) and str(example.get("body") or "").strip():
                return {
                    "id": str(example.get("id") or ""),
                    "subject": str(example.get("subject") or ""),
                    "body": str(example["body"]),
                }
        purpose, tone = self._purpose_and_tone(variables, prompt_text)
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
        known = self._placeholder_values(variables)
        hits = self.index.search(query, k=6, purpose=purpose, tone=tone)

        def _rank(hit: Any) -> tuple[float, str]:
            names = set(PLACEHOLDER_PATTERN.findall(f"{hit.email.subject}\n{hit.email.body}"))
            missing = len(names - set(known) - {"last_name"})
            penalty = MISSING_PLACEHOLDER_PENALTY * missing
            if hit.email.tone != tone:
                penalty += TONE_MISMATCH_PENALTY
            return (-(hit.score - penalty), hit.email.id)

        best = min(hits, key=_rank).email
        return {"id": best.id, "subject": best.subject, "body": best.body}

    def _purpose_and_tone(self, variables: Mapping[str, Any], prompt_text: str) -> tuple[str, str]:
        """Return the normalised purpose and tone of a compose request."""
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

    def compose(self, variables: Mapping[str, Any], prompt_text: str) -> str:
        """Write an email from the best template: ``Subject: ...`` then the body.

        Args:
            variables: Email variables (structured or parsed from the prompt).
            prompt_text: The full prompt.

        Returns:
            The email.
        """
        from textai.email.tone import apply_tone

        _, tone = self._purpose_and_tone(variables, prompt_text)
        template = self.select_template(variables, prompt_text)
        values = self._placeholder_values(variables)
        subject, _ = fill_placeholders(template["subject"] or "Following up", values)
        body, _ = fill_placeholders(template["body"], values)
        first_name = values.get("first_name") or PLACEHOLDER_DEFAULTS["first_name"]
        sender = values.get("sender_name") or PLACEHOLDER_DEFAULTS["sender_name"]
        body = apply_tone(body, tone, first_name, sender)
        subject = subject.strip()
        if tone != "casual":
            subject = subject[:1].upper() + subject[1:]
        sentences = [str(s).strip() for s in _as_list(variables.get("personalisation"))]
        body = self._weave_personalisation(body, [s for s in sentences if s][:2])
        body = self._apply_call_to_action(body, str(variables.get("call_to_action") or ""))
        return f"Subject: {subject.strip()}\n\n{body.strip()}"

    @staticmethod
    def _weave_personalisation(body: str, sentences: Sequence[str]) -> str:
        """Insert personalisation sentences as a paragraph after the greeting (and opener)."""
        if not sentences:
            return body
        paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
        position = 1
        if len(paragraphs) > 2 and re.match(r"^(I )?hope\b", paragraphs[1], re.IGNORECASE):
            position = 2
        paragraphs.insert(min(position, len(paragraphs)), " ".join(sentences))
        return "\n\n".join(paragraphs)

    @staticmethod
    def _apply_call_to_action(body: str, call_to_action: str) -> str:
        """Replace the closing question with the call to action (or add it before sign-off)."""
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

    def write_reply(self, variables: Mapping[str, Any], instructions: str) -> str:
        """Write a reply: one email for one intent, or numbered one-line suggestions.

        With an ``intent`` (the ``email_reply`` prompt) the answer is a full email; without
        one (e.g. the ``reply_suggestion`` prompt) it is ``n`` numbered suggestions, one per
        intent in the order that fits the message. Replies to negative messages open with an
        acknowledgement; a day/time the message proposes and its question are echoed back.

        Args:
            variables: ``incoming_email``, ``intent``, ``sentiment``, ``acknowledge``,
                ``recipient_name``, ``sender_name``, ``tone``, ``n``.
            instructions: The prompt without the incoming message.

        Returns:
            The reply (or the numbered suggestions).
        """
        from textai.email.replies import rank_reply_intents
        from textai.email.sentiment import estimate_lexicon_sentiment
        from textai.email.tone import apply_tone

        incoming = str(variables.get("incoming_email") or "")
        sentiment = str(variables.get("sentiment") or "").lower()
        if sentiment not in {"negative", "neutral", "positive"}:
            sentiment = estimate_lexicon_sentiment(incoming)["label"]
        acknowledge = variables.get("acknowledge") in (True, "true", "True", "yes")
        negative = sentiment == "negative" or acknowledge
        tone = str(variables.get("tone") or "friendly").lower()
        if tone not in TONES:
            tone = "casual" if tone == "concise" else "friendly"
        specifics = _reply_specifics(incoming)
        intent = str(variables.get("intent") or "").lower()
        if intent in _REPLY_BODIES:
            parts = [self._reply_content(intent, sentiment, negative, tone, specifics)]
            first_name = _first_name(variables) or "there"
            sender = str(variables.get("sender_name") or PLACEHOLDER_DEFAULTS["sender_name"])
            return apply_tone("\n\n".join(parts), tone, first_name, sender, opener=not negative)
        try:
            n = max(1, min(len(_REPLY_BODIES), int(variables.get("n") or 3)))
        except (TypeError, ValueError):
            n = 3
        intents = rank_reply_intents(incoming, "negative" if negative else sentiment)
        lines = [
            f"{i}. {self._reply_content(name, sentiment, negative, tone, specifics)}"
            for i, name in enumerate(intents[:n], 1)
        ]
        return "\n".join(lines)

    @staticmethod
    def _reply_content(
        intent: str, sentiment: str, negative: bool, tone: str, specifics: Mapping[str, str]
    ) -> str:
        """Return the body of one reply (acknowledgement, intent sentence, specifics)."""
        parts = []
        if negative:
            parts.append(_ACK_OPENERS[tone])
        elif sentiment == "positive":
            parts.append("Thank you for the kind words.")
        else:
            parts.append("Thank you for your message.")
        when, question = specifics.get("when"), specifics.get("question")
        if intent == "schedule" and when and not negative:
            parts.append(f"{when} works for me; I will send an updated invitation.")
        elif intent == "accept" and question and not negative:
            parts.append(
                f'On your question ("{question}"), I will come back to you today with '
                "a clear answer."
            )
        elif intent == "ask_info" and question and not negative:
            parts.append(
                f'So that I answer "{question}" accurately, could you share a little '
                "more about what you need and your timeline?"
            )
        else:
            parts.append(_REPLY_BODIES[intent]["negative" if negative else "default"])
        return " ".join(parts)

    def write_subject_variants(self, variables: Mapping[str, Any]) -> str:
        """Write subject line variants, one per line (rules first, then corpus subjects).

        Args:
            variables: ``subject``, ``first_name``/``recipient_name``, ``company``,
                ``product``, ``purpose``, ``pain_point``, ``n``.

        Returns:
            One subject per line.
        """
        from textai.email.subjects import generate_subject_variants

        try:
            n = max(1, min(20, int(variables.get("n") or 5)))
        except (TypeError, ValueError):
            n = 5
        purpose = normalise_purpose(str(variables.get("purpose") or ""), default="")
        context = {
            "first_name": _first_name(variables) or None,
            "company": variables.get("company") or None,
            "product": variables.get("product") or None,
            "purpose": purpose or None,
            "pain_point": variables.get("pain_point") or None,
        }
        subject = str(variables.get("subject") or "")
        lines = [v.text for v in generate_subject_variants(subject, context, n=n)]
        if len(lines) < n:
            values = self._placeholder_values(variables)
            query = f"{purpose.replace('_', ' ')} email. Subject: {subject}"
            for hit in self.index.search(query, k=2 * n, purpose=purpose or None):
                filled, _ = fill_placeholders(hit.email.subject, values)
                filled = filled[:1].upper() + filled[1:]
                if filled.lower() not in {line.lower() for line in lines} | {subject.lower()}:
                    lines.append(filled)
                if len(lines) >= n:
                    break
        return "\n".join(lines[:n])

    def summarize(self, variables: Mapping[str, Any], prompt_text: str, max_tokens: int) -> str:
        """Return an extractive summary: the most central sentences, in order.

        Args:
            variables: ``text``/``transcript``/``content``/``conversation``/``document`` (the
                text to summarise) and ``max_sentences`` (default 3), when given.
            prompt_text: The prompt (summarised, minus its instruction lines, otherwise).
            max_tokens: Word budget of the answer.

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
                lines = [
                    line for line in prompt_text.splitlines() if not _INSTRUCTION_LINE.match(line)
                ]
                source = "\n".join(lines)
        sentences = [s for s in split_sentences(source) if len(s.split()) >= 3]
        if not sentences:
            sentences = split_sentences(source)
        if not sentences:
            return f"[offline model {self.model}] Nothing to summarise."
        try:
            k = max(1, int(variables.get("max_sentences") or 3))
        except (TypeError, ValueError):
            k = 3
        chosen = [sentences[i] for i in select_central_sentences(sentences, self.embed, k)]
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

    def write_generic(self, prompt_text: str) -> str:
        """Answer any other request with a retrieval-backed template that names the model.

        Args:
            prompt_text: The user's prompt.

        Returns:
            The answer.
        """
        lines = [
            f"[offline model {self.model}] No hosted LLM is available, so this answer comes "
            "from local retrieval, not from text generation."
        ]
        sentences = [s for s in split_sentences(prompt_text) if len(s.split()) >= 3]
        if len(sentences) >= 3:
            question = next((s for s in reversed(sentences) if s.endswith("?")), sentences[-1])
            others = [s for s in sentences if s != question]
            vectors = np.asarray(self.embed([question, *others]), dtype=np.float64)
            scores = vectors[1:] @ vectors[0]
            order = sorted(range(len(others)), key=lambda i: (-round(float(scores[i]), 6), i))
            lines.append("The parts of your request most related to your question:")
            lines.extend(f"- {others[i]}" for i in sorted(order[:2]))
        if re.search(
            r"\b(e-?mail|customer|prospect|lead|deal|client|follow[- ]up)\b", prompt_text, re.I
        ):
            hit = self.index.search(prompt_text[:2000], k=1)[0].email
            subject, _ = fill_placeholders(hit.subject, {})
            lines.append(
                f'Closest successful email in the corpus: "{subject}" '
                f"({hit.purpose.replace('_', ' ')}, {hit.tone}, id {hit.id})."
            )
        lines.append("Configure an API key for a hosted provider to get generated answers.")
        return "\n".join(lines)
