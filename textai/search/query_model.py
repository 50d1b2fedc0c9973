"""The parsed form of a search query: filters, the parsed query and the CRM's vocabulary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textai.search.documents import SearchDocument

#: Intents known to :func:`rule_intent` (the YAML file may add more for the classifier).
INTENTS: tuple[str, ...] = (
    "find_entity",
    "filter_list",
    "lookup_person",
    "question",
    "topic_search",
)


#: Filter operators.
OPS: tuple[str, ...] = (">", ">=", "<", "<=", "==", "in", "between", "!=", "not in")
#: Negated operators: they hold for a missing value ("not in healthcare" keeps records of an
#: unknown industry), and each is the complement of its positive operator.
NEGATED_OPS: dict[str, str] = {"!=": "==", "not in": "in"}
#: Prefix of activity-fact filter fields: ``activity.<kind>`` holds for a record with an
#: activity of that kind (``email``, ``email_received``, ``email_sent``, ``call``, ``meeting``,
#: ``any``) whose time passes the filter (see :mod:`textai.search.activity_filters`).
ACTIVITY_FIELD_PREFIX = "activity."
#: Prefix of negated activity-fact fields: ``no_activity.<kind>`` holds for a contact,
#: company or deal with no activity of that kind in the window ("haven't called since March").
NO_ACTIVITY_FIELD_PREFIX = "no_activity."
#: Kinds of activity facts.
ACTIVITY_KINDS: tuple[str, ...] = (
    "any", "email", "email_received", "email_sent", "call", "meeting",
)  # fmt: skip


#: Longest accepted query, in characters.
MAX_QUERY_CHARS = 512


DEFAULT_INDUSTRIES: tuple[str, ...] = (
    "software", "fintech", "healthcare", "retail", "manufacturing", "education", "logistics",
    "media", "nonprofit", "government",
)  # fmt: skip


DEFAULT_COUNTRIES: tuple[str, ...] = ("US", "GB", "DE", "CA", "FR", "AU", "NL", "IN")


DEAL_STAGES: tuple[str, ...] = (
    "prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost",
)  # fmt: skip


OPEN_STAGES: tuple[str, ...] = ("prospecting", "qualification", "proposal", "negotiation")


LIFECYCLE_STAGES: tuple[str, ...] = (
    "lead", "marketing_qualified_lead", "sales_qualified_lead", "opportunity", "customer",
)  # fmt: skip


def _as_date(value: Any) -> dt.date | None:
    """Coerce an ISO string, date, datetime or pandas timestamp to a :class:`datetime.date`."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    to_pydatetime = getattr(value, "to_pydatetime", None)
    if to_pydatetime is not None:
        try:
            return to_pydatetime().date()
        except (ValueError, AttributeError):
            return None
    return None


@dataclass(frozen=True)
class Filter:
    """One exact structured filter on a document attribute.

    Attributes:
        field: Attribute name (``amount``, ``industry``, ``expected_close_date``...).
        op: One of :data:`OPS`.
        value: A number, a string, a :class:`datetime.date`, a tuple of strings (``in``) or a
            ``(low, high)`` tuple, both inclusive (``between``).

    """

    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        """Validate the operator and the shape of ``value``.

        Raises:
            ValueError: When the operator is unknown or a ``between`` range is inverted.

        """
        if self.op not in OPS:
            raise ValueError(f"unknown filter operator {self.op!r}; expected one of {OPS}")
        if self.op == "between":
            low, high = self.value
            if low > high:
                raise ValueError(f"filter {self.field}: lower bound {low} is above {high}")

    @property
    def is_date(self) -> bool:
        """Whether the filter compares dates."""
        probe = self.value[0] if isinstance(self.value, tuple) and self.value else self.value
        return isinstance(probe, dt.date)

    @property
    def is_numeric(self) -> bool:
        """Whether the filter compares numbers."""
        probe = self.value[0] if isinstance(self.value, tuple) and self.value else self.value
        return isinstance(probe, int | float) and not isinstance(probe, bool)

    @property
    def negated(self) -> bool:
        """Whether the operator is a negation (``!=`` or ``not in``)."""
        return self.op in NEGATED_OPS

    def matches(self, value: Any) -> bool:
        """Return whether an attribute value satisfies the filter.

        A missing value fails every positive operator and passes every negated one. Activity
        filters (``activity.*``) need the other documents and are evaluated by the index.

        Args:
            value: The document's attribute value.

        Returns:
            ``True`` when the value passes.

        """
        if self.negated:
            positive = Filter(self.field, NEGATED_OPS[self.op], self.value)
            return value is None or not positive.matches(value)
        if value is None:
            return False
        if self.is_date:
            value = _as_date(value)
            if value is None:
                return False
        elif self.is_numeric:
            try:
                value = float(value)
            except (TypeError, ValueError):
                return False
            if value != value:  # NaN
                return False
        else:
            value = str(value).lower()
        target = self.value
        if self.op == "==":
            return value == (target.lower() if isinstance(target, str) else target)
        if self.op == "in":
            return value in {t.lower() if isinstance(t, str) else t for t in target}
        if self.op == "between":
            return target[0] <= value <= target[1]
        if self.op == ">":
            return value > target
        if self.op == ">=":
            return value >= target
        if self.op == "<":
            return value < target
        return value <= target

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view (dates as ISO strings, tuples as lists).

        Returns:
            ``{"field", "op", "value"}``.

        """

        def plain(v: Any) -> Any:
            return v.isoformat() if isinstance(v, dt.date) else v

        value = self.value
        out = [plain(v) for v in value] if isinstance(value, tuple) else plain(value)
        return {"field": self.field, "op": self.op, "value": out}


@dataclass(frozen=True)
class ParsedQuery:
    """A query split into a free-text remainder, entity types, exact filters and an intent.

    Attributes:
        text: Free-text remainder used for semantic / keyword ranking (may be empty).
        entity_types: Entity types to search (empty: all).
        filters: Exact filters every hit must satisfy.
        intent: Recognised search intent.
        raw: The original query.
        path: What parsed it: ``rules`` (:func:`~textai.search.query_parser.parse_query`) or
            ``llm`` (:mod:`textai.search.query_llm`).
        fallback_reason: Why an LLM parse was not kept (``None`` when not tried or kept).

    """

    text: str
    entity_types: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    intent: str = "find_entity"
    raw: str = ""
    path: str = "rules"
    fallback_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view of the parse.

        Returns:
            Mapping with ``text``, ``entity_types``, ``filters``, ``intent``, ``raw``, the
            ``path`` that parsed it (``rules`` or ``llm``) and, when the LLM path was tried and
            not kept, its ``fallback_reason``.

        """
        return {
            "text": self.text,
            "entity_types": list(self.entity_types),
            "filters": [f.to_dict() for f in self.filters],
            "intent": self.intent,
            "raw": self.raw,
            "path": self.path,
            "fallback_reason": self.fallback_reason,
        }


@dataclass(frozen=True)
class QueryVocabulary:
    """Categorical values of the data that the parser may turn into filters.

    Attributes:
        industries: Industry values as stored in the documents.
        countries: Country values as stored (ISO codes or names).
        stages: Deal stages as stored.
        lifecycle_stages: Contact lifecycle stages as stored.
        names: Lower-case company names of two words or more; a query span naming one is
            never read as a filter ("Summit Peak Software" is not the software industry).

    """

    industries: tuple[str, ...] = DEFAULT_INDUSTRIES
    countries: tuple[str, ...] = DEFAULT_COUNTRIES
    stages: tuple[str, ...] = DEAL_STAGES
    lifecycle_stages: tuple[str, ...] = LIFECYCLE_STAGES
    names: frozenset[str] = frozenset()

    @classmethod
    def from_documents(cls, documents: Iterable[SearchDocument]) -> QueryVocabulary:
        """Collect the vocabulary from documents' attributes (falling back to the defaults).

        Args:
            documents: Search documents.

        Returns:
            The vocabulary of the data.

        """
        values: dict[str, set[str]] = {
            "industry": set(),
            "country": set(),
            "stage": set(),
            "lifecycle_stage": set(),
        }
        names: set[str] = set()
        for doc in documents:
            for key, seen in values.items():
                value = doc.attributes.get(key)
                if isinstance(value, str) and value:
                    seen.add(value)
            if doc.entity_type == "company" and len(doc.title.split()) >= 2:
                names.add(" ".join(doc.title.lower().split()))
        return cls(
            industries=tuple(sorted(values["industry"])) or DEFAULT_INDUSTRIES,
            countries=tuple(sorted(values["country"])) or DEFAULT_COUNTRIES,
            stages=tuple(sorted(values["stage"])) or DEAL_STAGES,
            lifecycle_stages=tuple(sorted(values["lifecycle_stage"])) or LIFECYCLE_STAGES,
            names=frozenset(names),
        )
