"""Prompts in the database: sync to ai_prompts, record each use, feedback and per-version stats."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select

from haste.db.models import AIInteraction, AIPrompt
from haste.db.session import session_scope
from haste.records import InteractionRecord
from textai.llm.prompt_model import (
    InteractionNotFoundError,
    PromptDefinition,
    PromptVersion,
    PromptVersionConflictError,
    SyncReport,
    format_variant,
    parse_variant,
)

#: Feedback scores are 1-5 (the API's ``/api/ai/feedback``).
FEEDBACK_MIN, FEEDBACK_MAX = 1, 5


def _prompt_model_config(version: PromptVersion) -> dict[str, Any]:
    """Return the ``ai_prompts.model_config`` document (the system prompt included)."""
    return {**version.model_config.to_dict(), "system": version.system}


def _sync_definitions(url: str, definitions: Sequence[PromptDefinition]) -> SyncReport:
    """Upsert the rows of ``definitions`` (see :meth:`PromptRegistry.sync_to_db`)."""
    report = SyncReport()
    with session_scope(url) as session:
        for definition in definitions:
            stored = {
                row.version: row
                for row in session.scalars(select(AIPrompt).where(AIPrompt.name == definition.name))
            }
            for number, version in definition.versions.items():
                row = stored.get(number)
                label = format_variant(definition.name, number)
                model_config = _prompt_model_config(version)
                if row is not None:
                    old_system = (row.model_config or {}).get("system")
                    if row.prompt_template != version.template or old_system != version.system:
                        raise PromptVersionConflictError(
                            f"prompt {definition.name} version {number}: the stored template "
                            f"differs from {definition.source or 'the definition'}; a stored "
                            f"version is immutable: add version {max(definition.versions) + 1} "
                            "with the new text instead"
                        )
                variables = {n: spec.to_dict() for n, spec in version.variables.items()}
                values = {
                    "category": definition.category,
                    "variables": variables,
                    "model_config": model_config,
                    "is_active": version.active,
                }
                if row is None:
                    session.add(
                        AIPrompt(
                            name=definition.name,
                            version=number,
                            prompt_template=version.template,
                            performance_stats={},
                            **values,
                        )
                    )
                    report.inserted.append(label)
                elif any(getattr(row, key) != value for key, value in values.items()):
                    for key, value in values.items():
                        setattr(row, key, value)
                    report.updated.append(label)
                else:
                    report.unchanged.append(label)
            for number, row in stored.items():
                if number not in definition.versions and row.is_active:
                    row.is_active = False
                    report.deactivated.append(format_variant(definition.name, number))
        session.flush()
    return report


def record_prompt_use(
    url: str,
    name: str,
    version: int,
    latency_ms: float,
    tokens: int,
    feedback: int | None = None,
    *,
    request_id: str | None = None,
    user_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    provider: str | None = None,
    model: str | None = None,
    cost_usd: Decimal | None = None,
    error_message: str | None = None,
) -> str:
    """Record one call made with a prompt version outside :class:`~textai.llm.service.LLMService`.

    Args:
        url: Database URL.
        name: Prompt name.
        version: Prompt version used.
        latency_ms: Provider latency.
        tokens: Input + output tokens.
        feedback: Optional feedback score (1-5).
        request_id: Idempotency key (default: a new uuid4 hex).
        user_id: Requesting user.
        team_id: Team of the user.
        provider: Provider that answered.
        model: Model that answered.
        cost_usd: Cost of the call.
        error_message: Error, when the call failed.

    Returns:
        The request id of the recorded ``ai_interactions`` row (for :func:`record_feedback`).
    """
    if feedback is not None:
        check_feedback(feedback)
    request_id = request_id or uuid.uuid4().hex
    record = InteractionRecord(
        interaction_type="llm",
        input_data={"prompt": name, "prompt_version": version},
        output_data={},
        model_used=model,
        response_time_ms=round(latency_ms),
        user_id=user_id,
        tokens_used=tokens,
        error_message=error_message,
        team_id=team_id,
        feature=name,
        provider=provider,
        variant=format_variant(name, version),
        request_id=request_id,
        cost_usd=cost_usd,
    )
    row = record.to_row()
    row.feedback_score = feedback
    with session_scope(url) as session:
        session.add(row)
    return request_id


def check_feedback(score: int) -> int:
    """Return ``score`` when it is an integer from 1 to 5.

    Raises:
        ValueError: Otherwise.
    """
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValueError(f"feedback score must be an integer from 1 to 5, got {score!r}")
    if not FEEDBACK_MIN <= score <= FEEDBACK_MAX:
        raise ValueError(f"feedback score must be from 1 to 5, got {score}")
    return score


@dataclass(frozen=True)
class FeedbackCaller:
    """Who rates a call: a user rates their own calls, a manager their team's, an admin any."""

    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    team_id: uuid.UUID | None
    role: str

    def may_rate(self, row: AIInteraction) -> bool:
        """Return whether this caller may rate the recorded call ``row``."""
        if self.role == "admin":
            return True
        own = (self.api_key_id is not None and row.api_key_id == self.api_key_id) or (
            self.user_id is not None and row.user_id == self.user_id
        )
        team = self.role == "manager" and self.team_id is not None and row.team_id == self.team_id
        return own or team


def record_feedback(
    url: str, request_id: str, score: int, caller: FeedbackCaller | None = None
) -> None:
    """Set the feedback score (1 = bad ... 5 = excellent) of a recorded call.

    Args:
        url: Database URL.
        request_id: The call's request id.
        score: 1 to 5.
        caller: Who rates it (``None``: a trusted local caller, e.g. the CLI). The caller's own
            call is rated first; a manager may rate their team's calls, an admin any call.

    Raises:
        ValueError: When the score is not an integer from 1 to 5.
        InteractionNotFoundError: When no call the caller may rate has that request id (calls
            of other users are not revealed).
    """
    check_feedback(score)
    with session_scope(url) as session:
        rows = list(
            session.scalars(select(AIInteraction).where(AIInteraction.request_id == request_id))
        )
        allowed = [row for row in rows if caller is None or caller.may_rate(row)]
        if caller is not None:
            own = [
                row for row in allowed if caller.api_key_id and row.api_key_id == caller.api_key_id
            ]
            allowed = own or allowed
        if not allowed:
            raise InteractionNotFoundError(
                f"no recorded AI call of yours has request id {request_id!r}"
            )
        for row in allowed:
            row.feedback_score = score


def _to_float(value: Any, digits: int = 3) -> float | None:
    """Return a SQL aggregate as a rounded float (``None`` stays ``None``)."""
    return None if value is None else round(float(value), digits)


def prompt_stats(url: str, name: str) -> list[dict[str, Any]]:
    """Return per-version performance stats of a prompt and store them in ``ai_prompts``.

    Stats come from the ``ai_interactions`` rows whose ``variant`` is ``<name>@v<version>``:
    ``calls`` (every row), ``errors`` (rows with an error message), ``mean_latency_ms`` and
    ``mean_tokens`` (over successful calls), ``mean_feedback`` and ``feedback_count`` (rows
    with a 1-5 feedback score). Versions stored in ``ai_prompts`` without calls are listed with
    zero calls. Each version's stats (with ``computed_at``) are written to its
    ``ai_prompts.performance_stats``.

    Args:
        url: Database URL.
        name: Prompt name.

    Returns:
        One dict per version, by version number.
    """
    prefix = f"{name}@v"
    ok = AIInteraction.error_message.is_(None)
    query = (
        select(
            AIInteraction.variant,
            func.count(),
            func.count(AIInteraction.error_message),
            func.avg(case((ok, AIInteraction.response_time_ms))),
            func.avg(case((ok, AIInteraction.tokens_used))),
            func.avg(AIInteraction.feedback_score),
            func.count(AIInteraction.feedback_score),
        )
        .where(AIInteraction.variant.startswith(prefix, autoescape=True))
        .group_by(AIInteraction.variant)
    )
    now = dt.datetime.now(dt.UTC).isoformat()
    stats: dict[int, dict[str, Any]] = {}
    with session_scope(url) as session:
        for variant, calls, errors, latency, tokens, feedback, feedbacks in session.execute(query):
            parsed = parse_variant(variant)
            if parsed is None or parsed[0] != name:
                continue
            stats[parsed[1]] = {
                "version": parsed[1],
                "calls": int(calls),
                "errors": int(errors),
                "mean_latency_ms": _to_float(latency),
                "mean_tokens": _to_float(tokens),
                "mean_feedback": _to_float(feedback),
                "feedback_count": int(feedbacks),
            }
        rows = session.scalars(select(AIPrompt).where(AIPrompt.name == name)).all()
        for row in rows:
            entry = stats.setdefault(
                row.version,
                {
                    "version": row.version,
                    "calls": 0,
                    "errors": 0,
                    "mean_latency_ms": None,
                    "mean_tokens": None,
                    "mean_feedback": None,
                    "feedback_count": 0,
                },
            )
            row.performance_stats = {**entry, "computed_at": now}
    return [stats[version] for version in sorted(stats)]
