"""Mutable state of one query parse: the text, which characters were consumed, what was found.

Each extractor (amounts, stages, time phrases, industries, countries, sizes, entity words)
searches :meth:`ParseState.working`, records what it found and consumes the matched span so
the later extractors and the free-text remainder no longer see it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from textai.search.query_model import Filter

#: A time phrase awaiting its date field: ``(position, verb field, modifier, date span)``.
PendingDate = tuple[int, str | None, str | None, tuple[dt.date, dt.date]]


@dataclass
class ParseState:
    """Mutable parse state: the text, its consumed characters and what was found.

    Attributes:
        raw: The query as typed (stripped).
        low: The query in lower case, character for character aligned with ``raw``.
        consumed: Per character, whether an extractor used it.
        protected: Per character, whether it belongs to a known company name (never read as
            a filter, but kept in the remainder).
        filters: Filters found so far.
        entities: Entity types named, in order of first mention.
        entity_spans: ``(position, entity type)`` of every entity word.
        activity_words: Kinds of activity named ("call", "meeting" or "any").
        pending_dates: Time phrases whose date field depends on the entity types.

    """

    raw: str
    low: str
    consumed: list[bool]
    protected: list[bool] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    entity_spans: list[tuple[int, str]] = field(default_factory=list)
    activity_words: set[str] = field(default_factory=set)
    pending_dates: list[PendingDate] = field(default_factory=list)

    def working(self) -> str:
        """Return the lower-case text with consumed and protected characters blanked out."""
        return self._blanked(self.low)

    def working_original_case(self) -> str:
        """Return the original-case text with consumed and protected characters blanked out."""
        return self._blanked(self.raw)

    def _blanked(self, text: str) -> str:
        """Return ``text`` with consumed and protected characters replaced by spaces."""
        hidden = self.protected or [False] * len(text)
        return "".join(
            " " if used or keep else c
            for c, used, keep in zip(text, self.consumed, hidden, strict=True)
        )

    def protect_names(self, names: frozenset[str]) -> None:
        """Hide spans naming a known company from the filter rules (they stay in the text).

        Args:
            names: Lower-case company names, words separated by single spaces.

        """
        self.protected = [False] * len(self.low)
        if not names:
            return
        squeezed = re.sub(r"\s", " ", self.low)
        for name in names:
            start = squeezed.find(name)
            while start >= 0:
                end = start + len(name)
                before_ok = start == 0 or not squeezed[start - 1].isalnum()
                after_ok = end == len(squeezed) or not squeezed[end].isalnum()
                if before_ok and after_ok:
                    for i in range(start, end):
                        self.protected[i] = True
                start = squeezed.find(name, start + 1)

    def consume(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` as consumed (protected characters stay in the text).

        Args:
            start: First character.
            end: One past the last character.

        """
        hidden = self.protected or [False] * len(self.low)
        for i in range(start, end):
            if not hidden[i]:
                self.consumed[i] = True

    def remainder(self) -> str:
        """Return the original text minus consumed spans, whitespace collapsed."""
        kept = "".join(" " if used else c for c, used in zip(self.raw, self.consumed, strict=True))
        return " ".join(kept.split())
