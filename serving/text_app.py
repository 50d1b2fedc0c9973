"""Ray Serve deployment of the text models and LLM wrappers: ``TextAI``.

The gateway (:mod:`serving.app`) admits and records every call, then forwards the text work to
this deployment through a deployment handle, so the MiniLM encoder, the Lightning sentiment
model, the action-item classifier, the search index and the LLM providers live in replicas that
can be scaled (and given GPUs: ``ray_actor_options.num_gpus`` in ``configs/serve.yaml``)
independently of the light scoring gateway.

Everything is loaded lazily on first use; serving never trains: until the text-models flow
(``haste train-text``) has run, the endpoints that need those models answer 503 with that
hint. Each method returns plain JSON-ready dicts.
"""

import dataclasses
import logging
import threading
import uuid
from typing import Any

from ray import serve

from haste.settings import Settings

logger = logging.getLogger("ray.serve")


class TextAIError(Exception):
    """A refused text call: HTTP status and message (raised back through the handle)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(status_code, message)
        self.status_code = status_code
        self.message = message


def _usage_context(usage: dict[str, Any], feature: str) -> Any:
    """Build the LLM usage context from the gateway's caller identity."""
    from textai.llm.usage import UsageContext

    def as_uuid(value: Any) -> uuid.UUID | None:
        return uuid.UUID(str(value)) if value else None

    return UsageContext(
        user_id=as_uuid(usage.get("user_id")),
        team_id=as_uuid(usage.get("team_id")),
        feature=feature,
        api_key_id=as_uuid(usage.get("api_key_id")),
        request_id=usage.get("request_id"),
    )


def _llm_errors() -> tuple[tuple[type[BaseException], int], ...]:
    """Map the LLM layer's exceptions to HTTP statuses."""
    from textai.llm.budgets import BudgetExceededError
    from textai.llm.client import LLMUnavailableError
    from textai.llm.prompt_model import PromptVariableError
    from textai.llm.redaction import ConsentError, ContactNotFoundError
    from training.text.registry import TextModelsNotTrainedError

    return (
        (TextModelsNotTrainedError, 503),
        (ConsentError, 403),
        (ContactNotFoundError, 404),
        (PromptVariableError, 422),
        (BudgetExceededError, 402),
        (LLMUnavailableError, 503),
    )


def _llm_summary(generate: Any) -> dict[str, Any] | None:
    """Summarise the LLM calls a request made (provider, prompt version, tokens, cost)."""
    calls = getattr(generate, "calls", [])
    if not calls:
        return None
    last = calls[-1]
    return {
        "calls": len(calls),
        "provider": last.provider,
        "model": last.model,
        "prompt": f"{last.prompt_name}@v{last.prompt_version}",
        "input_tokens": sum(c.input_tokens for c in calls),
        "output_tokens": sum(c.output_tokens for c in calls),
        "cost_usd": str(sum(c.cost_usd for c in calls)),
        "redacted": sum(c.redacted_count for c in calls),
        "alerts": [a.to_dict() if hasattr(a, "to_dict") else a for c in calls for a in c.alerts],
    }


@serve.deployment(name="TextAI", ray_actor_options={"num_cpus": 0.5, "num_gpus": 0})
class TextAI:
    """Conversation intelligence, email AI, semantic search and the LLM service."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = Settings(**settings)
        self._lock = threading.Lock()
        self._analyzer: Any = None
        self._service: Any = None
        self._index: Any = None
        self._sentiment: Any = None
        self._emails: Any = None

    # ------------------------------------------------------------------ lazy parts

    def _llm(self) -> Any:
        """Return the LLM service (providers, prompts, budgets, redaction)."""
        with self._lock:
            if self._service is None:
                from textai.llm.service import LLMService

                self._service = LLMService.from_config(self.settings.database_url)
            return self._service

    def _conversations(self) -> Any:
        """Return the conversation analyzer (503 until the text models are trained)."""
        with self._lock:
            if self._analyzer is None:
                from textai.conversation.analyze import ConversationAnalyzer

                self._analyzer = ConversationAnalyzer.from_settings(self.settings)
            return self._analyzer

    def _sentiment_model(self) -> Any:
        """Return the Lightning sentiment model."""
        with self._lock:
            if self._sentiment is None:
                from textai.email.sentiment import load_default_sentiment_model

                self._sentiment = load_default_sentiment_model(self.settings)
            return self._sentiment

    def _email_index(self) -> Any:
        """Return the nearest-neighbour index over successful emails (seed corpus + CRM)."""
        with self._lock:
            if self._emails is None:
                from textai.llm.email_index import get_default_email_index

                self._emails = get_default_email_index(include_crm=True)
            return self._emails

    def _search_index(self) -> Any:
        """Return the CRM's hybrid index, reloaded when its saved copy changed or was dropped."""
        with self._lock:
            if self._index is None:
                from textai.search.build import SavedIndexWatcher

                self._index = SavedIndexWatcher(self.settings)
            before = self._index.index
            index = self._index.get()
            if index is not before:
                logger.info("search index loaded: %d documents", len(index))
            return index

    def _complete(self, usage: dict[str, Any], feature: str, contact_ids: list[str]) -> Any:
        """Return ``generate(prompt, variables) -> text`` through the LLM service.

        The returned callable records each completion in ``calls`` (for tokens and cost).
        """
        service = self._llm()
        context = _usage_context(usage, feature)
        calls: list[Any] = []

        def generate(prompt_name: str, variables: dict[str, Any]) -> str:
            base = context.request_id or uuid.uuid4().hex
            # One ai_interactions row per LLM call: the n-th call of a request gets ".n".
            request_id = f"{base[:60]}.{len(calls)}" if calls else base
            completion = service.complete(
                prompt_name,
                variables,
                usage=dataclasses.replace(context, request_id=request_id),
                contact_ids=contact_ids,
                subject=str(usage.get("user_id") or usage.get("request_id")),
            )
            calls.append(completion)
            return completion.text

        generate.calls = calls  # type: ignore[attr-defined]
        return generate

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run ``fn``; turn the LLM layer's errors and bad input into :class:`TextAIError`."""
        try:
            return fn(*args)
        except TextAIError:
            raise
        except Exception as error:
            for kind, status in _llm_errors():
                if isinstance(error, kind):
                    raise TextAIError(status, str(error)) from error
            if isinstance(error, ValueError):  # the analyzers' "bad input" errors
                raise TextAIError(422, str(error)) from error
            raise

    # ------------------------------------------------------------------ endpoints

    def analyze_conversation(self, body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """Analyse a transcript and store it in ``conversation_insights``."""

        def run() -> dict[str, Any]:
            from textai.conversation.insight_store import store_conversation_insight

            analysis = self._conversations().analyze(
                body["transcript"], body.get("participants"), body.get("meeting_type")
            )
            insight_id = store_conversation_insight(
                self.settings.database_url,
                analysis,
                activity_id=body.get("activity_id"),
                contact_id=body.get("contact_id"),
                user_id=usage.get("user_id"),
            )
            return {"insight_id": str(insight_id), **analysis.to_dict()}

        return self._guard(run)

    def transcribe_conversation(
        self, body: dict[str, Any], usage: dict[str, Any]
    ) -> dict[str, Any]:
        """Transcribe a recording (or parse a transcript file), then analyse and store it."""

        def run() -> dict[str, Any]:
            from textai.conversation.intake import SniffedUpload, read_upload
            from textai.conversation.speech_to_text import load_speech_to_text_config
            from textai.conversation.upload_errors import (
                TranscriptionUnavailableError,
                UploadError,
            )

            sniffed = SniffedUpload(body["kind"], body.get("audio_format"))
            try:
                intake = read_upload(body["data"], sniffed, load_speech_to_text_config())
            except (UploadError, TranscriptionUnavailableError) as error:
                raise TextAIError(error.status_code, str(error)) from error
            result = {**intake.to_dict(), "analysis": None}
            if body.get("analyze", True):
                keys = ("participants", "meeting_type", "contact_id", "activity_id")
                request = {key: body.get(key) for key in keys}
                request["transcript"] = intake.analysis_turns()
                result["analysis"] = self.analyze_conversation(request, usage)
            return result

        return self._guard(run)

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run a natural-language hybrid search over the CRM."""

        def run() -> dict[str, Any]:
            from textai.search.intents import recognize_intent
            from textai.search.suggestions import suggest_queries

            index = self._search_index()
            parsed = dataclasses.replace(
                index.parse(body["query"]), intent=recognize_intent(body["query"])
            )
            hits = index.search(
                parsed,
                limit=body.get("limit", 10),
                entity_types=body.get("entity_types"),
                mode=body.get("mode", "hybrid"),
            )
            return {
                "query": body["query"],
                "parsed": parsed.to_dict(),
                "intent": parsed.intent,
                "results": [hit.to_dict() for hit in hits],
                "suggestions": suggest_queries(body["query"], index, limit=5),
            }

        return self._guard(run)

    def search_chat(self, body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """Answer one message of a search conversation (stored per API key) with citations."""

        def run() -> dict[str, Any]:
            from textai.search.chat_session import converse
            from textai.search.chat_store import ConversationFullError, ConversationNotFoundError

            generate = self._complete(usage, "search_chat", [])
            try:
                result = converse(self.settings.database_url, self._search_index(), body, usage,
                                  generate=generate, llm_config=self._llm().config)  # fmt: skip
            except ConversationNotFoundError as error:
                raise TextAIError(404, str(error)) from error
            except ConversationFullError as error:
                raise TextAIError(409, str(error)) from error
            return {**result, "llm": _llm_summary(generate)}

        return self._guard(run)

    def compose_email(self, body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """Compose an email from the context, CRM facts and retrieved successful emails."""

        def run() -> dict[str, Any]:
            from haste.db import session_scope
            from textai.email.compose import compose_email
            from textai.email.models import EmailContext
            from textai.email.personalisation import load_crm_context

            context = EmailContext.model_validate(body["context"])
            contact_id = context.recipient.contact_id
            facts: dict[str, Any] = {}
            if contact_id:
                with session_scope(self.settings.database_url) as session:
                    try:
                        _, facts = load_crm_context(session, contact_id)
                    except LookupError as error:
                        raise TextAIError(404, str(error)) from error
            generate = self._complete(usage, "email_compose", [contact_id] if contact_id else [])
            draft = compose_email(context, generate, crm_facts=facts, retriever=self._email_index())
            return {"draft": draft.model_dump(mode="json"), "llm": _llm_summary(generate)}

        return self._guard(run)

    def personalize_content(self, body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """Fill a template's typed slots from the CRM; 422 naming any missing required slot."""

        def run() -> dict[str, Any]:
            from content.personalise import personalise_content

            try:
                result = personalise_content(
                    self.settings.database_url,
                    body["contact_id"],
                    content_id=body.get("content_id"),
                    template=body.get("template"),
                    deal_id=body.get("deal_id"),
                )
            except LookupError as error:
                raise TextAIError(404, str(error)) from error
            return result.to_dict()

        return self._guard(run)

    def generate_content(self, body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """Draft a template with typed slots from a brief (hosted LLM if any, else the corpus)."""

        def run() -> dict[str, Any]:
            from content.generate import ContentBrief, generate_template

            brief = ContentBrief.model_validate(body)
            generate = self._complete(usage, "content_generate", [])
            result = generate_template(
                brief, generate, llm_config=self._llm().config, retriever=self._email_index()
            )
            return {**result.to_dict(), "llm": _llm_summary(generate)}

        return self._guard(run)

    def draft_workflow(self, body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """Turn a description into a workflow definition (hosted LLM if any, else the rules)."""

        def run() -> dict[str, Any]:
            from workflows.suggestions import draft_from_text

            service = self._llm()
            generate = self._complete(usage, "workflow_suggest", [])
            result = draft_from_text(body["description"], generate, service.config)
            return {**result, "llm": _llm_summary(generate)}

        return self._guard(run)

    def optimize_subject(self, body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """Score a subject line and rank rewrites (rules, plus LLM variants when available)."""

        def run() -> dict[str, Any]:
            from textai.email.subjects import optimize_subject

            contact = body.get("contact_id")
            generate = self._complete(usage, "email_subject", [contact] if contact else [])
            result = optimize_subject(
                body["subject"], body.get("context"), n=body.get("n", 5), generate=generate
            )
            return {**result.model_dump(mode="json"), "llm": _llm_summary(generate)}

        return self._guard(run)

    def suggest_replies(self, body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """Suggest replies adapted to the incoming email's sentiment (Lightning model)."""

        def run() -> dict[str, Any]:
            from textai.email.replies import suggest_replies
            from textai.email.sentiment import analyze_email_sentiment

            contact = body.get("contact_id")
            generate = self._complete(usage, "email_reply", [contact] if contact else [])
            model = self._sentiment_model()
            replies = suggest_replies(
                body["email"],
                generate,
                body.get("n", 3),
                sentiment_model=model,
                sender_name=body.get("sender_name"),
                tone=body.get("tone", "friendly"),
            )
            return {
                "sentiment": analyze_email_sentiment([body["email"]], model)[0],
                "suggestions": [reply.model_dump(mode="json") for reply in replies],
                "llm": _llm_summary(generate),
            }

        return self._guard(run)

    def executive_summary(self, body: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        """Write the week's executive summary from its figures (hosted LLM, checked; templates)."""

        def run() -> dict[str, Any]:
            from insights.executive_writer import FEATURE, write_summary

            generate = self._complete(usage, FEATURE, [])
            result = write_summary(body["report"], generate, self._llm().config)
            return {**result, "llm": _llm_summary(generate)}

        return self._guard(run)


def build_text_app(settings: Settings, options: dict[str, Any] | None = None) -> Any:
    """Bind the TextAI deployment (options from ``configs/serve.yaml``)."""
    return TextAI.options(**(options or {})).bind(settings.model_dump(mode="json"))
