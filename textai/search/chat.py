"""Conversational search: follow-up questions refine the previous turn; answers cite records.

One call of :func:`answer_turn` answers one message of a conversation over a
:class:`~textai.search.index.HybridIndex`:

1. the message is parsed with the index's parser (:meth:`HybridIndex.parse`) after its refining
   cue is removed, and :func:`~textai.search.chat_followup.detect_follow_up` decides whether it
   refines the previous turn ("only in healthcare", "which of those closed this quarter?") or
   asks a new question;
2. a follow-up keeps the previous turn's entity types and free text unless it names its own,
   and its filters are merged into the previous ones
   (:func:`~textai.search.chat_followup.merge_filters`); a follow-up pointing back at a
   ranked answer ("which of those ...") is restricted to that answer's records;
3. the search runs, and the answer cites every record it names: the offline template
   (:mod:`textai.search.chat_answer`), or, with a hosted LLM provider configured, the model's
   prose over the numbered hits, kept only when each ``[n]`` marker is a real hit
   (:mod:`textai.search.chat_llm`); ``path`` and ``fallback_reason`` say which.

The turn (question, merged filters, answer, cited ids) is a plain :class:`ChatTurn` that
:mod:`textai.search.chat_store` saves in ``search_conversations``. Nothing here imports a web
framework.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from textai.search.attribute_filters import coerce_filter
from textai.search.chat_answer import build_citations, describe_scope, template_answer
from textai.search.chat_followup import (
    FollowUp,
    clean_follow_up_text,
    detect_follow_up,
    exclusion_filters,
    merge_filters,
    split_cue,
)
from textai.search.chat_llm import AnswerRefused, GenerateText, hosted_providers, llm_answer
from textai.search.hits import SearchHit
from textai.search.query_model import Filter, ParsedQuery

#: Operators of a positive filter (a parser's own negations are trusted as they are).
_POSITIVE_OPS = frozenset({"==", "in", "between", ">", ">=", "<", "<="})


@dataclass(frozen=True)
class ChatTurn:
    """One answered turn, as stored in ``search_conversations.turns``.

    Attributes:
        question: The user's message.
        text: Free text ranked on ("" for a filter-only search).
        entity_types: Entity types searched (empty: all).
        filters: The merged filters.
        refined_from_previous: Whether the message refined the previous turn.
        restricted_to_previous: Whether the search was limited to the previous answer's records.
        answer: The answer.
        cited_ids: Document ids the answer cites.
        result_ids: Document ids of every hit, best first.
        path: ``offline`` (template) or ``llm``.

    """

    question: str
    text: str = ""
    entity_types: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    refined_from_previous: bool = False
    restricted_to_previous: bool = False
    answer: str = ""
    cited_ids: tuple[str, ...] = ()
    result_ids: tuple[str, ...] = ()
    path: str = "offline"

    def query(self) -> dict[str, Any]:
        """Return the merged query as JSON: text, entity types, filters, restriction."""
        return {
            "text": self.text,
            "entity_types": list(self.entity_types),
            "filters": [f.to_dict() for f in self.filters],
            "restricted_to_previous": self.restricted_to_previous,
        }

    def to_record(self) -> dict[str, Any]:
        """Return the JSON record stored for the turn."""
        return {
            "question": self.question,
            **self.query(),
            "refined_from_previous": self.refined_from_previous,
            "answer": self.answer,
            "cited_ids": list(self.cited_ids),
            "result_ids": list(self.result_ids),
            "path": self.path,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ChatTurn:
        """Rebuild a turn from :meth:`to_record` output (ISO dates become dates again).

        Raises:
            ValueError: When a stored filter is malformed.

        """
        return cls(
            question=str(record.get("question", "")),
            text=str(record.get("text", "")),
            entity_types=tuple(record.get("entity_types") or ()),
            filters=tuple(coerce_filter(f) for f in record.get("filters") or ()),
            refined_from_previous=bool(record.get("refined_from_previous")),
            restricted_to_previous=bool(record.get("restricted_to_previous")),
            answer=str(record.get("answer", "")),
            cited_ids=tuple(record.get("cited_ids") or ()),
            result_ids=tuple(record.get("result_ids") or ()),
            path=str(record.get("path", "offline")),
        )


@dataclass(frozen=True)
class TurnPlan:
    """What one message searches for.

    Attributes:
        query: The merged query (text, entity types, filters).
        follow_up: The follow-up decision.
        restrict_ids: Records the search is limited to (``None``: the whole index).
        notes: What could not be applied (e.g. a number that cannot be excluded).

    """

    query: ParsedQuery
    follow_up: FollowUp
    restrict_ids: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatReply:
    """The answer of one turn.

    Attributes:
        turn: The turn to store.
        citations: The records the answer cites.
        hits: Every hit, best first.
        fallback_reason: Why the LLM path was skipped or its answer not kept (``None``: not
            attempted because no hosted provider is configured, or it answered).
        notes: What could not be applied.

    """

    turn: ChatTurn
    citations: list[Any] = field(default_factory=list)
    hits: list[SearchHit] = field(default_factory=list)
    fallback_reason: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON answer (without conversation id and turn number)."""
        return {
            "question": self.turn.question,
            "filters": self.turn.query(),
            "refined_from_previous": self.turn.refined_from_previous,
            "answer": self.turn.answer,
            "citations": [c.to_dict() for c in self.citations],
            "results": [h.to_dict() for h in self.hits],
            "path": self.turn.path,
            "fallback_reason": self.fallback_reason,
            "notes": list(self.notes),
        }


def _fields_by_type(index: Any) -> dict[str, set[str]]:
    """Return the attribute names each entity type of the index has."""
    fields: dict[str, set[str]] = {}
    for doc in index.documents:
        fields.setdefault(doc.entity_type, set()).update(doc.attributes)
    return fields


def _own_filters(index: Any, follow: FollowUp, message: str, parsed: ParsedQuery) -> tuple:
    """Return a follow-up's own filters (complemented for "excluding") and notes."""
    if not follow.excludes:
        return parsed.filters, ()
    whole = index.parse(message)
    if any(f.op not in _POSITIVE_OPS for f in whole.filters):  # the parser negated it itself
        return whole.filters, ()
    filters, skipped = exclusion_filters(parsed.filters, index.vocabulary)
    notes = tuple(f"cannot exclude a {name.replace('_', ' ')} range" for name in skipped)
    if not parsed.filters:
        notes += (f"nothing to exclude was recognised in {follow.rest!r}",)
    return filters, notes


def plan_turn(
    index: Any,
    message: str,
    previous: ChatTurn | None,
    *,
    entity_types: Sequence[str] | None = None,
    today: dt.date | None = None,
) -> TurnPlan:
    """Decide what a message searches for, given the previous turn.

    Args:
        index: The :class:`~textai.search.index.HybridIndex`.
        message: The user's message.
        previous: The previous turn (``None``: the conversation starts).
        entity_types: Entity types the caller restricts the search to (override).
        today: Reference date of relative time phrases.

    Returns:
        The plan.

    Raises:
        ValueError: When the message cannot be parsed (empty, no letter or digit, too long).

    """
    _, rest, _ = split_cue(message)
    parsed = index.parse(rest, today)
    if previous is not None and not parsed.filters and parsed.text:
        # "what about fintech?", "excluding Germany": a bare value of a follow-up is a filter
        as_filter = index.parse(f"in {rest}", today)
        if as_filter.filters and not clean_follow_up_text(as_filter.text):
            parsed = as_filter
    follow = detect_follow_up(message, previous is not None, parsed)
    if not follow.is_follow_up or previous is None:
        types = tuple(entity_types) if entity_types else parsed.entity_types
        query = dataclasses.replace(parsed, entity_types=types, raw=message)
        return TurnPlan(query, follow)
    own, notes = _own_filters(index, follow, message, parsed)
    base = previous.filters
    if entity_types or follow.names_entities:
        types = tuple(entity_types) if entity_types else parsed.entity_types
        if types:
            known = _fields_by_type(index)
            usable = set().union(*(known.get(t, set()) for t in types))
            base = tuple(f for f in base if f.field in usable or f.field == "entity_type")
    else:
        types = previous.entity_types or parsed.entity_types
    text = clean_follow_up_text(parsed.text) or previous.text
    query = ParsedQuery(text, types, merge_filters(base, own), parsed.intent, message)
    restrict = None
    if follow.refers_back and (previous.text or previous.restricted_to_previous):
        restrict = previous.result_ids  # "those" of a ranked answer: the records shown
    return TurnPlan(query, follow, restrict, notes)


def _restricted_hits(
    index: Any, ids: Sequence[str], query: ParsedQuery, limit: int
) -> list[SearchHit]:
    """Return the records of ``ids`` (in that order) that pass the query's types and filters."""
    by_id = {doc.doc_id: doc for doc in index.documents}
    hits: list[SearchHit] = []
    for doc_id in ids:
        doc = by_id.get(doc_id)
        if doc is None or (query.entity_types and doc.entity_type not in query.entity_types):
            continue
        values = {**doc.attributes, "entity_type": doc.entity_type}
        if all(f.matches(values.get(f.field)) for f in query.filters):
            hits.append(SearchHit(doc, 1.0 / (len(hits) + 1), None, None))
        if len(hits) >= limit:
            break
    return hits


def run_search(
    index: Any, plan: TurnPlan, limit: int, mode: str = "hybrid"
) -> tuple[list[SearchHit], int | None]:
    """Run a plan's search.

    Args:
        index: The index.
        plan: The plan.
        limit: Maximum number of hits.
        mode: Search mode of :meth:`HybridIndex.search`.

    Returns:
        ``(hits, total)``: the hits and, for a filter-only search, how many records match.

    """
    query = plan.query
    if plan.restrict_ids is not None:
        hits = _restricted_hits(index, plan.restrict_ids, query, limit)
        return hits, len(hits)
    hits = index.search(query, limit=limit, mode=mode)
    total = None
    if not query.text.strip():
        mask = index.filter_mask(query.entity_types, query.filters, strict=False)
        total = int(mask.sum())
    return hits, total


def answer_turn(
    index: Any,
    message: str,
    previous: ChatTurn | None = None,
    *,
    limit: int = 5,
    entity_types: Sequence[str] | None = None,
    generate: GenerateText | None = None,
    llm_config: Any = None,
    mode: str = "hybrid",
    today: dt.date | None = None,
) -> ChatReply:
    """Answer one message of a conversation.

    Args:
        index: The :class:`~textai.search.index.HybridIndex`.
        message: The user's message.
        previous: The previous turn (``None``: a new conversation).
        limit: Maximum number of hits (and citations).
        entity_types: Entity types the caller restricts the search to.
        generate: ``generate(prompt_name, variables) -> text`` of the LLM layer; used only when
            ``llm_config`` routes to a hosted provider (``llm_config=None`` trusts it as hosted,
            e.g. a test double).
        llm_config: The LLM configuration (:class:`~textai.llm.config.LLMConfig`).
        mode: Search mode.
        today: Reference date of relative time phrases.

    Returns:
        The reply, with the turn to store.

    Raises:
        ValueError: On an unparseable message, a bad limit or entity type.

    """
    plan = plan_turn(index, message, previous, entity_types=entity_types, today=today)
    hits, total = run_search(index, plan, limit, mode)
    query = plan.query
    restricted = plan.restrict_ids is not None
    citations = build_citations(hits, query.filters, query.text, restricted)
    answer = template_answer(
        hits,
        entity_types=query.entity_types,
        filters=query.filters,
        text=query.text,
        total=total,
        vocabulary=index.vocabulary,
    )
    path, reason = "offline", None
    hosted = generate is not None and (llm_config is None or bool(hosted_providers(llm_config)))
    if hosted and hits:
        scope = describe_scope(query.filters, index.vocabulary)
        try:
            prose, markers = llm_answer(generate, message, scope, hits)  # type: ignore[arg-type]
        except AnswerRefused as refused:
            reason = str(refused)
        else:
            answer, path = prose, "llm"
            citations = [citations[m - 1] for m in markers]
    elif hosted:
        reason = "no record matches: the template answers"
    turn = ChatTurn(
        question=message,
        text=query.text,
        entity_types=query.entity_types,
        filters=query.filters,
        refined_from_previous=plan.follow_up.is_follow_up,
        restricted_to_previous=restricted,
        answer=answer,
        cited_ids=tuple(c.doc_id for c in citations),
        result_ids=tuple(h.doc.doc_id for h in hits),
        path=path,
    )
    return ChatReply(turn, citations, hits, reason, plan.notes)
