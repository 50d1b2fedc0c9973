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
   * ``subject_variants``: rule-based rewrites (:mod:`textai.llm.subject_rewrites`) plus
     corpus subjects of the same purpose, one per line.
   * ``summary``: extractive, the most central sentences by MiniLM embedding centrality, in
     their original order.
   * ``generic``: a template answer that says it comes from the offline model, quoting the
     parts of the request most similar to its question and the closest successful email.

Token counts are whitespace tokens of the prompt (system + messages) and of the answer. The
provider never raises for ordinary text: an internal failure returns a short offline notice
(logged as a warning).

The request is read by :mod:`textai.llm.offline_reading`; the answers are written by
:mod:`textai.llm.offline_templates` (emails, subject lines), :mod:`textai.llm.offline_replies`
(replies) and :mod:`textai.llm.offline_extractive` (summaries, generic answers), retrieving
from :mod:`textai.llm.email_index`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipelines.corpora.emails import (
    SuccessfulEmail,
    load_email_corpus,
    load_seed_corpus,
)
from textai.llm.email_index import EmailIndex, Embedder, get_default_email_index
from textai.llm.offline_extractive import summarize, write_generic
from textai.llm.offline_reading import (
    NAME_PATTERN,
    count_tokens,
    detect_task,
    extract_example_blocks,
    parse_list_block,
    parse_prompt_variables,
    render_request_text,
    split_incoming_block,
    truncate_tokens,
    user_text,
)
from textai.llm.offline_replies import write_reply
from textai.llm.offline_templates import write_email, write_subject_variants
from textai.llm.providers import LLMRequest, LLMResponse, Provider

logger = logging.getLogger(__name__)


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

    def _get_index(self) -> EmailIndex:
        """Return :attr:`index` (the task writers call this only when they retrieve)."""
        return self.index

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
            task: One of :data:`~textai.llm.offline_reading.TASKS`.
            request: The request.

        Returns:
            The text.
        """
        text = user_text(request)
        examples, remaining = extract_example_blocks(text)
        instructions, incoming = split_incoming_block(remaining)
        prompt_vars: dict[str, Any] = parse_prompt_variables(instructions)
        if examples:
            prompt_vars["examples"] = examples
        personalisation = parse_list_block(instructions, r"personali[sz]ation")
        if personalisation:
            prompt_vars["personalisation"] = personalisation
        if incoming:
            prompt_vars["incoming_email"] = incoming
            sender = re.search(rf"last message from ({NAME_PATTERN})", instructions, re.IGNORECASE)
            if sender:
                prompt_vars.setdefault("recipient_name", sender.group(1))
        structured = request.metadata.get("variables")
        if isinstance(structured, Mapping):
            prompt_vars.update({k: v for k, v in structured.items() if v not in (None, "")})
        if task == "email_compose":
            return write_email(prompt_vars, render_request_text(request), self._get_index)
        if task == "email_reply":
            return write_reply(prompt_vars)
        if task == "subject_variants":
            return write_subject_variants(prompt_vars, self._get_index)
        if task == "summary":
            return summarize(prompt_vars, text, request.max_tokens, self.embed, self.model)
        return write_generic(text, self.embed, self._get_index, self.model)
